"""``logd registry schema create S --schema FILE [--type avro|json|protobuf]
[--reference NAME=SUBJECT:VERSION ...]``: register the schema in FILE (``-``: stdin) under
subject S; prints its id and version. The type defaults from the file's extension
(``.avsc`` Avro, ``.json`` JSON Schema, ``.proto`` Protobuf), else Avro."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli import status
from cli.app import App
from cli.registry.common import add_registry_arguments, open_registry, read_schema

__all__ = ["add_arguments", "run"]

_TYPES = {"avro": "AVRO", "json": "JSON", "protobuf": "PROTOBUF"}
_BY_SUFFIX = {".avsc": "AVRO", ".json": "JSON", ".proto": "PROTOBUF"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subject", metavar="S", help="the subject")
    parser.add_argument("--schema", required=True, metavar="FILE", help="the schema (- : stdin)")
    parser.add_argument("--type", choices=sorted(_TYPES), help="the schema's type")
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="NAME=SUBJECT:VERSION",
        help="a schema it references (repeatable)",
    )
    add_registry_arguments(parser)


def run(app: App, args: argparse.Namespace) -> int:
    text = read_schema(app, args.schema)
    schema_type = _TYPES[args.type] if args.type else _BY_SUFFIX.get(Path(args.schema).suffix)
    schema_type = schema_type or "AVRO"
    references = [_reference(app, r) for r in args.reference]
    registry = open_registry(app, args)
    schema_id = registry.register(args.subject, text, schema_type, references=references)
    version = registry.lookup(args.subject, text, schema_type, references)["version"]
    app.emit(
        {"subject": args.subject, "id": schema_id, "version": version, "type": schema_type},
        ["subject", "id", "version", "type"],
        [(args.subject, schema_id, version, schema_type)],
    )
    return status.OK


def _reference(app: App, text: str) -> dict[str, object]:
    name, eq, rest = text.partition("=")
    subject, colon, version = rest.rpartition(":")
    if not (eq and colon and name and subject and version.isdigit()):
        app.abort(f"--reference {text!r}: expected NAME=SUBJECT:VERSION")
    return {"name": name, "subject": subject, "version": int(version)}
