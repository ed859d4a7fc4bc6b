"""A quick client throughput check (issue 4's report; the full suite is issue 8's).

    python bench/client_quick.py --brokers 127.0.0.1:7070 [--records 1000000] [--acks all]

Against a running broker: creates a fresh 8-partition topic, then measures msgs/s of
(1) per-record ``Producer.produce()``, (2) the batch API ``produce_batch()`` in slices of
10,000, both with 100-byte values and lz4, each ended by ``flush()``; and (3) replay of
everything from the start with ``Consumer.consume()``. Values are 100 bytes, half random
(so lz4 has work to do, as with real payloads).
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

from logd.client import OFFSET_BEGINNING, Admin, Consumer, NewTopic, Producer, TopicPartition


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", default="127.0.0.1:7070")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--acks", default="all")
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    n = args.records
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    with Admin(brokers=args.brokers) as admin:
        admin.create_topics([NewTopic(topic, args.partitions, 1)])
    values = [os.urandom(50) + b"x" * 50 for _ in range(1000)]

    with Producer(brokers=args.brokers, acks=args.acks) as producer:
        producer.produce(topic, b"warm-up")
        producer.flush()
        produce = producer.produce
        start = time.perf_counter()
        for i in range(n):
            produce(topic, values[i % 1000])
        left = producer.flush()
        elapsed = time.perf_counter() - start
        print(f"produce():       {n / elapsed:>12,.0f} msgs/s  ({left} undelivered)")

        batch = [values[i % 1000] for i in range(10_000)]
        start = time.perf_counter()
        for _ in range(n // 10_000):
            producer.produce_batch(topic, batch)
        left = producer.flush()
        elapsed = time.perf_counter() - start
        rate = n // 10_000 * 10_000 / elapsed
        print(f"produce_batch(): {rate:>12,.0f} msgs/s  ({left} undelivered)")

    total = 1 + n + n // 10_000 * 10_000
    with Consumer(brokers=args.brokers) as consumer:
        consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(args.partitions)]
        )
        got = 0
        start = time.perf_counter()
        while got < total:
            records = consumer.consume(100_000, 10)
            if not records:
                break
            got += len(records)
        elapsed = time.perf_counter() - start
        print(f"replay consume(): {got / elapsed:>11,.0f} msgs/s  ({got} of {total})")


if __name__ == "__main__":
    main()
