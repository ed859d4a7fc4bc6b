"""The console's message browser and live tail: ``GET /api/topics/{name}/messages``.

Query parameters:

* ``partition`` -- one partition (default: every partition of the topic);
* ``from`` -- ``newest`` (default: the last ``limit`` of each partition), ``oldest``,
  ``offset`` (with ``offset=N``) or ``time`` (with ``timestamp=`` unix ms or RFC 3339);
* ``limit`` -- records to return, at most :data:`MAX_LIMIT` (default 50);
* ``key``, ``value``, ``header`` -- keep only records whose key, value or a header (``k`` or
  ``k=v``) contains that text; a filtered read scans at most :data:`MAX_SCAN_BYTES` and says
  where it stopped (``next``), so the page can go on;
* ``format`` -- how keys and values are shown: ``auto`` (decoded through the schema
  registry when framed with a known schema id -- ``avro``/``json-schema`` with a
  ``*_schema_id``, :mod:`logd.frontends.admin.schemas` -- else JSON when it parses, else text
  when UTF-8, else hex), ``json``, ``text``, ``hex``;
* ``wait_ms`` -- the live tail: when nothing is there yet, wait up to this long (at most
  :data:`MAX_WAIT_MS`) for the high watermark to pass the offset asked for;
* ``download=jsonl`` -- the same records as a JSON-lines attachment, one object a line in
  ``logd consume -f json``'s shape.

Reads go through ``BrokerSeam.browse``: the replica hosted here, leader or follower, up to
its high watermark. Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from logd.broker.seam import BrokerSeam, Caller
from logd.errors import InvalidRequestError, LogdError
from logd.frontends.admin.auth import CALLER
from logd.frontends.admin.schemas import SchemaSource, ValueDecoder
from logd.records.decoder import decode_records
from logd.records.record import Record

__all__ = ["MAX_LIMIT", "MAX_SCAN_BYTES", "MAX_WAIT_MS", "add_message_routes", "shown"]

MAX_LIMIT: Final = 500
MAX_SCAN_BYTES: Final = 8 << 20
MAX_WAIT_MS: Final = 10_000
_READ_BYTES: Final = 1 << 20
_TAIL_POLL_S: Final = 0.1


def shown(data: bytes | None, fmt: str) -> tuple[str | None, Any]:
    """(kind, shown value) of a key or value: kind ``json``, ``text`` or ``hex``."""
    if data is None:
        return None, None
    if fmt == "hex":
        return "hex", data.hex()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "hex", data.hex()
    if fmt in ("auto", "json"):
        try:
            return "json", json.loads(text)
        except ValueError:
            pass
    return "text", text


def _int(query: Any, name: str, default: int, low: int = 0, high: int | None = None) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequestError(f"{name} must be an integer, not {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise InvalidRequestError(f"{name} must be in [{low}, {high}], not {value}")
    return value


def _timestamp(raw: str) -> int:
    """Unix ms, or RFC 3339 (``2026-01-31T12:00:00Z``)."""
    if raw.lstrip("-").isdigit():
        return int(raw)
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(f"timestamp must be unix ms or RFC 3339, not {raw!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _matcher(query: Any) -> Callable[[Record], bool]:
    key, value, header = query.get("key"), query.get("value"), query.get("header")
    hkey, _, hvalue = (header or "").partition("=")

    def text(data: bytes | None) -> str:
        return "" if data is None else data.decode("utf-8", "replace")

    def match(r: Record) -> bool:
        if key and key not in text(r.key):
            return False
        if value and value not in text(r.value):
            return False
        if header:
            return any(hkey in k and (not hvalue or hvalue in text(v)) for k, v in r.headers)
        return True

    return match


def _record_json(
    topic: str, partition: int, r: Record, fmt: str, schemas: ValueDecoder | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "topic": topic, "partition": partition, "offset": r.offset, "timestamp": r.timestamp,
        "headers": [{"key": k, "value": shown(v, "auto")[1]} for k, v in r.headers],
        "size": len(r.key or b"") + len(r.value or b""),
    }  # fmt: skip
    for name, data in (("key", r.key), ("value", r.value)):
        framed = schemas.decode(data) if schemas is not None and fmt == "auto" else None
        if framed is not None:
            out[f"{name}_format"], out[name], out[f"{name}_schema_id"] = framed
        else:
            out[f"{name}_format"], out[name] = shown(data, fmt)
    return out


def _consume_json(topic: str, partition: int, r: Record) -> dict[str, Any]:
    """``logd consume -f json``'s object (text when UTF-8, else base64)."""
    out: dict[str, Any] = {"topic": topic, "partition": partition, "offset": r.offset,
                           "timestamp": r.timestamp}  # fmt: skip
    for name, data in (("key", r.key), ("value", r.value)):
        try:
            out[name] = None if data is None else data.decode("utf-8")
        except UnicodeDecodeError:
            out[f"{name}_b64"] = base64.b64encode(data).decode("ascii")  # type: ignore[arg-type]
    out["headers"] = {k: (v or b"").decode("utf-8", "replace") for k, v in r.headers}
    return out


class _Reader:
    """One partition's records from ``start``, at most ``limit`` matching and
    :data:`MAX_SCAN_BYTES` scanned."""

    def __init__(self, seam: BrokerSeam, caller: Caller, topic: str, partition: int) -> None:
        self.seam, self.caller, self.topic, self.partition = seam, caller, topic, partition

    def read(
        self, start: int, limit: int, match: Callable[[Record], bool]
    ) -> tuple[list[Record], int, int]:
        """(records, next offset to read, high watermark)."""
        found: list[Record] = []
        scanned = 0
        offset = start
        hwm = start
        while len(found) < limit and scanned < MAX_SCAN_BYTES:
            result = self.seam.browse(self.topic, self.partition, offset, _READ_BYTES,
                                      caller=self.caller)  # fmt: skip
            hwm = result.high_watermark
            offset = max(offset, result.log_start_offset)
            if not result.records:
                break
            scanned += len(result.records)
            last = offset
            for record in decode_records(result.records, start_offset=offset):
                last = record.offset + 1
                if match(record):
                    found.append(record)
                    if len(found) >= limit:
                        break
            if last <= offset:
                break  # only control batches or gap fillers: nothing more to decode here
            offset = last
        return found, offset, hwm


def _start(seam: BrokerSeam, caller: Caller, topic: str, partition: int, query: Any,
           limit: int) -> int:  # fmt: skip
    mode = query.get("from", "newest")
    start, hwm = seam.replica_offsets(topic, partition, caller=caller)
    if mode == "newest":
        return max(start, hwm - limit)
    if mode == "oldest":
        return start
    if mode == "offset":
        return _int(query, "offset", start)
    if mode == "time":
        raw = query.get("timestamp")
        if not raw:
            raise InvalidRequestError("from=time needs timestamp=")
        return seam.offset_for_time(topic, partition, _timestamp(raw), caller=caller)
    raise InvalidRequestError(f"from must be newest, oldest, offset or time, not {mode!r}")


def add_message_routes(
    app: web.Application, seam: BrokerSeam, draining: asyncio.Event, schemas: SchemaSource
) -> None:
    async def messages(request: web.Request) -> web.StreamResponse:
        caller = request[CALLER]
        topic = request.match_info["name"]
        query = request.query
        limit = _int(query, "limit", 50, 1, MAX_LIMIT)
        wait_ms = _int(query, "wait_ms", 0, 0, MAX_WAIT_MS)
        fmt = query.get("format", "auto")
        if fmt not in ("auto", "json", "text", "hex"):
            raise InvalidRequestError(f"format must be auto, json, text or hex, not {fmt!r}")
        (described,) = await seam.describe_topics([topic], caller=caller)
        if described.error is not None:
            raise described.error
        count = len(described.partitions)
        partitions = list(range(count))
        if "partition" in query:
            partitions = [_int(query, "partition", 0, 0, max(count - 1, 0))]
        match = _matcher(query)
        out: list[tuple[int, Record]] = []
        positions: dict[str, Any] = {}
        for p in partitions:
            reader = _Reader(seam, caller, topic, p)
            try:
                first = _start(seam, caller, topic, p, query, limit)
                found, nxt, hwm = reader.read(first, limit, match)
                if not found and wait_ms and len(partitions) == 1:
                    found, nxt, hwm = await _tail(reader, first, limit, match, wait_ms, draining)
            except LogdError as exc:
                positions[str(p)] = {"error": str(exc), "error_code": int(exc.code)}
                continue
            positions[str(p)] = {"next": nxt, "high_watermark": hwm}
            out.extend((p, r) for r in found)
        out.sort(key=lambda pr: (pr[1].timestamp, pr[0], pr[1].offset))
        out = out[-limit:] if query.get("from", "newest") == "newest" else out[:limit]
        if query.get("download") == "jsonl":
            body = "".join(json.dumps(_consume_json(topic, p, r)) + "\n" for p, r in out)
            return web.Response(
                text=body, content_type="application/x-ndjson",
                headers={"Content-Disposition": f'attachment; filename="{topic}.jsonl"'},
            )  # fmt: skip
        decoder = ValueDecoder(seam, caller, schemas)
        return web.json_response({
            "topic": topic,
            "records": [_record_json(topic, p, r, fmt, decoder) for p, r in out],
            "partitions": positions,
        })  # fmt: skip

    app.router.add_get("/api/topics/{name}/messages", messages)


async def _tail(
    reader: _Reader, start: int, limit: int, match: Callable[[Record], bool], wait_ms: int,
    draining: asyncio.Event,
) -> tuple[list[Record], int, int]:  # fmt: skip
    """Wait (bounded, ending early on drain) for records at or after ``start``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_ms / 1000.0
    found: list[Record] = []
    nxt, hwm = start, start
    while loop.time() < deadline and not draining.is_set():
        # The high watermark has no waiter for followers' copies: a short poll, a tail only.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(draining.wait(), _TAIL_POLL_S)
        found, nxt, hwm = reader.read(start, limit, match)
        if found:
            break
    return found, nxt, hwm
