"""Kafka's alter-configs requests on the broker resource (type 4), issue 23: the resource
named "" -- Kafka's cluster-wide broker default, ``kafka-configs --entity-type brokers
--entity-default`` -- sets logd's dynamic cluster configs (``partition.move.throttle``,
``partition.autobalancing.enable``), which every broker applies without a restart. A broker's
own id is refused with INVALID_REQUEST and a message: logd has no per-broker dynamic configs
(Kafka's ``leader/follower.replication.throttled.rate`` are per broker and throttle only
the replicas a topic config names; logd's throttle is per joining replica of a move and the
same on every broker, as Redpanda's ``raft_learner_recovery_rate``).

The core checks the keys and values (``logd.broker.cluster_configs``).
"""

from __future__ import annotations

from typing import Any, Final

from logd.errors import ErrorCode, InvalidConfigError, LogdError
from logd.frontends.kafka.apis import RequestContext

__all__ = ["BROKER", "alter_incrementally", "replace"]

BROKER: Final = 4
_SET: Final = 0
_DELETE: Final = 1


async def alter_incrementally(ctx: RequestContext, r: Any, validate_only: bool) -> dict[str, Any]:
    """IncrementalAlterConfigs of a broker resource: SET and DELETE (the dynamic keys are
    no lists: APPEND/SUBTRACT are INVALID_CONFIG, as Kafka answers for a non-list key)."""
    configs: dict[str, str] = {}
    delete: list[str] = []
    for c in r.configs:
        if c.config_operation == _SET and c.value is not None:
            configs[c.name] = c.value
        elif c.config_operation == _DELETE:
            delete.append(c.name)
        else:
            error = InvalidConfigError(f"{c.name}: only SET (with a value) and DELETE apply")
            return _answer(r, error)
    return await _alter(ctx, r, configs, delete, validate_only)


async def replace(ctx: RequestContext, r: Any, validate_only: bool) -> dict[str, Any]:
    """AlterConfigs (legacy) of a broker resource: the given configs replace the cluster's
    (every dynamic key not given goes back to each broker's own value)."""
    configs = {c.name: c.value for c in r.configs if c.value is not None}
    if r.resource_name != "":
        return await _alter(ctx, r, configs, [], validate_only)  # refused: per broker
    try:
        now = ctx.server.broker.describe_cluster_configs(caller=ctx.caller)
    except LogdError as exc:
        return _answer(r, exc)
    delete = [c.name for c in now if c.source == "cluster" and c.name not in configs]
    return await _alter(ctx, r, configs, delete, validate_only)


async def _alter(
    ctx: RequestContext, r: Any, configs: dict[str, str], delete: list[str], validate_only: bool
) -> dict[str, Any]:
    if r.resource_name != "":
        return {
            **_answer(r, None),
            "error_code": int(ErrorCode.INVALID_REQUEST),
            "error_message": "logd's dynamic broker configs are cluster-wide: alter the "
            'broker-default resource "" (kafka-configs --entity-type brokers --entity-default)',
        }
    try:
        await ctx.server.broker.alter_cluster_configs(
            configs, delete, validate_only=validate_only, caller=ctx.caller
        )
    except LogdError as exc:
        return _answer(r, exc)
    return _answer(r, None)


def _answer(r: Any, error: LogdError | None) -> dict[str, Any]:
    return {
        "error_code": int(error.code) if error is not None else 0,
        "error_message": error.message if error is not None else None,
        "resource_type": r.resource_type,
        "resource_name": r.resource_name,
    }
