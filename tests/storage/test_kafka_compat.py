"""Segment files are plain Kafka: batches built by kafka-python, appended through the log,
decode from the ``.log`` file with kafka-python's reader, stamped with our offsets/epochs."""

from __future__ import annotations

import warnings
from pathlib import Path

from logd.clock import ManualClock
from logd.storage import Log, LogConfig

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder


def kafka_batch(first: int, count: int, compression: int) -> bytes:
    builder = MemoryRecordsBuilder(magic=2, compression_type=compression, batch_size=1 << 20)
    for n in range(first, first + count):
        builder.append(
            timestamp=1_700_000_000_000 + n,
            key=b"key-%d" % n if n % 3 else None,
            value=b"value-%d " % n * 20,
            headers=[("n", str(n).encode())],
        )
    builder.close()
    return bytes(builder.buffer())


def test_a_segment_written_by_logd_decodes_with_kafka_python(
    tmp_path: Path, clock: ManualClock
) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=4096), clock)
    sent = 0
    for index in range(12):
        count = 1 + index % 4
        log.append(kafka_batch(sent, count, compression=0 if index % 2 else 3), 1 + index // 5)
        sent += count
    log.close()
    decoded = []
    for path in sorted((tmp_path / "t-0").glob("*.log")):
        records = MemoryRecords(path.read_bytes())
        while records.has_next():
            batch = records.next_batch()
            assert batch.validate_crc()
            decoded.extend(
                (r.offset, batch.leader_epoch, r.timestamp, r.key, r.value, r.headers)
                for r in batch
            )
    assert len(list((tmp_path / "t-0").glob("*.log"))) > 1
    assert [row[0] for row in decoded] == list(range(sent))
    for offset, epoch, timestamp, key, value, headers in decoded:
        assert timestamp == 1_700_000_000_000 + offset
        assert key == (b"key-%d" % offset if offset % 3 else None)
        assert value == b"value-%d " % offset * 20
        assert headers == [("n", str(offset).encode())]
        assert epoch >= 1


def test_a_log_built_with_our_codec_decodes_with_kafka_python_to_the_same_records(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Issue 2's "done when": logd's own producer-side codec, through the log, to disk, read
    back by an independent Kafka decoder."""
    from logd.records import BatchBuilder, Compression

    log = Log.open(tmp_path / "t-1", LogConfig(segment_bytes=1024), clock)
    expected = []
    offset = 0
    for index in range(10):
        codec = Compression.LZ4 if index % 2 else Compression.NONE
        builder = BatchBuilder(compression=codec)
        for n in range(1 + index % 3):
            key = None if n == 1 else b"k-%d-%d" % (index, n)
            value = None if (index, n) == (3, 0) else b"payload %d/%d " % (index, n) * 30
            headers = [("trace", b"t-%d" % index), ("empty", None)]
            builder.append(1_700_000_000_000 + offset, key, value, headers)
            expected.append((offset, 1_700_000_000_000 + offset, key, value, headers))
            offset += 1
        log.append(builder.build(), leader_epoch=3)
    log.close()
    decoded = []
    for path in sorted((tmp_path / "t-1").glob("*.log")):
        records = MemoryRecords(path.read_bytes())
        while records.has_next():
            batch = records.next_batch()
            assert batch.validate_crc()
            assert batch.leader_epoch == 3
            decoded.extend((r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch)
    assert len(list((tmp_path / "t-1").glob("*.log"))) > 1
    assert decoded == expected


def test_timestamp_lookup_names_the_exact_record_inside_a_batch(
    tmp_path: Path, clock: ManualClock
) -> None:
    """ListOffsets by time answers at record precision, as Kafka does, not batch precision."""
    from logd.records import BatchBuilder

    log = Log.open(tmp_path / "t-2", LogConfig(), clock)
    for batch_index in range(3):
        builder = BatchBuilder()
        for n in range(10):
            builder.append(1_000 * batch_index + 10 * n, None, b"v")
        log.append(builder.build(), leader_epoch=0)
    # Batch 1 holds offsets 10..19 with timestamps 1000, 1010, ... 1090.
    found = log.offset_for_timestamp(1_035)
    assert found is not None
    assert (found.offset, found.timestamp) == (14, 1_040)
    exact = log.offset_for_timestamp(1_000)
    assert exact is not None and exact.offset == 10
    assert log.offset_for_timestamp(2_091) is None
    assert log.offset_for_timestamp(1_035, max_offset=14) is None
    log.close()
