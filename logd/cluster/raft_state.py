"""A Raft group's small side file: hard state, snapshot point and configuration history.

``raft-state.json`` in the group's log directory holds what the segment files cannot say:
the term and vote (Raft Figure 2's persistent state), the commit offset (persisted lazily:
on restart the core clamps it to the log), the term of the snapshot point -- the entry just
before the log start, which retention or a snapshot removed -- and the configurations
(``(offset, ConfState)``: the one in force at the snapshot point and every CONF_CHANGE
entry after it, as ``InitialState.conf_states`` wants them).

Writes: the driver :meth:`RaftStateFile.stage`\\ s a new state on the loop, and the storage
``Flusher`` thread writes it (tmp, fsync, rename, fsync the directory) in the same round as
the group's log fsync; the messages that depend on it leave only after that round.

With the broker's :class:`~logd.cluster.hardstate.HardStateJournal`, a state that differs
from the file's only in its hard state (a new term or vote: every election) goes to the
journal instead -- one fsync for every group of a round, not two per group. Records are
tied to an *incarnation*, one life of the group: a partition's comes from its topic's id
(in the metadata log, durable before the partition exists: a topic created again under
the same name has another), so the journal is trusted from the first vote and a new
partition needs no side file at all until its configuration or snapshot point moves (the
file's content is then derivable: :meth:`RaftStateFile.assume`). Without one (the
controller's group) the file keeps a random incarnation, and until a file naming it is
durable every state goes to the file. On load the newer hard state of the two wins (terms
only grow; a vote is only ever added).

Thread-safety: ``stage`` (loop) and ``flush`` (flusher thread) hand the bytes over under a
lock; ``load`` runs before the group starts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Final

from logd.cluster.hardstate import HardStateJournal
from logd.errors import KafkaStorageError
from logd.storage.files import Fsync, write_atomic
from logd.storage.io_errors import storage_error
from replication import ConfState, HardState

__all__ = ["STATE_FILE", "RaftState", "RaftStateFile"]

STATE_FILE: Final = "raft-state.json"
_VERSION: Final = 1
_MAX_BYTES: Final = 16 * 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class RaftState:
    """Everything the side file holds."""

    hard_state: HardState
    snapshot_offset: int
    snapshot_term: int
    confs: tuple[tuple[int, ConfState], ...]
    #: This life of the group's directory (ties the journal's records to it); None in
    #: files written before the journal.
    incarnation: int | None = None

    def same_but_hard_state(self, other: RaftState) -> bool:
        return (self.snapshot_offset, self.snapshot_term, self.confs) == (
            other.snapshot_offset,
            other.snapshot_term,
            other.confs,
        )


def _conf_json(conf: ConfState) -> dict[str, list[int]]:
    return {
        "voters": sorted(conf.voters),
        "voters_outgoing": sorted(conf.voters_outgoing),
        "learners": sorted(conf.learners),
        "learners_next": sorted(conf.learners_next),
    }


def _ids(value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not all(type(v) is int and v >= 0 for v in value):
        raise ValueError(f"not a list of node ids: {value!r}")
    return frozenset(value)


def encode(state: RaftState) -> bytes:
    hard = state.hard_state
    document = {
        "version": _VERSION,
        "term": hard.term,
        "vote": hard.vote,
        "commit": hard.commit,
        "snapshot_offset": state.snapshot_offset,
        "snapshot_term": state.snapshot_term,
        "confs": [[offset, _conf_json(conf)] for offset, conf in state.confs],
    }
    if state.incarnation is not None:
        document["incarnation"] = state.incarnation
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


def decode(data: bytes) -> RaftState:
    """Raises ValueError (or KeyError/TypeError) for anything that is not our file."""
    d = json.loads(data)
    if not isinstance(d, dict) or d.get("version") != _VERSION:
        raise ValueError("unknown raft state version")
    vote = d["vote"]
    ints = (d["term"], d["commit"], d["snapshot_offset"], d["snapshot_term"])
    if not all(type(v) is int for v in ints) or (vote is not None and type(vote) is not int):
        raise ValueError("term, vote, commit and snapshot point must be integers")
    confs = []
    for offset, conf in d["confs"]:
        if type(offset) is not int:
            raise ValueError("configuration offsets must be integers")
        confs.append(
            (
                offset,
                ConfState(
                    _ids(conf["voters"]),
                    _ids(conf["voters_outgoing"]),
                    _ids(conf["learners"]),
                    _ids(conf["learners_next"]),
                ),
            )
        )
    if [o for o, _ in confs] != sorted(o for o, _ in confs):
        raise ValueError("configurations out of order")
    incarnation = d.get("incarnation")
    if incarnation is not None and type(incarnation) is not int:
        raise ValueError("the incarnation must be an integer")
    hard = HardState(d["term"], vote, d["commit"])
    return RaftState(hard, ints[2], ints[3], tuple(confs), incarnation)


def newer(a: HardState, b: HardState) -> HardState:
    """The later of two hard states of one node (terms grow; within a term a vote is only
    ever added), with the larger commit (persisted lazily, clamped on restart anyway)."""
    later = a if (a.term, a.vote is not None) >= (b.term, b.vote is not None) else b
    return HardState(later.term, later.vote, max(a.commit, b.commit))


class RaftStateFile:
    """The side file of one group; a ``Flushable`` for the storage ``Flusher``."""

    def __init__(
        self,
        directory: Path,
        journal: HardStateJournal | None = None,
        *,
        incarnation: int | None = None,
    ) -> None:
        """``incarnation``: this life of the group, from something durable already (a
        partition's topic id); None: a random one, kept in the file."""
        self.path = directory / STATE_FILE
        self.name = directory.name
        #: The broker's hard-state journal, None to keep everything in this file.
        self.journal = journal
        self._external = incarnation is not None
        self.incarnation = incarnation if incarnation is not None else secrets.randbits(63)
        self._lock = threading.Lock()
        self._pending: bytes | None = None
        #: Generations: of the last state staged, of the one pending, of the last one
        #: durable (the Flusher's log end, and recovery point: a request made after a
        #: flush took the newest state needs no fsync of its own).
        self._staged = 0
        self._pending_gen = 0
        self._durable = 0
        #: What the file holds (or will, once flushed), on the loop's side.
        self._file_state: RaftState | None = None
        #: Our incarnation is durable (given, or in a flushed file): the journal may take
        #: hard states.
        self._incarnation_durable = self._external
        self._pending_incarnation = False
        self._journaled = False  # a hard state went to the journal since the last take

    @property
    def trusts_journal(self) -> bool:
        """Whether hard states may go to the journal now."""
        return self.journal is not None and self._incarnation_durable

    def journaled(self) -> HardState | None:
        """The journal's hard state of this incarnation (with no file: a group that voted
        before it ever needed one)."""
        if self.journal is None or not self._external:
            return None
        return self.journal.get(self.name, self.incarnation)

    def journal_again(self) -> None:
        """A round failed: the retry waits for the journal again (what this group staged
        there may be among the records it keeps for its next flush)."""
        if self.journal is not None:
            self._journaled = True

    def take_journaled(self) -> HardStateJournal | None:
        """The journal, if a hard state of ours went there since the last call (the
        driver then waits for the journal's fsync before this group's answers leave)."""
        journaled, self._journaled = self._journaled, False
        return self.journal if journaled else None

    def assume(self, state: RaftState) -> None:
        """The file would hold ``state`` (derivable without it): write only what differs."""
        self._file_state = state

    # The Flusher's Flushable protocol: generations of staged states (module doc above).
    @property
    def log_end_offset(self) -> int:
        return self._staged

    @property
    def recovery_point(self) -> int:
        return self._durable

    #: Everything a flush makes durable is counted by the generations.
    metadata_unsynced = False

    def load(self) -> RaftState | None:
        """The persisted state; None when there is none. KafkaStorageError if unreadable."""
        try:
            size = self.path.stat().st_size
            if size > _MAX_BYTES:
                raise ValueError(f"{size} bytes")
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KafkaStorageError(f"cannot read {self.path}: {exc}") from exc
        try:
            state = decode(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise KafkaStorageError(f"{self.path} is unreadable: {exc}") from exc
        self._file_state = state
        if not self._external:
            if state.incarnation is None:
                return state  # written before the journal: the next stage rewrites it
            self.incarnation = state.incarnation
            self._incarnation_durable = True
        journaled = self.journal.get(self.name, self.incarnation) if self.journal else None
        if journaled is not None:
            state = dataclasses.replace(state, hard_state=newer(state.hard_state, journaled))
        return state

    def stage(self, state: RaftState) -> None:
        """Remember ``state`` for the next flush (a later stage supersedes an earlier one):
        in the journal when only the hard state changed and the journal may be trusted."""
        held = self._file_state
        if self.trusts_journal and held is not None and state.same_but_hard_state(held):
            assert self.journal is not None
            self.journal.stage(self.name, self.incarnation, state.hard_state)
            self._journaled = True
            return
        state = dataclasses.replace(state, incarnation=self.incarnation)
        self._file_state = state
        data = encode(state)
        with self._lock:
            self._pending = data
            self._pending_incarnation = True
            self._staged += 1
            self._pending_gen = self._staged

    @property
    def dirty(self) -> bool:
        with self._lock:
            return self._pending is not None

    def flush(self, fsync: Fsync = os.fdatasync) -> int:
        with self._lock:
            data, self._pending = self._pending, None
            names_incarnation, self._pending_incarnation = self._pending_incarnation, False
            generation = self._pending_gen
        if data is not None:
            try:
                write_atomic(self.path, data, fsync=fsync)
            except FileNotFoundError:
                return self._durable  # the group's directory was deleted meanwhile
            except OSError as exc:
                # The old file is intact (write_atomic); keep the state for the next try
                # unless a newer one was staged meanwhile.
                with self._lock:
                    if self._pending is None:
                        self._pending = data
                        self._pending_incarnation = names_incarnation
                        self._pending_gen = generation
                raise storage_error("writing the Raft state", exc, self.path) from exc
            with self._lock:
                self._durable = max(self._durable, generation)
            if names_incarnation:
                self._incarnation_durable = True
        return self._durable
