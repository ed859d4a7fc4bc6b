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

Thread-safety: ``stage`` (loop) and ``flush`` (flusher thread) hand the bytes over under a
lock; ``load`` runs before the group starts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from pathlib import Path
from typing import Any, Final

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
    return RaftState(HardState(d["term"], vote, d["commit"]), ints[2], ints[3], tuple(confs))


class RaftStateFile:
    """The side file of one group; a ``Flushable`` for the storage ``Flusher``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE
        self._lock = threading.Lock()
        self._pending: bytes | None = None
        self._written = 0

    # The Flusher's Flushable protocol: a request completes when flush() has run.
    @property
    def log_end_offset(self) -> int:
        return self._written

    @property
    def recovery_point(self) -> int:
        return self._written

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
            return decode(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise KafkaStorageError(f"{self.path} is unreadable: {exc}") from exc

    def stage(self, state: RaftState) -> None:
        """Remember ``state`` for the next flush (a later stage supersedes an earlier one)."""
        data = encode(state)
        with self._lock:
            self._pending = data

    @property
    def dirty(self) -> bool:
        with self._lock:
            return self._pending is not None

    def flush(self, fsync: Fsync = os.fdatasync) -> int:
        with self._lock:
            data, self._pending = self._pending, None
        if data is not None:
            try:
                write_atomic(self.path, data, fsync=fsync)
            except FileNotFoundError:
                return self._written  # the group's directory was deleted meanwhile
            except OSError as exc:
                # The old file is intact (write_atomic); keep the state for the next try
                # unless a newer one was staged meanwhile.
                with self._lock:
                    if self._pending is None:
                        self._pending = data
                raise storage_error("writing the Raft state", exc, self.path) from exc
            self._written += 1
        return self._written

    def write_now(self, state: RaftState) -> None:
        """Write synchronously (group creation, retention): rare, off the hot path."""
        self.stage(state)
        self.flush(os.fsync)
