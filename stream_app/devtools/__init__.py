"""Tools around the service: local infrastructure, demo, simulate, replay, schema and metrics docs."""
