"""The REST API (FastAPI): routes/ (one module per resource) over services/ over http/ plumbing."""
