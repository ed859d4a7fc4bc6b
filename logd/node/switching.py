"""The broker process's GIL switch interval: how long a thread that wants the GIL waits for
the thread that holds it before asking it to let go.

Owned by the composition root (:func:`logd.node.main.serve` calls
:func:`shorten_switch_interval` once): a setting of the whole process, which a broker
process owns and a library (the client) must never change under its application.

Why: every acks=all record crosses threads inside the broker -- gRPC's poller thread hands
the request to the event loop, the loop hands the fsync to a Flusher thread, the Flusher
hands "durable" back to the loop -- and each hand-off ends with the woken thread waiting
for the GIL. While the loop runs Python (the next requests, a Raft pass) CPython makes
that thread wait up to the switch interval, 5 ms by default, before the loop is asked to
let go: whole milliseconds of a record's way at 10,000 msgs/s for a step whose work (an
fdatasync of ~0.3 ms) is far shorter (issue 22, bench/README.md "Session 8"). A shorter
interval bounds each such wait; it costs only when two threads want to run Python at once,
and then one more switch per interval.
"""

from __future__ import annotations

import sys

__all__ = ["SWITCH_INTERVAL_S", "shorten_switch_interval"]

#: Seconds; CPython's default is 0.005.
SWITCH_INTERVAL_S = 0.0005


def shorten_switch_interval() -> float:
    """Set this process's switch interval to :data:`SWITCH_INTERVAL_S`; returns the old."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return old
