"""Replay or explore seeds: ``python -m tests.replication.sim --seed N [--trace]``.

``--seeds N --seed-start S`` runs a range and prints the same summary as ``make soak``.
"""

from __future__ import annotations

import argparse
import sys

from tests.replication.sim.simulator import SimulationFailure, run_seed
from tests.replication.sim.summary import Summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.replication.sim")
    parser.add_argument("--seed", type=int, help="run this one seed")
    parser.add_argument("--trace", action="store_true", help="print every event")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds to run")
    parser.add_argument("--seed-start", type=int, default=0)
    args = parser.parse_args(argv)
    start = args.seed if args.seed is not None else args.seed_start
    count = 1 if args.seed is not None else args.seeds
    summary = Summary()
    for seed in range(start, start + count):
        try:
            summary.add(run_seed(seed, trace=args.trace))
        except SimulationFailure as failure:
            summary.fail(seed)
            print(failure, file=sys.stderr)
    print(summary.line())
    return 1 if summary.violations else 0


if __name__ == "__main__":
    sys.exit(main())
