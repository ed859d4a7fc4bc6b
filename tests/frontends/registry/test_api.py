"""The registry's REST API on a real broker core (in process, real storage), driven by
confluent-kafka's SchemaRegistryClient and by raw HTTP for the error cases."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from logd.broker.seam import BrokerSeam
from logd.frontends.registry import RegistryFrontEnd
from logd.metadata.types import HostPort
from logd.registry.protobuf_descriptor import decode_descriptor, encode_descriptor, file_descriptor
from logd.registry.protobuf_schema import parse_protobuf
from tests.broker.harness import open_core

CT = "application/vnd.schemaregistry.v1+json"
_HTTP = httpx.Client(timeout=30)  # one client: a new one per call costs ~0.2 s of TLS set-up
V1 = json.dumps({"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}]})
V2 = json.dumps({"type": "record", "name": "User", "fields": [
    {"name": "name", "type": "string"}, {"name": "age", "type": "int", "default": 0}]})  # fmt: skip
V_BAD = json.dumps({"type": "record", "name": "User", "fields": [
    {"name": "name", "type": "string"}, {"name": "email", "type": "string"}]})  # fmt: skip


def call(
    url: str, method: str, path: str, body: object = None, raw: bytes | None = None
) -> tuple[int, object]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    r = _HTTP.request(method, url + path, content=data, headers={"Content-Type": CT})
    return r.status_code, r.json()


def test_confluent_client_register_evolve_refuse(registry: str) -> None:
    def scenario() -> None:
        client = SchemaRegistryClient({"url": registry})
        sid = client.register_schema("users-value", Schema(V1, "AVRO"))
        assert client.register_schema("users-value", Schema(V1, "AVRO")) == sid
        sid2 = client.register_schema("users-value", Schema(V2, "AVRO"))
        assert sid2 != sid
        with pytest.raises(SchemaRegistryError) as exc:
            client.register_schema("users-value", Schema(V_BAD, "AVRO"))
        assert exc.value.http_status_code == 409
        assert client.get_schema(sid).schema_str == V1
        latest = client.get_latest_version("users-value")
        assert (latest.version, latest.schema_id) == (2, sid2)
        assert client.get_versions("users-value") == [1, 2]
        assert client.get_subjects() == ["users-value"]
        assert client.lookup_schema("users-value", Schema(V1, "AVRO")).version == 1
        assert client.test_compatibility("users-value", Schema(V_BAD, "AVRO")) is False
        assert client.set_compatibility("users-value", "NONE") == {"compatibility": "NONE"}
        assert client.get_compatibility("users-value") == "NONE"
        assert client.get_schema_types() == ["JSON", "PROTOBUF", "AVRO"]
        assert client.delete_version("users-value", 2) == 2
        assert client.delete_subject("users-value") == [1]
        assert client.delete_subject("users-value", permanent=True) == [1, 2]
        assert client.get_subjects() == []

    scenario()


def test_curl_register_returns_an_id(registry: str) -> None:
    status, body = call(registry, "POST", "/subjects/demo-value/versions", {"schema": V1})
    assert (status, body) == (200, {"id": 1, "version": 1})
    status, body = call(registry, "GET", "/schemas/ids/1")
    assert status == 200 and body == {"schema": V1, "schemaType": "AVRO"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/subjects/s/versions", {"schema": "{not json"}, 422, 42201),
        ("POST", "/subjects/s/versions", {"schema": '{"type":"nope"}'}, 422, 42201),
        ("POST", "/subjects/s/versions", {"schema": "{}", "schemaType": "XML"}, 422, 42201),
        ("POST", "/subjects/s/versions", {"schema": 5}, 422, 42201),
        ("POST", "/subjects/s/versions", [1], 422, 422),
        ("GET", "/subjects/nope/versions", None, 404, 40401),
        ("GET", "/subjects/nope/versions/1", None, 404, 40401),
        ("GET", "/subjects/s/versions/0", None, 422, 42202),
        ("GET", "/schemas/ids/999", None, 404, 40403),
        ("GET", "/schemas/ids/x", None, 404, 40403),
        ("PUT", "/config", {"compatibility": "SIDEWAYS"}, 422, 42203),
        ("PUT", "/mode", {"mode": "SOMETIMES"}, 422, 42204),
        ("GET", "/associations/resources/ns/t", None, 404, 404),
        ("DELETE", "/subjects/nope", None, 404, 40401),
    ],
)
def test_bad_input_one_clear_error(
    registry: str, method: str, path: str, body: object, status: int, code: int
) -> None:
    got_status, got = call(registry, method, path, body)
    assert got_status == status, got
    assert isinstance(got, dict) and got["error_code"] == code and got["message"]
    _, subjects = call(registry, "GET", "/subjects")
    assert subjects == []  # nothing stored


def test_malformed_json_and_oversized_body(registry: str) -> None:
    status, body = call(registry, "POST", "/subjects/s/versions", raw=b'{"schema": ')
    assert status == 422 and isinstance(body, dict) and body["error_code"] == 422
    big = json.dumps({"schema": "x" * (17 * 1024 * 1024)}).encode()
    status, body = call(registry, "POST", "/subjects/s/versions", raw=big)
    assert status == 413 and isinstance(body, dict) and body["error_code"] == 413


def test_soft_deleted_rules_and_codes(registry: str) -> None:
    call(registry, "POST", "/subjects/s/versions", {"schema": V1})
    status, body = call(registry, "DELETE", "/subjects/s?permanent=true")
    assert (status, body["error_code"]) == (404, 40405)  # type: ignore[index]
    assert (call(registry, "DELETE", "/subjects/s"))[1] == [1]
    status, body = call(registry, "DELETE", "/subjects/s")
    assert (status, body["error_code"]) == (404, 40404)  # type: ignore[index]
    assert (call(registry, "GET", "/subjects?deleted=true"))[1] == ["s"]
    assert (call(registry, "GET", "/subjects?deleted_only=true"))[1] == ["s"]
    # the id is still resolvable (old data must stay readable)
    assert (call(registry, "GET", "/schemas/ids/1"))[0] == 200


def test_protobuf_as_a_descriptor_in_and_out(registry: str) -> None:
    """What confluent-kafka's Protobuf serializers send and ask for: the base64 of a
    FileDescriptorProto in, .proto text stored, ?format=serialized gives the descriptor."""
    text = 'syntax = "proto3";\npackage p;\nmessage M { int32 a = 1; repeated string b = 2; }\n'
    schema = parse_protobuf(text)
    sent = encode_descriptor(file_descriptor(schema.file, "m.proto", schema.descriptors.kinds))
    status, body = call(registry, "POST", "/subjects/m/versions",
                        {"schema": sent, "schemaType": "PROTOBUF"})  # fmt: skip
    assert status == 200
    schema_id = body["id"]  # type: ignore[index]
    status, stored = call(registry, "GET", f"/schemas/ids/{schema_id}")
    assert "message M" in stored["schema"]  # type: ignore[index]
    # The text is the same schema as the descriptor: same id, by either form.
    status, again = call(registry, "POST", "/subjects/m",
                         {"schema": text, "schemaType": "PROTOBUF"})  # fmt: skip
    assert status == 200 and again["id"] == schema_id  # type: ignore[index]
    for path in (
        f"/schemas/ids/{schema_id}?format=serialized",
        "/subjects/m/versions/1?format=serialized",
    ):
        status, got = call(registry, "GET", path)
        descriptor = decode_descriptor(got["schema"])  # type: ignore[index]
        assert descriptor is not None and [m.name for m in descriptor.message_type] == ["M"]
    status, raw = call(registry, "GET", "/subjects/m/versions/1/schema?format=serialized")
    assert decode_descriptor(raw) is not None  # type: ignore[arg-type]
    # Base64 of something that is no descriptor: one clear 42201, nothing stored.
    status, error = call(registry, "POST", "/subjects/m/versions",
                         {"schema": "AAAA", "schemaType": "PROTOBUF"})  # fmt: skip
    assert status == 422 and error["error_code"] == 42201  # type: ignore[index]
    assert call(registry, "GET", "/subjects/m/versions")[1] == [1]


def test_each_request_is_counted_by_its_route(registry_seam: tuple[str, BrokerSeam]) -> None:
    """The broker's figures (admin /metrics) see the registry's requests by route pattern;
    answers of 400 and more are errors; unknown paths are one name, whatever they were."""
    url, seam = registry_seam
    assert call(url, "POST", "/subjects/a/versions", {"schema": V1})[0] == 200
    assert call(url, "POST", "/subjects/b/versions", {"schema": V1})[0] == 200
    assert call(url, "GET", "/subjects/nope/versions")[0] == 404
    for junk in ("/x", "/y/z", "/associations/1"):
        assert call(url, "GET", junk)[0] == 404
    figures = {(listener, name): f for (listener, name), f in seam.telemetry.requests.items()
               if listener == "registry"}  # fmt: skip
    register = figures["registry", "POST /subjects/{subject}/versions"]
    assert register.latency.count == 2 and register.errors == 0 and register.bytes_in > 0
    assert figures["registry", "GET /subjects/{subject}/versions"].errors == 1
    assert figures["registry", "unrouted"].latency.count == 3


def _until(check: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.05)


def test_karapaces_health_and_master_available(registry: str) -> None:
    """Tooling written for Karapace polls these: before the first write there is no
    `_schemas` and no writer; after it, this (only) broker is the writer and caught up."""
    _until(lambda: call(registry, "GET", "/_health")[1]["status"]["schema_registry_ready"],  # type: ignore[index]
           "the registry caught up")  # fmt: skip
    status, body = call(registry, "GET", "/master_available")
    assert (status, body) == (200, {"master_available": False})
    assert call(registry, "POST", "/subjects/h/versions", {"schema": V1})[0] == 200
    assert call(registry, "GET", "/master_available")[1] == {"master_available": True}

    def caught_up() -> bool:
        status, body = call(registry, "GET", "/_health")
        s = body["status"]  # type: ignore[index]
        return bool(status == 200 and body["healthy"]  # type: ignore[index]
                    and s["schema_registry_reader_current_offset"] >= 1
                    and s["schema_registry_reader_current_offset"]
                    == s["schema_registry_reader_highest_offset"])  # fmt: skip

    _until(caught_up, "the health shows the write applied")
    s = call(registry, "GET", "/_health")[1]["status"]  # type: ignore[index]
    assert s["schema_registry_is_primary"] is True
    assert s["schema_registry_primary_url"] == registry
    assert s["schema_registry_coordinator_generation_id"] >= 0


def test_connections_over_the_bound_get_a_503_and_are_closed(tmp_path: Path) -> None:
    async def body() -> None:
        opened = await open_core(tmp_path)
        front = RegistryFrontEnd(HostPort("127.0.0.1", 0), opened.seam(), max_connections=1)
        bound = await front.start()
        try:
            first = await asyncio.open_connection(bound.host, bound.port)
            first[1].write(b"GET /subjects HTTP/1.1\r\nHost: r\r\n\r\n")
            assert (await first[0].readline()).startswith(b"HTTP/1.1 200")
            reader, writer = await asyncio.open_connection(bound.host, bound.port)
            answer = await asyncio.wait_for(reader.read(), 30)  # ends: the listener closes
            assert answer.startswith(b"HTTP/1.1 503")
            assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error_code"] == 50302
            writer.close()
            first[1].close()  # the first one gone, a new connection is served
            await first[1].wait_closed()
            deadline = time.monotonic() + 30
            while True:
                reader, writer = await asyncio.open_connection(bound.host, bound.port)
                writer.write(b"GET /subjects HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n")
                status = await reader.readline()
                writer.close()
                if status.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert status.startswith(b"HTTP/1.1 200")
        finally:
            front.begin_drain()
            await front.stop(1.0)
            await opened.close()

    asyncio.run(body())
