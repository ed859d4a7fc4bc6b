"""``logd cluster config set|delete|get``: the cluster's dynamic configs (issue 23), as
Redpanda's ``rpk cluster config``: a key set here is written to the metadata and every
broker applies it without a restart, over its own config file or flags; ``delete`` gives
each broker its own value back. Dynamic keys: ``partition.move.throttle`` (bytes/s of the
drain and balance moves), ``partition.autobalancing.enable``. ``get`` shows the value the
answering broker applies and where it comes from (cluster, static, default).

One module for the three subcommands: they share their output."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_delete_arguments", "add_get_arguments", "add_set_arguments", "run_delete",
           "run_get", "run_set"]  # fmt: skip


def add_set_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", metavar="KEY", help="e.g. partition.move.throttle")
    parser.add_argument("value", metavar="VALUE", help="e.g. 10000000")


def add_delete_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", metavar="KEY", help="the key to give back to each broker")


def add_get_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", metavar="KEY", nargs="?", help="one key (default: all)")


def run_set(app: App, args: argparse.Namespace) -> int:
    return _alter(app, args.key, {args.key: args.value}, [], f"= {args.value}, cluster-wide")


def run_delete(app: App, args: argparse.Namespace) -> int:
    return _alter(app, args.key, {}, [args.key], "deleted: each broker's own value applies")


def _alter(app: App, key: str, configs: dict[str, str], delete: list[str], what: str) -> int:
    admin = open_admin(app)
    try:
        admin.alter_cluster_configs(configs, delete)
    finally:
        admin.close()
    if app.output_format == "json":
        app.json({"key": key, "value": configs.get(key), "status": "ok"})
    else:
        app.print(f"{key} {what}")
    return status.OK


def run_get(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        configs = admin.describe_cluster_configs()
    finally:
        admin.close()
    if args.key is not None:
        configs = [c for c in configs if c.name == args.key]
        if not configs:
            app.abort(f"{args.key}: not a dynamic cluster config")
    if app.output_format == "json":
        app.json([{"key": c.name, "value": c.value, "source": c.source} for c in configs])
    else:
        app.table(["key", "value", "source"], [[c.name, c.value, c.source] for c in configs])
    return status.OK
