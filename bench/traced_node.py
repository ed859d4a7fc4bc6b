"""``python -m bench.traced_node ARGS``: ``python -m logd.node ARGS`` with latency probes.

The broker of bench/latency_trace.py: :func:`bench.latency_probes.install_broker` first
(events go to ``$LOGD_TRACE_DIR/node<id>.jsonl`` at exit), then the node's own ``main``.
"""

import sys

from bench.latency_probes import install_broker
from logd.node.main import main

__all__: list[str] = []

_args = sys.argv[1:]
install_broker(int(_args[_args.index("--node-id") + 1]) if "--node-id" in _args else 0)
sys.exit(main())
