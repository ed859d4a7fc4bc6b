"""The consumer's machinery, below the two public shells (``logd.client.sync.consumer``,
``logd.client.aio.consumer``).

Modules, from the bottom up:

* ``subscription`` — which partitions a consumer reads and where it stands in each;
* ``fetch_buffer`` — fetched data on its way to the application, decoded lazily there;
* ``fetcher``      — the event-loop task: long-poll Fetch calls, one in flight per broker;
* ``core``         — ``ConsumerCore``: connections, metadata, fetcher and (with a group id)
  the group membership (:mod:`logd.client.group`);
* ``group_side``   — the application's half of a group: applying rebalance steps to the
  subscription, commits at poll boundaries; the steps both shells only execute.

This ``__init__`` imports nothing.
"""

__all__: list[str] = []
