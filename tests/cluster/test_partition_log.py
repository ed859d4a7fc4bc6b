"""The partition-log adapter over a real storage ``Log`` in a tmp dir."""

from __future__ import annotations

from pathlib import Path

from logd.clock import SystemClock
from logd.cluster.partition_log import PartitionLog
from logd.cluster.raft_state import RaftStateFile
from logd.records.builder import BatchBuilder, build_value_batch
from logd.records.control import log_start_batch, log_start_in
from logd.records.decoder import decode_records
from logd.records.header import stamp
from logd.storage import Log
from logd.storage.cleaner import clean_log
from logd.storage.rewrite import empty_batch
from replication import (
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Ready,
    Snapshot,
    SnapshotMeta,
)

CONF = ConfState.of([0, 1, 2])


def _batch(base: int, term: int, *values: bytes) -> bytearray:
    return bytearray(
        build_value_batch(list(values), 1_000, base_offset=base, partition_leader_epoch=term)
    )


def _ready(
    entries: list[Entry],
    *,
    truncate_to: int | None = None,
    hard: HardState | None = None,
    snapshot: Snapshot | None = None,
) -> Ready:
    return Ready(None, hard, snapshot, truncate_to, entries, [], -1, [], [], True)


def _open(path: Path) -> PartitionLog:
    return PartitionLog(Log.open(path), RaftStateFile(path), SystemClock(), initial_conf=CONF)


def _log_with_terms(tmp_path: Path) -> PartitionLog:
    p = _open(tmp_path / "t-0")
    p.write(
        _ready(
            [
                Entry(1, 0, 0, EntryKind.LEADER_CHANGE, b""),
                Entry(1, 1, 2, EntryKind.NORMAL, _batch(1, 1, b"a", b"b")),
                Entry(2, 3, 3, EntryKind.LEADER_CHANGE, b""),
                Entry(2, 4, 4, EntryKind.NORMAL, _batch(4, 2, b"c")),
                Entry(4, 5, 5, EntryKind.CONF_CHANGE, ConfState.of([0, 1]).encode()),
            ],
            hard=HardState(4, 0, 3),
        )
    )
    return p


def test_a_fresh_log_is_an_empty_raft_log_with_the_initial_configuration(tmp_path: Path) -> None:
    p = _open(tmp_path / "t-0")
    assert (p.first_offset(), p.last_offset(), p.term_at(-1)) == (0, -1, 0)
    state = p.initial_state()
    assert state.hard_state == HardState() and state.conf_states == ((-1, CONF),)
    assert p.snapshot().meta == SnapshotMeta(-1, 0, CONF)


def test_entries_come_back_as_written_with_raft_entries_as_control_batches(
    tmp_path: Path,
) -> None:
    p = _log_with_terms(tmp_path)
    got = p.entries(0, 5, 1 << 20)
    assert [(e.term, e.base_offset, e.last_offset, e.kind) for e in got] == [
        (1, 0, 0, EntryKind.LEADER_CHANGE),
        (1, 1, 2, EntryKind.NORMAL),
        (2, 3, 3, EntryKind.LEADER_CHANGE),
        (2, 4, 4, EntryKind.NORMAL),
        (4, 5, 5, EntryKind.CONF_CHANGE),
    ]
    assert bytes(got[1].data) == bytes(_batch(1, 1, b"a", b"b"))  # stored bytes, unchanged
    assert ConfState.decode(got[4].data) == ConfState.of([0, 1])
    # Consumers see the records only: control batches are skipped.
    data = p.log.read(0, 1 << 20)
    assert [r.value for r in decode_records(data)] == [b"a", b"b", b"c"]
    # From the entry *holding* an offset; at least one entry even past max_bytes.
    assert [e.base_offset for e in p.entries(2, 3, 1 << 20)] == [1, 3]
    assert len(p.entries(1, 5, 0)) == 1


def test_terms_come_from_the_epoch_cache(tmp_path: Path) -> None:
    p = _log_with_terms(tmp_path)
    assert [p.term_at(o) for o in range(-1, 6)] == [0, 1, 1, 1, 2, 2, 4]
    assert p.last_offset_for_term(0) == -1
    assert p.last_offset_for_term(1) == 2
    assert p.last_offset_for_term(3) == 4
    assert p.last_offset_for_term(9) == 5


def test_truncation_drops_the_suffix_and_its_configurations(tmp_path: Path) -> None:
    p = _log_with_terms(tmp_path)
    assert p.confs[-1][0] == 5
    p.write(_ready([Entry(3, 3, 3, EntryKind.LEADER_CHANGE, b"")], truncate_to=3))
    assert p.last_offset() == 3 and p.term_at(3) == 3
    assert p.confs == [(-1, CONF)]


def test_the_side_file_restores_hard_state_and_configurations(tmp_path: Path) -> None:
    p = _log_with_terms(tmp_path)
    p.state_file.flush()
    p.log.close()
    again = _open(tmp_path / "t-0")
    state = again.initial_state()
    assert state.hard_state == HardState(4, 0, 3)
    assert state.conf_states == ((-1, CONF), (5, ConfState.of([0, 1])))
    assert not again.fresh and not again.lost_data


def test_a_snapshot_resets_the_log_and_remembers_its_term(tmp_path: Path) -> None:
    p = _log_with_terms(tmp_path)
    snap = Snapshot(SnapshotMeta(99, 7, ConfState.of([0, 1, 2])))
    p.write(_ready([], snapshot=snap))
    assert (p.first_offset(), p.last_offset(), p.term_at(99)) == (100, 99, 7)
    assert p.last_offset_for_term(6) is None and p.last_offset_for_term(7) == 99
    assert p.snapshot().meta == snap.meta
    p.state_file.flush()
    p.log.close()
    again = _open(tmp_path / "t-0")
    assert (again.first_offset(), again.term_at(99)) == (100, 7)


def test_retention_keeps_the_term_of_the_new_snapshot_point(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    p = _log_with_terms(tmp_path)
    p.log.roll()
    p.write(_ready([Entry(4, 6, 6, EntryKind.NORMAL, _batch(6, 4, b"d"))]))
    before = p.log.epoch_entries()
    p.log.delete_records_before(6)
    p.log_start_moved(before)
    assert (p.first_offset(), p.term_at(5)) == (6, 4)
    assert p.conf_at(5) == ConfState.of([0, 1])
    assert path.exists()


def test_a_log_cut_below_its_persisted_commit_reports_lost_data(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    p = _log_with_terms(tmp_path)
    p.state_file.flush()
    p.log.truncate_to(3)  # as if the disk lost the tail the commit (3) covered
    p.log.close()
    assert _open(path).lost_data


def test_a_state_machine_snapshot_compacts_the_log_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m-0"
    snap = path / "metadata.snapshot"
    p = PartitionLog(Log.open(path), RaftStateFile(path), SystemClock(), initial_conf=CONF,
                     snapshot_file=snap)  # fmt: skip
    p.write(
        _ready(
            [Entry(1, 0, 0, EntryKind.LEADER_CHANGE, b"")]
            + [Entry(1, i, i, EntryKind.NORMAL, _batch(i, 1, b"r%d" % i)) for i in range(1, 9)],
            hard=HardState(1, 0, 8),
        )
    )
    p.log.roll()
    p.write(_ready([Entry(1, 9, 9, EntryKind.NORMAL, _batch(9, 1, b"r9"))]))
    p.compact(8, b"image@8")
    assert (p.first_offset(), p.term_at(8), p.snapshot().data) == (9, 1, b"image@8")
    assert [e.base_offset for e in p.entries(9, 9, 1 << 20)] == [9]
    p.state_file.flush()
    p.log.close()
    again = PartitionLog(Log.open(path), RaftStateFile(path), SystemClock(), initial_conf=CONF,
                         snapshot_file=snap)  # fmt: skip
    assert again.snapshot().meta.offset == 8 and again.snapshot().data == b"image@8"
    assert again.first_offset() == 9


def test_a_flipped_bit_in_a_sealed_segment_is_found_at_its_batch(tmp_path: Path) -> None:
    from logd.cluster.damage import find_damage

    p = _log_with_terms(tmp_path)
    p.log.roll()
    p.write(_ready([Entry(4, 6, 6, EntryKind.NORMAL, _batch(6, 4, b"d"))]))
    assert find_damage(p.log) is None
    p.state_file.flush()
    p.log.close()
    first = tmp_path / "t-0" / "00000000000000000000.log"
    data = bytearray(first.read_bytes())
    position = len(data) - 30  # inside the last batch of the sealed segment (offset 5)
    data[position] ^= 0x01
    first.write_bytes(bytes(data))
    damaged = _open(tmp_path / "t-0")
    assert find_damage(damaged.log) == 5


def _keyed(base: int, term: int, *pairs: tuple[bytes, bytes]) -> bytearray:
    builder = BatchBuilder(base_offset=base, partition_leader_epoch=term)
    for key, value in pairs:
        builder.append(1_000, key, value)
    return bytearray(builder.build())


def test_offsets_the_cleaner_removed_go_to_followers_as_empty_batches_one_per_term(
    tmp_path: Path,
) -> None:
    leader = _open(tmp_path / "leader-0")
    entries = [
        Entry(1, 0, 0, EntryKind.LEADER_CHANGE, b""),
        Entry(1, 1, 2, EntryKind.NORMAL, _keyed(1, 1, (b"a", b"1"), (b"b", b"1"))),
        Entry(2, 3, 3, EntryKind.LEADER_CHANGE, b""),
        Entry(2, 4, 4, EntryKind.NORMAL, _keyed(4, 2, (b"a", b"2"))),
        Entry(2, 5, 5, EntryKind.NORMAL, _keyed(5, 2, (b"b", b"2"))),
    ]
    leader.write(_ready(entries, hard=HardState(2, 0, 5)))
    leader.log.roll()
    leader.write(_ready([Entry(2, 6, 6, EntryKind.NORMAL, _keyed(6, 2, (b"c", b"1")))]))
    leader.log.flush()
    clean_log(leader.log, map_bytes=1 << 20, now_ms=1_000)  # [1, 2] goes: a and b came again
    got = [*leader.entries(1, 6, 1 << 20), *leader.entries(6, 6, 1 << 20)]  # a read per segment
    assert [(e.term, e.base_offset, e.last_offset, e.kind) for e in got] == [
        (1, 1, 2, EntryKind.NORMAL),  # an empty batch where the cleaned batch was
        (2, 3, 3, EntryKind.LEADER_CHANGE),
        (2, 4, 4, EntryKind.NORMAL),
        (2, 5, 5, EntryKind.NORMAL),
        (2, 6, 6, EntryKind.NORMAL),
    ]
    assert list(decode_records(bytes(got[0].data))) == []
    follower = _open(tmp_path / "follower-0")
    follower.write(_ready([Entry(1, 0, 0, EntryKind.LEADER_CHANGE, b""), *got]))
    assert follower.last_offset() == 6 and [follower.term_at(o) for o in range(7)] == [
        1, 1, 1, 2, 2, 2, 2,
    ]  # fmt: skip
    values = [r.value for r in decode_records(follower.log.read(0, 1 << 20))]
    assert values == [b"2", b"2", b"1"]  # one segment here: one read
    first = leader.entries(2, 6, 1 << 20)[0]  # from inside the gap too
    assert (first.base_offset, first.last_offset, first.term) == (2, 2, 1)


def test_a_cut_right_after_offsets_the_cleaner_removed_takes_the_new_leaders_entry(
    tmp_path: Path,
) -> None:
    """Issue 24, the fault run's ``PartitionLog.append`` assertion (seed 3, a compacted
    topic): a follower's sealed segment ends with an empty batch its leader sent for
    cleaned offsets; its own cleaner drops it; a new leader's entry then conflicts with the
    first uncommitted one, right after. The cut must leave the log ending there, so the
    Ready's entry is appended (it ended below the hole, and the write asserted)."""
    follower = _open(tmp_path / "follower-0")
    follower.write(
        _ready(
            [
                Entry(1, 0, 0, EntryKind.LEADER_CHANGE, b""),
                Entry(1, 1, 2, EntryKind.NORMAL, empty_batch(1, 2, 1)),
            ]
        )
    )
    follower.log.roll()
    follower.write(_ready([Entry(1, 3, 3, EntryKind.NORMAL, _keyed(3, 1, (b"a", b"1")))]))
    follower.log.flush()
    clean_log(follower.log, map_bytes=1 << 20, now_ms=1_000)  # the empty batch goes
    new = Entry(2, 3, 3, EntryKind.NORMAL, _keyed(3, 2, (b"a", b"2")))
    follower.write(_ready([new], truncate_to=3))
    assert (follower.last_offset(), follower.term_at(3)) == (3, 2)
    (got,) = follower.entries(3, 3, 1 << 20)
    assert (got.base_offset, got.term, bytes(got.data)) == (3, 2, bytes(new.data))


def test_a_log_start_record_travels_as_the_stored_batch_it_is(tmp_path: Path) -> None:
    """DeleteRecords' LOG_START control batch is proposed as a batch: read back for a
    follower it is that batch (a NORMAL entry), not one of Raft's own control entries."""
    p = _log_with_terms(tmp_path)
    batch = bytearray(log_start_batch(2))
    stamp(batch, 6, 4)
    p.write(_ready([Entry(4, 6, 6, EntryKind.NORMAL, batch)]))
    (entry,) = p.entries(6, 6, 1 << 20)
    assert (entry.kind, bytes(entry.data)) == (EntryKind.NORMAL, bytes(batch))
    assert log_start_in(entry.data) == 2 and log_start_in(p.entries(1, 1, 1 << 20)[0].data) is None
    assert [r.value for r in decode_records(p.log.read(0, 1 << 20))] == [b"a", b"b", b"c"]
