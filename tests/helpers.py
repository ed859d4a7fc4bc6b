"""Helpers shared by the tests: deadlines instead of sleeps, free loopback ports."""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

__all__ = ["free_port", "free_ports", "wait_until"]


def wait_until(
    condition: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str = "condition",
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds.

    Tests never sleep for a fixed time: they wait for what they need, with a deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and that the kernel will not hand out.

    Ports come from below the kernel's ephemeral range, so an outgoing connection (a
    client's, a broker's) never takes one: a broker that a test kills and restarts on
    the same ports finds them still free. A port from ``bind(0)`` would be an ephemeral
    one, and CI once lost a fault run to a client connection that took a killed broker's
    Kafka port before it came back. Each pytest-xdist worker draws from its own slice, from
    a random start, so workers and concurrent runs on one machine rarely meet.
    """
    return free_ports(1)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (see :func:`free_port`)."""
    low, high = _slice()
    cursor = _cursor[0]
    if cursor is None or not low <= cursor < high:
        cursor = random.randrange(low, high)
    for _ in range(high - low):
        first = cursor
        cursor = cursor + count if cursor + 2 * count <= high else low
        _cursor[0] = cursor
        if first + count <= high and all(_bindable(first + i) for i in range(count)):
            return first
    raise RuntimeError(f"no {count} free consecutive ports in {low}..{high}")


_cursor: list[int | None] = [None]  # where this process's next search starts
_FLOOR = 10_000


def _slice() -> tuple[int, int]:
    """This worker's share of the ports between ``_FLOOR`` and the ephemeral range."""
    top = _ephemeral_low()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    width = (top - _FLOOR) // count
    low = _FLOOR + (index % count) * width
    return low, low + width


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        low = int(text.split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768  # Linux's default
    return max(low, _FLOOR + 1_000)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
