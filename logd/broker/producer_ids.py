"""Producer ids for ``InitProducerId``, served from blocks the metadata store hands out.

A broker reserves :data:`PRODUCER_ID_BLOCK_SIZE` ids at a time with
``MetadataStore.allocate_producer_ids`` (one durable write, or one controller record, per
block rather than per producer) and gives them out one by one; when the block runs out it
reserves the next. Ids of a block a broker did not finish are lost at its restart, never
reused (Kafka's ``RPCProducerIdManager`` over KIP-730's blocks).

Every new producer starts at epoch 0; an idempotent producer bumps its epoch itself
(KIP-360) and asks for a new id only when its epoch would pass 32767.

Ownership: owned by the broker's event loop; concurrent callers share one allocation.
"""

from __future__ import annotations

import asyncio
from typing import Final

from logd.metadata.store import MetadataStore

__all__ = ["PRODUCER_ID_BLOCK_SIZE", "ProducerIdManager"]

#: Kafka's block size (``ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE``).
PRODUCER_ID_BLOCK_SIZE: Final = 1000


class ProducerIdManager:
    """Hands out producer ids from blocks of ``store``. Loop-owned."""

    def __init__(self, store: MetadataStore, block_size: int = PRODUCER_ID_BLOCK_SIZE) -> None:
        assert block_size >= 1
        self._store = store
        self._block_size = block_size
        self._next = 0
        self._last = -1  # no block yet
        self._lock = asyncio.Lock()

    async def next_id(self) -> int:
        """A producer id no one was given before. Raises the store's LogdError when no
        block can be had (NotControllerError, KafkaStorageError …)."""
        async with self._lock:
            if self._next > self._last:
                first, last = await self._store.allocate_producer_ids(self._block_size)
                assert 0 <= first <= last, (first, last)
                self._next, self._last = first, last
            producer_id = self._next
            self._next += 1
            return producer_id
