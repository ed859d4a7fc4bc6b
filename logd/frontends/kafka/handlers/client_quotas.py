"""DescribeClientQuotas (key 48) and AlterClientQuotas (key 49), v0-1: quotas per user and
client id (entity types ``user`` and ``client-id``; a None name is the default). The guard
checks DESCRIBE_CONFIGS / ALTER_CONFIGS on the cluster."""

from __future__ import annotations

from typing import Any

from logd.errors import InvalidRequestError, LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import error_code, error_message
from logd.security.admin_types import QuotaAlteration
from logd.security.quota import DEFAULT, QuotaEntity

__all__ = ["alter", "describe"]

_EXACT, _DEFAULT, _SPECIFIED = 0, 1, 2
_TYPES = ("user", "client-id")


def _entity(parts: Any) -> QuotaEntity:
    names: dict[str, str] = {}
    for part in parts:
        if part.entity_type not in _TYPES or part.entity_type in names:
            raise InvalidRequestError(f"bad quota entity type {part.entity_type!r}")
        names[part.entity_type] = DEFAULT if part.entity_name is None else part.entity_name
    return QuotaEntity(names.get("user"), names.get("client-id"))


def _entity_parts(entity: QuotaEntity) -> list[dict[str, Any]]:
    out = []
    for kind, name in (("user", entity.user), ("client-id", entity.client_id)):
        if name is not None:
            out.append({"entity_type": kind, "entity_name": None if name == DEFAULT else name})
    return out


def describe(ctx: RequestContext, request: Any) -> dict[str, Any]:
    wanted: dict[str, str | None] = {}
    for c in request.components:
        if c.match_type == _EXACT:
            wanted[c.entity_type] = c.match
        elif c.match_type == _DEFAULT:
            wanted[c.entity_type] = DEFAULT
    try:
        found = ctx.server.broker.security.describe_quotas(
            ctx.caller, wanted.get("user"), wanted.get("client-id"), strict=request.strict
        )
    except LogdError as exc:
        return {
            "throttle_time": 0,
            "error_code": error_code(exc),
            "error_message": error_message(exc),
            "entries": [],
        }
    specified = {c.entity_type for c in request.components if c.match_type == _SPECIFIED}
    entries = [
        {
            "entity": _entity_parts(e),
            "values": [{"key": k, "value": v} for k, v in sorted(vals.items())],
        }
        for e, vals in found
        if all(
            getattr(e, "user" if t == "user" else "client_id") not in (None, DEFAULT)
            for t in specified
        )
    ]
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "entries": entries}


async def alter(ctx: RequestContext, request: Any) -> dict[str, Any]:
    alterations: list[QuotaAlteration] = []
    answers: list[dict[str, Any]] = []
    for entry in request.entries:
        parts = [{"entity_type": p.entity_type, "entity_name": p.entity_name} for p in entry.entity]
        try:
            entity = _entity(entry.entity)
        except LogdError as exc:
            answers.append(
                {
                    "error_code": error_code(exc),
                    "error_message": error_message(exc),
                    "entity": parts,
                }
            )
            continue
        values = tuple((op.key, None if op.remove else float(op.value)) for op in entry.ops)
        alterations.append(QuotaAlteration(entity, values))
        answers.append({"error_code": 0, "error_message": None, "entity": parts})
    try:
        errors = await ctx.server.broker.security.alter_quotas(
            ctx.caller, alterations, validate_only=request.validate_only
        )
    except LogdError as exc:
        errors = [exc] * len(alterations)
    ok = iter(errors)
    for answer in answers:
        if answer["error_code"] == 0:
            error = next(ok)
            answer["error_code"], answer["error_message"] = error_code(error), error_message(error)
    return {"throttle_time": 0, "entries": answers}
