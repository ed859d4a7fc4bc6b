"""AlterPartitionReassignments (key 45, v0-1) and ListPartitionReassignments (key 46, v0):
Kafka's partition moves, on the seam's ``move_partition`` / ``cancel_move`` / ``list_moves``
(issue 23; the moves themselves: ``logd.broker.moves``, ``logd.cluster.mover``).

ACLs as Kafka's: ALTER on the cluster to move (``cluster_admin``), DESCRIBE on the cluster
to list (``describe_cluster``); a caller without it gets the top-level
CLUSTER_AUTHORIZATION_FAILED. Each partition is answered on its own: null replicas cancel
its move (NO_REASSIGNMENT_IN_PROGRESS when none), replicas start one -- or, as Kafka's
controller does, replace the move in progress: the partition then moves from wherever its
group is to the new target (logd's own clients are refused instead: REASSIGNMENT_IN_PROGRESS,
cancel first). The request's ``timeout`` is not waited on:
the answer comes once the move is written to the metadata, as Kafka's does.

Ownership: stateless; one call per request on the listener's event loop.
"""

from __future__ import annotations

from typing import Any

from logd.errors import LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import by_topic, error_code, error_message

__all__ = ["alter", "list_moves"]


async def alter(ctx: RequestContext, request: Any) -> dict[str, Any]:
    ctx.server.broker.admit(ctx.caller, "cluster_admin")  # ALTER on the cluster, once
    keep_rf = not getattr(request, "allow_replication_factor_change", True)  # v1+
    responses = []
    for t in request.topics:
        partitions = []
        for p in t.partitions:
            error = await _one(ctx, t.name, p.partition_index, p.replicas, keep_rf)
            partitions.append({"partition_index": p.partition_index,
                               "error_code": error_code(error),
                               "error_message": error_message(error)})  # fmt: skip
        responses.append({"name": t.name, "partitions": partitions})
    return {
        "throttle_time": 0,
        "allow_replication_factor_change": not keep_rf,
        "error_code": 0,
        "error_message": None,
        "responses": responses,
    }


async def _one(
    ctx: RequestContext, topic: str, partition: int, replicas: Any, keep_rf: bool
) -> LogdError | None:
    """Start (or, replicas null, cancel) one partition's move; its refusal, if any."""
    seam = ctx.server.broker
    try:
        if replicas is None:
            await seam.cancel_move(topic, partition, caller=ctx.caller)
        else:
            to = [int(r) for r in replicas]
            await seam.move_partition(
                topic, partition, to, keep_replication_factor=keep_rf, replace=True,
                caller=ctx.caller,
            )  # fmt: skip
    except LogdError as exc:
        return exc
    return None


async def list_moves(ctx: RequestContext, request: Any) -> dict[str, Any]:
    asked: dict[str, set[int]] | None = None
    if request.topics is not None:
        asked = {}
        for t in request.topics:
            asked.setdefault(t.name, set()).update(t.partition_indexes)
    moves = ctx.server.broker.list_moves(sorted(asked or ()), caller=ctx.caller)
    if asked is not None:
        moves = [m for m in moves if m.topic in asked and m.partition in asked[m.topic]]
    return {
        "throttle_time": 0,
        "error_code": 0,
        "error_message": None,
        "topics": by_topic(moves, _ongoing, "name"),
    }


def _ongoing(move: Any) -> dict[str, Any]:
    return {
        "partition_index": move.partition,
        "replicas": list(move.replicas),
        "adding_replicas": list(move.adding),
        "removing_replicas": list(move.removing),
    }
