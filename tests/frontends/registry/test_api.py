"""The registry's REST API on a real broker core (in process, real storage), driven by
confluent-kafka's SchemaRegistryClient and by raw HTTP for the error cases."""

from __future__ import annotations

import json

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

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
