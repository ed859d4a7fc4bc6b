"""REST Proxy v2 produce: ``POST /topics/{t}`` and ``POST /topics/{t}/partitions/{p}``.

Body ``{"records": [{"key", "value", "partition", "headers"}], "key_schema[_id]",
"value_schema[_id]"}`` in the embedded format the ``Content-Type`` names; answer
``{"offsets": [{"partition", "offset", "error_code", "error"}], "key_schema_id",
"value_schema_id"}``, one offset per record in the order given. Records are appended with
the listener's ``http.producer.acks`` (``all`` by default: an offset is only answered once
the record is committed). ``headers`` (not in Confluent's v2, which has none) takes v3's
form: ``[{"name": "h", "value": "<base64>"}]``.

The ``avro``, ``jsonschema`` and ``protobuf`` formats take each side's schema by value
(``key_schema``, ``value_schema``: registered under ``{topic}-key`` / ``{topic}-value``,
TopicNameStrategy) or by id (``key_schema_id``, ``value_schema_id``), and write Confluent's
wire format (``schemas/``); the answer names the ids. Keys or values without a schema: 422/42201
(keys), 42202 (values). A schema by id may have references (resolved through the
registry); ``protobuf`` writes the schema's first message.

Whole-request failures answer Confluent's error body: 415 (content type), 400 (not JSON),
422 (shape; 42203 a key or value that is not of the format or does not fit its schema),
404 (40401 topic, 40402 partition), 403 (not authorized), 408/40801 (the schema registry).
Per-record failures stay in their ``offsets`` entry. Nothing is appended unless the whole
body parsed.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from logd.errors import LogdError
from logd.frontends.http.context import caller, context
from logd.frontends.http.errors import (
    RestError,
    from_logd,
    partition_not_found,
    record_error,
)
from logd.frontends.http.media import (
    SCHEMA_FORMATS,
    embedded_format,
    encode_binary,
    encode_json,
)
from logd.frontends.http.plumbing import JsonText, path_int, read_json, reply
from logd.frontends.http.producer import Delivery, OutRecord
from logd.frontends.http.schemas.encoders import Encoder, schema_encoders
from logd.records.record import Header

__all__ = ["add_produce_v2_routes", "parse_headers", "parse_records"]

_ENCODERS: dict[str, Encoder] = {"binary": encode_binary, "json": encode_json}
_RECORD_FIELDS = frozenset({"key", "value", "partition", "headers"})
_BODY_FIELDS = frozenset(
    {"records", "key_schema", "key_schema_id", "value_schema", "value_schema_id"}
)
_INT32_MAX = 2**31 - 1


def _unprocessable(message: str) -> RestError:
    return RestError(422, 422, message)


def parse_headers(raw: Any, where: str) -> tuple[Header, ...]:
    """v3's header list ``[{"name": str, "value": base64 | null}]``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _unprocessable(f"{where}: expected a list of {{name, value}}")
    out: list[Header] = []
    for j, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise _unprocessable(f"{where}[{j}]: expected {{name: string, value: base64}}")
        out.append((item["name"], encode_binary(item.get("value"), f"{where}[{j}].value")))
    return tuple(out)


def _partition(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= _INT32_MAX:
        raise _unprocessable(f"{where}: expected a partition id (an integer >= 0)")
    return raw


def parse_records(
    body: Any, fmt: str, partition: int | None, encoders: tuple[Encoder, Encoder] | None = None
) -> list[OutRecord]:
    """The records of a v2 produce body (``partition``: the one the path names; ``encoders``:
    the key's and the value's, for the formats with schemas)."""
    if not isinstance(body, dict):
        raise _unprocessable("Unrecognized request body: expected an object with records")
    unknown = body.keys() - _BODY_FIELDS
    if unknown:
        raise _unprocessable(f"Unrecognized field {sorted(unknown)[0]!r}")
    records = body.get("records")
    if not isinstance(records, list) or not records:
        raise _unprocessable("records may not be empty")
    encode_key, encode_value = encoders or (_ENCODERS[fmt], _ENCODERS[fmt])
    out = []
    for i, record in enumerate(records):
        try:
            out.append(_record(record, "", encode_key, encode_value, partition))
        except RestError:
            # The refusal again, now saying where (built only on this rare path).
            _record(record, f"records[{i}]", encode_key, encode_value, partition)
            raise
    return out


def _record(record: Any, where: str, encode_key: Encoder, encode_value: Encoder,
            partition: int | None) -> OutRecord:  # fmt: skip
    if not isinstance(record, dict):
        raise _unprocessable(f"{where}: expected an object")
    if not record.keys() <= _RECORD_FIELDS:  # no allocation, unlike issuperset(record)
        unknown = sorted(record.keys() - _RECORD_FIELDS)[0]
        raise _unprocessable(f"{where}: unrecognized field {unknown!r}")
    chosen = _partition(record.get("partition"), f"{where}.partition")
    headers = record.get("headers")
    return OutRecord(
        encode_key(record.get("key"), f"{where}.key"),
        encode_value(record.get("value"), f"{where}.value"),
        () if headers is None else parse_headers(headers, f"{where}.headers"),
        partition if partition is not None else chosen,
    )


def _answer(deliveries: Sequence[Delivery], topic: str, ids: tuple[int | None, int | None]
            ) -> JsonText:  # fmt: skip
    """``{"offsets": [...], "key_schema_id", "value_schema_id"}`` as JSON text: a record
    that was appended is written directly (the hot path of a large request), one that was
    not through ``json``."""
    first = deliveries[0].error
    if first is not None and all(type(d.error) is type(first) for d in deliveries):
        mapped = from_logd(first, topic)
        if mapped.status in (401, 403):  # nothing of it may be done: fail it as a whole
            raise mapped
    out: list[str] = []
    for d in deliveries:
        if d.error is None:
            out.append(f'{{"partition":{d.partition},"offset":{d.offset},"error_code":null,'
                       '"error":null}')  # fmt: skip
        else:
            code, message = record_error(d.error)
            partition = d.partition if d.partition >= 0 else None
            out.append(json.dumps({"partition": partition, "offset": None, "error_code": code,
                                   "error": message}, separators=(",", ":")))  # fmt: skip
    key_id, value_id = (json.dumps(i) for i in ids)
    return JsonText(f'{{"offsets":[{",".join(out)}],"key_schema_id":{key_id},'
                    f'"value_schema_id":{value_id}}}')  # fmt: skip


async def _produce(request: web.Request, partition: int | None) -> web.Response:
    ctx = context(request)
    fmt = embedded_format(request.content_type)
    body = await read_json(request, ctx.settings.request_timeout_ms)
    topic = request.match_info["topic"]
    ids: tuple[int | None, int | None] = (None, None)
    if fmt in SCHEMA_FORMATS:
        parse_records(body, "json", partition)  # the shape, before any schema is registered
        encoders, ids = await schema_encoders(ctx.schemas, body, fmt, topic,
                                              request.headers.get("Authorization"))  # fmt: skip
        records = parse_records(body, fmt, partition, encoders)
    else:
        records = parse_records(body, fmt, partition)
    who = caller(request)
    try:
        count = await ctx.producer.partitions(topic, who)
    except LogdError as exc:
        raise from_logd(exc, topic) from None
    if partition is not None and partition >= count:
        raise partition_not_found(topic, partition)
    deliveries = await ctx.producer.deliveries(ctx.producer.submit(topic, count, records, who))
    return reply(request, _answer(deliveries, topic, ids))


async def produce_topic(request: web.Request) -> web.Response:
    return await _produce(request, None)


async def produce_partition(request: web.Request) -> web.Response:
    return await _produce(request, path_int(request.match_info["partition"], "partition"))


def add_produce_v2_routes(app: web.Application) -> None:
    app.router.add_post("/topics/{topic}", produce_topic)
    app.router.add_post("/topics/{topic}/partitions/{partition}", produce_partition)
