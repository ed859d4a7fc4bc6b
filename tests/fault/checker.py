"""The checker: what a history of a fault run may not contain.

Each anomaly below is something a Kafka-style log promises never to do; Jepsen found most of
them in real systems (Kafka: lost acknowledged writes under unclean leader election;
Redpanda 21.10: lost, duplicated and inconsistent-offset writes, aborted reads; NATS
JetStream 2.10: lost acknowledged writes after file corruption).

* ``lost`` — a produce acknowledged (OK) whose value no final read holds.
* ``duplicated`` — one value at two offsets (acks, polls and final reads together). With a
  producer that is not idempotent a retry may legitimately write a value twice (Kafka's
  at-least-once): the checker then counts duplicates apart instead of failing on them.
* ``inconsistent-offset`` — two values at one offset, across every ack, poll and final read.
* ``divergent-replicas`` — replicas whose logs differ below the end they have in common, or
  a replica whose log could not be read at the end.
* ``aborted-read`` — a value whose produce definitely failed, yet it was read.
* ``phantom`` — a value read that no produce ever sent (corruption reaching a reader).
* ``poll-backwards`` / ``poll-skip`` — within one consumer session of one partition, the
  polled offsets must rise strictly and be contiguous, except across offsets that hold no
  data record in the final reads (control batches, Raft's own entries: DESIGN.md 3).
* ``commit-backwards`` — a group's committed offset for a partition goes back: an
  acknowledged commit invoked after another acknowledged commit completed names a lower
  offset, or a read of the committed offset returns less than a commit acknowledged before
  the read began (a lost commit).

* ``compacted-latest`` — on a compacted topic (issue 16), a replica whose last value of a
  key differs from the model's: the value at the highest offset the history knows for that
  key (acks, polls, final reads) below the replicas' common end.  Replicas compact
  independently, so their raw logs are not compared; an acknowledged value is lost only if
  no later value of its key is in the final reads; polls may skip what was cleaned away.
  Keys are the part of a value before its first ``:`` (the workload's convention).

Unknown-outcome produces are never anomalies: their values may be present or absent; the
summary counts both. Pure: no I/O.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Final

from tests.fault.history import History, Kind, Op, Outcome, ops_of

__all__ = [
    "ABORTED_READ",
    "ANOMALIES",
    "COMMIT_BACKWARDS",
    "COMPACTED_LATEST",
    "DIVERGENT",
    "DUPLICATED",
    "INCONSISTENT",
    "LOST",
    "PHANTOM",
    "POLL_BACKWARDS",
    "POLL_SKIP",
    "CheckResult",
    "assert_valid",
    "check",
    "key_of",
]

LOST: Final = "lost"
DUPLICATED: Final = "duplicated"
INCONSISTENT: Final = "inconsistent-offset"
DIVERGENT: Final = "divergent-replicas"
ABORTED_READ: Final = "aborted-read"
PHANTOM: Final = "phantom"
POLL_BACKWARDS: Final = "poll-backwards"
POLL_SKIP: Final = "poll-skip"
COMMIT_BACKWARDS: Final = "commit-backwards"
COMPACTED_LATEST: Final = "compacted-latest"
ANOMALIES: Final = (
    LOST, DUPLICATED, INCONSISTENT, DIVERGENT, ABORTED_READ, PHANTOM,
    POLL_BACKWARDS, POLL_SKIP, COMMIT_BACKWARDS, COMPACTED_LATEST,
)  # fmt: skip

_EXAMPLES: Final = 5

TP = tuple[str, int]


@dataclasses.dataclass
class CheckResult:
    """Counts and first examples of every anomaly, and what the history held."""

    counts: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(ANOMALIES, 0))
    examples: dict[str, list[str]] = dataclasses.field(
        default_factory=lambda: {kind: [] for kind in ANOMALIES}
    )
    stats: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < _EXAMPLES:
            self.examples[kind].append(example)

    @property
    def valid(self) -> bool:
        return not any(self.counts.values())

    @property
    def found(self) -> dict[str, int]:
        """The anomalies that occurred, with their counts."""
        return {kind: n for kind, n in self.counts.items() if n}

    def summary(self, examples: int = 3) -> str:
        s = self.stats
        lines = [
            f"history: {s.get('ops', 0)} ops; produce {s.get('produce', 0)} (ok "
            f"{s.get('produce_ok', 0)}, failed {s.get('produce_failed', 0)}, unknown "
            f"{s.get('produce_unknown', 0)}); polls {s.get('poll', 0)} ({s.get('polled', 0)} "
            f"records, {s.get('sessions', 0)} sessions); commits {s.get('commit', 0)} (ok "
            f"{s.get('commit_ok', 0)}); final reads {s.get('final_read', 0)} "
            f"({s.get('final_records', 0)} records, {s.get('partitions', 0)} partitions)",
            f"unknown outcomes: {s.get('produce_unknown', 0)} (present "
            f"{s.get('unknown_present', 0)}, absent {s.get('unknown_absent', 0)})",
        ]
        if "duplicates_allowed" in s:
            lines.append(f"duplicates allowed (producer not idempotent): {s['duplicates_allowed']}")
        lines.append("anomalies: " + ("none" if self.valid else f"{sum(self.counts.values())}"))
        for kind in ANOMALIES:
            lines.append(f"  {kind:<20} {self.counts[kind]}")
            lines.extend(f"      e.g. {e}" for e in self.examples[kind][:examples])
        return "\n".join(lines)


def assert_valid(result: CheckResult) -> None:
    """The pytest helper: fail with the summary when the checker found anything."""
    assert result.valid, "the checker found anomalies:\n" + result.summary()


def check(
    history: History | Sequence[Op],
    *,
    duplicates_allowed: bool = False,
    compacted: Iterable[str] = (),
) -> CheckResult:
    """Check a history; ``duplicates_allowed`` for producers that are not idempotent;
    ``compacted``: the topics whose ``cleanup.policy`` is compact."""
    ops = ops_of(history)
    result = CheckResult()
    produces = [op for op in ops if op.kind is Kind.PRODUCE]
    by_value = _index_produces(produces)
    finals = _final_reads(ops, result)
    topics = frozenset(compacted)
    _stats(ops, produces, result)
    superseded = _check_latest(ops, finals, topics, result)
    _check_values(ops, by_value, finals, result, duplicates_allowed, superseded)
    _check_replicas({tp: r for tp, r in finals.items() if tp[0] not in topics}, result)
    _check_polls([op for op in ops if op.topic not in topics], finals, result)
    _check_commits(ops, result)
    return result


def key_of(value: bytes) -> bytes:
    """The key of a value on a compacted topic: what comes before its first ``:``."""
    return value.partition(b":")[0]


def _check_latest(
    ops: Sequence[Op],
    finals: dict[TP, dict[str, _Replica]],
    topics: frozenset[str],
    result: CheckResult,
) -> set[bytes]:
    """compacted-latest; returns the values a later value of their key supersedes in the
    final reads (a clean may have removed them: not lost)."""
    known: dict[TP, dict[int, bytes]] = collections.defaultdict(dict)
    for op in ops:
        if op.topic not in topics or op.outcome is not Outcome.OK:
            continue
        if op.kind is Kind.PRODUCE:
            if op.offset >= 0:  # an ack without its offset places nothing
                known[op.tp][op.offset] = op.value
        elif op.kind in (Kind.POLL, Kind.FINAL_READ):
            known[op.tp].update(op.records)
    superseded: set[bytes] = set()
    for tp, replicas in sorted(finals.items()):
        if tp[0] not in topics:
            continue
        readable = {name: r for name, r in replicas.items() if not r.error}
        for name, replica in replicas.items():
            if replica.error:
                result.add(COMPACTED_LATEST, f"{_name(tp)} on {name} could not be read: "
                                             f"{replica.error}")  # fmt: skip
        common = min((r.end for r in readable.values()), default=0)
        model = _latest(o_v for o_v in known[tp].items() if o_v[0] < common)
        for name, replica in sorted(readable.items()):
            held = _latest(o_v for o_v in replica.records.items() if o_v[0] < common)
            for key in sorted(model.keys() | held.keys()):
                if model.get(key) != held.get(key):
                    result.add(COMPACTED_LATEST, f"{_name(tp)} key {key!r}: {name} has "
                               f"{held.get(key)!r}, the model {model.get(key)!r}")  # fmt: skip
        final_at = {o: v for r in readable.values() for o, v in r.records.items()}
        last = _latest(final_at.items())
        latest_offset = {key_of(v): o for o, v in final_at.items() if last.get(key_of(v)) == v}
        for offset, value in known[tp].items():
            if offset < latest_offset.get(key_of(value), -1):
                superseded.add(value)
        superseded |= _offsetless(ops, tp, latest_offset)
        cleaned = set(known[tp].values()) - set(final_at.values())
        result.stats["compacted_cleaned"] = result.stats.get("compacted_cleaned", 0) + len(cleaned)
    return superseded


def _offsetless(ops: Sequence[Op], tp: TP, latest_offset: dict[bytes, int]) -> set[bytes]:
    """Values acknowledged without their offset: they cannot be ordered against their key's
    other values, so they count as superseded while the final reads hold any value of their
    key."""
    return {
        op.value
        for op in ops
        if op.kind is Kind.PRODUCE and op.outcome is Outcome.OK and op.tp == tp
        and op.offset < 0 and key_of(op.value) in latest_offset
    }  # fmt: skip


def _latest(records: Iterable[tuple[int, bytes]]) -> dict[bytes, bytes]:
    """key -> the value at its highest offset."""
    out: dict[bytes, tuple[int, bytes]] = {}
    for offset, value in records:
        key = key_of(value)
        if key not in out or offset > out[key][0]:
            out[key] = (offset, value)
    return {key: value for key, (_, value) in out.items()}


# -- building blocks -----------------------------------------------------------------------


@dataclasses.dataclass
class _Replica:
    records: dict[int, bytes]
    end: int
    error: str


def _index_produces(produces: Iterable[Op]) -> dict[bytes, Op]:
    by_value: dict[bytes, Op] = {}
    for op in produces:
        assert op.value not in by_value, f"the workload sent {op.value!r} twice"
        by_value[op.value] = op
    return by_value


def _final_reads(ops: Iterable[Op], result: CheckResult) -> dict[TP, dict[str, _Replica]]:
    finals: dict[TP, dict[str, _Replica]] = collections.defaultdict(dict)
    for op in ops:
        if op.kind is not Kind.FINAL_READ:
            continue
        records = dict(op.records)
        end = op.offset if op.offset >= 0 else max(records, default=-1) + 1
        error = "" if op.outcome is Outcome.OK else (op.error or op.outcome.value)
        finals[op.tp][op.replica] = _Replica(records, end, error)
    return finals


def _stats(ops: Sequence[Op], produces: Sequence[Op], result: CheckResult) -> None:
    s = result.stats
    s["ops"] = len(ops)
    s["produce"] = len(produces)
    for outcome in Outcome:
        s[f"produce_{outcome.value}"] = sum(1 for op in produces if op.outcome is outcome)
    polls = [op for op in ops if op.kind is Kind.POLL and op.outcome is Outcome.OK]
    s["poll"] = len(polls)
    s["polled"] = sum(len(op.records) for op in polls)
    s["sessions"] = len({(op.session, op.tp) for op in polls})
    commits = [op for op in ops if op.kind is Kind.COMMIT]
    s["commit"] = len(commits)
    s["commit_ok"] = sum(1 for op in commits if op.outcome is Outcome.OK)
    finals = [op for op in ops if op.kind is Kind.FINAL_READ]
    s["final_read"] = len(finals)
    s["final_records"] = sum(len(op.records) for op in finals)
    s["partitions"] = len({op.tp for op in finals})


def _check_values(
    ops: Sequence[Op],
    by_value: dict[bytes, Op],
    finals: dict[TP, dict[str, _Replica]],
    result: CheckResult,
    duplicates_allowed: bool,
    superseded: set[bytes],
) -> None:
    """lost, duplicated, inconsistent-offset, aborted-read, phantom; unknown-outcome stats."""
    # Every (partition, offset) -> value -> where it was seen, and value -> its places.
    at: dict[tuple[TP, int], dict[bytes, str]] = collections.defaultdict(dict)
    places: dict[bytes, set[tuple[TP, int]]] = collections.defaultdict(set)
    read_values: set[bytes] = set()

    def seen(tp: TP, offset: int, value: bytes, source: str) -> None:
        at[(tp, offset)].setdefault(value, source)
        places[value].add((tp, offset))

    for op in ops:
        if op.kind is Kind.PRODUCE and op.outcome is Outcome.OK:
            if op.offset >= 0:  # acknowledged without its offset: only "lost" applies
                seen(op.tp, op.offset, op.value, f"ack to {op.process}")
        elif op.kind is Kind.POLL and op.outcome is Outcome.OK:
            for offset, value in op.records:
                seen(op.tp, offset, value, f"poll by {op.session}")
                read_values.add(value)
    final_values: dict[TP, set[bytes]] = collections.defaultdict(set)
    for tp, replicas in finals.items():
        for name, replica in replicas.items():
            for offset, value in replica.records.items():
                seen(tp, offset, value, f"final read of {name}")
                final_values[tp].add(value)
                read_values.add(value)

    for (tp, offset), values in at.items():
        if len(values) > 1:
            shown = ", ".join(f"{v!r} ({src})" for v, src in list(values.items())[:3])
            result.add(INCONSISTENT, f"{_name(tp)}@{offset} holds {shown}")
    duplicates = 0
    for value, where in places.items():
        if len(where) > 1:
            if duplicates_allowed:
                duplicates += 1
                continue
            shown = ", ".join(f"{_name(tp)}@{o}" for tp, o in sorted(where)[:4])
            result.add(DUPLICATED, f"{value!r} at {shown}")
    if duplicates_allowed:
        result.stats["duplicates_allowed"] = duplicates
    _check_outcomes(by_value, read_values, final_values, result, superseded)


def _check_outcomes(
    by_value: dict[bytes, Op],
    read_values: set[bytes],
    final_values: dict[TP, set[bytes]],
    result: CheckResult,
    superseded: set[bytes],
) -> None:
    present = absent = 0
    for value, op in by_value.items():
        if op.outcome is Outcome.OK:
            if value not in final_values.get(op.tp, ()) and value not in superseded:
                result.add(LOST, f"{value!r} acknowledged at {_name(op.tp)}@{op.offset} "
                                 f"(t={op.complete:.3f}) is in no final read")  # fmt: skip
        elif op.outcome is Outcome.FAILED:
            if value in read_values:
                result.add(ABORTED_READ, f"{value!r} failed ({op.error}) but was read")
        elif value in read_values:
            present += 1
        else:
            absent += 1
    result.stats["unknown_present"] = present
    result.stats["unknown_absent"] = absent
    for value in sorted(read_values - by_value.keys()):
        result.add(PHANTOM, f"{value!r} was read but never produced")


def _check_replicas(finals: dict[TP, dict[str, _Replica]], result: CheckResult) -> None:
    for tp, replicas in sorted(finals.items()):
        readable = {}
        for name, replica in sorted(replicas.items()):
            if replica.error:
                result.add(DIVERGENT, f"{_name(tp)} on {name} could not be read: {replica.error}")
            else:
                readable[name] = replica
        if len(readable) < 2:
            continue
        common = min(r.end for r in readable.values())
        views = {name: {o: v for o, v in r.records.items() if o < common}
                 for name, r in readable.items()}  # fmt: skip
        (first_name, first), *others = views.items()
        for name, view in others:
            if view != first:
                offset = min(o for o in first.keys() | view.keys() if first.get(o) != view.get(o))
                result.add(DIVERGENT, f"{_name(tp)}@{offset}: {first_name} has "
                           f"{first.get(offset)!r}, {name} has {view.get(offset)!r} "
                           f"(below their common end {common})")  # fmt: skip


def _check_polls(
    ops: Sequence[Op], finals: dict[TP, dict[str, _Replica]], result: CheckResult
) -> None:
    data_offsets: dict[TP, list[int]] = {
        tp: sorted({o for r in replicas.values() for o in r.records})
        for tp, replicas in finals.items()
    }
    sessions: dict[tuple[str, TP], list[Op]] = collections.defaultdict(list)
    for op in ops:
        if op.kind is Kind.POLL and op.outcome is Outcome.OK and op.records:
            sessions[(op.session, op.tp)].append(op)
    for (session, tp), polls in sessions.items():
        polls.sort(key=lambda op: op.invoke)
        known = data_offsets.get(tp, [])
        previous: int | None = None
        for op in polls:
            for offset, _ in op.records:
                if previous is not None:
                    if offset <= previous:
                        result.add(POLL_BACKWARDS, f"{session} on {_name(tp)}: {previous} "
                                                   f"then {offset}")  # fmt: skip
                    else:
                        # The first data record after ``previous`` in the final reads.
                        i = bisect.bisect_right(known, previous)
                        if i < len(known) and known[i] < offset:
                            result.add(POLL_SKIP, f"{session} on {_name(tp)}: {previous} then "
                                                  f"{offset}, skipping {known[i]}")  # fmt: skip
                previous = offset


def _check_commits(ops: Sequence[Op], result: CheckResult) -> None:
    commits: dict[tuple[str, TP], list[Op]] = collections.defaultdict(list)
    reads: dict[tuple[str, TP], list[Op]] = collections.defaultdict(list)
    for op in ops:
        if op.outcome is not Outcome.OK:
            continue
        if op.kind is Kind.COMMIT:
            commits[(op.group, op.tp)].append(op)
        elif op.kind is Kind.COMMITTED:
            reads[(op.group, op.tp)].append(op)
    for key in commits.keys() | reads.keys():
        done = sorted(commits.get(key, []), key=lambda op: op.complete)
        completes = [op.complete for op in done]
        # The highest offset among the commits completed by each point in time.
        highest = list(_running_max(op.offset for op in done))
        group, tp = key
        for op in (*commits.get(key, []), *reads.get(key, [])):
            i = bisect.bisect_left(completes, op.invoke)
            if i and op.offset < highest[i - 1]:
                what = "commit of" if op.kind is Kind.COMMIT else "committed offset read as"
                result.add(COMMIT_BACKWARDS, f"group {group} {_name(tp)}: {what} {op.offset} "
                           f"after a commit of {highest[i - 1]} was acknowledged")  # fmt: skip


def _running_max(values: Iterable[int]) -> Iterable[int]:
    best: int | None = None
    for value in values:
        best = value if best is None else max(best, value)
        yield best


def _name(tp: TP) -> str:
    return f"{tp[0]}/{tp[1]}"
