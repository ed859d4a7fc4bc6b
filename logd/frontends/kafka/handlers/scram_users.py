"""DescribeUserScramCredentials (key 50) and AlterUserScramCredentials (key 51), v0: SCRAM
users, managed as Kafka's clients do it (the client salts the password; the broker keeps
the derived keys). The guard checks DESCRIBE / ALTER on the cluster."""

from __future__ import annotations

from typing import Any

from logd.errors import LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import error_code, error_message
from logd.security.admin_types import ScramDeletion, ScramUpsertion
from logd.security.scram import ScramMechanism

__all__ = ["alter", "describe"]

_UNSUPPORTED_SASL_MECHANISM = 33


def describe(ctx: RequestContext, request: Any) -> dict[str, Any]:
    names = [u.name for u in request.users] if request.users is not None else None
    try:
        users = ctx.server.broker.security.describe_users(ctx.caller, names)
    except LogdError as exc:
        return {
            "throttle_time": 0,
            "error_code": error_code(exc),
            "error_message": error_message(exc),
            "results": [],
        }
    return {
        "throttle_time": 0,
        "error_code": 0,
        "error_message": None,
        "results": [
            {
                "user": u.name,
                "error_code": error_code(u.error),
                "error_message": error_message(u.error),
                "credential_infos": [
                    {"mechanism": int(m), "iterations": i} for m, i in u.credentials
                ],
            }
            for u in users
        ],
    }


def _mechanism(number: int) -> ScramMechanism | None:
    try:
        return ScramMechanism(number)
    except ValueError:
        return None


async def alter(ctx: RequestContext, request: Any) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    upserts: list[ScramUpsertion] = []
    deletes: list[ScramDeletion] = []
    for item in (*request.deletions, *request.upsertions):
        mechanism = _mechanism(item.mechanism)
        if mechanism is None:
            results[item.name] = {
                "user": item.name,
                "error_code": _UNSUPPORTED_SASL_MECHANISM,
                "error_message": f"unknown SCRAM mechanism {item.mechanism}",
            }
        elif hasattr(item, "salted_password"):
            salt, salted = bytes(item.salt), bytes(item.salted_password)
            upserts.append(ScramUpsertion(item.name, mechanism, item.iterations, salt, salted))
        else:
            deletes.append(ScramDeletion(item.name, mechanism))
    done: dict[str, LogdError | None]
    try:
        done = await ctx.server.broker.security.alter_users(ctx.caller, upserts, deletes)
    except LogdError as exc:
        names = [u.name for u in upserts] + [d.name for d in deletes]
        done = dict.fromkeys(names, exc)
    for name, error in done.items():
        results[name] = {
            "user": name,
            "error_code": error_code(error),
            "error_message": error_message(error),
        }
    return {"throttle_time": 0, "results": list(results.values())}
