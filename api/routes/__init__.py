"""One module per resource; each exposes ``router``, mounted by :mod:`api.app` (``ROOT`` at the root,
``V1`` under ``/api/v1``, in the order listed there)."""
