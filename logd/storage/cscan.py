"""The cleaner's two loops over segment files -- map the keys, rewrite the batches -- through
the C accelerator ``logd.storage._compact`` (issue 16's speed goal).

The pure-Python loops in :mod:`logd.storage.compactor` are the reference: the same rule,
and ``tests/storage/test_compact_accel.py`` checks that both write byte-identical segments.
Here a whole segment goes to one C call that runs with the GIL released (so appends on
other threads go on meanwhile): it reads the file in windows of about 1 MiB into a buffer
reused by every pass, CRC-checks every whole batch, maps or filters its records, and stops
at the first batch it cannot handle alone -- a compressed one, which Python decompresses
and hands back to C as a records region; a damaged one, which stops the pass as in the
reference.  With an I/O limit a call reads one window, so the throttle paces every window.
Python's work is per segment and per batch written (``Segment.append`` keeps the
indexes), never per record.

``native()`` is the C module, or None when it is not built (no compiler at install time) or
``LOGD_PURE_PYTHON=1`` asks for the reference (as ``logd.records.accel`` does).

Runs in the cleaner's thread; the buffers are per thread.
"""

from __future__ import annotations

import importlib
import os
import threading
from array import array
from types import ModuleType
from typing import TYPE_CHECKING, Final, NoReturn

from logd.errors import CorruptRecordError, KafkaStorageError
from logd.records.compression import decompress
from logd.records.header import CODEC_MASK, HEADER_SIZE, LOG_OVERHEAD
from logd.storage.offset_map import TableOffsetMap
from logd.storage.rewrite import HEADER, rebuilt
from logd.storage.throttle import UNLIMITED, Throttler

if TYPE_CHECKING:
    from logd.storage.compactor import PassResult, _Keeper
    from logd.storage.segment import Segment
    from logd.storage.swap import SourceSegment

__all__ = [
    "IMPLEMENTATIONS",
    "STATUSES",
    "build_map",
    "damaged",
    "native",
    "producers_last_batches",
    "write_group",
]

_WINDOW: Final = 1 << 20
_MAX_UNCOMPRESSED: Final = 256 << 20
_META: Final = 4  # int64s a batch in filter_file's metas: base, last, max timestamp, size

_compact: ModuleType | None
try:
    _compact = importlib.import_module("logd.storage._compact")
except ImportError:  # no compiler at install time: the reference it is
    _compact = None

#: The cleaners built here: "python" always, "c" where the compiler was.
IMPLEMENTATIONS: Final = ("python",) if _compact is None else ("c", "python")


def native(implementation: str | None = None) -> ModuleType | None:
    """The C module to clean with, None for the pure-Python reference: ``implementation``
    "c" (KeyError when it is not built), "python", or None for the default."""
    if implementation == "python" or (
        implementation is None and os.environ.get("LOGD_PURE_PYTHON", "") not in ("", "0")
    ):
        return None
    if implementation == "c" and _compact is None:
        raise KeyError("the C cleaner (logd.storage._compact) is not built")
    return _compact


#: Why a C call stopped (``logd.storage._compact``'s constants, checked by a test).
STATUSES: Final = tuple(range(10))
(
    _END, _COMPRESSED, _MAP_FULL, _BAD_CRC, _BAD_LENGTH, _CORRUPT, _TOO_SMALL, _OUT_FULL,
    _TRUNCATED, _TOO_BIG,
) = STATUSES  # fmt: skip
#: Budget of one C call when no I/O limit applies: the whole segment.
_NO_BUDGET: Final = 1 << 62
#: Batches one filter call may write before Python appends them (4 int64s each).
_METAS: Final = 4096


class _Buffers(threading.local):
    """The window and the output buffers, one set per thread, reused by every pass (a
    fresh 1 MiB buffer a segment costs page faults on each first touch)."""

    def __init__(self) -> None:
        self.window = bytearray(_WINDOW)
        self.out = bytearray(_WINDOW)
        self.metas = array("q", bytes(8 * _META * _METAS))


_buffers = _Buffers()


def _budget(throttle: Throttler) -> int:
    """Bytes one C call may read: a window when throttled (it paces every window)."""
    return _NO_BUDGET if throttle.rate == UNLIMITED else _WINDOW


def _size(window: bytearray, at: int) -> int:
    return int(HEADER.unpack_from(window, at)[1]) + LOG_OVERHEAD


def damaged(name: str, source: SourceSegment, pos: int, why: str) -> KafkaStorageError:
    """The error of a damaged segment (both cleaners raise it)."""
    return KafkaStorageError(
        f"{name}: the cleaner found segment {source.base_offset} damaged at byte {pos}: {why}"
    )


def _raise_for(
    name: str, source: SourceSegment, status: int, pos: int, window: bytearray, at: int
) -> NoReturn:
    """The error a damaged or unparsable batch makes (as the reference's)."""
    if status == _TRUNCATED:
        raise damaged(name, source, pos, "truncated batch header")
    if status == _BAD_LENGTH:
        raise damaged(name, source, pos, "batch length does not fit")
    if status == _BAD_CRC:
        raise damaged(name, source, pos, "CRC-32C mismatch")
    base = HEADER.unpack_from(window, at)[0]
    if status == _CORRUPT:
        raise CorruptRecordError(f"{name}: a record of the batch at offset {base} does not parse")
    if status == _TOO_SMALL:
        raise KafkaStorageError(
            f"{name}: the batch at offset {base} holds more keys than the cleaner's "
            "offset map (raise log.cleaner.dedupe.buffer.size)"
        )
    raise AssertionError(f"unknown scan status {status}")


def _records(window: bytearray, at: int, fields: tuple[int, ...]) -> bytes:
    """The decompressed records region of the compressed batch at ``at``."""
    region = bytes(window[at + HEADER_SIZE : at + fields[1] + LOG_OVERHEAD])
    return decompress(fields[5] & CODEC_MASK, region, _MAX_UNCOMPRESSED)


def build_map(
    name: str,
    dirty: list[SourceSegment],
    first_dirty: int,
    offset_map: TableOffsetMap,
    result: PassResult,
    throttle: Throttler,
) -> int:
    """``compactor._build_map`` through C: map the dirty part; where the mapping stopped."""
    end, native, budget = first_dirty, offset_map.native, _budget(throttle)
    for source in dirty:
        pos, mapped, window = 0, -1, _buffers.window
        while pos < source.size:
            status, pos, at, nread, need, offset_map.entries, mapped = native.map_file(
                source.fd, pos, source.size, window, budget, offset_map.table,
                offset_map.entries, offset_map.capacity, first_dirty, mapped,
            )  # fmt: skip
            throttle.maybe_throttle(nread)
            if status == _TOO_BIG:
                window = bytearray(need)  # a batch larger than the window
            elif status == _MAP_FULL:
                result.map_full = True
                result.bytes_read += pos + _size(window, at)  # as the reference counts
                return max(end, int(mapped), int(HEADER.unpack_from(window, at)[0]))
            elif status == _COMPRESSED:
                fields = HEADER.unpack_from(window, at)
                offset_map.entries = native.map_records(
                    _records(window, at, fields), fields[12], fields[0], offset_map.table,
                    offset_map.entries, CorruptRecordError,
                )  # fmt: skip
                mapped = max(mapped, fields[0] + fields[6] + 1)
                pos += _size(window, at)
            elif status != _END:
                _raise_for(name, source, status, pos, window, at)
        result.bytes_read += source.size
        end = max(end, mapped, source.upper_offset)
    return end


class _Filter:
    """``filter_file`` over the segments of one group, appending what it keeps to
    ``segment``; ``written``/``removed`` add up as it goes."""

    def __init__(
        self, segment: Segment, keeper: _Keeper, lasts: dict[int, int], throttle: Throttler
    ) -> None:
        self.segment, self.keeper, self.last_batches = segment, keeper, lasts
        self.lasts = array("q", sorted(lasts.values()))
        self.throttle, self.budget = throttle, _budget(throttle)
        self.window, self.out, self.metas = _buffers.window, _buffers.out, _buffers.metas
        self.written = self.removed = 0

    def source(self, name: str, source: SourceSegment) -> None:
        """Filter every batch of ``source``."""
        m, keeper = self.keeper.offset_map, self.keeper
        assert isinstance(m, TableOffsetMap)
        keeper.source(source)
        pos = 0
        while pos < source.size:
            status, pos, at, nread, need, out_len, count, removed, tombstones = (
                m.native.filter_file(
                    source.fd, pos, source.size, self.window, self.budget, m.table,
                    m.entries, keeper.map_end, keeper.drop_tombstones, self.lasts, self.out,
                    self.metas,
                )
            )  # fmt: skip
            self._append(count)
            self.written += out_len
            self.removed += removed
            if tombstones:
                keeper.kept_tombstone()
            self.throttle.maybe_throttle(nread + out_len)
            if status == _TOO_BIG:
                self.window, self.out = bytearray(need), bytearray(need)
            elif status == _COMPRESSED:
                self.compressed(self.window, at)
                pos += _size(self.window, at)
            elif status not in (_END, _OUT_FULL):
                _raise_for(name, source, status, pos, self.window, at)

    def _append(self, count: int) -> None:
        view, metas, start = memoryview(self.out), self.metas, 0
        for i in range(0, count * _META, _META):
            end = start + metas[i + 3]
            self.segment.append(view[start:end], metas[i], metas[i + 1], metas[i + 2])
            start = end

    def compressed(self, window: bytearray, at: int) -> None:
        """The compressed batch at ``at``: decompressed here, its records filtered in C."""
        fields = HEADER.unpack_from(window, at)
        m, keeper = self.keeper.offset_map, self.keeper
        assert isinstance(m, TableOffsetMap)
        kept_bytes, kept, max_delta, tombstones = m.native.filter_records(
            _records(window, at, fields), fields[12], fields[0], m.table, m.entries,
            keeper.map_end, keeper.drop_tombstones, CorruptRecordError,
        )  # fmt: skip
        if tombstones:
            keeper.kept_tombstone()
        last = fields[0] + fields[6]
        retain = fields[9] >= 0 and self.last_batches.get(fields[9]) == last
        batch = bytes(window[at : at + fields[1] + LOG_OVERHEAD])
        new = rebuilt(batch, fields, kept_bytes, kept, fields[7] + max_delta, retain)
        self.removed += fields[12] - kept
        if new is not None:
            self.segment.append(new, fields[0], last, HEADER.unpack_from(new)[8])
            self.written += len(new)
            self.throttle.maybe_throttle(len(new))


def write_group(
    name: str,
    segment: Segment,
    group: list[SourceSegment],
    keeper: _Keeper,
    last_batches: dict[int, int],
    throttle: Throttler,
) -> tuple[int, int]:
    """``compactor._write_group`` through C: (bytes written, records removed)."""
    step = _Filter(segment, keeper, last_batches, throttle)
    for source in group:
        step.source(name, source)
    return step.written, step.removed


def producers_last_batches(
    name: str, sources: list[SourceSegment], native: ModuleType
) -> dict[int, int]:
    """``compactor._producers_last_batches`` through C (headers only, read in C)."""
    last: dict[int, int] = {}
    for source in sources:
        status, pos = native.producer_lasts(source.fd, source.size, last)
        if status != _END:
            raise damaged(name, source, pos, _WHY[status])
    return last


_WHY: Final = {_TRUNCATED: "truncated batch header", _BAD_LENGTH: "batch length does not fit"}
