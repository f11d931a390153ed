"""The OpenAPI request body of a route that reads and parses its body itself.

Routes such as predict/detect and ``POST /readings`` take the raw body (checked for size and count
before any model validation) instead of a FastAPI body parameter; ``body_doc(Model)`` puts the
model's schema in the OpenAPI document as their request body all the same.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def _inline(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that parses its body itself (``api.services.inference_body``)."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(schema, schema.get("$defs", {}))}},
        }
    }
