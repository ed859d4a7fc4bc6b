"""Drivers that run Raft for real (docs/internals.md "Layers"; issue 5).

* ``codec`` — Raft messages to and from the internal wire frames (sans-I/O);
* ``transport`` — one stream per ordered broker pair, coalesced heartbeats, backoff, faults;
* ``partition_log`` — the partition's storage ``Log`` as the Raft ``LogStorage``;
* ``raft_state`` — the small side file of a group's hard state and configurations;
* ``driver`` — every group of this broker on one asyncio loop, group-commit fsyncs;
* ``replicated`` — a hosted partition's Raft group (the ``Partition`` commit seam);
* ``damage`` — the scan for a log's first damaged batch, which a replica repairs from;
* ``controller/`` — the metadata image, the controller group and its ``MetadataStore`` (read
  view, write path, Raft listener);
* ``liveness`` — broker heartbeats, the leader/ISR table, leader rebalancing;
* ``internal`` — what the internal service's calls do (``ClusterHandler``; its gRPC servicer
  is a front end: ``logd.frontends.grpc.cluster_service``);
* ``hosted`` / ``settings`` — what the cluster needs of a hosted partition, and its settings;
* ``runtime`` — all of the above wired for one broker (the node builds it).
"""

__all__: list[str] = []
