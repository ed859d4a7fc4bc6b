"""The broker process reuses big freed buffers instead of faulting them in per request
(logd/node/allocator.py, issue 22's 1 MiB batches).

Each case runs a fresh interpreter (the allocator setting is the whole process's, and this
one's is left alone) that frees 8 MiB of 1 MiB buffers at once, as a broker does with a
burst of 1 MiB batches, and counts the minor page faults of the next rounds: every page
again with glibc's adaptive thresholds (~2,000 a round), almost none once tuned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.imports import ROOT

_ROUNDS = (
    "import resource, threading\n"
    "def rounds(out):\n"
    "    for _ in range(3):\n"
    "        bufs = [bytearray(1 << 20) for _ in range(8)]; del bufs\n"
    "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "    for _ in range(20):\n"
    "        bufs = [bytes(bytearray(1 << 20)) for _ in range(8)]; del bufs\n"
    "    out.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)\n"
    "out = []\n"
    "rounds(out)\n"
    "t = threading.Thread(target=rounds, args=(out,)); t.start(); t.join()\n"
    "print(json.dumps([tuned, *out]))\n"
)


def _faults(setup: str, env: dict[str, str] | None = None) -> tuple[bool, float, float]:
    """(tuned?, faults per 8 MiB round on the main thread, on another thread)."""
    out = subprocess.run(
        [sys.executable, "-c", f"import json\n{setup}\n{_ROUNDS}"], cwd=ROOT, env=env,
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    tuned, main, thread = json.loads(out.splitlines()[-1])
    return tuned, main, thread


def test_a_tuned_process_reuses_freed_megabyte_buffers() -> None:
    tuned, main, thread = _faults(
        "from logd.node.allocator import tune_allocator\ntuned = tune_allocator()"
    )
    assert tuned
    assert main < 100 and thread < 100, (main, thread)
    # the control: the same rounds without it fault every page in again (2 x 8 MiB a round)
    untuned, main, thread = _faults("tuned = False")
    assert not untuned
    assert main > 1000 and thread > 1000, (main, thread)


def test_serve_tunes_the_allocator_before_the_broker_starts() -> None:
    """serve() with the broker itself replaced by a coroutine that returns at once."""
    tuned, main, thread = _faults(
        "import logd.node.main as m\n"
        "async def no_broker(config): return 0\n"
        "m._serve = no_broker\n"
        "tuned = m.serve(None) == 0\n"
    )
    assert tuned and main < 100 and thread < 100, (main, thread)


def test_the_operators_own_malloc_settings_win() -> None:
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": str(1 << 20)}
    tuned, main, _ = _faults(
        "from logd.node.allocator import tune_allocator\ntuned = tune_allocator()", env
    )
    assert not tuned and main > 1000
