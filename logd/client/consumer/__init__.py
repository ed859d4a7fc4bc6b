"""The consumer's machinery, below the two public shells (``logd.client.sync.consumer``,
``logd.client.aio.consumer``).

Modules, from the bottom up:

* ``subscription`` — which partitions a consumer reads and where it stands in each;
* ``fetch_buffer`` — fetched data on its way to the application, decoded lazily there;
* ``fetcher``      — the event-loop task: long-poll Fetch calls, one in flight per broker;
* ``core``         — ``ConsumerCore``: connections, metadata, fetcher and (with a group id)
  the group membership (:mod:`logd.client.group`);
* ``actions``      — what a shell does at a poll boundary (commit, call back, wake the
  fetcher) as data, and the two drivers that run them (sync, asyncio);
* ``group_side``   — the application's half of a group: applying rebalance steps to the
  subscription, commits at poll boundaries -- the actions both shells only execute.

This ``__init__`` imports nothing.
"""

__all__: list[str] = []
