"""The REST proxy's way to the schema registry: register a schema given by value, fetch one
by id or by (subject, version) -- over the registry's HTTP API, as Confluent's proxy uses
``schema.registry.url``. A schema's references (Avro named types, JSON Schema ``$ref``s,
Protobuf imports) are fetched from the registry too (``/subjects/{s}/versions/{v}``, each
(subject, version) once, at most ``MAX_REFERENCES`` of them) and resolved by the
registry's own parser (``logd.registry.parse_schema``: the same names, the same cycle check).

Where: ``http.schema.registry.url`` when set, else this broker's own registry listener (the
composition root hands a callable answering its advertised address, known once every
listener is bound). The caller's ``Authorization`` header is passed on, so the registry
checks the same user's rights (a caller known by its client certificate alone reaches the
registry with this broker's own certificate, as a registry forwarding to its writer does).

Caches: a schema by id never changes, nor the id of (subject, type, schema text) or of
(subject, version); all are kept (at most ``_CACHE`` entries each, oldest dropped) with their
codec. ``latest`` is asked each time (a caller that streams keeps its own answer). Errors: the
registry's refusal of a schema -> 422 with the registry's code (42201 invalid schema, 409
incompatible -> 40901); an unknown id -> 404/40403; the registry off or unreachable ->
408/40801 (Confluent's and Karapace's "schema retrieval" error).

Ownership: the HTTP front end, on the broker's event loop.
"""

from __future__ import annotations

import collections
import ssl
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple

import aiohttp

from logd.frontends.http.errors import RestError
from logd.frontends.http.schemas.codecs import Codec, ConversionError, codec_for, unpack
from logd.registry.errors import RegistryError
from logd.registry.model import Reference, SchemaType
from logd.registry.schemas import MAX_REFERENCES, Lookup, Stored, parse_references

__all__ = ["FORMATS", "SCHEMA_RETRIEVAL", "RegistryLink", "Versioned"]

SCHEMA_RETRIEVAL: Final = 40801
_CACHE: Final = 1000
_CT: Final = "application/vnd.schemaregistry.v1+json"
#: embedded format -> the registry's schemaType
FORMATS: Final = {"avro": "AVRO", "jsonschema": "JSON", "protobuf": "PROTOBUF"}


class Versioned(NamedTuple):
    """A subject's version as the registry answered it, with its codec."""

    schema_id: int
    version: int
    schema_type: str
    codec: Codec


def _quote(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


class _Lru(collections.OrderedDict[Any, Any]):
    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        if len(self) > _CACHE:
            self.popitem(last=False)


class RegistryLink:
    """See the module docstring."""

    def __init__(
        self, url: Callable[[], str | None], ssl_context: ssl.SSLContext | None, timeout_s: float
    ) -> None:
        self._url = url
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._by_id: _Lru = _Lru()  # id -> Codec
        self._ids: _Lru = _Lru()  # (subject, type, text) -> id
        self._versions: _Lru = _Lru()  # (subject, version) -> Versioned

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, path: str, auth: str | None, body: object = None
                    ) -> Any:  # fmt: skip
        base = self._url()
        if not base:
            raise RestError(408, SCHEMA_RETRIEVAL, "no schema registry: the registry listener"
                            " is off and http.schema.registry.url is not set")  # fmt: skip
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {"Accept": _CT, **({"Authorization": auth} if auth else {})}
        try:
            async with self._session.request(
                method, base.rstrip("/") + path, json=body, headers=headers,
                ssl=self._ssl if self._ssl is not None else True,
            ) as answer:  # fmt: skip
                data = await answer.json(content_type=None)
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RestError(408, SCHEMA_RETRIEVAL, f"the schema registry at {base} did not"
                            f" answer: {exc or type(exc).__name__}") from None  # fmt: skip
        if status >= 400:
            code = data.get("error_code", status) if isinstance(data, dict) else status
            message = data.get("message", "") if isinstance(data, dict) else ""
            raise RestError(status if status < 500 else 408,
                            code if status < 500 else SCHEMA_RETRIEVAL,
                            f"schema registry: {message or status}")  # fmt: skip
        return data

    async def register(self, fmt: str, subject: str, text: str, auth: str | None
                       ) -> tuple[int, Codec]:  # fmt: skip
        """The id of ``text`` under ``subject`` (registered when new), and its codec."""
        schema_type = FORMATS[fmt]
        key = (subject, schema_type, text)
        if (known := self._ids.get(key)) is not None:
            return known, await self.codec(known, auth)
        codec = _codec(schema_type, text)  # refuse what cannot be used before registering
        body: dict[str, Any] = {"schema": text}
        if schema_type != "AVRO":
            body["schemaType"] = schema_type
        path = f"/subjects/{_quote(subject)}/versions"
        answer = await self._call("POST", path, auth, body)
        schema_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(schema_id, int):
            raise RestError(408, SCHEMA_RETRIEVAL, "schema registry: an answer without an id")
        self._ids.put(key, schema_id)
        self._by_id.put(schema_id, (schema_type, codec))
        return schema_id, codec

    async def codec(self, schema_id: int, auth: str | None, fmt: str | None = None) -> Codec:
        """The codec of schema ``schema_id`` (422/42205 when ``fmt`` names another type)."""
        return (await self.by_id(schema_id, auth, fmt))[1]

    async def by_id(self, schema_id: int, auth: str | None, fmt: str | None = None
                    ) -> tuple[str, Codec]:  # fmt: skip
        """(schemaType, codec) of schema ``schema_id`` (422/42205 when ``fmt`` names another
        type)."""
        known = self._by_id.get(schema_id)
        if known is None:
            answer = await self._call("GET", f"/schemas/ids/{schema_id}", auth)
            known = await self._from_answer(answer, auth)
            self._by_id.put(schema_id, known)
        schema_type, codec = known
        if fmt is not None and FORMATS[fmt] != schema_type:
            raise RestError(422, 42205, f"schema {schema_id} is {schema_type}, not {fmt}")
        return schema_type, codec

    async def version(self, subject: str, version: int | None, auth: str | None) -> Versioned:
        """Version ``version`` of ``subject`` (None: the latest) with its id and codec."""
        key = (subject, version)
        if version is not None and (known := self._versions.get(key)) is not None:
            return known  # type: ignore[no-any-return]
        path = f"/subjects/{_quote(subject)}/versions/{'latest' if version is None else version}"
        answer = await self._call("GET", path, auth)
        schema_id, number = answer.get("id"), answer.get("version")
        if not isinstance(schema_id, int) or not isinstance(number, int):
            raise RestError(408, SCHEMA_RETRIEVAL, "schema registry: an answer without an id")
        if (cached := self._by_id.get(schema_id)) is None:
            cached = await self._from_answer(answer, auth)
            self._by_id.put(schema_id, cached)
        found = Versioned(schema_id, number, cached[0], cached[1])
        self._versions.put((subject, number), found)
        return found

    async def _from_answer(self, answer: Any, auth: str | None) -> tuple[str, Codec]:
        """(schemaType, codec) of a registry answer carrying a schema and its references."""
        if not isinstance(answer, dict) or not isinstance(answer.get("schema"), str):
            raise RestError(408, SCHEMA_RETRIEVAL, "schema registry: an answer without"
                            " a schema")  # fmt: skip
        schema_type = str(answer.get("schemaType", "AVRO"))
        references = _references(answer.get("references"))
        lookup = await self._lookup(references, auth) if references else None
        return schema_type, _codec(schema_type, answer["schema"], references, lookup)

    async def _lookup(self, references: Sequence[Reference], auth: str | None) -> Lookup:
        """Every (subject, version) ``references`` lead to, fetched, as the parser's lookup."""
        table: dict[tuple[str, int], Stored] = {}
        pending = list(references)
        while pending:
            ref = pending.pop()
            if (ref.subject, ref.version) in table:
                continue
            if len(table) >= MAX_REFERENCES:
                raise RestError(422, 42201, f"Invalid schema: more than {MAX_REFERENCES}"
                                " schemas referenced")  # fmt: skip
            path = f"/subjects/{_quote(ref.subject)}/versions/{ref.version}"
            answer = await self._call("GET", path, auth)
            if not isinstance(answer, dict) or not isinstance(answer.get("schema"), str):
                raise RestError(408, SCHEMA_RETRIEVAL, "schema registry: an answer without"
                                " a schema")  # fmt: skip
            stored = Stored(_schema_type(answer.get("schemaType")), answer["schema"],
                            _references(answer.get("references")),
                            int(answer.get("version", ref.version)))  # fmt: skip
            table[(ref.subject, ref.version)] = table[(ref.subject, stored.version)] = stored
            pending.extend(stored.references)

        def lookup(subject: str, version: int) -> Stored:
            return table[(subject, version)]

        return lookup

    async def decode(self, data: bytes | None, fmt: str, auth: str | None, where: str) -> Any:
        """A stored key or value in the wire format, as JSON; 500/50002 when it is not (as
        Confluent's proxy fails a read it cannot deserialize)."""
        if data is None:
            return None
        try:
            schema_id, payload = unpack(data)
            codec = await self.codec(schema_id, auth, fmt)
            return codec.decode(payload)
        except ConversionError as exc:
            raise RestError(500, 50002, f"Kafka error: {where}: {exc}") from None


def _schema_type(value: object) -> SchemaType:
    try:
        return SchemaType(str(value or "AVRO"))
    except ValueError:
        raise RestError(422, 42201, f"Invalid schema: schemaType {value!r}") from None


def _references(value: object) -> tuple[Reference, ...]:
    try:
        return parse_references(value)
    except RegistryError as exc:
        raise RestError(422, 42201, f"Invalid schema: {exc}") from None


def _codec(schema_type: str, text: str, references: Sequence[Reference] = (),
           lookup: Lookup | None = None) -> Codec:  # fmt: skip
    try:
        return codec_for(schema_type, text, references, lookup)
    except ConversionError as exc:
        raise RestError(422, 42201, f"Invalid schema: {exc}") from None
