"""HTTP plumbing of the API: the envelope, errors and their handlers, request context, paging, rate
limits, SSE framing and shared request-model checks. Imports nothing else of the API."""
