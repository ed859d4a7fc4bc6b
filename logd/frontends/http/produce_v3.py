"""REST Proxy v3 produce: ``POST /v3/clusters/{cluster}/topics/{t}/records``.

The body is one record or many, concatenated (``{"partition_id", "headers", "key":
{"type", "data"}, "value": {...}, "timestamp"}`` each), read as it arrives -- so a client
that sends ``Transfer-Encoding: chunked`` streams records for as long as it keeps the
connection open; the answer is one delivery report per record, in the same order, each
written as soon as its record is committed (``{"error_code": 200, "cluster_id",
"topic_name", "partition_id", "offset", "timestamp", "key": {"type", "size"}, "value"}``;
a failed record gets ``{"error_code": 4xx/5xx, "message"}``), one per line. The status is
200 once the stream is established; the topic is checked (and created on first use) first,
so a missing topic or a refusal fails the whole request as v2 does.

Records that arrive together (one network read) are appended together, one batch per
partition; their reports still come one per record. At most ``_MAX_PENDING`` records wait for
their reports: beyond it the listener stops reading the body (back-pressure to the client).
The cluster id in the path is not checked, as Confluent's own proxy checks it only in its
cloud (``GET /v3/clusters`` names ours).

Key and value types: ``BINARY`` (base64), ``JSON`` (any JSON value), ``STRING`` (UTF-8 text),
and with a schema from the registry ``AVRO``, ``JSONSCHEMA``, ``PROTOBUF`` or no type
(``schema_id`` / ``schema`` / ``schema_version`` / latest of the subject:
``schemas/v3_sides.py``); a key or value with a schema reports ``{"type", "size", "subject",
"schema_id", "schema_version"}``. A record whose schema fails (unknown, a value that does
not fit, the registry away) gets its own error report; the stream goes on.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import zlib
from collections.abc import Sequence
from typing import Any, Final

from aiohttp import web

from logd.errors import LogdError
from logd.frontends.http.context import HttpContext, caller, context
from logd.frontends.http.errors import RestError, from_logd
from logd.frontends.http.json_stream import JsonStream, ValueTooLarge
from logd.frontends.http.plumbing import decompressor
from logd.frontends.http.produce_v2 import parse_headers
from logd.frontends.http.producer import Delivery, OutRecord
from logd.frontends.http.schemas.v3_sides import (
    PLAIN_TYPES,
    Encoded,
    SideError,
    V3Schemas,
    needs_schema,
)

__all__ = ["add_produce_v3_routes", "load_v3_record", "parse_v3_record"]

_MAX_PENDING: Final = 1024
_READ_BYTES: Final = 64 * 1024
#: a key's and a value's part of a delivery report (None: absent)
Reports = tuple[dict[str, Any] | None, dict[str, Any] | None]


class _BadRecord(Exception):
    """One record of the stream that cannot be produced: its report says why."""


def _plain(kind: str, data: Any, where: str) -> bytes | None:
    if data is None:
        return None
    if kind == "JSON":
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    if not isinstance(data, str):
        raise _BadRecord(f"{where}.data: expected a string for {kind}")
    if kind == "STRING":
        return data.encode()
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _BadRecord(f"data={data[:40]} is not a base64 string.") from None


def _data(
    raw: Any, where: str, encoded: Encoded | None
) -> tuple[bytes | None, dict[str, Any] | None]:
    """A key or value object: its bytes and report (None, None: absent)."""
    if encoded is not None:
        return encoded.data, encoded.report
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        raise _BadRecord(f"{where}: expected an object with type and data")
    kind = str(raw.get("type")).upper()
    if kind not in PLAIN_TYPES:  # a schema'd side comes already encoded
        raise _BadRecord(f"{where}: a schema from the registry was not resolved")
    data = _plain(kind, raw.get("data"), where)
    return data, {"type": kind, "size": len(data or b"")}


def _timestamp(raw: Any) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _BadRecord("timestamp: expected an RFC 3339 time")
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _BadRecord(f"timestamp: {raw[:40]!r} is not an RFC 3339 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    millis = int(when.timestamp() * 1000)
    if millis < 0:
        raise _BadRecord("timestamp: before 1970")
    return millis


def load_v3_record(text: bytes) -> dict[str, Any]:
    """One v3 record's JSON object."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raise _BadRecord("Bad Request: the record is not JSON") from None
    if not isinstance(raw, dict):
        raise _BadRecord("Bad Request: expected a JSON object")
    return raw


def parse_v3_record(
    raw: dict[str, Any], encoded: dict[str, Encoded] | None = None
) -> tuple[OutRecord, Reports]:
    """One v3 record (``encoded``: its sides with schemas, already resolved), and its key's
    and value's parts of the report."""
    encoded = encoded or {}
    partition = raw.get("partition_id")
    if partition is not None and (
        isinstance(partition, bool) or not isinstance(partition, int) or partition < 0
    ):
        raise _BadRecord("partition_id: expected a partition id")
    key, key_report = _data(raw.get("key"), "key", encoded.get("key"))
    value, value_report = _data(raw.get("value"), "value", encoded.get("value"))
    try:
        headers = parse_headers(raw.get("headers"), "headers")
    except RestError as exc:
        raise _BadRecord(exc.message) from None
    record = OutRecord(key, value, headers, partition, _timestamp(raw.get("timestamp")))
    return record, (key_report, value_report)


def _iso(millis: int) -> str | None:
    if millis < 0:
        return None
    return dt.datetime.fromtimestamp(millis / 1000, dt.UTC).isoformat(timespec="milliseconds")


class _Stream:
    """One v3 produce request: reads records, appends them, writes reports in order."""

    def __init__(self, request: web.Request, ctx: HttpContext, topic: str, count: int) -> None:
        self.request = request
        self.ctx = ctx
        self.topic = topic
        self.count = count
        self.cluster = request.match_info["cluster"]
        self._resolving: set[asyncio.Task[None]] = set()
        self._schemas = V3Schemas(ctx.schemas, topic, request.headers.get("Authorization"))
        self.reports: asyncio.Queue[asyncio.Future[dict[str, Any]] | None] = asyncio.Queue(
            _MAX_PENDING
        )

    def _report(self, delivery: Delivery, sides: Reports) -> dict[str, Any]:
        if delivery.error is not None:
            rest = from_logd(delivery.error, self.topic)
            return {"error_code": rest.status, "message": rest.message}
        return {
            "error_code": 200, "cluster_id": self.cluster, "topic_name": self.topic,
            "partition_id": delivery.partition, "offset": delivery.offset,
            "timestamp": _iso(delivery.timestamp_ms), "key": sides[0], "value": sides[1],
        }  # fmt: skip

    async def _parse(self, text: bytes) -> tuple[OutRecord, Reports]:
        raw = load_v3_record(text)
        encoded = {}
        for side in ("key", "value"):
            if needs_schema(raw.get(side)):
                try:
                    encoded[side] = await self._schemas.encode(raw[side], side)
                except SideError as exc:
                    raise _BadRecord(str(exc)) from None
        return parse_v3_record(raw, encoded)

    async def _submit(self, texts: Sequence[bytes]) -> None:
        """Parses and appends what one read brought; queues a report future per record."""
        loop = asyncio.get_running_loop()
        parsed: list[tuple[int, OutRecord, Reports]] = []
        futures: list[asyncio.Future[dict[str, Any]]] = []
        for text in texts:
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            futures.append(future)
            try:
                record, sides = await self._parse(text)
            except _BadRecord as exc:
                future.set_result({"error_code": 400, "message": str(exc)})
                continue
            except RestError as exc:  # the registry's: this record's schema or value
                future.set_result({"error_code": exc.status, "message": exc.message})
                continue
            parsed.append((len(futures) - 1, record, sides))
        if parsed:
            submitted = self.ctx.producer.submit(
                self.topic, self.count, [r for _, r, _ in parsed], caller(self.request)
            )
            task = loop.create_task(self._resolve(submitted, parsed, futures))
            self._resolving.add(task)  # a reference until it is done (asyncio keeps none)
            task.add_done_callback(self._resolving.discard)
        for future in futures:
            await self.reports.put(future)

    async def _resolve(self, submitted: Any, parsed: list[Any], futures: list[Any]) -> None:
        try:
            deliveries = await self.ctx.producer.deliveries(submitted)
        except LogdError as exc:  # an append that failed as a whole: every record says so
            deliveries = [Delivery(error=exc)] * len(parsed)
        for (index, _, sides), delivery in zip(parsed, deliveries, strict=True):
            futures[index].set_result(self._report(delivery, sides))

    async def read(self) -> None:
        """The body, record by record, until it ends, goes idle for the request timeout, or
        the listener drains."""
        stream = JsonStream(self.ctx.settings.max_request_bytes)
        inflater = decompressor(self.request.headers.get("Content-Encoding", ""))
        limit = self.ctx.settings.max_request_bytes
        idle_s = self.ctx.settings.request_timeout_ms / 1000.0
        content = self.request.content
        try:
            while not self.ctx.draining:
                async with asyncio.timeout(idle_s):
                    chunk = await content.readany()
                if not chunk:
                    stream.finish()
                    break
                if inflater is not None:
                    chunk = inflater.decompress(chunk, limit)
                    if inflater.unconsumed_tail:
                        raise ValueTooLarge(f"a chunk inflating past {limit} bytes")
                await self._submit(stream.feed(chunk))
        except TimeoutError:
            await self._final(408, f"no record for {idle_s:g} s: the stream is closed")
        except (ValueError, zlib.error) as exc:
            await self._final(400, f"Bad Request: {exc}")
        finally:
            await self.reports.put(None)

    async def _final(self, code: int, message: str) -> None:
        failed: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        failed.set_result({"error_code": code, "message": message})
        await self.reports.put(failed)

    async def write(self, response: web.StreamResponse) -> None:
        while (future := await self.reports.get()) is not None:
            report = await future
            await response.write(json.dumps(report, separators=(",", ":")).encode() + b"\n")


async def produce(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    content_type = request.content_type.lower()
    if content_type not in ("application/json", "application/octet-stream", ""):
        raise RestError(415, 415, f"HTTP 415 Unsupported Media Type: {content_type}"
                        " (v3 produce takes application/json)")  # fmt: skip
    decompressor(request.headers.get("Content-Encoding", ""))  # 415 before anything is read
    topic = request.match_info["topic"]
    try:
        count = await ctx.producer.partitions(topic, caller(request))
    except LogdError as exc:
        raise from_logd(exc, topic) from None
    stream = _Stream(request, ctx, topic, count)
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    reader = asyncio.get_running_loop().create_task(stream.read())
    try:
        await stream.write(response)
    finally:
        reader.cancel()
    await response.write_eof()
    return response


def add_produce_v3_routes(app: web.Application) -> None:
    app.router.add_post("/v3/clusters/{cluster}/topics/{topic}/records", produce)
