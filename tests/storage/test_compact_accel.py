"""The C cleaner (``logd.storage._compact`` through ``logd.storage.cscan``) against the
pure-Python reference: random keyed logs -- tombstones, keyless records, headers, codecs,
LogAppendTime, control batches, producers' batches -- cleaned by both with maps of the same
capacity, in several rounds, must leave byte-identical segment files and checkpoints."""

from __future__ import annotations

import os
import shutil
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path
from random import Random

import crc32c
import mmh3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logd.clock import ManualClock
from logd.errors import CorruptRecordError
from logd.records.builder import BatchBuilder, TimestampType
from logd.records.control import build_control_batch
from logd.records.header import HEADER_SIZE
from logd.storage import Log, LogConfig, cscan
from logd.storage.cleaner import CHECKPOINT_NAME, clean_log
from logd.storage.offset_map import OffsetMap, TableOffsetMap
from logd.storage.throttle import Throttler
from tests.storage.batches import BASE_TS
from tests.storage.compaction import SENTINEL, keyed_batch

_compact = cscan.native("c") if "c" in cscan.IMPLEMENTATIONS else None


def test_the_c_cleaner_is_built() -> None:
    """`make dev` builds logd.storage._compact, as it builds _speedups (both need the C
    compiler the set-up installs); the tests below run it, never skip it."""
    assert _compact is not None, "logd.storage._compact was not built: re-run `make dev`"


KEYS = [b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"]
CONFIG = LogConfig(
    cleanup_policy="compact", segment_bytes=700, index_interval_bytes=128,
    delete_retention_ms=60_000,
)  # fmt: skip


def test_the_cleaner_accelerator_is_built_where_a_compiler_is() -> None:
    # As tests/records/test_record.py asks of logd.records._speedups: a build that broke
    # quietly would leave the cleaner 10x slower and its C path untested.
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    if shutil.which("cc") and headers.exists():
        assert "c" in cscan.IMPLEMENTATIONS
    assert "python" in cscan.IMPLEMENTATIONS


def test_the_scan_statuses_are_the_c_modules() -> None:
    assert _compact is not None
    names = (
        "END", "COMPRESSED", "MAP_FULL", "BAD_CRC", "BAD_LENGTH", "CORRUPT", "TOO_SMALL",
        "OUT_FULL", "TRUNCATED", "TOO_BIG",
    )  # fmt: skip
    assert [getattr(_compact, n) for n in names] == list(cscan.STATUSES)


@given(st.binary(max_size=100))
def test_the_c_digest_and_crc_are_mmh3_and_crc32c(data: bytes) -> None:
    assert _compact is not None
    assert int.from_bytes(_compact.digest(data), "little") == mmh3.hash128(data)
    assert _compact.crc32c(data) == crc32c.crc32c(data)


@given(st.integers(0, 40_000), st.randoms(use_true_random=False))
def test_the_interleaved_crc_joins_its_streams_at_every_length(size: int, rng: Random) -> None:
    """Lengths across the 3 x 256 and 3 x 4096 byte blocks of the three-stream CRC."""
    assert _compact is not None
    data = rng.randbytes(size)
    assert _compact.crc32c(data) == crc32c.crc32c(data)


def _region(pairs: list[tuple[bytes | None, bytes | None]]) -> bytes:
    return bytes(keyed_batch(pairs)[HEADER_SIZE:])


def test_the_table_map_keeps_the_last_offset_of_each_key_and_counts_its_room() -> None:
    assert _compact is not None
    offset_map = TableOffsetMap(TableOffsetMap.bytes_for(5), _compact)
    assert offset_map.capacity == 5 and offset_map.room_for(5) and not offset_map.room_for(6)
    region = _region([(b"a", b"1"), (None, b"2"), (b"b", b"3"), (b"a", None)])
    offset_map.entries = _compact.map_records(
        region, 4, 10, offset_map.table, offset_map.entries, CorruptRecordError
    )
    assert (offset_map.get(b"a"), offset_map.get(b"b"), offset_map.get(b"c")) == (13, 12, -1)
    assert len(offset_map) == 2
    with pytest.raises(CorruptRecordError):
        _compact.map_records(region[:-1], 4, 10, offset_map.table, 0, CorruptRecordError)
    offset_map.clear()
    assert len(offset_map) == 0 and offset_map.get(b"a") == -1


# -- the two cleaners on the same logs -------------------------------------------------------

Pair = tuple[bytes | None, bytes | None]

pairs = st.lists(
    st.tuples(
        st.sampled_from([*KEYS, None]) | st.sampled_from(KEYS),
        st.none() | st.binary(min_size=0, max_size=20),
    ),
    min_size=1,
    max_size=6,
)
batches = st.one_of(
    st.tuples(st.just("data"), pairs, st.sampled_from([0, 0, 0, 1, 3]),
              st.sampled_from([None, 1, 2]), st.booleans(), st.booleans()),
    st.tuples(st.just("control"), st.just([]), st.just(0), st.none(), st.just(False),
              st.just(False)),
)  # fmt: skip
rounds = st.lists(
    st.tuples(
        st.lists(batches, min_size=1, max_size=25),
        st.sampled_from([6, 10, 30, 1000]),  # map capacity (keys)
        st.booleans(),  # tombstones past delete.retention.ms
    ),
    min_size=1,
    max_size=3,
)


def _batch(spec: tuple[object, ...], sequences: dict[int, int], now_ms: int) -> bytearray:
    kind, batch_pairs, codec, producer, append_time, headers = spec
    if kind == "control":
        return bytearray(build_control_batch(2, b"\x00\x00\x00\x00\x00\x01", timestamp=now_ms))
    assert isinstance(batch_pairs, list) and isinstance(codec, int)
    pid, seq = (producer, sequences.get(producer, 0)) if isinstance(producer, int) else (-1, -1)
    builder = BatchBuilder(
        compression=codec, producer_id=pid, producer_epoch=0 if pid >= 0 else -1,
        base_sequence=seq,
        timestamp_type=TimestampType.LOG_APPEND_TIME if append_time else TimestampType.CREATE_TIME,
        log_append_time=now_ms if append_time else None,
    )  # fmt: skip
    for i, (key, value) in enumerate(batch_pairs):
        builder.append(now_ms - 1000 + i * 7 % 5, key, value, (("h", b"x"),) if headers else ())
    if pid >= 0:
        sequences[pid] = seq + len(batch_pairs)
    return bytearray(builder.build())


def _files(directory: Path) -> dict[str, bytes]:
    """The segment files and the cleaner's checkpoint, by name."""
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.suffix == ".log" or p.name == CHECKPOINT_NAME
    }


IMPLEMENTATION = {"c": "c", "py": "python"}
MAP: dict[str, type[OffsetMap] | type[TableOffsetMap]] = {"c": TableOffsetMap, "py": OffsetMap}


def _check_both_clean_the_same(plan: list[tuple[list[tuple[object, ...]], int, bool]]) -> None:
    clock = ManualClock(BASE_TS)
    sequences: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="logd-accel-") as tmp:
        logs = {name: Log.open(Path(tmp, f"{name}-0"), CONFIG, clock) for name in ("c", "py")}
        try:
            for step, (specs, capacity, past_retention) in enumerate(plan):
                for spec in specs:
                    batch = _batch(spec, sequences, clock.now_ms())
                    for log in logs.values():
                        log.append(bytearray(batch), 1 + step)
                    clock.advance(3)
                for log in logs.values():
                    log.roll()
                    log.append(keyed_batch([(SENTINEL, b"")], timestamp=clock.now_ms()), 1 + step)
                    log.flush()
                    stamp = (BASE_TS + step * 1000) * 1_000_000
                    for path in log.directory.glob("*.log"):
                        os.utime(path, ns=(stamp, stamp))
                now = BASE_TS + step * 1000 + (120_000 if past_retention else 0)
                results = {
                    name: clean_log(
                        log,
                        now_ms=now,
                        implementation=IMPLEMENTATION[name],
                        map_bytes=MAP[name].bytes_for(capacity),
                    )
                    for name, log in logs.items()
                }
                assert results["c"] == results["py"]
                assert _files(logs["c"].directory) == _files(logs["py"].directory)
        finally:
            for log in logs.values():
                log.close()


def _property(examples: int) -> Callable[[], None]:
    @settings(
        max_examples=examples, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )  # fmt: skip
    @given(rounds)
    def check(plan: list[tuple[list[tuple[object, ...]], int, bool]]) -> None:
        _check_both_clean_the_same(plan)

    return check


test_the_c_and_python_cleaners_write_byte_identical_segments = _property(30)
test_the_c_and_python_cleaners_write_byte_identical_segments_soak = pytest.mark.soak(
    _property(2000)
)


def test_both_cleaners_agree_past_the_c_calls_window_output_and_budget() -> None:
    """Where one C call must stop and be called again: a batch larger than its 1 MiB
    window, more output batches than one call hands back (4,096), and a throttled clean
    (one window a call, paced); the reference with no throttle cleans the same bytes."""
    clock = ManualClock(BASE_TS)
    config = LogConfig(cleanup_policy="compact", segment_bytes=64 << 20, max_message_bytes=4 << 20)
    with tempfile.TemporaryDirectory(prefix="logd-accel-") as tmp:
        logs = {name: Log.open(Path(tmp, f"{name}-0"), config, clock) for name in ("c", "py")}
        try:
            batches = [keyed_batch([(b"k%05d" % i, b"v")]) for i in range(5000)]
            batches.insert(2000, keyed_batch([(b"big", os.urandom(1_500_000))]))
            batches.append(keyed_batch([(b"k00007", b"w"), (b"big", None)]))
            for log in logs.values():
                for batch in batches:
                    log.append(bytearray(batch), 1)
                log.roll()
                log.append(keyed_batch([(SENTINEL, b"")]), 1)
                log.flush()
                for path in log.directory.glob("*.log"):
                    os.utime(path, ns=(BASE_TS * 1_000_000, BASE_TS * 1_000_000))
            slept: list[float] = []
            throttle = Throttler(5e6, clock=lambda: sum(slept), sleep=slept.append)
            c = clean_log(
                logs["c"], map_bytes=1 << 20, now_ms=BASE_TS, implementation="c",
                throttler=throttle,
            )  # fmt: skip
            py = clean_log(logs["py"], map_bytes=1 << 20, now_ms=BASE_TS, implementation="python")
            assert c == py and c[0].records_removed == 2
            assert throttle.pauses >= 4  # two passes over ~1.9 MB, paced a window at a time
            assert _files(logs["c"].directory) == _files(logs["py"].directory)
        finally:
            for log in logs.values():
                log.close()
