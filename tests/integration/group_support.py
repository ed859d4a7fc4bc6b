"""Shared pieces of the consumer-group integration tests: a broker configured for quick
rebalances, member processes, and reading what they report.

A member process (``group_member.py``) consumes in a group and appends one line per event
to its report file: ``assign T:P,...`` / ``revoke ...`` / ``lost ...`` and ``rec T P OFFSET
VALUE``. Tests read the file with deadlines (``wait_until``), never with sleeps.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.cluster import BrokerProcess

__all__ = [
    "GROUP_CONFIG",
    "SESSION_MS",
    "Member",
    "MemberReport",
    "member_args",
    "running_group_broker",
    "write_group_config",
]

#: Session timeout of the test members: short, so a killed member is noticed quickly.
SESSION_MS = 2_000
HEARTBEAT_MS = 250

#: The broker side: no initial rebalance delay, short sessions allowed.
GROUP_CONFIG = """
"group.initial.rebalance.delay.ms" = 0
"group.min.session.timeout.ms" = 500
"offsets.topic.num.partitions" = 4
"""

MEMBER_SCRIPT = Path(__file__).with_name("group_member.py")


def write_group_config(directory: Path) -> Path:
    """A broker config file with :data:`GROUP_CONFIG` (``--config``)."""
    path = directory / "groups.toml"
    path.write_text(GROUP_CONFIG)
    return path


def running_group_broker(root: Path) -> Iterator[BrokerProcess]:
    """One broker under ``root`` with :data:`GROUP_CONFIG`, for a module-scoped fixture to
    ``yield from``; stopped at teardown, where it must exit 0 (a clean shutdown)."""
    broker = BrokerProcess(root / "broker", config_file=write_group_config(root))
    broker.start()
    try:
        yield broker
    finally:
        code = broker.stop()
        broker.close()
        assert code == 0, broker.stderr_text()[-4000:]


def member_args(session_ms: int = SESSION_MS) -> dict[str, object]:
    """Consumer options of in-process test members."""
    return {
        "session_timeout_ms": session_ms,
        "heartbeat_interval_ms": HEARTBEAT_MS,
        "auto_offset_reset": "earliest",
        "auto_commit_interval_ms": 200,
        "retry_backoff_ms": 50,
    }


@dataclass
class MemberReport:
    """What a member process wrote so far."""

    assignment: set[tuple[str, int]] = field(default_factory=set)
    records: list[tuple[str, int, int, str]] = field(default_factory=list)
    rebalances: int = 0


class Member:
    """A consumer-group member in its own process. Not thread-safe; owned by one test."""

    def __init__(
        self,
        broker: str,
        group: str,
        topics: Sequence[str],
        report: Path,
        *,
        instance_id: str | None = None,
        session_ms: int = SESSION_MS,
    ) -> None:
        self.report = report
        cmd = [
            sys.executable, str(MEMBER_SCRIPT), "--brokers", broker, "--group", group,
            "--topics", ",".join(topics), "--out", str(report), "--session-ms", str(session_ms),
            "--heartbeat-ms", str(HEARTBEAT_MS),
        ]  # fmt: skip
        if instance_id is not None:
            cmd += ["--instance-id", instance_id]
        self.stderr_path = report.with_suffix(".stderr")
        with self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)

    def read(self) -> MemberReport:
        out = MemberReport()
        if not self.report.exists():
            return out
        for line in _lines(self.report):
            kind, _, rest = line.partition(" ")
            if kind == "rec":
                topic, partition, offset, value = rest.split(" ", 3)
                out.records.append((topic, int(partition), int(offset), value))
                continue
            parts = {_tp(x) for x in rest.split(",") if x}
            if kind == "assign":
                out.assignment |= parts
                out.rebalances += 1
            elif kind in ("revoke", "lost"):
                out.assignment -= parts
        return out

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int:
        """SIGTERM: the member commits, leaves (unless static) and exits 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""


def _tp(text: str) -> tuple[str, int]:
    topic, _, partition = text.rpartition(":")
    return topic, int(partition)


def _lines(path: Path) -> Iterator[str]:
    data = path.read_text()
    complete = data if data.endswith("\n") else data[: data.rfind("\n") + 1]
    yield from complete.splitlines()
