"""The ``jsonschema`` embedded format (``codecs``' module doc): the payload is the JSON text,
checked against the schema by the ``jsonschema`` package before it is written. Imported by
``codecs`` the first time a JSON schema is used, so a broker that never serves one does not
load jsonschema.

Pure; a codec is immutable and shared by every request.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

from logd.frontends.http.schemas.types import Codec, ConversionError, dependencies_first
from logd.registry.parsed import ParsedSchema

__all__ = ["JsonSchemaCodec"]


def _json_registry(schema: ParsedSchema, root: object) -> referencing.Registry[Any]:
    """Every referenced schema under its reference name (and that name resolved against
    the root's ``$id``, where a relative ``$ref`` leads)."""
    base = root.get("$id", "") if isinstance(root, dict) else ""
    resources = []
    for name, dep in dependencies_first(schema):
        resource = referencing.jsonschema.DRAFT202012.create_resource(json.loads(dep.text))
        resources.append((name, resource))
        if isinstance(base, str) and base:
            resources.append((urllib.parse.urljoin(base, name), resource))
    return referencing.Registry().with_resources(resources)


class JsonSchemaCodec(Codec):
    """The JSON text itself, checked against the schema on the way in."""

    def __init__(self, schema: ParsedSchema) -> None:
        root = json.loads(schema.text)
        validator = jsonschema.validators.validator_for(root)
        validator.check_schema(root)
        self._validator = validator(root, registry=_json_registry(schema, root))

    def encode(self, value: Any) -> bytes:
        try:
            error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        except referencing.exceptions.Unresolvable as exc:
            raise ConversionError(f"the JSON schema's $ref {exc} is not resolvable") from None
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the value"
            raise ConversionError(f"{where} does not fit the JSON schema: {error.message}")
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, payload: bytes) -> Any:
        try:
            return json.loads(payload)
        except (ValueError, RecursionError):
            raise ConversionError("the bytes are not JSON") from None
