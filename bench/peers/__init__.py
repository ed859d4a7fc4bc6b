"""The peers of the suite, each started here on loopback with its data in a temporary
directory and driven by its standard Python client: RabbitMQ Streams (rstream), NATS
JetStream (nats-py), Redis Streams (redis-py, and ``redis-cli --pipe`` for the CLI path),
and the machine's ceiling (plain writes with the same fsync pattern).

Every module has ``run(root, plan) -> list[Result]`` and raises
:class:`bench.harness.Unavailable` when its server or client cannot be had.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Plan"]


@dataclass(frozen=True)
class Plan:
    """How much each workload does (``--quick`` shrinks it)."""

    sizes: tuple[int, ...]
    #: records produced per value size by a peer's produce workload (1 KiB values: a fifth)
    n: int
    latency_s: float
    rate: int
    cli_lines: int
    #: seconds the ceiling's plain loops run
    ceiling_s: float
