"""The `logd` command against a real broker: the quick start, formats, exit codes, and one
clear line for every user error (DESIGN.md "The command line")."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from partitioning import partition_for
from tests.integration.cluster import BrokerProcess

pytestmark = pytest.mark.integration


def logd(
    broker: BrokerProcess | None, *args: str, stdin: bytes = b"", timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    flags = ["-b", broker.address] if broker is not None else []
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *flags, *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def one_error_line(result: subprocess.CompletedProcess[bytes], code: int = 1) -> str:
    """The command failed with ``code`` and said so in exactly one line, no traceback."""
    err = result.stderr.decode()
    assert result.returncode == code, (result.returncode, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def test_quick_start(shared_broker: BrokerProcess) -> None:
    assert "OK" in ok(logd(shared_broker, "topic", "create", "qs"))
    lines = b"".join(b"%d\n" % n for n in range(1, 11))
    ok(logd(shared_broker, "produce", "qs", stdin=lines))
    out = ok(logd(shared_broker, "consume", "qs", "-o", "start:end"))
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["value"] for r in records] == [str(n) for n in range(1, 11)]
    assert {r["topic"] for r in records} == {"qs"}
    # Offset 0 is the leader's LEADER_CHANGE control batch (DESIGN.md principle 3).
    assert [r["offset"] for r in records] == list(range(1, 11))
    since_an_hour = ok(logd(shared_broker, "consume", "qs", "-o", "@-1h:end", "-f", "%v,"))
    assert since_an_hour == ",".join(str(n) for n in range(1, 11)) + ","


def test_keys_headers_and_formats(shared_broker: BrokerProcess) -> None:
    ok(logd(shared_broker, "topic", "create", "kh", "-p", "4"))
    lines = b"".join(b"user-%d:event %d\n" % (n % 5, n) for n in range(20))
    ok(logd(shared_broker, "produce", "kh", "--key-separator", ":", "-H", "src=cli", stdin=lines))
    out = ok(logd(shared_broker, "consume", "kh", "-o", ":end", "-f", r"%p|%k|%v|%h\n"))
    rows = [line.split("|") for line in out.splitlines()]
    assert len(rows) == 20
    for partition, key, value, headers in rows:
        assert int(partition) == partition_for(key.encode(), 4)
        assert value.startswith("event ")
        assert headers == "src=cli"
    # Per key, order is kept (one key, one partition).
    for k in range(5):
        events = [int(v.split()[1]) for _, key, v, _ in rows if key == f"user-{k}"]
        assert events == sorted(events)


def test_offsets_ranges_and_counts(shared_broker: BrokerProcess) -> None:
    ok(logd(shared_broker, "topic", "create", "rng"))
    ok(logd(shared_broker, "produce", "rng", stdin=b"".join(b"v%d\n" % n for n in range(10))))
    fmt = ("-f", "%o ")
    # The records are at 1..10: offset 0 holds the leader's LEADER_CHANGE control batch.
    assert ok(logd(shared_broker, "consume", "rng", "-o", "3:6", *fmt)) == "3 4 5 "
    assert ok(logd(shared_broker, "consume", "rng", "-o", "-2:end", *fmt)) == "9 10 "
    assert ok(logd(shared_broker, "consume", "rng", "-o", "start", "-n", "4", *fmt)) == "1 2 3 4 "
    assert ok(logd(shared_broker, "consume", "rng", "-o", "7", "-n", "2", *fmt)) == "7 8 "
    future = int(time.time() * 1000) + 3_600_000
    assert ok(logd(shared_broker, "consume", "rng", "-o", f"@{future}:end", *fmt)) == ""


def test_read_commands_speak_json(shared_broker: BrokerProcess) -> None:
    ok(logd(shared_broker, "topic", "create", "js", "-p", "2", "-c", "retention.ms=60000"))
    listing = json.loads(ok(logd(shared_broker, "topic", "list", "--format", "json")))
    assert {"name": "js", "partitions": 2, "replicas": 1, "internal": False} in listing
    # Global flags after the verb work as well as before it.
    described = json.loads(ok(logd(shared_broker, "topic", "describe", "js", "--format=json")))
    assert [p["partition"] for p in described["partitions"]] == [0, 1]
    assert described["configs"]["retention.ms"] == {"value": "60000", "default": False}
    cluster = json.loads(ok(logd(shared_broker, "--format", "json", "cluster", "info")))
    assert [b["id"] for b in cluster["brokers"]] == [0]
    health = logd(shared_broker, "cluster", "health")
    assert health.returncode == 0
    assert "Healthy:" in health.stdout.decode()


def test_alter_config_and_add_partitions(shared_broker: BrokerProcess) -> None:
    ok(logd(shared_broker, "topic", "create", "alt"))
    ok(logd(shared_broker, "topic", "alter-config", "alt", "-s", "retention.ms=1000"))
    described = json.loads(ok(logd(shared_broker, "topic", "describe", "alt", "--format", "json")))
    assert described["configs"]["retention.ms"]["value"] == "1000"
    ok(logd(shared_broker, "topic", "alter-config", "alt", "-d", "retention.ms"))
    described = json.loads(ok(logd(shared_broker, "topic", "describe", "alt", "--format", "json")))
    assert described["configs"]["retention.ms"]["default"] is True
    result = logd(shared_broker, "topic", "add-partitions", "alt", "-n", "3", "--yes")
    ok(result)
    assert "different partition" in result.stderr.decode()
    listing = json.loads(ok(logd(shared_broker, "topic", "list", "--format", "json")))
    assert {"name": "alt", "partitions": 3, "replicas": 1, "internal": False} in listing


def test_delete_asks_unless_yes(shared_broker: BrokerProcess) -> None:
    ok(logd(shared_broker, "topic", "create", "gone"))
    line = one_error_line(logd(shared_broker, "topic", "delete", "gone"))
    assert "--yes" in line
    assert "gone" in ok(logd(shared_broker, "topic", "list"))
    ok(logd(shared_broker, "topic", "delete", "gone", "--yes"))
    assert "gone" not in ok(logd(shared_broker, "topic", "list"))


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (("consume", "nope", "-o", "start"), b"", "nope"),
        (("produce", "nope"), b"x\n", "nope"),
        (("topic", "create", "../x"), b"", "invalid topic name"),
        (("topic", "create", "a" * 250), b"", "invalid topic name"),
        (("topic", "describe", "nope"), b"", "nope"),
        (("topic", "create", "cfg", "-c", "retention.ms=soon"), b"", "retention.ms"),
    ],
)
def test_user_errors_are_one_line(
    shared_broker: BrokerProcess, args: tuple[str, ...], stdin: bytes, expected: str
) -> None:
    assert expected in one_error_line(logd(shared_broker, *args, stdin=stdin))


def test_offset_out_of_range_names_the_valid_range(shared_broker: BrokerProcess) -> None:
    ok(logd(shared_broker, "topic", "create", "oor"))
    ok(logd(shared_broker, "produce", "oor", stdin=b"a\nb\nc\n"))
    line = one_error_line(logd(shared_broker, "consume", "oor", "-o", "99"))
    assert "0..4" in line  # 0: the LEADER_CHANGE control batch, 1-3: a, b, c


@pytest.mark.parametrize(
    "args",
    [
        ("consume", "t", "-o", "bogus"),
        ("consume", "t", "-f", "%q"),
        ("topic", "create", "t", "-p", "0"),
        ("topic", "alter-config", "t"),
        ("topic", "frobnicate"),
    ],
)
def test_usage_errors_exit_2(shared_broker: BrokerProcess, args: tuple[str, ...]) -> None:
    result = logd(shared_broker, *args)
    assert result.returncode == 2, result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_no_broker_says_how_to_start_one() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "-b", "127.0.0.1:1", "topic", "list"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    line = one_error_line(result)
    assert "127.0.0.1:1" in line
    assert "logd serve" in line


def test_tombstones_and_keyless_records_on_a_compacted_topic(shared_broker: BrokerProcess) -> None:
    ok(logd(shared_broker, "topic", "create", "cmp", "-c", "cleanup.policy=compact"))
    lines = b"a:1\nb:2\na:\n"
    ok(logd(shared_broker, "produce", "cmp", "--key-separator", ":", "-Z", stdin=lines))
    out = ok(logd(shared_broker, "consume", "cmp", "-o", "start:end"))
    assert [(r["key"], r["value"]) for r in map(json.loads, out.splitlines())] == [
        ("a", "1"), ("b", "2"), ("a", None),
    ]  # fmt: skip
    line = one_error_line(logd(shared_broker, "produce", "cmp", stdin=b"no key\n"))
    assert "without a key" in line
