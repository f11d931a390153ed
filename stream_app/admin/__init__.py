"""Administrative operations on live state (asset reset), shared by the CLI and the API."""
