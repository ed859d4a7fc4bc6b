"""Who coordinates a group, and that the core stays pure (STYLE.md 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import mmh3
import pytest

from logd.errors import InvalidPartitionsError
from logd.groups.partition import OFFSETS_TOPIC, offsets_partition_for
from logd.groups.timers import TimerKey, TimerKind, Timers
from tests.imports import imports_of

PACKAGE = Path(__file__).resolve().parents[2] / "logd" / "groups"
FORBIDDEN = {"asyncio", "grpc", "time", "random", "os", "socket", "threading", "logd.v1"}
# ``uuid`` is allowed for its pure parts (topic ids in consumer-group records are
# ``uuid.UUID``s; ``uuid5`` is a hash): only the clock- and randomness-based ids are not.
RANDOM_IDS = {"uuid1", "uuid4", "getnode"}


def test_the_partition_is_murmur3_of_the_group_id() -> None:
    for group_id, n in (("payments", 50), ("ünïcode", 7), ("", 3), ("g", 1)):
        expected = mmh3.hash(group_id.encode(), 0, signed=False) % n
        assert offsets_partition_for(group_id, n) == expected
    # A known value, so that a change of hash (or of seed) cannot go unnoticed.
    assert mmh3.hash(b"payments", 0, signed=False) == 2_861_859_300
    assert offsets_partition_for("orders", 50) == 29  # 1_964_526_729 % 50
    assert OFFSETS_TOPIC == "__consumer_offsets"


def test_a_partition_count_below_one_is_refused() -> None:
    with pytest.raises(InvalidPartitionsError):
        offsets_partition_for("g", 0)


def test_the_partition_function_does_not_load_the_state_machine() -> None:
    assert imports_of(PACKAGE / "partition.py") <= {"__future__", "partitioning", "logd.errors"}
    assert imports_of(PACKAGE / "__init__.py") == set()


@pytest.mark.parametrize("module", sorted(p.name for p in PACKAGE.glob("*.py")))
def test_core_modules_do_no_io(module: str) -> None:
    imported = imports_of(PACKAGE / module)
    bad = {name for name in imported if name.split(".")[0] in FORBIDDEN or name in FORBIDDEN}
    assert not bad, f"{module} imports {sorted(bad)}"
    tree = ast.parse((PACKAGE / module).read_text())
    calls = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not calls & RANDOM_IDS, f"{module} makes random or clock ids"


def test_timers_fire_in_deadline_order_and_rearming_replaces() -> None:
    timers = Timers()
    a, b, c = (TimerKey(TimerKind.HEARTBEAT, "g", m) for m in "abc")
    timers.arm(a, 30)
    timers.arm(b, 10)
    timers.arm(c, 20)
    timers.arm(b, 40)  # a heartbeat moved b's deadline
    timers.cancel(c)
    assert timers.next_deadline_ms() == 30
    assert timers.pop_due(29) is None
    assert timers.pop_due(100) == a
    assert timers.pop_due(100) == b
    assert timers.pop_due(100) is None
    assert len(timers) == 0 and timers.next_deadline_ms() is None


def test_timers_stay_small_under_constant_rearming() -> None:
    timers = Timers()
    keys = [TimerKey(TimerKind.HEARTBEAT, "g", str(i)) for i in range(10)]
    for now in range(10_000):
        timers.arm(keys[now % 10], now + 1_000)
    assert len(timers) == 10
    assert len(timers._heap) <= 2 * 10 + 64 + 1
    assert timers.next_deadline_ms() == 9_990 + 1_000
