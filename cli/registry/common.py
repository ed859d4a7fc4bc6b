"""What every command that talks to the schema registry shares: where it is, and how.

The registry is a broker listener of its own (``--registry-listen``, default
127.0.0.1:8081); any broker's answers (writes are forwarded to the writer). The address
comes from ``--registry-url``, else ``LOGD_REGISTRY_URL``, else the default. With
authentication on, ``LOGD_USER``/``LOGD_PASSWORD`` are sent as HTTP Basic credentials.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from logd.client.serde import RegistryClient

__all__ = ["DEFAULT_REGISTRY_URL", "add_registry_arguments", "open_registry"]

DEFAULT_REGISTRY_URL = "http://127.0.0.1:8081"


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry-url",
        "--schema-registry-url",
        dest="registry_url",
        metavar="URL",
        help=f"the schema registry (env LOGD_REGISTRY_URL; default {DEFAULT_REGISTRY_URL})",
    )


def registry_url(args: argparse.Namespace) -> str:
    url = getattr(args, "registry_url", None) or os.environ.get("LOGD_REGISTRY_URL")
    url = url or DEFAULT_REGISTRY_URL
    return url if "://" in url else f"http://{url}"


def open_registry(args: argparse.Namespace) -> RegistryClient:
    from logd.client.serde import RegistryClient

    return RegistryClient(
        registry_url(args),
        username=os.environ.get("LOGD_USER"),
        password=os.environ.get("LOGD_PASSWORD"),
    )
