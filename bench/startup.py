"""What starting costs: a broker's import CPU, its time from spawn to SERVING, and the CLI's.

    .venv/bin/python -m bench.startup [--base DIR] [--runs N]

Rows, each the median (and min) of ``--runs`` fresh processes:

* ``import CPU``: user+sys CPU of a fresh interpreter importing the composition root
  (``logd.node.main``, ``build``, ``frontends``, ``runner``; not ``__main__``, which serves);
* ``ready (wall)`` / ``ready (CPU)``: a one-node broker with every listener on (the test
  suite's default, ``tests/integration/cluster.py``) from spawn until its health check says
  SERVING (the harness's own readiness wait, polling every 20 ms), and the CPU the broker
  process used by then (``/proc/PID/stat``);
* ``logd --help`` / ``logd topic list``: the CLI's CPU to print its help, and to list the
  topics of a broker (one broker of this tree, started for the run).

``--base DIR`` is another checkout of logd (``git worktree add --detach DIR main``; copy the
built ``*.so`` of ``logd/records`` and ``logd/storage`` into it, or it runs the pure-Python
paths): its processes run from DIR (``PYTHONPATH``, from a neutral working directory, ahead
of this venv's editable install) in the same run, interleaved run by run with this tree's,
and the table gives this tree / base as a ratio. Nothing asserts a speed; the load average at
the start and the end of the run is printed beside the figures (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness import write_report
from tests.integration.cluster import BrokerProcess

__all__ = ["main"]

ROOT_IMPORT = "import logd.node.main, logd.node.build, logd.node.frontends, logd.node.runner"
CLI = "import sys; from cli.main import main; sys.argv = ['logd', *{args!r}]; sys.exit(main())"
_TICKS = os.sysconf("SC_CLK_TCK")


def _env(tree: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return env


def _child_cpu(code: str, tree: Path | None) -> float:
    """User+sys CPU seconds of ``python -c code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], env=_env(tree), check=True,
                   stdout=subprocess.DEVNULL, timeout=120)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _ready(tree: Path | None, work: Path, run: int) -> tuple[float, float]:
    """Wall seconds from spawn to SERVING, and the broker's CPU seconds by then."""
    name = "base" if tree is not None else "this"
    broker = BrokerProcess(work / f"{name}-{run}", env=_env(tree))
    started = time.monotonic()
    broker.start()
    wall = time.monotonic() - started
    assert broker.proc is not None
    cpu = _process_cpu(broker.proc.pid)
    broker.stop()
    broker.close()
    return wall, cpu


def _rows(runs: int, base: Path | None, work: Path) -> dict[str, dict[str, list[float]]]:
    trees: dict[str, Path | None] = {"this": None, **({"base": base} if base else {})}
    broker = BrokerProcess(work / "cli-target", env=_env(None))
    broker.start()
    try:
        return _measure(runs, trees, work, broker.address)
    finally:
        broker.stop()
        broker.close()


def _measure(
    runs: int, trees: dict[str, Path | None], work: Path, address: str
) -> dict[str, dict[str, list[float]]]:
    help_code, list_code = (
        CLI.format(args=["--help"]),
        CLI.format(args=["topic", "list", "-b", address]),
    )
    probes: dict[str, Callable[[Path | None, int], float | tuple[float, float]]] = {
        "import CPU": lambda tree, _run: _child_cpu(ROOT_IMPORT, tree),
        "ready": lambda tree, run: _ready(tree, work, run),
        "logd --help CPU": lambda tree, _run: _child_cpu(help_code, tree),
        "logd topic list CPU": lambda tree, _run: _child_cpu(list_code, tree),
    }
    out: dict[str, dict[str, list[float]]] = {}
    for row, probe in probes.items():
        for run in range(runs):
            for name, tree in trees.items():  # interleaved: both see the same load
                value = probe(tree, run)
                if isinstance(value, tuple):
                    out.setdefault("ready (wall)", {}).setdefault(name, []).append(value[0])
                    out.setdefault("ready (CPU)", {}).setdefault(name, []).append(value[1])
                else:
                    out.setdefault(row, {}).setdefault(name, []).append(value)
        print(f"  {row}: done", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--base", type=Path, help="a checkout of logd to compare against")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    base = args.base.resolve() if args.base else None
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        os.chdir(tmp)  # `python -m` and `-c` put the working directory first on sys.path
        rows = _rows(args.runs, base, Path(tmp))
    load_after = os.getloadavg()
    print(f"\nload average: start {load_before[0]:.2f}, end {load_after[0]:.2f}"
          f" (1 min); {args.runs} runs each, seconds, median (min)\n")  # fmt: skip
    print("| | this tree | base | this / base |\n|---|---|---|---|")
    for row, by_tree in rows.items():
        this = by_tree["this"]
        cell = f"{statistics.median(this):.3f} ({min(this):.3f})"
        if "base" in by_tree:
            b = by_tree["base"]
            ratio = statistics.median(this) / statistics.median(b)
            print(f"| {row} | {cell} | {statistics.median(b):.3f} ({min(b):.3f}) | {ratio:.2f} |")
        else:
            print(f"| {row} | {cell} | - | - |")
    write_report("startup", {"base": str(base) if base else None, "runs": args.runs,
                             "load_start": load_before, "load_end": load_after,
                             "seconds": rows})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
