"""The one-line summary of a batch of seeds (``make soak`` prints it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.replication.sim.simulator import SimResult

__all__ = ["Summary"]


@dataclass
class Summary:
    seeds: int = 0
    steps: int = 0
    ticks: int = 0
    messages: int = 0
    dropped: int = 0
    committed: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    failed: list[int] = field(default_factory=list)
    max_liveness: int = 0
    quiet_faults: int = 0

    @property
    def violations(self) -> int:
        return len(self.failed)

    def add(self, result: SimResult) -> None:
        self.seeds += 1
        self.steps += result.steps
        self.ticks += result.ticks
        self.messages += result.messages
        self.dropped += result.dropped
        self.committed += result.committed
        self.max_liveness = max(self.max_liveness, result.liveness_ticks)
        self.quiet_faults += result.quiet_faults
        for name, count in result.faults.items():
            self.faults[name] = self.faults.get(name, 0) + count

    def fail(self, seed: int) -> None:
        self.seeds += 1
        self.failed.append(seed)

    def line(self) -> str:
        total = sum(self.faults.values())
        kinds = " ".join(f"{k}={v}" for k, v in sorted(self.faults.items()))
        text = (
            f"seeds={self.seeds} steps={self.steps} ticks={self.ticks} "
            f"messages={self.messages} dropped={self.dropped} committed={self.committed} "
            f"faults={total} ({kinds}) quiet_faults={self.quiet_faults} "
            f"max_liveness_ticks={self.max_liveness} "
            f"violations={self.violations}"
        )
        if self.failed:
            text += f" failed_seeds={self.failed[:20]}"
        return text
