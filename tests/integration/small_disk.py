"""Small real filesystems for disk-full tests (issue 24): a tmpfs of a given size mounted by
the test (CI runs as root), a ballast file that fills it, and the free space as statvfs says.

``small_disk`` skips the test with one line where mounting is impossible (not root, no
CAP_SYS_ADMIN in a container): nothing else can stand in for a disk that really fills.
Unmounted at exit (lazily if a broker still holds a file open).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["fill", "free_bytes", "small_disk"]

_MIB = 1024 * 1024


@contextlib.contextmanager
def small_disk(path: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of ``size_bytes`` mounted at ``path`` (created) for the block's duration."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave_bytes: int, name: str = "ballast") -> Path:
    """Write a ballast file under ``path`` until at most ``leave_bytes`` are free; returns
    it (delete it to give the space back)."""
    ballast = path / name
    chunk = b"\0" * _MIB
    with ballast.open("ab") as fh:
        while (free := free_bytes(path)) > leave_bytes:
            try:
                fh.write(chunk[: min(len(chunk), free - leave_bytes)])
                fh.flush()
            except OSError:
                break
    return ballast
