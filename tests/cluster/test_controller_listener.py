"""The controller group's listener answers the writes waiting for their entry: at once
when it applies, and at once with NotController when a new leader's entry overtakes it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from logd.clock import SystemClock
from logd.cluster.controller.image import drain_record
from logd.cluster.controller.listener import ControllerListener
from logd.cluster.controller.records import encode_batch
from logd.cluster.controller.state import ControllerState
from logd.cluster.hardstate import HardStateJournal
from logd.cluster.partition_log import PartitionLog
from logd.cluster.raft_state import RaftStateFile
from logd.cluster.table import LeaderTable
from logd.errors import NotControllerError
from logd.metadata.types import BrokerMeta
from logd.storage import Log
from replication import Entry, EntryKind


def entry(first: int, last: int, term: int) -> Entry:
    data = encode_batch([drain_record(1, draining=True)], base_offset=first, term=term, now_ms=0)
    return Entry(term, first, last, EntryKind.NORMAL, bytes(data))


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[ControllerListener]:
    directory = tmp_path / "__cluster_metadata-0"
    log = Log.open(directory)
    journal = HardStateJournal(tmp_path)
    storage = PartitionLog(log, RaftStateFile(directory, journal), SystemClock())
    state = ControllerState(BrokerMeta(0, "127.0.0.1", 1), {}, LeaderTable(4500))
    yield ControllerListener(state, storage, snapshot_every=1 << 30)
    journal.close()
    log.close()


def test_a_write_is_answered_when_its_entry_applies(listener: ControllerListener) -> None:
    asyncio.run(answered(listener))


async def answered(listener: ControllerListener) -> None:
    waiting = listener.expect_apply(9, term=1)
    listener.on_apply([entry(0, 4, 1)])
    assert not waiting.done()
    listener.on_apply([entry(5, 9, 1)])
    assert waiting.done() and waiting.exception() is None


def test_a_write_overtaken_by_a_new_leader_fails_at_once(listener: ControllerListener) -> None:
    asyncio.run(overtaken(listener))


async def overtaken(listener: ControllerListener) -> None:
    # A 10,000-record write (offsets 8..10007) proposed in term 1; a new leader of term 2
    # cut it off and wrote its own entry at offset 8. Offset 10,007 may not end an entry
    # for a long time: the writer must hear now, not after WRITE_TIMEOUT_S (issue 21).
    old = listener.expect_apply(10_007, term=1)
    later = listener.expect_apply(12, term=2)
    listener.on_apply([entry(8, 8, 2)])
    assert old.done() and isinstance(old.exception(), NotControllerError)
    assert not later.done()  # a write of the new term still waits for its own entry
    listener.on_apply([entry(9, 12, 2)])
    assert later.done() and later.exception() is None
