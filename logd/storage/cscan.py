"""The cleaner's two loops over segment files -- map the keys, rewrite the batches -- through
the C accelerator ``logd.storage._compact`` (issue 16's speed goal).

The pure-Python loops in :mod:`logd.storage.compactor` are the reference: the same rule,
and ``tests/storage/test_compact_accel.py`` checks that both write byte-identical segments.
Here a segment is read in windows of about 1 MiB into one reused buffer, and each window
goes to one C call that runs with the GIL released (so appends on other threads go on
meanwhile): it CRC-checks every whole batch, maps or filters its records, and stops at the
first batch it cannot handle alone -- a compressed one, which Python decompresses and hands
back to C as a records region; a damaged one, which stops the pass as in the reference.

``native()`` is the C module, or None when it is not built (no compiler at install time) or
``LOGD_PURE_PYTHON=1`` asks for the reference (as ``logd.records.accel`` does).

Runs in the cleaner's thread; no shared state.
"""

from __future__ import annotations

import importlib
import os
from array import array
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Final, NoReturn

from logd.errors import CorruptRecordError, KafkaStorageError
from logd.records.compression import decompress
from logd.records.header import CODEC_MASK, HEADER_SIZE, LOG_OVERHEAD
from logd.storage.offset_map import TableOffsetMap
from logd.storage.rewrite import HEADER, rebuilt
from logd.storage.throttle import Throttler

if TYPE_CHECKING:
    from logd.storage.compactor import PassResult, _Keeper
    from logd.storage.segment import Segment
    from logd.storage.swap import SourceSegment

__all__ = ["IMPLEMENTATIONS", "STATUSES", "build_map", "native", "write_group"]

_WINDOW: Final = 1 << 20
_MAX_UNCOMPRESSED: Final = 256 << 20
_META: Final = 4  # int64s a batch in filter_scan's metas: base, last, max timestamp, size

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


#: ``step(window, pos)`` -> (where it stopped, why): one C scan of a window.
Step = Callable[[memoryview, int], tuple[int, int]]


class _Windows:
    """Reads one source segment in windows of whole batches into a reused buffer."""

    def __init__(self, name: str, source: SourceSegment, throttle: Throttler) -> None:
        self.name, self.source, self.throttle = name, source, throttle
        self.buffer = bytearray(min(_WINDOW, max(source.size, HEADER_SIZE)))
        self.start = 0  # the file position of the window's first byte

    def read(self, pos: int) -> memoryview:
        """The window from file position ``pos``: at least one whole batch, unless the
        file ends first (then ``damaged``)."""
        end = self.source.size
        size = min(len(self.buffer), end - pos)
        view = self._pread(pos, size)
        if size >= HEADER_SIZE:
            need = HEADER.unpack_from(view)[1] + LOG_OVERHEAD
            if need > size and pos + need <= end:
                self.buffer = bytearray(need)  # a batch larger than the window
                view = self._pread(pos, need)
        return view

    def _pread(self, pos: int, size: int) -> memoryview:
        view = memoryview(self.buffer)[:size]
        got = 0
        while got < size:
            n = os.preadv(self.source.fd, [view[got:]], pos + got)
            if not n:
                raise self.damaged(pos + got, "truncated batch header")
            got += n
        self.throttle.maybe_throttle(size)
        self.start = pos
        return view

    def damaged(self, pos: int, why: str) -> KafkaStorageError:
        return KafkaStorageError(
            f"{self.name}: the cleaner found segment {self.source.base_offset} damaged at "
            f"byte {pos}: {why}"
        )

    def scan(self, step: Step) -> Iterator[tuple[int, int, memoryview, int]]:
        """Run ``step`` over the whole segment; yields (status, file position, window,
        position in it) at each batch ``step`` stopped at without reaching the end."""
        pos, end = 0, self.source.size
        while pos < end:
            window = self.read(pos)
            at, status = step(window, 0)
            while status != _END:
                yield status, self.start + at, window, at
                at, status = step(window, at + _size(window, at))
            if at == 0:  # not even one whole batch: the file ends inside it
                raise self.damaged(pos, _why_short(window))
            pos = self.start + at


#: Why a C scan stopped: END, COMPRESSED, MAP_FULL, BAD_CRC, BAD_LENGTH, CORRUPT, TOO_SMALL.
STATUSES: Final = tuple(range(7))
_END, _COMPRESSED, _MAP_FULL, _BAD_CRC, _BAD_LENGTH, _CORRUPT, _TOO_SMALL = STATUSES


def _size(window: memoryview, at: int) -> int:
    return int(HEADER.unpack_from(window, at)[1]) + LOG_OVERHEAD


def _why_short(window: memoryview) -> str:
    return "truncated batch header" if len(window) < HEADER_SIZE else "batch length does not fit"


def _raise_for(windows: _Windows, status: int, pos: int, base: int) -> NoReturn:
    """The error a damaged or unparsable batch makes (as the reference's)."""
    if status == _BAD_CRC:
        raise windows.damaged(pos, "CRC-32C mismatch")
    if status == _BAD_LENGTH:
        raise windows.damaged(pos, "batch length does not fit")
    if status == _CORRUPT:
        raise CorruptRecordError(
            f"{windows.name}: a record of the batch at offset {base} does not parse"
        )
    if status == _TOO_SMALL:
        raise KafkaStorageError(
            f"{windows.name}: the batch at offset {base} holds more keys than the cleaner's "
            "offset map (raise log.cleaner.dedupe.buffer.size)"
        )
    raise AssertionError(f"unknown scan status {status}")


def _records(window: memoryview, at: int, fields: tuple[int, ...]) -> bytes:
    """The decompressed records region of the compressed batch at ``at``."""
    region = bytes(window[at + HEADER_SIZE : at + fields[1] + LOG_OVERHEAD])
    return decompress(fields[5] & CODEC_MASK, region, _MAX_UNCOMPRESSED)


class _MapStep:
    """``map_scan`` as a :data:`Step`; ``mapped``: last offset + 1 of what it passed."""

    def __init__(self, offset_map: TableOffsetMap, first_dirty: int) -> None:
        self.offset_map, self.first_dirty = offset_map, first_dirty
        self.mapped: int = -1

    def __call__(self, window: memoryview, at: int) -> tuple[int, int]:
        m = self.offset_map
        pos, m.entries, stop, status = m.native.map_scan(
            window, at, m.table, m.entries, m.capacity, self.first_dirty
        )
        self.mapped = max(self.mapped, stop)
        return pos, status


def build_map(
    name: str,
    dirty: list[SourceSegment],
    first_dirty: int,
    offset_map: TableOffsetMap,
    result: PassResult,
    throttle: Throttler,
) -> int:
    """``compactor._build_map`` through C: map the dirty part; where the mapping stopped."""
    end = first_dirty
    for source in dirty:
        windows = _Windows(name, source, throttle)
        step = _MapStep(offset_map, first_dirty)
        for status, pos, window, at in windows.scan(step):
            fields = HEADER.unpack_from(window, at)
            if status == _MAP_FULL:
                result.map_full = True
                result.bytes_read += pos + _size(window, at)  # as the reference counts
                return max(end, step.mapped, int(fields[0]))
            if status != _COMPRESSED:
                _raise_for(windows, status, pos, fields[0])
            offset_map.entries = offset_map.native.map_records(
                _records(window, at, fields), fields[12], fields[0], offset_map.table,
                offset_map.entries, CorruptRecordError,
            )  # fmt: skip
            step.mapped = max(step.mapped, fields[0] + fields[6] + 1)
        result.bytes_read += source.size
        end = max(end, step.mapped, source.upper_offset)
    return end


class _FilterStep:
    """``filter_scan`` as a :data:`Step`, appending what it keeps to ``segment``."""

    def __init__(
        self, segment: Segment, keeper: _Keeper, lasts: array[int], throttle: Throttler
    ) -> None:
        self.segment, self.keeper, self.lasts, self.throttle = segment, keeper, lasts, throttle
        self.out = bytearray()
        self.metas = array("q")
        self.written = self.removed = 0

    def __call__(self, window: memoryview, at: int) -> tuple[int, int]:
        if len(self.out) < len(window):
            self.out = bytearray(len(window))
            self.metas = array("q", bytes(8 * _META * (len(window) // HEADER_SIZE + 1)))
        m, keeper, metas = self.keeper.offset_map, self.keeper, self.metas
        assert isinstance(m, TableOffsetMap)
        pos, status, size, count, removed, tombstones = m.native.filter_scan(
            window, at, m.table, m.entries, keeper.map_end, keeper.drop_tombstones,
            self.lasts, self.out, metas,
        )  # fmt: skip
        view, start = memoryview(self.out), 0
        for i in range(0, count * _META, _META):
            end = start + metas[i + 3]
            self.segment.append(view[start:end], metas[i], metas[i + 1], metas[i + 2])
            start = end
        self.throttle.maybe_throttle(size)
        self.written += size
        self.removed += removed
        if tombstones:
            keeper.kept_tombstone()
        return pos, status

    def compressed(self, window: memoryview, at: int, retain: bool) -> None:
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
        batch = bytes(window[at : at + fields[1] + LOG_OVERHEAD])
        new = rebuilt(batch, fields, kept_bytes, kept, fields[7] + max_delta, retain)
        self.removed += fields[12] - kept
        if new is not None:
            self.segment.append(new, fields[0], fields[0] + fields[6], HEADER.unpack_from(new)[8])
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
    step = _FilterStep(segment, keeper, array("q", sorted(last_batches.values())), throttle)
    for source in group:
        keeper.source(source)
        windows = _Windows(name, source, throttle)
        for status, pos, window, at in windows.scan(step):
            fields = HEADER.unpack_from(window, at)
            if status != _COMPRESSED:
                _raise_for(windows, status, pos, fields[0])
            last = fields[0] + fields[6]
            step.compressed(window, at, fields[9] >= 0 and last_batches.get(fields[9]) == last)
    return step.written, step.removed
