"""The producer's machinery, below the two public shells (``logd.client.sync.producer``,
``logd.client.aio.producer``).

Modules, from the bottom up:

* ``records_in``  — what ``produce()`` accepts as a record's fields (one-line errors);
* ``batch``       — ``ProducerBatch``: one partition's records from first append to delivery;
* ``idempotence`` — producer id, epoch and per-partition sequences (pure bookkeeping);
* ``accumulator`` — per-partition batches bounded by ``batch_size`` and ``linger_ms``;
* ``delivery``    — from a finished batch to the futures and callbacks that wait on it;
* ``sender``      — the event-loop task that sends sendable batches to partition leaders;
* ``core``        — ``ProducerCore``: connections, metadata, accumulator and sender wired.

The hot path (issue 8) is ``accumulator`` -> ``sender`` -> ``delivery``. This ``__init__``
imports nothing.
"""

__all__: list[str] = []
