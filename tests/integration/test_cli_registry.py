"""``logd registry …``, ``logd produce --value-schema`` and ``logd consume``'s decoding against a
real broker's registry listener (DESIGN.md "More of the command line"): the issue's quick
start (register, produce JSON lines as Avro, consume them back as JSON), each verb's text and
JSON output, and one clear line for every user error."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.cluster import BrokerProcess
from tests.integration.registry_cli import logd, logd_process, ok

pytestmark = pytest.mark.integration

DEMO = {
    "type": "record",
    "name": "Demo",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "n", "type": "int"},
        {"name": "tag", "type": ["null", "string"], "default": None},
        {"name": "raw", "type": "bytes", "default": ""},
    ],
}


def one_error(result: subprocess.CompletedProcess[bytes], code: int = 1) -> str:
    err = result.stderr.decode()
    assert result.returncode == code, (result.returncode, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_produce_json_lines_as_avro_and_consume_them_back(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    schema = tmp_path / "demo.avsc"
    schema.write_text(json.dumps(DEMO))
    created = json.loads(ok(logd(shared_broker, "registry", "schema", "create", "avro-value",
                                 "--schema", str(schema), "--format", "json")))  # fmt: skip
    assert created["version"] == 1 and created["type"] == "AVRO"
    schema_id = created["id"]
    ok(logd(shared_broker, "topic", "create", "avro"))
    lines = b'{"name":"a","n":1}\n\n{"name":"b","n":2,"tag":"x","raw":"\\u00ff\\u0001"}\n'
    ok(
        logd_process(
            shared_broker, "produce", "avro", "--value-schema", str(schema_id), stdin=lines
        )
    )
    # By FILE: registered under avro-value already, so the same id.
    ok(logd(shared_broker, "produce", "avro", "--value-schema", str(schema),
            stdin=b'{"name":"c","n":3}'))  # fmt: skip
    out = ok(logd_process(shared_broker, "consume", "avro", "-o", "start:end"))
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["value"] for r in records] == [
        {"name": "a", "n": 1, "tag": None, "raw": ""},
        {"name": "b", "n": 2, "tag": "x", "raw": "\u00ff\u0001"},
        {"name": "c", "n": 3, "tag": None, "raw": ""},
    ]
    assert {r["value_schema_id"] for r in records} == {schema_id}
    values = ok(logd(shared_broker, "consume", "avro", "-o", "start:end", "-f", "%v\n"))
    assert json.loads(values.splitlines()[0]) == records[0]["value"]
    # The bytes on the log are the wire format: 0, the id, Avro.
    raw = logd(shared_broker, "consume", "avro", "-o", "start:end", "-n", "1", "--raw",
               "-f", "%v")  # fmt: skip
    assert raw.stdout == b"\0" + schema_id.to_bytes(4, "big") + b"\x02a\x02\x00\x00"
    # No registry: one note, then the bytes as they are.
    unreachable = logd(shared_broker, "consume", "avro", "-o", "start:end", "-n", "1", "-f", "%v",
                       registry="http://127.0.0.1:1")  # fmt: skip
    assert unreachable.returncode == 0 and unreachable.stdout == raw.stdout
    assert unreachable.stderr.decode().startswith("note: values with a registry id print raw")


def test_subject_schema_and_compatibility_verbs(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    v1 = tmp_path / "v1.avsc"
    v1.write_text(json.dumps({"type": "record", "name": "U", "fields": [
        {"name": "a", "type": "string"}]}))  # fmt: skip
    v2 = tmp_path / "v2.avsc"
    v2.write_text(json.dumps({"type": "record", "name": "U", "fields": [
        {"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 0}]}))  # fmt: skip
    bad = tmp_path / "bad.avsc"
    bad.write_text(json.dumps({"type": "record", "name": "U", "fields": [
        {"name": "c", "type": "int"}]}))  # fmt: skip
    first = ok(
        logd(shared_broker, "registry", "schema", "create", "verbs-value", "--schema", str(v1))
    )
    assert first.splitlines()[0].split() == ["SUBJECT", "ID", "VERSION", "TYPE"]
    first_id = int(first.splitlines()[1].split()[1])
    ok(logd(shared_broker, "registry", "schema", "create", "verbs-value", "--schema", str(v2)))
    refused = one_error(logd(shared_broker, "registry", "schema", "create", "verbs-value",
                             "--schema", str(bad)))  # fmt: skip
    assert "409" in refused
    assert "verbs-value" in ok(logd(shared_broker, "registry", "subject", "list")).split()
    described = json.loads(ok(logd(shared_broker, "registry", "subject", "describe",
                                   "verbs-value", "--format", "json")))  # fmt: skip
    assert described["compatibility"] == "BACKWARD"
    assert [v["version"] for v in described["versions"]] == [1, 2]
    text = ok(logd(shared_broker, "registry", "subject", "describe", "verbs-value"))
    assert "COMPATIBILITY  BACKWARD" in text and "LATEST SCHEMA" in text
    assert json.loads(ok(logd(shared_broker, "registry", "schema", "get", str(first_id)))) == (
        json.loads(v1.read_text())
    )

    ok(logd(shared_broker, "registry", "compatibility", "set", "verbs-value", "none"))
    got = json.loads(ok(logd(shared_broker, "registry", "compatibility", "get", "verbs-value",
                             "--format", "json")))  # fmt: skip
    assert got == {"subject": "verbs-value", "compatibility": "NONE"}
    ok(logd(shared_broker, "registry", "schema", "create", "verbs-value", "--schema", str(bad)))
    assert "BACKWARD" in ok(logd(shared_broker, "registry", "compatibility", "get"))

    assert "refusing without a terminal" in one_error(
        logd(shared_broker, "registry", "subject", "delete", "verbs-value")
    )
    ok(logd(shared_broker, "registry", "subject", "delete", "verbs-value", "--yes"))
    assert "verbs-value" not in ok(logd(shared_broker, "registry", "subject", "list"))
    assert "verbs-value" in ok(logd(shared_broker, "registry", "subject", "list", "--deleted"))
    deleted = json.loads(ok(logd(shared_broker, "registry", "subject", "delete", "verbs-value",
                                 "--permanent", "--yes", "--format", "json")))  # fmt: skip
    assert deleted["versions"] == [1, 2, 3]
    assert "verbs-value" not in ok(logd(shared_broker, "registry", "subject", "list", "--deleted"))


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("registry", "schema", "get", "4242"), b"", "40403"),
        (("registry", "subject", "describe", "nobody"), b"", "40401"),
        (("registry", "compatibility", "set", "SIDEWAYS"), b"", "unknown compatibility level"),
        (("registry", "schema", "create", "x-value", "--schema", "/nonexistent.avsc"), b"",
         "cannot read the schema"),
        (("registry", "schema", "create", "x-value", "--schema", "-"), b"{not json", "42201"),
        (("produce", "t", "--value-schema", "4242"), b"{}", "40403"),
        (("produce", "t", "--value-schema", "/nonexistent.avsc"), b"{}", "cannot read"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line(
    shared_broker: BrokerProcess, args: tuple[str, ...], stdin: bytes, says: str
) -> None:
    assert says in one_error(logd(shared_broker, *args, stdin=stdin))


def test_bad_lines_name_their_line_and_no_registry_says_where_to_point(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    schema = tmp_path / "demo.avsc"
    schema.write_text(json.dumps(DEMO))
    ok(logd(shared_broker, "topic", "create", "avro-bad"))
    produce = ("produce", "avro-bad", "--value-schema", str(schema))
    assert "line 2 is not JSON" in one_error(
        logd(shared_broker, *produce, stdin=b'{"name":"a","n":1}\nnope\n')
    )
    assert "line 1:" in one_error(logd(shared_broker, *produce, stdin=b'{"name":"a"}\n'))
    assert "point --registry-url/LOGD_REGISTRY_URL" in one_error(
        logd(shared_broker, "registry", "subject", "list", registry="http://127.0.0.1:1")
    )
