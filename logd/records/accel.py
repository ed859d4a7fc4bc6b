"""Which code runs the per-record loops: the optional C accelerator or pure Python.

Issue 8 allows a compiled accelerator for the per-record loops only beside a pure-Python
path that passes the same tests. ``logd.records._speedups`` (``_speedups.c``) is built by
setuptools when a C compiler is present and is skipped quietly when not; this module falls
back to :func:`logd.records.record.py_records_list`, the reference. Both have one contract
(``records_list`` below) and run the same tests; the decoder fuzz test compares them on
every mutant it makes. The producer's side, ``value_frame`` (an uncompressed batch of
values built straight into its request's frame, ``logd.records.value_frame``), likewise.

``LOGD_PURE_PYTHON=1`` in the environment picks pure Python even where the accelerator is
built (for comparing the two, and for debugging). :func:`use` switches at run time; callers
look ``records_list`` up on this module at each call (once per batch), so a switch is seen
at once.

Module state is one reference swapped atomically: thread-safe.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Final

from logd.errors import CorruptRecordError
from logd.records.record import decode_headers, py_records_list
from logd.records.value_frame import PrefixFor, py_value_frame

__all__ = ["FRAMES", "IMPLEMENTATIONS", "implementation", "records_list", "use", "value_frame"]

RecordsList = Callable[
    [bytes, int, int, int, "int | None", type[tuple[Any, ...]], tuple[Any, ...], int],
    list[Any],
]

ValueFrame = Callable[
    [PrefixFor, bytes, "Sequence[bytes | None]", Callable[[memoryview], int]], tuple[bytes, int]
]

IMPLEMENTATIONS: Final[dict[str, RecordsList]] = {"python": py_records_list}
FRAMES: Final[dict[str, ValueFrame]] = {"python": py_value_frame}

try:
    from logd.records import _speedups
except ImportError:  # no compiler at install time: pure Python it is
    pass
else:
    _c_records_list = _speedups.records_list

    def c_records_list(
        data: bytes,
        count: int,
        base_offset: int,
        base_timestamp: int,
        log_append_time: int | None,
        cls: type[tuple[Any, ...]],
        tail: tuple[Any, ...],
        min_offset: int,
    ) -> list[Any]:
        """As :func:`logd.records.record.py_records_list`, in C."""
        return _c_records_list(
            data, count, base_offset, base_timestamp, log_append_time, cls, tail, min_offset,
            decode_headers, CorruptRecordError,
        )  # fmt: skip

    IMPLEMENTATIONS["c"] = c_records_list
    FRAMES["c"] = _speedups.value_frame

_DEFAULT: Final = (
    "c" if "c" in IMPLEMENTATIONS and os.environ.get("LOGD_PURE_PYTHON", "") in ("", "0")
    else "python"
)  # fmt: skip

#: The records of one batch's uncompressed records region, as a list (see py_records_list).
records_list: RecordsList = IMPLEMENTATIONS[_DEFAULT]
#: An uncompressed value batch built into its frame (see logd.records.value_frame).
value_frame: ValueFrame = FRAMES[_DEFAULT]


def use(name: str) -> None:
    """Run the loops with ``name`` ("c" or "python") from now on; KeyError when it is not
    built. Both loops switch together (one C module holds both)."""
    global records_list, value_frame
    records_list, value_frame = IMPLEMENTATIONS[name], FRAMES[name]


def implementation() -> str:
    """The name of the implementation in use."""
    return next(name for name, fn in IMPLEMENTATIONS.items() if fn is records_list)
