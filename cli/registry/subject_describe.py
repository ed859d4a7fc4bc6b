"""``logd registry subject describe S``: the subject's compatibility level, its versions
with their ids and types, and its latest schema."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.registry.common import add_registry_arguments, open_registry

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", metavar="S", help="the subject")
    add_registry_arguments(parser)


def run(app: App, args: argparse.Namespace) -> int:
    registry = open_registry(app, args)
    level = registry.compatibility(args.subject)
    versions = [registry.version(args.subject, v) for v in registry.versions(args.subject)]
    if app.output_format == "json":
        app.json({"subject": args.subject, "compatibility": level, "versions": versions})
        return status.OK
    app.print(f"SUBJECT        {args.subject}")
    app.print(f"COMPATIBILITY  {level}")
    app.print()
    app.table(
        ["version", "id", "type", "references"],
        [
            (
                v["version"],
                v["id"],
                v.get("schemaType", "AVRO"),
                [f"{r['name']}={r['subject']}:{r['version']}" for r in v.get("references", [])],
            )
            for v in versions
        ],
    )
    if versions:
        app.print()
        app.print("LATEST SCHEMA")
        app.print(versions[-1]["schema"])
    return status.OK
