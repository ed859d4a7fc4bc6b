"""Decoding cost of logd's AvroDeserializer, in-process (no broker): the same records (the
6-field user record of ``bench.avro``) decoded by ``fastavro.schemaless_reader`` per record --
what the deserializer called until session 4 -- and by the deserializer's prepared reader
(``logd.client.serde.avro._Reading``: fastavro's compiled ``_read_data`` with the schemas'
names prepared once). Both in the same run, passes interleaved, timed in this process's CPU
time (a shared, loaded machine deschedules it at random), as records/s and their ratio; the
best of ``_PASSES`` passes each.

    .venv/bin/python -m bench.avro_decode [N]      # default 20000 records

Writes bench/results/avro-decode-<UTC time>.json.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import fastavro

from bench.avro import SCHEMA, users
from logd.client.serde import avro
from logd.client.serde.wire import pack, unpack

__all__ = ["main"]

_PASSES = 20


def _best(decoders: dict[str, Callable[[bytes], object]], framed: list[bytes]) -> dict[str, float]:
    """Records per second of each decoder, the best of its passes (interleaved)."""
    best = dict.fromkeys(decoders, float("inf"))
    for _ in range(_PASSES):
        for name, decode in decoders.items():
            started = time.process_time()
            for data in framed:
                decode(data)
            best[name] = min(best[name], time.process_time() - started)
    return {name: len(framed) / seconds for name, seconds in best.items()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 20_000
    parsed = fastavro.parse_schema(json.loads(SCHEMA))
    framed = []
    for record in users(n):
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, record)
        framed.append(pack(1, out.getvalue()))
    reading = avro._Reading(parsed, None)

    def before(data: bytes) -> object:
        _, payload = unpack(data)
        return fastavro.schemaless_reader(io.BytesIO(payload), parsed, None)

    def after(data: bytes) -> object:
        _, payload = unpack(data)
        return reading.read(payload)

    assert before(framed[0]) == after(framed[0])
    rates = _best({"before": before, "after": after}, framed)
    old, new = rates["before"], rates["after"]
    print(f"{'decoder':<44} {'records/s':>12}")
    print(f"{'fastavro.schemaless_reader per record (before)':<44} {old:>12,.0f}")
    print(f"{'prepared _read_data (AvroDeserializer now)':<44} {new:>12,.0f}")
    print(f"ratio now/before: {new / old:.2f}x  ({n} records, best of {_PASSES})")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_path = Path(__file__).parent / "results" / f"avro-decode-{stamp}.json"
    out_path.write_text(json.dumps({"records": n, "before_per_s": old, "after_per_s": new,
                                    "ratio": new / old}, indent=1) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
