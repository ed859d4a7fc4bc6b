"""A real broker process for the client's integration tests.

``broker`` starts ``python -m logd.server`` on a free port with its own data directory,
waits until it answers, and can SIGKILL, stop, continue and restart it on the same port and
data. Readiness is a condition with a deadline (a Metadata call answers), never a sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from logd.client import Admin, NewTopic
from logd.errors import LogdError
from tests.helpers import free_port, wait_until


class BrokerProcess:
    """One broker process. Owned by one test."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"broker-{self.port}.log"

    def start(self) -> None:
        assert self.proc is None
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "logd.server", "--data-dir", str(self.data_dir),
                 "--listen", self.address, "--log-level", "WARNING"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until(self._answers, timeout=30, message=f"broker at {self.address} to answer")

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"broker exited: {self.log.read_text()[-2000:]}")
        try:
            Admin(brokers=self.address, request_timeout_ms=2000).close()
        except LogdError:
            return False
        return True

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
            self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path / "data")
    b.start()
    try:
        yield b
    finally:
        b.stop()


def create_topic(address: str, name: str, partitions: int) -> None:
    with Admin(brokers=address) as admin:
        admin.create_topics([NewTopic(name, partitions, 1)])
