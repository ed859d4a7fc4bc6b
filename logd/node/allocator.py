"""The broker process's C allocator settings: big buffers reused, not returned per request.

Owned by the composition root (:func:`logd.node.main.serve` calls :func:`tune_allocator`
once, before the broker starts): it is a setting of the whole process, which a broker
process owns and a library (the client) must never change under its application.

Why: a 1 MiB produce batch passes through several 1 MiB buffers (gRPC's message, the bytes
handed to Python, the buffer Raft stamps). glibc's defaults (an mmap threshold that adapts
up to the largest freed block, and a trim threshold twice that) hand the memory back to
the kernel as soon as a few such buffers are freed together, and the next batch faults
every page in again: ~450-550 minor faults per 1 MiB batch in the broker, which
``bench.mib_probe``'s workload paid as ~1.5 ms of its 6.9-7.3 ms of CPU per batch (issue
22, bench/README.md "Session 8"). Fixed thresholds keep up to :data:`TRIM_THRESHOLD` of
freed memory at the top of each heap for the next request instead.

glibc only (``mallopt``); elsewhere, or when the operator set glibc's own ``MALLOC_*``
environment variables (their choice wins), nothing is changed.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_allocator"]

#: Blocks below this come from the heaps (reused once freed), not from a fresh mmap each:
#: above the largest batch a broker takes by default (max.message.bytes, 1 MiB) with room.
MMAP_THRESHOLD = 32 << 20
#: Free memory at the top of a heap kept before it is handed back to the kernel: room for
#: a burst of in-flight 1 MiB batches (the suite keeps 32 in flight) and their copies.
TRIM_THRESHOLD = 64 << 20
# glibc's malloc.h parameter numbers.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_OPERATOR_SET = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def tune_allocator() -> bool:
    """Set glibc's mmap and trim thresholds for this process; True if they were set."""
    if any(name in os.environ for name in _OPERATOR_SET):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
