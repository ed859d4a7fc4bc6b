"""The broker's side of consumer groups: it runs the sans-I/O coordinators of ``logd.groups``.

* ``settings``     -- the broker config keys of groups and of ``__consumer_offsets``;
* ``offsets_topic``-- creating ``__consumer_offsets`` when it is missing, and its configs;
* ``replay``       -- reading a ``__consumer_offsets`` partition back into a coordinator;
* ``driver``       -- :class:`CoordinatorDriver`, one ``GroupCoordinator`` over one partition
  this broker leads: requests in, ``ready()`` drained, writes appended and committed, timers;
* ``service``      -- :class:`GroupService`, the protocol-neutral face the front ends call:
  routes each group to the driver of its partition, FindCoordinator, lists and describes.

The coordinators follow the leadership of the ``__consumer_offsets`` partitions through
``ReplicaManager.add_leadership_listener`` and nothing else (docs/internals.md).
"""

__all__: list[str] = []
