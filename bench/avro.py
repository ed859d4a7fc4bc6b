"""Avro through the schema registry, beside the same records as raw bytes (issue 17): what
the serializer costs a producer and the deserializer a consumer, in one run.

The records: a 6-field user record (string, long, int, double, boolean, enum), ~100 B of
Avro each. ``produce-raw`` sends their Avro bytes encoded beforehand (what a producer of
opaque bytes does); ``produce-avro`` turns each dict into bytes with logd's
``AvroSerializer`` (registered once, then cached) inside the timed loop, then sends them the
same way (``produce_batch`` in slices of 10,000, to the end of ``flush()``). ``replay-raw``
reads them back; ``replay-avro`` also decodes each value with ``AvroDeserializer``. The
``logd+avro`` rows' note gives their ratio to the raw row of the same run; the peer rows
(``logd+confluent-avro``) do the same with confluent-kafka's Python AvroSerializer and
AvroDeserializer (the same registry, records, producer and consumer).

Part of ``make bench`` (the acks=all mode); alone: ``.venv/bin/python -m bench.avro [N]``.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness import Result, Unavailable
from bench.logd_suite import LogdCluster, replay
from logd.client import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from logd.client.serde import AvroDeserializer, AvroSerializer, RegistryClient

__all__ = ["SCHEMA", "avro_rows", "main", "users"]

SCHEMA = json.dumps({
    "type": "record", "name": "User", "namespace": "bench",
    "fields": [
        {"name": "name", "type": "string"}, {"name": "id", "type": "long"},
        {"name": "age", "type": "int"}, {"name": "score", "type": "double"},
        {"name": "active", "type": "boolean"},
        {"name": "tier", "type": {"type": "enum", "name": "Tier",
                                  "symbols": ["FREE", "PRO", "TEAM"]}},
    ],
})  # fmt: skip
_SLICE = 10_000
_SYSTEM, _PEER, _RAW = "logd+avro", "logd+confluent-avro", "logd"


def users(count: int, seed: int = 7) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    return [
        {"name": rnd.randbytes(30).hex()[: rnd.randint(40, 60)], "id": rnd.getrandbits(62),
         "age": rnd.randint(0, 120), "score": rnd.random() * 1000,
         "active": rnd.random() < 0.5, "tier": rnd.choice(["FREE", "PRO", "TEAM"])}
        for _ in range(count)
    ]  # fmt: skip


Serialize = Callable[[dict[str, object], str], bytes | None]
Deserialize = Callable[[bytes], object]


def _produce(
    brokers: str, topic: str, n: int, values: list[bytes] | None,
    serialize: Serialize | None, records: list[dict[str, object]],
) -> float:  # fmt: skip
    """Seconds to produce ``n`` values: ``values`` as they are, or each record serialized."""
    with Producer(brokers=brokers, acks="all") as producer:
        producer.produce(topic, b"warm-up")
        producer.flush()
        k = len(records)
        start = time.perf_counter()
        for first in range(0, n, _SLICE):
            if serialize is not None:
                batch = [serialize(records[(first + i) % k], topic) for i in range(_SLICE)]
            else:
                assert values is not None
                batch = [values[(first + i) % k] for i in range(_SLICE)]
            producer.produce_batch(topic, batch)  # type: ignore[arg-type]
        left = producer.flush()
        seconds = time.perf_counter() - start
    if left:
        raise Unavailable(f"{left} records undelivered")
    return seconds


def _replay_decoded(brokers: str, topic: str, total: int, decode: Deserialize) -> float:
    with Consumer(brokers=brokers) as consumer:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(8)])
        got = 0
        start = time.perf_counter()
        while got < total:
            records = consumer.consume(100_000, 10)
            if not records:
                break
            for record in records:
                if record.value != b"warm-up":
                    decode(record.value)  # type: ignore[arg-type]
            got += len(records)
        return time.perf_counter() - start


def _confluent(url: str) -> tuple[Serialize, Deserialize]:
    """confluent-kafka's AvroSerializer/AvroDeserializer (its Python serializers, fastavro
    too), as the peer: the same registry, the same records."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer as CAvroDeserializer
    from confluent_kafka.schema_registry.avro import AvroSerializer as CAvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    client = SchemaRegistryClient({"url": url})
    writer, reader = CAvroSerializer(client, SCHEMA), CAvroDeserializer(client)
    contexts: dict[str, SerializationContext] = {}

    def serialize(record: dict[str, object], topic: str) -> bytes | None:
        ctx = contexts.get(topic) or contexts.setdefault(
            topic, SerializationContext(topic, MessageField.VALUE)
        )
        return writer(record, ctx)  # type: ignore[no-any-return]

    def deserialize(data: bytes) -> object:
        return reader(data, None)

    return serialize, deserialize


def avro_rows(cluster: LogdCluster, n: int, durability: str) -> list[Result]:
    """The rows (see the module doc) against ``cluster``'s first registry."""
    registry = RegistryClient(cluster.registry_url)
    serialize = AvroSerializer(registry, SCHEMA)
    records = users(1000)
    b = cluster.brokers
    raw_topic, ours, theirs = (cluster.create_topic(1) for _ in range(3))
    values = [serialize(r, raw_topic) for r in records]  # encoded before the clock starts
    size = round(sum(len(v) for v in values if v) / len(values))
    peer_serialize, peer_deserialize = _confluent(cluster.registry_url)
    raw_s = _produce(b, raw_topic, n, values, None, records)  # type: ignore[arg-type]
    ours_s = _produce(b, ours, n, None, serialize, records)
    theirs_s = _produce(b, theirs, n, None, peer_serialize, records)
    got_raw, replay_raw_s = replay(b, raw_topic, n + 1)
    replay_ours_s = _replay_decoded(b, ours, n + 1, AvroDeserializer(registry))
    replay_theirs_s = _replay_decoded(b, theirs, n + 1, peer_deserialize)

    def row(system: str, workload: str, count: int, secs: float, raw: float, how: str) -> Result:
        note = how + (f"; {raw / secs:.2f}x raw" if raw else "")
        return Result.throughput(system, durability, workload, size, count, secs, note=note)

    return [
        row(_RAW, "produce-raw", n, raw_s, 0, "the Avro bytes, encoded beforehand"),
        row(_SYSTEM, "produce-avro", n, ours_s, raw_s, "logd AvroSerializer per record"),
        row(_PEER, "produce-avro", n, theirs_s, raw_s, "confluent-kafka AvroSerializer"),
        row(_RAW, "replay-raw", got_raw, replay_raw_s, 0, "bytes as stored"),
        row(_SYSTEM, "replay-avro", n, replay_ours_s, replay_raw_s, "logd AvroDeserializer"),
        row(_PEER, "replay-avro", n, replay_theirs_s, replay_raw_s,
            "confluent-kafka AvroDeserializer"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 200_000
    with (
        tempfile.TemporaryDirectory(prefix="logd-bench-avro-") as tmp,
        LogdCluster(Path(tmp), 1) as cluster,
    ):
        for r in avro_rows(cluster, n, "1 node, acks=all, fsync always"):
            print(f"{r.system:<20} {r.workload:<13} {r.value_bytes:>4} B "
                  f"{r.msgs_s or 0:>10,.0f} msgs/s  {r.note}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
