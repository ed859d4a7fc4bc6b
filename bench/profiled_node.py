"""``python -m bench.profiled_node ARGS``: ``python -m logd.node ARGS`` under cProfile.

For finding where the broker spends its time during a benchmark (py-spy cannot attach in
every sandbox): the event-loop thread's CPU time is profiled from start to exit and the
stats are written to ``$LOGD_PROFILE_DIR/node<pid>.pstats`` when the node exits (SIGTERM
drains it). Read them with ``python -m pstats``.
``bench.kafka_suite --profile DIR`` runs its brokers this way.
"""

import cProfile
import os
import sys
import time
from pathlib import Path

from logd.node.main import main

__all__: list[str] = []

# CPU time of the event-loop thread (a loaded machine hardly moves it, but each call costs a
# system call more); LOGD_PROFILE_CLOCK=wall: wall time, lighter, for a quiet machine.
_wall = os.environ.get("LOGD_PROFILE_CLOCK") == "wall"
_profile = cProfile.Profile(time.perf_counter if _wall else time.thread_time)
_profile.enable()
try:
    _code = main()
finally:
    _profile.disable()
    _out = Path(os.environ.get("LOGD_PROFILE_DIR", ".")) / f"node{os.getpid()}.pstats"
    _profile.dump_stats(str(_out))
sys.exit(_code)
