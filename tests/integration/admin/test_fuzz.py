"""The admin listener's fuzzer: random and plausible requests on every route (methods,
paths, queries, headers, JSON and non-JSON bodies) and raw bytes on the socket, sent to a
real broker. Every answer must be a well-formed HTTP answer below 500 (a 503 only while
draining, which never happens here); after all of them the broker still serves
``/v1/ready`` and its health. Never a traceback in its log, a hang or a crash.

A few thousand requests in ``make test``; ``-m soak`` sends far more."""

from __future__ import annotations

import http.client
import json
import os
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.admin.support import admin_url, get_json, logd
from tests.integration.cluster import BrokerProcess

pytestmark = pytest.mark.integration

ROUTES = [
    "/", "/metrics", "/v1/health", "/v1/ready", "/api/cluster", "/api/topics",
    "/api/topics/fuzzed", "/api/topics/fuzzed/configs", "/api/topics/fuzzed/partitions",
    "/api/topics/fuzzed/messages", "/api/groups", "/api/groups/fuzz-group",
    "/api/groups/fuzz-group/reset", "/api/registry/subjects", "/api/security/users",
    "/api/tail/fuzzed", "/static/app.js", "/static/../../etc/passwd",
]  # fmt: skip
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW"]
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_QUERY_KEYS = ["detail", "partition", "offset", "from", "limit", "key", "value", "header",
               "format", "timestamp", "dry_run", "to", "max"]  # fmt: skip


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    path = draw(st.sampled_from(ROUTES) | _text.map(lambda t: "/" + t.replace(" ", "%20")))
    query = draw(st.dictionaries(st.sampled_from(_QUERY_KEYS), _text, max_size=4))
    if query:
        from urllib.parse import urlencode

        path += "?" + urlencode(query)
    body_kind = draw(st.sampled_from(["none", "json", "bytes"]))
    body = b""
    if body_kind == "json":
        body = json.dumps(draw(_json_values)).encode()
    elif body_kind == "bytes":
        body = draw(st.binary(max_size=256))
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "text/plain", "x/y"]))}
    if draw(st.booleans()):
        headers["Authorization"] = draw(st.sampled_from(["Basic", "Basic !!!", "Bearer x"]))
    quoted = path.encode("ascii", "backslashreplace").decode("ascii")
    return draw(st.sampled_from(METHODS)), quoted, headers, body


def _examples(default: int) -> int:
    return int(os.environ.get("LOGD_FUZZ_EXAMPLES", default))


@pytest.fixture(scope="module")
def fuzzed(shared_broker: BrokerProcess) -> BrokerProcess:
    assert logd(shared_broker, "topic", "create", "fuzzed", "-p", "2", "-r", "1").returncode == 0
    return shared_broker


def _send(broker: BrokerProcess, method: str, path: str, headers: dict[str, str],
          body: bytes) -> int:  # fmt: skip
    host, _, port = broker.listeners["admin"].rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def _check_alive(broker: BrokerProcess) -> None:
    assert get_json(admin_url(broker, "/v1/ready")) == (200, {"ready": True})
    assert "Traceback" not in broker.stderr_text(), broker.stderr_text()[-3000:]


@settings(
    max_examples=_examples(600),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests())
def test_random_requests_get_answers_below_500(fuzzed: BrokerProcess, request) -> None:  # type: ignore[no-untyped-def]
    method, path, headers, body = request
    try:
        status = _send(fuzzed, method, path, headers, body)
    except http.client.InvalidURL:
        return  # http.client would not send it: nothing reached the broker
    assert 200 <= status < 500, (method, path, status)


@settings(
    max_examples=_examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.binary(min_size=1, max_size=512))
def test_raw_bytes_on_the_socket_never_hurt_the_listener(fuzzed: BrokerProcess,
                                                         data: bytes) -> None:  # fmt: skip
    host, _, port = fuzzed.listeners["admin"].rpartition(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert status < 500, answer[:200]


def test_the_broker_is_alive_after_the_fuzzing(fuzzed: BrokerProcess) -> None:
    _check_alive(fuzzed)
