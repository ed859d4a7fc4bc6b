"""The certificate, key and CA files of one TLS identity, re-read when they change.

A changed file is noticed by its (mtime, size, inode) signature, checked at most once per
``check_interval_s`` (the check is a few ``stat`` calls, made on new connections, never per
request). Rotation writes new files and renames them into place; a half-written file that
does not parse is ignored until the next change, and the last good material stays in use.

Not thread-safe, except ``current()``, which gRPC's certificate fetcher calls from its own
thread: it only reads attributes that are replaced whole.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from logd.errors import InvalidConfigError
from logd.tls.settings import TlsSettings

__all__ = ["Material", "TlsFiles"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Material:
    """The PEM bytes in use (``ca`` empty when no CA is configured)."""

    cert: bytes
    key: bytes
    ca: bytes
    generation: int


def _signature(paths: tuple[Path, ...]) -> tuple[tuple[int, int, int], ...]:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((0, 0, 0))
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


def _looks_like_pem(data: bytes, what: str) -> bool:
    return b"-----BEGIN" in data and (what != "key" or b"PRIVATE KEY" in data)


class TlsFiles:
    """The files of ``settings``; ``material`` is the last good read."""

    def __init__(self, settings: TlsSettings, check_interval_s: float = 1.0) -> None:
        assert settings.cert is not None and settings.key is not None
        self.settings = settings
        self._paths = tuple(p for p in (settings.cert, settings.key, settings.ca) if p is not None)
        self._interval = check_interval_s
        self._checked = 0.0
        self._signature = _signature(self._paths)
        material = self._read(0)
        if material is None:
            raise InvalidConfigError(
                f"tls: cannot read a PEM certificate and key from"
                f" {settings.cert} and {settings.key}"
            )
        self.material = material

    def _read(self, generation: int) -> Material | None:
        s = self.settings
        assert s.cert is not None and s.key is not None
        try:
            cert, key = s.cert.read_bytes(), s.key.read_bytes()
            ca = s.ca.read_bytes() if s.ca is not None else b""
        except OSError:
            return None
        ok = _looks_like_pem(cert, "cert") and _looks_like_pem(key, "key")
        if not ok or (s.ca is not None and not _looks_like_pem(ca, "cert")):
            return None
        return Material(cert, key, ca, generation)

    def refresh(self) -> bool:
        """Re-reads the files if they changed since the last look; True when new material
        is now in use."""
        now = time.monotonic()
        if now - self._checked < self._interval:
            return False
        self._checked = now
        signature = _signature(self._paths)
        if signature == self._signature:
            return False
        material = self._read(self.material.generation + 1)
        if material is None:
            _log.warning(
                "tls: %s changed but does not read as PEM; keeping the old one", self._paths
            )
            return False
        self._signature = signature
        self.material = material
        _log.info("tls: reloaded %s (generation %d)", self.settings.cert, material.generation)
        return True
