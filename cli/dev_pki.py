"""The certificates and secrets of ``logd dev --secure``, under ``DIR/tls``: a CA, one
certificate per broker (``CN=broker-<id>``: the brokers' mTLS identity) and one per user
(``CN=<user>``), an admin password and a cluster id. Made once and kept: restarting the dev
cluster keeps its credentials (delete ``DIR/tls`` for new ones). Keys are written 0600.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DevPki", "write_pki"]

ADMIN = "admin"


@dataclass(frozen=True)
class DevPki:
    directory: Path
    cluster_id: str
    admin_password: str

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"


def _write(path: Path, data: bytes, *, secret: bool) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _secret(path: Path, make: str) -> str:
    if not path.exists():
        _write(path, make.encode(), secret=True)
    return path.read_text().strip()


def write_pki(root: Path, nodes: int, users: tuple[str, ...] = (ADMIN,)) -> DevPki:
    """Makes what is missing under ``root/tls`` and returns where everything is."""
    from logd.security.certs import Issued, issue, make_ca

    directory = root / "tls"
    directory.mkdir(parents=True, exist_ok=True)
    pki = DevPki(
        directory,
        _secret(directory / "cluster-id", "dev-" + secrets.token_hex(8)),
        _secret(directory / "admin-password", secrets.token_urlsafe(12)),
    )
    now = dt.datetime.now(dt.UTC)
    if pki.ca.exists() and pki.key("ca").exists():
        ca = Issued(pki.ca.read_bytes(), pki.key("ca").read_bytes())
    else:
        ca = make_ca(pki.cluster_id, now)
        _write(pki.key("ca"), ca.key_pem, secret=True)
        _write(pki.ca, ca.cert_pem, secret=False)
    for name in (*(f"broker-{i}" for i in range(nodes)), *users):
        if not pki.cert(name).exists() or not pki.key(name).exists():
            issued = issue(ca, name, now)
            _write(pki.key(name), issued.key_pem, secret=True)
            _write(pki.cert(name), issued.cert_pem, secret=False)
    return pki
