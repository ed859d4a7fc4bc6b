"""The metadata image: the state machine every broker applies from the controller's log.

Pure and deterministic (no I/O, no clock): the same records in the same order give the
same image on every broker. Records are applied as they come; the controller leader
checked them against its image before proposing (so a create of an existing topic never
reaches the log), and an entry's records are applied together, so listeners see a topic
created whole, never partition by partition.

Per topic the image keeps a *version*: the offset of the last entry that changed it. A
write computed on another broker's image names the version it saw; the leader refuses it
when the topic changed since (optimistic concurrency for ``update_topic``).

A snapshot is the image as records (plus the offset it covers): restoring one replays
those records into an empty image. Versions after a restore are the snapshot's offset.

Not thread-safe; owned by the controller store (the broker's loop).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from types import MappingProxyType
from typing import Final

from logd.cluster.controller.security_records import SECURITY_KINDS, SecurityImage
from logd.errors import CorruptRecordError
from logd.metadata.store import PartitionAssignment, TopicRecord
from logd.metadata.types import BrokerMeta, Endpoint
from logd.v1 import cluster_pb2

__all__ = [
    "Delta",
    "MetadataImage",
    "broker_record",
    "change_records",
    "cluster_config_record",
    "drain_record",
    "partition_record",
    "topic_records",
    "unregister_record",
    "voters_record",
]

Delta = tuple[TopicRecord | None, TopicRecord | None]

_LEN: Final = struct.Struct(">I")
_HEAD: Final = struct.Struct(">qq")  # offset covered, next producer id


class MetadataImage:
    """Cluster id, brokers, topics, producer ids; see the module doc."""

    def __init__(self) -> None:
        self.cluster_id = ""
        self.brokers: dict[int, BrokerMeta] = {}
        self._topics: dict[str, TopicRecord] = {}
        self._names: dict[str, str] = {}  # topic id -> name
        self.versions: dict[str, int] = {}
        self.next_producer_id = 0
        #: Users (SCRAM keys), ACLs, client quotas (issue 15).
        self.security = SecurityImage()
        #: The brokers being decommissioned (issue 23).
        self.draining: set[int] = set()
        #: The controller quorum to reach (issue 23); empty: the configured one.
        self.controller_voters: tuple[int, ...] = ()
        #: Brokers unregistered for good (issue 23): not listed even when a configured
        #: peer; a broker registering again leaves the set.
        self.unregistered: set[int] = set()
        #: The cluster's dynamic configs (``partition.move.throttle``): ConfigRecords with
        #: an empty topic id (Kafka's broker-default resource ""); every broker reads them.
        self.cluster_configs: dict[str, str] = {}
        self.applied = -1
        self._pending_before: dict[str, TopicRecord | None] = {}
        #: The partitions of the topics the entry being applied changed, built in place and
        #: made a TopicRecord once at the end of the entry (``_settle``): a topic created
        #: with 10,000 partitions is one entry of 10,000 partition records, and rebuilding
        #: the record's tuple for each of them was quadratic (tens of seconds of a blocked
        #: event loop: issue 21).
        self._drafts: dict[str, list[PartitionAssignment]] = {}

    # -- reads ----------------------------------------------------------------------------

    @property
    def topics(self) -> MappingProxyType[str, TopicRecord]:
        return MappingProxyType(self._topics)

    def topic(self, name: str) -> TopicRecord | None:
        return self._topics.get(name)

    # -- apply ----------------------------------------------------------------------------

    def apply(self, records: Sequence[cluster_pb2.MetadataRecord], offset: int) -> list[Delta]:
        """Apply one entry's records; the topic changes they made, in first-touch order."""
        self._pending_before, self._drafts = {}, {}
        for record in records:
            kind = record.WhichOneof("record")
            if kind == "cluster_id":
                self.cluster_id = record.cluster_id.cluster_id
            elif kind == "broker":
                b = record.broker
                endpoints = tuple(Endpoint(e.name, e.host, e.port) for e in b.endpoints)
                self.brokers[b.node_id] = BrokerMeta(
                    b.node_id, b.host, b.port, b.rack, endpoints=endpoints
                )
                self.unregistered.discard(b.node_id)
            elif kind == "unregister":
                node = record.unregister.node_id
                self.brokers.pop(node, None)
                self.draining.discard(node)
                self.unregistered.add(node)
            elif kind == "drain":
                d = record.drain
                if d.draining:
                    self.draining.add(d.node_id)
                else:
                    self.draining.discard(d.node_id)
            elif kind == "controller_voters":
                self.controller_voters = tuple(sorted(set(record.controller_voters.voters)))
            elif kind == "producer_ids":
                p = record.producer_ids
                self.next_producer_id = max(self.next_producer_id, p.first_id + p.count)
            elif kind in SECURITY_KINDS:
                self.security.apply(kind, record)
            elif kind in ("topic", "partition", "config", "remove_topic"):
                name = self._apply_topic(kind, record)
                if name is not None:
                    self.versions[name] = offset
        self._settle()
        self.applied = max(self.applied, offset)
        deltas: list[Delta] = []
        for name, was in self._pending_before.items():
            now = self._topics.get(name)
            if was != now:
                deltas.append((was, now))
            if now is None:
                self.versions.pop(name, None)
        self._pending_before = {}
        return deltas

    def _apply_topic(self, kind: str, record: cluster_pb2.MetadataRecord) -> str | None:
        """Apply one topic record; returns the topic's name (None: unknown topic id, or a
        cluster config)."""
        if kind == "config" and not record.config.topic_id:
            c = record.config
            if c.delete:
                self.cluster_configs.pop(c.key, None)
            else:
                self.cluster_configs[c.key] = c.value
            return None
        if kind == "topic":
            t = record.topic
            self._before(t.name)
            self._drafts.pop(t.name, None)
            self._topics[t.name] = TopicRecord(t.name, t.topic_id, (), {})
            self._names[t.topic_id] = t.name
            return t.name
        if kind == "partition":
            p = record.partition
            name = self._names.get(p.topic_id)
            if name is None or not p.replicas:
                return None
            self._before(name)
            parts = self._drafts.get(name)
            if parts is None:
                parts = self._drafts[name] = list(self._topics[name].partitions)
            replicas = tuple(p.replicas)
            assignment = PartitionAssignment(
                p.partition,
                replicas,
                replicas[0],
                0,
                replicas,
                tuple(r for r in p.adding_replicas if r in replicas),
                tuple(
                    r for r in p.removing_replicas if r in replicas and r not in p.adding_replicas
                ),
                max(0, p.move_throttle),
                p.move_throttle_follows,
            )
            if p.partition < len(parts):
                parts[p.partition] = assignment
            elif p.partition == len(parts):
                parts.append(assignment)
            else:
                return None  # a gap: never written by a leader; ignored everywhere alike
            return name
        if kind == "config":
            c = record.config
            name = self._names.get(c.topic_id)
            if name is None:
                return None
            self._before(name)
            current = self._topics[name]
            configs = dict(current.configs)
            if c.delete:
                configs.pop(c.key, None)
            else:
                configs[c.key] = c.value
            self._topics[name] = dataclasses.replace(current, configs=configs)
            return name
        name = self._names.pop(record.remove_topic.topic_id, None)
        if name is None:
            return None
        self._before(name)
        self._drafts.pop(name, None)
        del self._topics[name]
        return name

    def _settle(self) -> None:
        """The topics whose partitions the entry changed, as records (see ``_drafts``)."""
        drafts, self._drafts = self._drafts, {}
        for name, parts in drafts.items():
            self._topics[name] = dataclasses.replace(self._topics[name], partitions=tuple(parts))

    def _before(self, name: str) -> None:
        """Remember a topic as it was before the entry being applied touched it."""
        pending = self._pending_before
        if name not in pending:
            pending[name] = self._topics.get(name)

    # -- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The image as records, covering ``applied``."""
        records: list[cluster_pb2.MetadataRecord] = []
        if self.cluster_id:
            records.append(
                cluster_pb2.MetadataRecord(
                    cluster_id=cluster_pb2.ClusterIdRecord(cluster_id=self.cluster_id)
                )
            )
        for b in sorted(self.brokers.values(), key=lambda b: b.node_id):
            records.append(broker_record(b))
        records.extend(drain_record(n, draining=True) for n in sorted(self.draining))
        records.extend(unregister_record(n) for n in sorted(self.unregistered))
        if self.controller_voters:
            records.append(voters_record(self.controller_voters))
        records.extend(cluster_config_record(k, v) for k, v in sorted(self.cluster_configs.items()))
        for topic in sorted(self._topics.values(), key=lambda t: t.name):
            records.extend(topic_records(topic))
        records.extend(self.security.records())
        parts = [_HEAD.pack(self.applied, self.next_producer_id)]
        for r in records:
            data = r.SerializeToString()
            parts.append(_LEN.pack(len(data)))
            parts.append(data)
        return b"".join(parts)

    @classmethod
    def restore(cls, data: bytes | bytearray | memoryview) -> MetadataImage:
        """An image from :meth:`snapshot`'s bytes; CorruptRecordError if they are not one."""
        view = memoryview(data)
        if len(view) < _HEAD.size:
            raise CorruptRecordError("metadata snapshot shorter than its header")
        applied, next_pid = _HEAD.unpack_from(view, 0)
        pos = _HEAD.size
        records = []
        while pos < len(view):
            if len(view) - pos < _LEN.size:
                raise CorruptRecordError("metadata snapshot cut inside a length")
            (size,) = _LEN.unpack_from(view, pos)
            pos += _LEN.size
            if size > len(view) - pos:
                raise CorruptRecordError("metadata snapshot cut inside a record")
            try:
                records.append(cluster_pb2.MetadataRecord.FromString(bytes(view[pos : pos + size])))
            except Exception as exc:  # protobuf's DecodeError
                raise CorruptRecordError(f"metadata snapshot record unreadable: {exc}") from None
            pos += size
        image = cls()
        image.apply(records, applied)
        image.next_producer_id = max(image.next_producer_id, next_pid)
        return image


def broker_record(broker: BrokerMeta) -> cluster_pb2.MetadataRecord:
    """The record that registers ``broker`` as it is (its listeners' endpoints included)."""
    endpoints = [
        cluster_pb2.BrokerEndpoint(name=e.name, host=e.host, port=e.port) for e in broker.endpoints
    ]
    return cluster_pb2.MetadataRecord(
        broker=cluster_pb2.RegisterBrokerRecord(
            node_id=broker.node_id,
            host=broker.host,
            port=broker.port,
            rack=broker.rack,
            endpoints=endpoints,
        )
    )


def drain_record(node_id: int, *, draining: bool) -> cluster_pb2.MetadataRecord:
    """The record that starts (or ends) decommissioning broker ``node_id``."""
    return cluster_pb2.MetadataRecord(
        drain=cluster_pb2.BrokerDrainRecord(node_id=node_id, draining=draining)
    )


def unregister_record(node_id: int) -> cluster_pb2.MetadataRecord:
    """The record that removes broker ``node_id`` from the cluster for good."""
    return cluster_pb2.MetadataRecord(
        unregister=cluster_pb2.UnregisterBrokerRecord(node_id=node_id)
    )


def voters_record(voters: Sequence[int]) -> cluster_pb2.MetadataRecord:
    """The record that sets the controller quorum to reach."""
    return cluster_pb2.MetadataRecord(
        controller_voters=cluster_pb2.ControllerVotersRecord(voters=sorted(voters))
    )


def cluster_config_record(key: str, value: str | None) -> cluster_pb2.MetadataRecord:
    """The record that sets (``value`` None: deletes) one of the cluster's dynamic configs."""
    config = (
        cluster_pb2.ConfigRecord(topic_id="", key=key, delete=True)
        if value is None
        else cluster_pb2.ConfigRecord(topic_id="", key=key, value=value)
    )
    return cluster_pb2.MetadataRecord(config=config)


def topic_records(topic: TopicRecord) -> list[cluster_pb2.MetadataRecord]:
    """The records that create ``topic`` as it is (a create, or a snapshot)."""
    out = [
        cluster_pb2.MetadataRecord(
            topic=cluster_pb2.TopicRecordProto(name=topic.name, topic_id=topic.topic_id)
        )
    ]
    for a in topic.partitions:
        out.append(partition_record(topic.topic_id, a))
    for key, value in sorted(topic.configs.items()):
        out.append(
            cluster_pb2.MetadataRecord(
                config=cluster_pb2.ConfigRecord(topic_id=topic.topic_id, key=key, value=value)
            )
        )
    return out


def change_records(before: TopicRecord, after: TopicRecord) -> list[cluster_pb2.MetadataRecord]:
    """The records that turn ``before`` into ``after`` (configs, partitions added or moved)."""
    tid = before.topic_id
    out = []
    for key in sorted(set(before.configs) | set(after.configs)):
        old, new = before.configs.get(key), after.configs.get(key)
        if old == new:
            continue
        config = (
            cluster_pb2.ConfigRecord(topic_id=tid, key=key, delete=True)
            if new is None
            else cluster_pb2.ConfigRecord(topic_id=tid, key=key, value=new)
        )
        out.append(cluster_pb2.MetadataRecord(config=config))
    for a in after.partitions:
        old_a = before.partitions[a.partition] if a.partition < len(before.partitions) else None
        if old_a is None or old_a.move != a.move:
            out.append(partition_record(tid, a))
    return out


def partition_record(topic_id: str, a: PartitionAssignment) -> cluster_pb2.MetadataRecord:
    """The record that places one partition (with its move in progress, if any)."""
    return cluster_pb2.MetadataRecord(
        partition=cluster_pb2.PartitionRecordProto(
            topic_id=topic_id,
            partition=a.partition,
            replicas=list(a.replicas),
            adding_replicas=list(a.adding),
            removing_replicas=list(a.removing),
            move_throttle=a.throttle,
            move_throttle_follows=a.throttle_follows,
        )
    )
