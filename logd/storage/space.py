"""Free space as a resource: the reserve that client writes never eat into, and the alert.

Settings (broker keys, Redpanda's ideas under Kafka-style names):

* ``storage.min.free.bytes`` (1 GiB) and ``storage.min.free.percent`` (5): the *reserve*
  is the smaller of the two (so a 40 MiB test disk keeps 2 MiB, a 1 TB disk 1 GiB); 0 in
  either turns it off. Below it the broker refuses client writes (produce, offset commits:
  :class:`~logd.storage.io_errors.DiskFullError`, KAFKA_STORAGE_ERROR) while recovery, the
  metadata log, Raft's own entries, checkpoints, snapshots and the cleaner may still write;
  followers hold back the data they are sent (``logd.cluster.driver``).
* ``storage.alert.free.bytes`` (5 GiB) and ``storage.alert.free.percent`` (10): below the
  smaller of the two (never below the reserve) the broker reports *low space* -- a warning,
  writes still accepted.

How it is measured: ``statvfs`` (``f_bavail``: what an unprivileged writer may still use) is
*sampled* -- by :class:`SpaceMonitor`'s thread every ``storage.space.check.interval.ms``
(500) -- never once per append. Between samples the estimate goes down by what logs append
(:meth:`DiskSpace.note_written`, one subtraction), so a burst stops at the reserve rather
than half a second past it. An ENOSPC met anywhere (``io_errors`` observers) marks the disk
full at once. Leaving the full state needs the free space back above the reserve by a
margin (a tenth of it, at least 64 KiB: no flapping at the edge); then writes resume by
themselves, within one sample.

Listeners (:meth:`DiskSpace.add_listener`) hear every change of state, on the thread that
saw it (the monitor's, or the one that met ENOSPC): the broker hops to its loop.

Thread-safety: a lock around the state; :attr:`DiskSpace.full` and :meth:`room_for` read
one attribute without it (a stale answer for a moment is fine: the next sample corrects).
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from logd.storage import io_errors
from logd.storage.io_errors import DiskFullError

__all__ = [
    "DiskSpace",
    "DiskUsage",
    "SpaceMonitor",
    "SpaceSettings",
    "SpaceState",
    "format_bytes",
]

_log = logging.getLogger(__name__)

_GIB: Final = 1 << 30
_MARGIN_MIN: Final = 64 * 1024


class SpaceState(enum.Enum):
    OK = "ok"
    #: Below the alert threshold: a warning; writes are still accepted.
    LOW = "low"
    #: Below the reserve (or a write met ENOSPC): client writes are refused.
    FULL = "full"


@dataclasses.dataclass(frozen=True, slots=True)
class SpaceSettings:
    """The ``storage.*`` keys; see the module doc."""

    min_free_bytes: int = _GIB
    min_free_percent: float = 5.0
    alert_free_bytes: int = 5 * _GIB
    alert_free_percent: float = 10.0
    check_interval_ms: int = 500

    def reserve(self, total: int) -> tuple[int, str]:
        """(reserve bytes, the setting that decided it) on a filesystem of ``total`` bytes."""
        by_percent = int(total * self.min_free_percent / 100)
        if by_percent <= self.min_free_bytes:
            return by_percent, f"storage.min.free.percent={self.min_free_percent:g}"
        return self.min_free_bytes, f"storage.min.free.bytes={self.min_free_bytes}"

    def alert(self, total: int) -> int:
        return min(self.alert_free_bytes, int(total * self.alert_free_percent / 100))


@dataclasses.dataclass(frozen=True, slots=True)
class DiskUsage:
    """One look at the disk holding a data directory."""

    path: str
    total_bytes: int
    free_bytes: int
    reserve_bytes: int
    alert_bytes: int
    state: SpaceState
    #: Why the state is not OK, in one sentence naming the disk and the setting; "" if OK.
    reason: str = ""


def format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


StatVfs = Callable[[str], os.statvfs_result]


class DiskSpace:
    """The free space of the filesystem holding ``path``; see the module doc."""

    def __init__(
        self,
        path: Path | str,
        settings: SpaceSettings | None = None,
        *,
        statvfs: StatVfs = os.statvfs,
    ) -> None:
        self.path = str(Path(path).absolute())
        self.settings = settings or SpaceSettings()
        self._statvfs = statvfs
        self._lock = threading.Lock()
        self._listeners: list[Callable[[DiskUsage], None]] = []
        self._total = 0
        self._reserve = 0
        self._reserve_key = ""
        self._alert = 0
        #: Free bytes as last sampled, minus what appends wrote since.
        self._estimate = 1 << 62
        self._enospc: str | None = None
        #: The largest write refused since the state turned FULL: leaving FULL needs room
        #: for it above the reserve.
        self._need = 0
        self.full = False
        self._usage = DiskUsage(self.path, 0, 0, 0, 0, SpaceState.OK)
        self._observer = self._on_io_error

    def attach(self) -> None:
        """Hear of every ENOSPC met under :attr:`path` (``io_errors``), until :meth:`detach`."""
        io_errors.add_observer(self._observer)

    def detach(self) -> None:
        io_errors.remove_observer(self._observer)

    # -- reads -----------------------------------------------------------------------------

    @property
    def usage(self) -> DiskUsage:
        return self._usage

    def room_for(self, size: int) -> bool:
        """Whether a client write of ``size`` bytes keeps the reserve (no syscall). A write
        that would not turns the state FULL until it would fit (with the margin): the broker
        is refusing writes, and says so in its health."""
        if self.full:
            return False
        if self._estimate - size >= self._reserve:
            return True
        with self._lock:
            self._need = max(self._need, size)
        self._set(self._estimate)
        return False

    def refusal(self, what: str) -> DiskFullError:
        """The error for a client write refused below the reserve."""
        usage = self._usage
        reason = usage.reason or self._below_reserve_reason(self._estimate)
        return DiskFullError(
            f"{what} refused: {reason}; free space (retention, deleting topics, a bigger "
            "disk) and writes resume by themselves"
        )

    # -- updates ---------------------------------------------------------------------------

    def note_written(self, size: int) -> None:
        """An append wrote ``size`` bytes (the estimate follows; the state may turn FULL)."""
        self._estimate -= size
        if not self.full and self._reserve and self._estimate < self._reserve:
            self._set(self._estimate)

    def sample(self) -> DiskUsage:
        """statvfs now; update the state (and tell the listeners if it changed)."""
        st = self._statvfs(self.path)
        total = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        with self._lock:
            if total != self._total:
                self._total = total
                self._reserve, self._reserve_key = self.settings.reserve(total)
                self._alert = max(self._reserve, self.settings.alert(total))
            self._estimate = free
        return self._set(free)

    def _on_io_error(self, path: Path, exc: OSError) -> None:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            return
        if not str(path).startswith(self.path):
            return
        with self._lock:
            self._enospc = f"a write to {path} failed: {io_errors.describe_errno(exc)}"
            self._estimate = min(self._estimate, self._reserve - 1)
        self._set(self._estimate)

    def _set(self, free: int) -> DiskUsage:
        with self._lock:
            before = self._usage
            state = self._state_for(free, before.state)
            if state is not SpaceState.FULL:
                self._enospc = None
                self._need = 0
            reason = self._reason(state, free)
            self._usage = DiskUsage(
                self.path, self._total, max(free, 0), self._reserve, self._alert, state, reason
            )
            self.full = state is SpaceState.FULL
            usage = self._usage
            listeners = list(self._listeners) if state is not before.state else []
        for listener in listeners:
            listener(usage)
        return usage

    def _state_for(self, free: int, before: SpaceState) -> SpaceState:
        reserve = self._reserve
        if before is SpaceState.FULL and (reserve or self._enospc is not None or self._need):
            # Leave FULL only with a margin above the reserve, and room for the largest
            # write refused meanwhile (after an ENOSPC with the reserve off: the margin).
            if free < reserve + max(reserve // 10, _MARGIN_MIN, self._need):
                return SpaceState.FULL
        elif free - self._need < reserve:
            return SpaceState.FULL
        return SpaceState.LOW if free < self._alert else SpaceState.OK

    def _reason(self, state: SpaceState, free: int) -> str:
        if state is SpaceState.OK:
            return ""
        if state is SpaceState.LOW:
            return (
                f"disk {self.path} is low on space: {format_bytes(free)} free of "
                f"{format_bytes(self._total)}, the alert is at {format_bytes(self._alert)} "
                "(storage.alert.free.bytes / storage.alert.free.percent)"
            )
        if self._enospc is not None:
            return f"disk {self.path} is full: {self._enospc}"
        return self._below_reserve_reason(free)

    def _below_reserve_reason(self, free: int) -> str:
        setting = f"{self._reserve_key} of {format_bytes(self._total)}"
        reserve = format_bytes(self._reserve)
        if self._need and free >= self._reserve:
            return (
                f"disk {self.path} has {format_bytes(free)} free: a write of "
                f"{format_bytes(self._need)} would take it below its reserve of {reserve} "
                f"({setting})"
            )
        shown = format_bytes(max(free, 0))
        return f"disk {self.path} has {shown} free, below its reserve of {reserve} ({setting})"

    def add_listener(self, listener: Callable[[DiskUsage], None]) -> None:
        """``listener(usage)`` at every change of state (on the thread that saw it)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[DiskUsage], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)


class SpaceMonitor:
    """The thread that samples a :class:`DiskSpace` every ``check_interval_ms``; started
    and stopped by its ``LogManager``. A failing statvfs is said once, then retried."""

    def __init__(self, space: DiskSpace) -> None:
        self.space = space
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        self.space.attach()
        self.sample_once()
        self._thread = threading.Thread(target=self._run, name="logd-space", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.space.detach()

    def sample_once(self) -> None:
        try:
            usage = self.space.sample()
        except OSError as exc:
            if not self._failing:
                _log.error("cannot measure the free space of %s: %s", self.space.path, exc)
            self._failing = True
            return
        if self._failing:
            _log.info("measuring the free space of %s again: %s", usage.path, usage.state.value)
        self._failing = False

    def _run(self) -> None:
        interval = self.space.settings.check_interval_ms / 1000.0
        while not self._stop.wait(interval):
            self.sample_once()
