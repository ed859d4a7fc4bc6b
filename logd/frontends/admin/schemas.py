"""The console's schema registry pages and registry-aware values (issue 20).

The admin listener does not read ``_schemas`` itself: the registry front end already keeps
this broker's applied copy (``logd.registry.state.RegistryState``), and the composition root
(``logd.node.frontends``) hands the admin front end a :data:`SchemaSource` that returns it
(None while the registry listener is off or not started). Both front ends stay apart: this
module only knows the pure registry domain.

Routes (read-only, like the registry's own reads, each subject filtered by the caller's
``registry_read`` ACLs through the seam):

* ``GET /api/schemas`` -- ``{"enabled": bool, "subjects": [{subject, versions, ids, latest:
  {version, id, type}, compatibility}], "compatibility": global level}``;
* ``GET /api/schemas/{subject}`` -- every live version with its id, type, references and
  schema text.

Values in the message browser: a key or value in Confluent's wire format (magic byte 0, a
4-byte schema id, the payload) whose id this registry knows, and which the caller may read
(``registry_read`` on a subject using it, the registry's own rule), is shown decoded: Avro
through the registry's parsed schema (the ``avro`` package's reader, references included),
JSON Schema payloads as their JSON, Protobuf payloads (message indexes, then the message)
as Protobuf's JSON mapping through the schema's own descriptors
(:class:`logd.registry.protobuf_messages.ProtobufMessages`: no generated class needed).

Ownership: the broker's event loop.
"""

from __future__ import annotations

import base64
import contextlib
import decimal
import io
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from logd.broker.seam import BrokerSeam, Caller
from logd.frontends.admin.auth import CALLER
from logd.registry.errors import RegistryError
from logd.registry.model import SchemaType
from logd.registry.parsed import ParsedSchema
from logd.registry.state import RegistryState

if TYPE_CHECKING:  # imported with the first Protobuf value shown (``_messages``)
    from logd.registry.protobuf_messages import ProtobufMessages

__all__ = ["NO_REGISTRY", "SchemaSource", "ValueDecoder", "add_schema_routes"]

#: This broker's applied registry state, or None (the registry listener off or starting).
SchemaSource = Callable[[], "RegistryState | None"]
_READ = "registry_read"
_MAGIC = 0
_HEADER = 5


def _no_registry() -> RegistryState | None:
    return None


class ValueDecoder:
    """Decodes registry-framed keys and values for one request's caller (caches the
    caller's right to each schema id)."""

    def __init__(self, seam: BrokerSeam, caller: Caller, source: SchemaSource) -> None:
        self._seam, self._caller = seam, caller
        self._state = source()
        self._readable: dict[int, bool] = {}
        self._protobuf: dict[int, ProtobufMessages] = {}  # schema id -> its classes

    def decode(self, data: bytes | None) -> tuple[str, Any, int] | None:
        """(kind, shown value, schema id) of a framed payload whose schema is known and
        readable, else None (shown as JSON, text or hex as usual)."""
        state = self._state
        if state is None or data is None or len(data) < _HEADER or data[0] != _MAGIC:
            return None
        schema_id = int.from_bytes(data[1:_HEADER], "big")
        entry = state.schemas.get(schema_id)
        if entry is None or not self._may_read(state, schema_id):
            return None
        payload = data[_HEADER:]
        try:
            if entry.schema_type is SchemaType.AVRO:
                return "avro", _avro_value(state.parsed(schema_id), payload), schema_id
            if entry.schema_type is SchemaType.JSON:
                return "json-schema", json.loads(payload), schema_id
            if entry.schema_type is SchemaType.PROTOBUF:
                return "protobuf", self._messages(state, schema_id).decode(payload), schema_id
        except (RegistryError, ValueError, EOFError, TypeError):
            return "hex", data.hex(), schema_id  # framed but not decodable with that schema
        return "hex", data.hex(), schema_id

    def _messages(self, state: RegistryState, schema_id: int) -> ProtobufMessages:
        from logd.registry.protobuf_messages import ProtobufMessages
        from logd.registry.protobuf_schema import ProtobufSchema

        messages = self._protobuf.get(schema_id)
        if messages is None:
            parsed = state.parsed(schema_id)
            assert isinstance(parsed, ProtobufSchema)
            messages = self._protobuf[schema_id] = ProtobufMessages(parsed)
        return messages

    def _may_read(self, state: RegistryState, schema_id: int) -> bool:
        known = self._readable.get(schema_id)
        if known is None:
            subjects = {e.subject for e in state.uses(schema_id, deleted=True)}
            known = bool(self._seam.visible(self._caller, _READ, subjects))
            self._readable[schema_id] = known
        return known


def _avro_value(parsed: ParsedSchema, payload: bytes) -> Any:
    """``payload`` read with an Avro schema (the ``avro`` package's reader), as JSON can carry
    it; ValueError when it does not read. The package is imported with the first Avro value
    shown, not when the admin listener starts."""
    import avro.errors
    import avro.io

    from logd.registry.avro_schema import AvroSchema

    assert isinstance(parsed, AvroSchema)
    try:
        decoded = avro.io.DatumReader(parsed.avro).read(avro.io.BinaryDecoder(io.BytesIO(payload)))
    except avro.errors.AvroException as exc:
        raise ValueError(f"not Avro of its schema: {exc}") from None
    return _jsonable(decoded)


def _jsonable(value: Any) -> Any:
    """What the avro reader returns, as JSON can carry it (bytes as base64, decimals and
    UUIDs as strings, dates as ISO text)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def add_schema_routes(app: web.Application, seam: BrokerSeam, source: SchemaSource) -> None:
    async def subjects(request: web.Request) -> web.Response:
        state = source()
        if state is None:
            return web.json_response({"enabled": False, "subjects": []})
        names = seam.visible(request[CALLER], _READ, state.subject_names())
        out = []
        for name in names:
            versions = state.versions(name)
            latest = versions[-1]
            out.append({
                "subject": name, "versions": [v.version for v in versions],
                "ids": sorted({v.schema_id for v in versions}),
                "latest": {"version": latest.version, "id": latest.schema_id,
                           "type": state.schemas[latest.schema_id].schema_type.value},
                "compatibility": state.compatibility(name).value,
            })  # fmt: skip
        return web.json_response({
            "enabled": True, "subjects": out, "compatibility": state.compatibility(None).value,
        })  # fmt: skip

    async def subject(request: web.Request) -> web.Response:
        state = source()
        name = request.match_info["subject"]
        versions = []
        if state is not None and seam.visible(request[CALLER], _READ, [name]):
            with contextlib.suppress(RegistryError):  # no such subject: answered below
                versions = state.versions(name)
        if state is None or not versions:
            raise web.HTTPNotFound(text=json.dumps({"message": f"no subject {name!r}"}),
                                   content_type="application/json")  # fmt: skip
        out = []
        for v in versions:
            entry = state.schemas[v.schema_id]
            out.append({
                "version": v.version, "id": v.schema_id, "type": entry.schema_type.value,
                "schema": entry.text,
                "references": [{"name": r.name, "subject": r.subject, "version": r.version}
                               for r in entry.references],
            })  # fmt: skip
        return web.json_response({
            "subject": name, "compatibility": state.compatibility(name).value, "versions": out,
        })  # fmt: skip

    app.router.add_get("/api/schemas", subjects)
    app.router.add_get("/api/schemas/{subject}", subject)


#: For a front end built without a registry (tests, the registry off).
NO_REGISTRY: SchemaSource = _no_registry
