"""What every command that talks to the schema registry shares: where it is, and how.

The registry is a broker listener of its own (``--registry-listen``, default
127.0.0.1:8081); any broker's answers (writes are forwarded to the writer). The address
comes from ``--registry-url``, else ``LOGD_REGISTRY_URL``, else the default (``https://``
when the brokers speak TLS). The credentials are the command's own (``--user`` …,
``LOGD_USER`` …), as for the brokers.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cli.app import App
    from logd.client.serde import RegistryClient

__all__ = [
    "DEFAULT_REGISTRY_URL",
    "MAX_SCHEMA_CHARS",
    "add_registry_arguments",
    "open_registry",
    "read_schema",
    "registry_url",
]

DEFAULT_REGISTRY_URL = "http://127.0.0.1:8081"


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry-url",
        "--schema-registry-url",
        dest="registry_url",
        metavar="URL",
        help=f"the schema registry (env LOGD_REGISTRY_URL; default {DEFAULT_REGISTRY_URL})",
    )


def registry_url(app: App, args: argparse.Namespace) -> str:
    url = getattr(args, "registry_url", None) or os.environ.get("LOGD_REGISTRY_URL")
    url = url or DEFAULT_REGISTRY_URL.removeprefix("http://")
    tls = app.client_security.get("security_protocol") in ("SSL", "SASL_SSL")
    return url if "://" in url else f"{'https' if tls else 'http'}://{url}"


def open_registry(app: App, args: argparse.Namespace) -> RegistryClient:
    """A client of the registry with the command's credentials (``--user``/``--password``
    as HTTP Basic, ``--tls-ca``/``--tls-cert``/``--tls-key`` for an https:// URL)."""
    from logd.client.serde import RegistryClient

    security = app.client_security
    return RegistryClient(
        registry_url(app, args),
        username=security.get("sasl_username"),
        password=security.get("sasl_password"),
        ssl_ca_location=security.get("ssl_ca_location"),
        ssl_certificate_location=security.get("ssl_certificate_location"),
        ssl_key_location=security.get("ssl_key_location"),
    )


#: The most a schema file may hold: what the registry accepts in one request.
MAX_SCHEMA_CHARS = 16 * 1024 * 1024


def read_schema(app: App, where: str, what: str = "the schema") -> str:
    """The text of the schema file ``where`` (``-``: stdin), bounded; one line if not."""
    try:
        if where == "-":
            text = app.stdin.read(MAX_SCHEMA_CHARS + 1)
        else:
            with open(where, encoding="utf-8") as f:
                text = f.read(MAX_SCHEMA_CHARS + 1)
    except (OSError, UnicodeDecodeError) as exc:
        app.abort(f"cannot read {what} {where}: {exc}")
    if len(text) > MAX_SCHEMA_CHARS:
        app.abort(f"{what} {where} is larger than {MAX_SCHEMA_CHARS} characters")
    return text
