"""Helpers of the admin listener's tests: HTTP with the standard library (a real client, no
mock), the ``logd`` command, and Prometheus' text format parsed by prometheus_client's own
parser."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cluster import BrokerProcess

__all__ = [
    "PROTO_SCHEMA",
    "READING",
    "admin_url",
    "framed",
    "get",
    "get_json",
    "logd",
    "register",
    "samples",
]


def admin_url(broker: BrokerProcess, path: str = "/") -> str:
    return f"http://{broker.listeners['admin']}{path}"


def get(
    url: str,
    *,
    data: bytes | None = None,
    method: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, bytes, Any]:
    """(status, body, headers) of one request; an HTTP error status is an answer too."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def get_json(url: str, **kwargs: Any) -> tuple[int, Any]:
    status, body, _ = get(url, **kwargs)
    return status, json.loads(body)


def logd(
    broker: BrokerProcess, *args: str, stdin: bytes = b"", timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """The ``logd`` command against ``broker``."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "-b", broker.address, *args],
        input=stdin, capture_output=True, timeout=timeout, check=False,
    )  # fmt: skip


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def register(broker: BrokerProcess, subject: str, schema: object, kind: str = "AVRO") -> int:
    """Register ``schema`` under ``subject`` on the broker's registry listener; its id."""
    text = schema if isinstance(schema, str) else json.dumps(schema)  # Protobuf: its text
    body = {"schema": text} | ({} if kind == "AVRO" else {"schemaType": kind})
    url = f"http://{broker.listeners['registry']}/subjects/{subject}/versions"
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
    status, answer, _ = get(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    assert status == 200, answer
    return int(json.loads(answer)["id"])


PROTO_SCHEMA = """syntax = "proto3";
package shop;
message Reading {
  string device = 1;
  int64 millis = 2;
  repeated double values = 3;
  message Note { string text = 1; }
}
"""
#: A Reading{device "d-7", millis 42, values [21.5]} of PROTO_SCHEMA in Protobuf's wire format
#: written out by hand (an encoder independent of the broker's decoder), after its message
#: indexes ([0]: the byte 0).
READING = b"\x00" + b"\x0a\x03d-7" + b"\x10\x2a" + b"\x1a\x08" + struct.pack("<d", 21.5)


def framed(schema_id: int, payload: bytes) -> bytes:
    """Confluent's wire format: magic byte 0, the schema id, the payload."""
    return struct.pack(">bI", 0, schema_id) + payload
