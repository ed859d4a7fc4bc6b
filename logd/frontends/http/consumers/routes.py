"""REST Proxy v2 consumer routes: ``POST /consumers/{g}`` creates an instance; under
``/consumers/{g}/instances/{i}``: ``DELETE``, ``subscription`` (POST topics or
topic_pattern, GET, DELETE), ``assignments`` (POST, GET), ``positions`` (POST offsets or
timestamps), ``positions/beginning`` and ``/end``, ``records`` (GET ``?timeout=&max_bytes=``
in the format the instance was created with, which ``Accept`` must name), ``offsets``
(POST commits, GET the committed ones -- a GET with a body, as Confluent's).

Answers and errors as Confluent's: 204 for the calls that return nothing, 404/40403 for an
unknown instance, 409/40902 a name taken, 409/40903 subscription and assignment mixed,
406/40601 a wrong Accept, 422/42204 a bad instance setting, 422 a body of the wrong shape.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from logd.broker.api import OffsetSpec
from logd.frontends.http.consumers.instance import ConsumerInstance, InstanceConfig
from logd.frontends.http.consumers.instances import ConsumerInstances
from logd.frontends.http.consumers.membership import Subscribed
from logd.frontends.http.context import caller, context
from logd.frontends.http.errors import ILLEGAL_STATE, INVALID_CONSUMER_CONFIG, RestError
from logd.frontends.http.media import (
    decode_binary,
    decode_json,
    format_content_type,
    require_accept,
)
from logd.frontends.http.plumbing import int_param, json_answer, read_json, reply
from logd.groups.messages import TopicPartition
from logd.records.record import Record

__all__ = ["add_consumer_routes"]

_INSTANCE: Final = "/consumers/{group}/instances/{name}"
_FORMATS: Final = ("binary", "json", "avro", "jsonschema", "protobuf")
#: auto.offset.reset values, with the old consumer's names Confluent still accepts.
_RESETS: Final = {"earliest": "earliest", "latest": "latest", "none": "none",
                  "smallest": "earliest", "largest": "latest"}  # fmt: skip
_INT32_MAX: Final = 2**31 - 1


def _unprocessable(message: str) -> RestError:
    return RestError(422, 422, message)


def _instances(request: web.Request) -> ConsumerInstances:
    instances = context(request).consumers
    assert isinstance(instances, ConsumerInstances)
    return instances


def _instance(request: web.Request) -> ConsumerInstance:
    info = request.match_info
    return _instances(request).get(info["group"], info["name"], caller(request))


def _no_content() -> web.Response:
    return web.Response(status=204)


# -- bodies ------------------------------------------------------------------------------------


async def _body(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    body = await read_json(request, context(request).settings.request_timeout_ms)
    if body is None and optional:
        return {}
    if not isinstance(body, dict):
        raise _unprocessable("Unrecognized request body: expected a JSON object")
    return body


def _list(body: dict[str, Any], field: str) -> list[Any]:
    items = body.get(field)
    if not isinstance(items, list):
        raise _unprocessable(f"{field}: expected a list")
    return items


def _partition_of(item: Any, where: str) -> TopicPartition:
    if not isinstance(item, dict):
        raise _unprocessable(f"{where}: expected an object with topic and partition")
    topic, partition = item.get("topic"), item.get("partition")
    if not isinstance(topic, str) or not topic:
        raise _unprocessable(f"{where}.topic: expected a topic name")
    if (
        isinstance(partition, bool)
        or not isinstance(partition, int)
        or not (0 <= partition <= _INT32_MAX)
    ):
        raise _unprocessable(f"{where}.partition: expected a partition id")
    return TopicPartition(topic, partition)


def _partitions(body: dict[str, Any]) -> list[TopicPartition]:
    items = _list(body, "partitions")
    return [_partition_of(item, f"partitions[{i}]") for i, item in enumerate(items)]


def _offsets(body: dict[str, Any]) -> list[tuple[TopicPartition, int]]:
    out = []
    for i, item in enumerate(_list(body, "offsets")):
        tp = _partition_of(item, f"offsets[{i}]")
        offset = item.get("offset")
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < 2**63:
            raise RestError(422, 42202, f"offsets[{i}].offset: expected an offset >= 0")
        out.append((tp, offset))
    return out


def _timestamp(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return int((when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp() * 1000)
    raise _unprocessable(f"{where}: expected an ISO 8601 time or unix milliseconds")


# -- instances ---------------------------------------------------------------------------------


def _setting(body: dict[str, Any], key: str, check: Callable[[str], Any], default: Any) -> Any:
    value = body.get(key)
    if value is None:
        return default
    try:
        return check(str(value).strip().lower())
    except (ValueError, KeyError):
        raise RestError(
            422, INVALID_CONSUMER_CONFIG, f"Invalid consumer configuration: {key}={value!r}"
        ) from None


def _config(group: str, body: dict[str, Any], default_timeout_ms: int) -> InstanceConfig:
    name = body.get("name") or body.get("id") or ""
    if not isinstance(name, str) or len(name) > 255 or "/" in name:
        raise RestError(422, INVALID_CONSUMER_CONFIG, "Invalid consumer configuration: name")
    fmt = _setting(body, "format", lambda v: _choice(v, _FORMATS), "binary")
    reset = _setting(body, "auto.offset.reset", lambda v: _RESETS[v], "latest")
    auto_commit = _setting(body, "auto.commit.enable",
                           lambda v: {"true": True, "false": False}[v], True)  # fmt: skip
    min_bytes = _setting(body, "fetch.min.bytes", lambda v: _bounded(v, 1, 2**30), 1)
    timeout_ms = _setting(body, "consumer.request.timeout.ms",
                          lambda v: _bounded(v, 0, 600_000), default_timeout_ms)  # fmt: skip
    return InstanceConfig(group, name, fmt, reset, auto_commit, min_bytes, timeout_ms)


def _choice(text: str, choices: tuple[str, ...]) -> str:
    if text not in choices:
        raise ValueError(text)
    return text


def _bounded(text: str, low: int, high: int) -> int:
    value = int(text)
    if not low <= value <= high:
        raise ValueError(text)
    return value


async def create_instance(request: web.Request) -> web.Response:
    group = request.match_info["group"]
    ctx = context(request)
    body = await _body(request, optional=True)
    config = _config(group, body, ctx.settings.consumer_request_timeout_ms)
    instance = _instances(request).create(config, caller(request))
    base = f"{request.scheme}://{request.host}/consumers/{group}/instances/{instance.config.name}"
    return reply(request, {"instance_id": instance.config.name, "base_uri": base})


async def delete_instance(request: web.Request) -> web.Response:
    info = request.match_info
    await _instances(request).delete(info["group"], info["name"], caller(request))
    return _no_content()


# -- subscription and assignment ---------------------------------------------------------------


async def subscribe(request: web.Request) -> web.Response:
    instance = _instance(request)
    body = await _body(request)
    topics, pattern = body.get("topics"), body.get("topic_pattern")
    if topics is not None and pattern is not None:
        raise RestError(409, ILLEGAL_STATE, "Illegal state: Subscription to topics, partitions"
                        " and pattern are mutually exclusive.")  # fmt: skip
    if pattern is not None:
        if not isinstance(pattern, str):
            raise _unprocessable("topic_pattern: expected a regular expression")
        try:
            subscribed = Subscribed(pattern=pattern)
        except re.error as exc:
            raise _unprocessable(f"topic_pattern: {exc}") from None
    else:
        names = _list(body, "topics")
        if not names or not all(isinstance(t, str) and t for t in names):
            raise _unprocessable("topics: expected a list of topic names")
        subscribed = Subscribed(names)
    async with instance.lock:
        await instance.subscribe(subscribed)
    return _no_content()


async def get_subscription(request: web.Request) -> web.Response:
    return reply(request, {"topics": list(_instance(request).subscription())})


async def unsubscribe(request: web.Request) -> web.Response:
    instance = _instance(request)
    async with instance.lock:
        await instance.unsubscribe()
    return _no_content()


async def assign(request: web.Request) -> web.Response:
    instance = _instance(request)
    partitions = _partitions(await _body(request))
    async with instance.lock:
        await instance.assign(partitions)
    return _no_content()


async def get_assignments(request: web.Request) -> web.Response:
    held = _instance(request).assignment()
    return reply(request, {"partitions": [{"topic": t, "partition": p} for t, p in held]})


# -- positions ---------------------------------------------------------------------------------


async def seek(request: web.Request) -> web.Response:
    instance = _instance(request)
    body = await _body(request)
    async with instance.lock:
        if "timestamps" in body:
            times = []
            for i, item in enumerate(_list(body, "timestamps")):
                tp = _partition_of(item, f"timestamps[{i}]")
                times.append((tp, _timestamp(item.get("timestamp"), f"timestamps[{i}].timestamp")))
            await instance.seek_to_times(times)
        if "offsets" in body or "timestamps" not in body:
            instance.seek(_offsets(body))
    return _no_content()


async def seek_beginning(request: web.Request) -> web.Response:
    return await _seek_to(request, OffsetSpec.EARLIEST)


async def seek_end(request: web.Request) -> web.Response:
    return await _seek_to(request, OffsetSpec.LATEST)


async def _seek_to(request: web.Request, spec: OffsetSpec) -> web.Response:
    instance = _instance(request)
    partitions = _partitions(await _body(request))
    async with instance.lock:
        await instance.seek_to(partitions, spec)
    return _no_content()


# -- records and offsets -----------------------------------------------------------------------


def _size(record: Record) -> int:
    return len(record.key or b"") + len(record.value or b"")


async def records(request: web.Request) -> web.Response:
    instance = _instance(request)
    ctx = context(request)
    fmt = instance.config.format
    require_accept(request.headers.get("Accept", ""), fmt)
    timeout_ms = int_param(request, "timeout", instance.config.request_timeout_ms, 0, 600_000)
    limit = ctx.settings.consumer_request_max_bytes
    max_bytes = int_param(request, "max_bytes", limit, 1, limit)
    async with instance.lock:
        fetched = await instance.records(timeout_ms, max_bytes, _size)
    auth = request.headers.get("Authorization")

    async def decode(data: bytes | None, where: str) -> Any:
        if fmt == "binary":
            return decode_binary(data)
        if fmt == "json":
            return decode_json(data, where)
        return await ctx.schemas.decode(data, fmt, auth, where)

    out = []
    for topic, partition, record in fetched:
        where = f"{topic}-{partition}@{record.offset}"
        item: dict[str, Any] = {
            "topic": topic,
            "key": await decode(record.key, where + " key"),
            "value": await decode(record.value, where + " value"),
            "partition": partition,
            "offset": record.offset,
        }
        if record.headers:
            item["headers"] = [{"name": k, "value": decode_binary(v)} for k, v in record.headers]
        out.append(item)
    return json_answer(out, format_content_type(fmt))


async def commit(request: web.Request) -> web.Response:
    instance = _instance(request)
    body = await _body(request, optional=True)
    offsets = _offsets(body) if body.get("offsets") is not None else None
    async with instance.lock:
        await instance.commit(offsets)
    return _no_content()


async def committed(request: web.Request) -> web.Response:
    instance = _instance(request)
    partitions = _partitions(await _body(request))
    async with instance.lock:
        found = await instance.committed(partitions)
    return reply(
        request,
        {"offsets": [{"topic": tp.topic, "partition": tp.partition, "offset": o, "metadata": ""}
                     for tp, o in found.items()]},
    )  # fmt: skip


def add_consumer_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/consumers/{group}", create_instance)
    router.add_post("/consumers/{group}/", create_instance)  # as Confluent's example writes it
    router.add_delete(_INSTANCE, delete_instance)
    router.add_post(_INSTANCE + "/subscription", subscribe)
    router.add_get(_INSTANCE + "/subscription", get_subscription)
    router.add_delete(_INSTANCE + "/subscription", unsubscribe)
    router.add_post(_INSTANCE + "/assignments", assign)
    router.add_get(_INSTANCE + "/assignments", get_assignments)
    router.add_post(_INSTANCE + "/positions", seek)
    router.add_post(_INSTANCE + "/positions/beginning", seek_beginning)
    router.add_post(_INSTANCE + "/positions/end", seek_end)
    router.add_get(_INSTANCE + "/records", records)
    router.add_post(_INSTANCE + "/offsets", commit)
    router.add_get(_INSTANCE + "/offsets", committed)
