"""The cluster's metadata vocabulary, below the cluster and the broker core (bottom-up):

* ``types`` — ``TopicPartition``, ``HostPort``, ``BrokerMeta``, ``LeaderHint``,
  ``LeadershipResult``: the names every layer above storage shares.
* ``store`` — topics and their placement (``TopicRecord``, ``PartitionAssignment``), the
  ``MetadataStore`` contract the controller implements and the core reads, and the
  reserved topics.

No I/O: the controller (``logd.cluster.controller``) keeps this metadata durable.
"""

__all__: list[str] = []
