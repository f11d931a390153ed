"""Serving trained models: one protocol, one loader and cache, used by the stream and the API."""
