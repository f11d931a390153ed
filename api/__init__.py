"""REST API (FastAPI): not built yet — see the issue "The API layer"."""
