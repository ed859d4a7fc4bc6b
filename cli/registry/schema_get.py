"""``logd registry schema get ID``: the schema with that id (text: the schema itself, as
registered; json: the registry's answer, with its type and references)."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.registry.common import add_registry_arguments, open_registry

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", type=int, metavar="ID", help="the schema's id")
    add_registry_arguments(parser)


def run(app: App, args: argparse.Namespace) -> int:
    found = open_registry(app, args).schema(args.id)
    if app.output_format == "json":
        app.json({"id": args.id, "schemaType": "AVRO", **found})
    else:
        app.print(str(found["schema"]).rstrip("\n"))
    return status.OK
