"""``logd security quota alter --name user=alice [--name client-id=c] [--default client-id]
--add producer_byte_rate=1048576 [--delete consumer_byte_rate]`` (rpk's
``cluster quotas alter`` flags). Keys: producer_byte_rate, consumer_byte_rate,
request_rate (requests/s, logd's)."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import key_value
from cli.security.common import open_security_admin
from cli.security.quota_describe import add_entity_flags, entity_from_args

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_entity_flags(parser)
    parser.add_argument(
        "--add", type=key_value("--add"), action="append", default=[], metavar="KEY=VALUE"
    )
    parser.add_argument("--delete", action="append", default=[], metavar="KEY")
    parser.add_argument("--dry", action="store_true", help="validate only")


def run(app: App, args: argparse.Namespace) -> int:
    user, client_id = entity_from_args(app, args)
    from logd.security.quota import QuotaEntity

    if user is None and client_id is None:
        app.abort(
            "name the entity: --name user=NAME, --name client-id=ID or --default user|client-id"
        )
    values: dict[str, float | None] = {}
    for key, text in args.add:
        try:
            values[key] = float(text)
        except ValueError:
            app.abort(f"--add {key}={text}: the value is not a number")
    values.update(dict.fromkeys(args.delete))
    if not values:
        app.abort("nothing to change: give --add KEY=VALUE or --delete KEY")
    with open_security_admin(app) as admin:
        admin.alter_quotas(QuotaEntity(user, client_id), values, validate_only=args.dry)
    rows = [
        (k, "-" if v is None else v, "removed" if v is None else "set") for k, v in values.items()
    ]
    app.emit(
        [{"key": k, "value": v, "status": s} for k, v, s in rows], ["key", "value", "status"], rows
    )
    return status.OK
