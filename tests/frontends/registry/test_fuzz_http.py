"""Fuzz the registry's HTTP listener (the listener's own fuzzer, STYLE: every listener has one).

One registry (a real broker core, the aiohttp front end) takes hypothesis-generated
requests: every route of the API with random methods, path values (ids, versions, subjects
with slashes, percent signs, unicode), query parameters and bodies (random bytes, random
JSON, schema bodies of every type, valid or not, with random references, levels and modes).
Each answer must be a success or Confluent's ``{error_code, message}`` with a 4xx status --
never a 5xx, a traceback or a hang -- and a 200 must be JSON. Then raw bytes on a socket
(half requests, bad request lines, lying lengths): the listener answers 400 or closes, and
goes on serving. The default suite runs several hundred cases (its time budget); ``-m soak`` 70,000.
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.parse
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logd.registry.protobuf_schema import parse_protobuf

CT = "application/vnd.schemaregistry.v1+json"
TIMEOUT_S = 30.0
_HTTP = httpx.Client(timeout=TIMEOUT_S)

ROUTES = (
    "", "schemas", "schemas/types", "schemas/ids/{id}", "schemas/ids/{id}/schema",
    "schemas/ids/{id}/subjects", "schemas/ids/{id}/versions", "subjects", "subjects/{s}",
    "subjects/{s}/versions", "subjects/{s}/versions/{v}", "subjects/{s}/versions/{v}/schema",
    "subjects/{s}/versions/{v}/referencedby", "config", "config/{s}",
    "compatibility/subjects/{s}/versions", "compatibility/subjects/{s}/versions/{v}",
    "mode", "mode/{s}", "contexts", "associations/resources/{s}/{s}", "_health",
    "master_available",
)  # fmt: skip
AVRO = [
    '{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}',
    '{"type":"record","name":"R","fields":[{"name":"a","type":"int"},'
    '{"name":"b","type":"string","default":""}]}',
    '{"type":"record","name":"R","fields":[{"name":"b","type":"long"}]}',
    '"string"', '{"type":"enum","name":"E","symbols":["A","B"]}', '{"type":"array"}',
    '{"type":"record","name":"R","fields":[{"name":"r","type":"Other"}]}', "{", "",
]  # fmt: skip
JSON_SCHEMAS = ['{"type":"object","properties":{"a":{"type":"integer"}}}', '{"type":"nope"}',
                '{"$ref":"#/definitions/x"}', "true"]  # fmt: skip
PROTOS = ['syntax = "proto3"; message M { int32 a = 1; }', "message {", 'import "x.proto";']
PROTOS.append(parse_protobuf(PROTOS[0]).serialized())  # confluent-kafka's form: a descriptor

_values = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.sampled_from(["latest", "-1", "0", "1", "2", "x", "", "%00", "..", "1e3"]),
    st.text(max_size=12),
)
_subjects = st.one_of(st.sampled_from(["s", "t-value", "a/b", "%2F", " "]), st.text(max_size=16))
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
_references = st.lists(
    st.fixed_dictionaries(
        {"name": st.text(max_size=8), "subject": _subjects, "version": st.integers(-2, 3)}
    ),
    max_size=2,
)
_schema_bodies = st.fixed_dictionaries(
    {"schema": st.sampled_from(AVRO + JSON_SCHEMAS + PROTOS)},
    optional={
        "schemaType": st.sampled_from(["AVRO", "JSON", "PROTOBUF", "avro", "XML", ""]) | _json,
        "references": _references | _json,
        "id": st.integers(-2, 2**33),
        "version": st.integers(-2, 2**33),
        "compatibility": st.sampled_from(["NONE", "FULL", "BACKWARD_TRANSITIVE", "x"]) | _json,
        "mode": st.sampled_from(["READWRITE", "READONLY", "IMPORT", "x"]) | _json,
        "normalize": _json,
    },
)
_bodies = st.one_of(
    st.none(),
    _schema_bodies.map(lambda b: json.dumps(b).encode()),
    _json.map(lambda b: json.dumps(b).encode()),
    st.binary(max_size=64),
)
_queries = st.dictionaries(
    st.sampled_from(["deleted", "permanent", "normalize", "verbose", "defaultToGlobal",
                     "subject", "subjectPrefix", "prefix", "offset", "limit", "latestOnly",
                     "deleted_only", "format", "fetchMaxId"]),
    st.one_of(st.sampled_from(["true", "false", "1", "-1", "", "serialized"]),
              st.text(max_size=6)),
    max_size=3,
)  # fmt: skip


_FEW = st.sampled_from(["s", "t-value", "u"])
_LEVELS = st.sampled_from(["NONE", "BACKWARD", "FORWARD_TRANSITIVE", "FULL"])


@st.composite
def plausible(draw: st.DrawFn) -> tuple[str, str, bytes | None]:
    """Well-formed calls on a few subjects, so the state grows, evolves and shrinks under
    the fuzz (registrations, references, soft and hard deletes, levels and modes)."""
    subject, version = draw(_FEW), draw(st.sampled_from(["1", "2", "3", "latest"]))
    permanent = draw(st.sampled_from(["", "?permanent=true"]))
    body: dict[str, Any] = {"schema": draw(st.sampled_from(AVRO[:5]))}
    if draw(st.booleans()):
        body = {"schema": draw(st.sampled_from(JSON_SCHEMAS[:1])), "schemaType": "JSON"}
    if draw(st.integers(0, 4)) == 0:
        body["references"] = [{"name": "r", "subject": draw(_FEW), "version": 1}]
    return draw(st.sampled_from([
        ("POST", f"/subjects/{subject}/versions", json.dumps(body).encode()),
        ("POST", f"/subjects/{subject}/versions", json.dumps(body).encode()),
        ("POST", f"/subjects/{subject}", json.dumps(body).encode()),
        ("POST", f"/compatibility/subjects/{subject}/versions/{version}?verbose=true",
         json.dumps(body).encode()),
        ("DELETE", f"/subjects/{subject}{permanent}", None),
        ("DELETE", f"/subjects/{subject}/versions/{version}{permanent}", None),
        ("PUT", f"/config/{subject}", json.dumps({"compatibility": draw(_LEVELS)}).encode()),
        ("PUT", "/config", json.dumps({"compatibility": draw(_LEVELS)}).encode()),
        ("PUT", f"/mode/{subject}", json.dumps({"mode": "READWRITE"}).encode()),
        ("PUT", f"/mode/{subject}", json.dumps({"mode": "READONLY"}).encode()),
        ("GET", f"/subjects/{subject}/versions/{version}/referencedby", None),
    ]))  # fmt: skip


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes | None]:
    if draw(st.integers(0, 9)) < 4:
        return draw(plausible())
    if draw(st.integers(0, 9)):
        path = "/" + draw(st.sampled_from(ROUTES)).format(
            id=urllib.parse.quote(draw(_values), safe=""),
            v=urllib.parse.quote(draw(_values), safe=""),
            s=urllib.parse.quote(draw(_subjects), safe=""),
        )
    else:
        path = "/" + urllib.parse.quote(draw(st.text(max_size=20)), safe="/")
    query = urllib.parse.urlencode(draw(_queries))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "GET", "POST", "PATCH"]))
    return method, path + ("?" + query if query else ""), draw(_bodies)


def _check(registry: str, method: str, path: str, body: bytes | None) -> None:
    answer = _HTTP.request(method, registry + path, content=body, headers={"Content-Type": CT})
    assert answer.status_code < 500, (method, path, answer.status_code, answer.text[:300])
    parsed: Any = answer.json()  # every answer is JSON, the errors too
    if answer.status_code >= 400:
        assert isinstance(parsed, dict), parsed
        assert isinstance(parsed.get("error_code"), int) and parsed.get("message"), parsed
        assert "Traceback" not in parsed["message"]


def _fuzz_requests(examples: int) -> Any:
    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])  # fmt: skip
    @given(request=requests())
    def run(registry: str, request: tuple[str, str, bytes | None]) -> None:
        _check(registry, *request)

    return run


_RAW = st.one_of(
    st.binary(max_size=200),
    st.tuples(
        st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"BREW", b"", b"G\x00T"]),
        st.sampled_from([b"/", b"/subjects", b"/subjects/s/versions", b"*", b"", b"/\xff"]),
        st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9.9", b"", b"XTTP/1.1"]),
        st.lists(
            st.sampled_from([b"Content-Length: 5", b"Content-Length: -1",
                             b"Content-Length: 99999999999", b"Transfer-Encoding: chunked",
                             b"Content-Type: " + CT.encode(), b"Host: x", b": novalue",
                             b"X" * 300]), max_size=4),
        st.binary(max_size=64),
    ).map(lambda p: b"%s %s %s\r\n%s\r\n\r\n%s" % (p[0], p[1], p[2], b"\r\n".join(p[3]), p[4])),
)  # fmt: skip


def _fuzz_raw(examples: int) -> Any:
    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])  # fmt: skip
    @given(data=_RAW)
    def run(registry: str, data: bytes) -> None:
        host, port = urllib.parse.urlsplit(registry).netloc.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=TIMEOUT_S) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # what was sent is all there is
            answer = b""
            while chunk := sock.recv(65536):  # ends: the listener answers and/or closes
                answer += chunk
        if answer:
            status = int(answer.split(b" ", 2)[1])
            assert status < 500, answer[:300]

    return run


test_random_requests_get_an_answer_or_a_clear_error = _fuzz_requests(400)
test_raw_bytes_get_a_400_or_a_close = _fuzz_raw(300)
test_random_requests_soak = pytest.mark.soak(_fuzz_requests(50_000))
test_raw_bytes_soak = pytest.mark.soak(_fuzz_raw(20_000))


def test_still_serving_after_the_fuzz(registry: str, caplog: pytest.LogCaptureFixture) -> None:
    """A short run of both, then the ordinary calls work and nothing was half stored; a bad
    request is one line in the broker's log, never a traceback."""
    _fuzz_raw(50)(registry)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert any(r.getMessage().startswith("registry: bad request: ") for r in caplog.records)
    _fuzz_requests(200)(registry)
    sid = _HTTP.post(registry + "/subjects/after/versions", json={"schema": AVRO[0]},
                     headers={"Content-Type": CT}).json()["id"]  # fmt: skip
    assert _HTTP.get(f"{registry}/schemas/ids/{sid}").json()["schema"] == AVRO[0]
    for subject in _HTTP.get(registry + "/subjects?deleted=true").json():
        versions = _HTTP.get(
            f"{registry}/subjects/{urllib.parse.quote(subject, safe='')}/versions?deleted=true"
        )
        assert versions.status_code == 200, (subject, versions.text)
