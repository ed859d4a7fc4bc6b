"""The console's consumer groups:

* ``GET /api/groups`` -- the groups this broker coordinates (state, members, lag summed and
  at most), from ``BrokerSeam.figures``;
* ``GET /api/groups/{id}`` -- members (client id, host, assigned partitions) and, per
  partition, the committed offset, the high watermark of the replica here and the lag; a
  group coordinated by another broker answers 421 naming that broker (its console shows
  it);
* ``POST /api/groups/{id}/reset`` ``{"to": "start"|"end"|"offset"|"time", "offset": N,
  "timestamp": ms, "topics": [...], "dry_run": true}`` -- ``logd group seek``'s move for an
  empty group: the dry run answers the plan (current and new offset per partition),
  without it the offsets are committed (generation -1, which only an empty group accepts:
  a group with members answers 409 NON_EMPTY_GROUP).

Ownership: the broker's event loop.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from logd.broker.seam import BrokerSeam, Caller
from logd.errors import (
    InvalidRequestError,
    LogdError,
    NonEmptyGroupError,
    NotCoordinatorError,
    error_for_code,
)
from logd.frontends.admin.api_topics import json_object
from logd.frontends.admin.auth import CALLER
from logd.groups.messages import (
    NO_OFFSET,
    OffsetCommitPartition,
    OffsetCommitRequest,
    PartitionOffset,
)
from logd.groups.state import GroupState

__all__ = ["add_group_routes"]


async def _described(seam: BrokerSeam, caller: Caller, group_id: str) -> Any:
    ((group, offsets),) = await seam.describe_groups([group_id], include_offsets=True,
                                                      caller=caller)  # fmt: skip
    if offsets is None and group.error.value != 0:
        (where,) = await seam.find_coordinators([group_id], caller=caller)
        raise NotCoordinatorError(
            f"group {group_id!r} is coordinated by broker {where.node_id}"
            f" ({where.host}:{where.port}); open that broker's console"
        )
    return group, offsets


def _lag_rows(
    seam: BrokerSeam, caller: Caller, parts: tuple[PartitionOffset, ...]
) -> list[dict[str, Any]]:
    rows = []
    for p in sorted(parts, key=lambda p: (p.topic, p.partition)):
        try:
            _, hwm = seam.replica_offsets(p.topic, p.partition, caller=caller)
        except LogdError:
            hwm = -1  # no replica here: the lag cannot be told on this broker
        committed = p.committed_offset
        lag = max(hwm - committed, 0) if hwm >= 0 and committed != NO_OFFSET else None
        rows.append({"topic": p.topic, "partition": p.partition, "committed": committed,
                     "high_watermark": hwm, "lag": lag, "member": p.member_id})  # fmt: skip
    return rows


def add_group_routes(app: web.Application, seam: BrokerSeam) -> None:
    async def list_groups(request: web.Request) -> web.Response:
        figures = await seam.figures(caller=request[CALLER])
        return web.json_response([
            {"group": g.group, "state": g.state, "members": g.members, "lag": g.lag_sum,
             "lag_max": g.lag_max}
            for g in sorted(figures.groups, key=lambda g: g.group)
        ])  # fmt: skip

    async def describe(request: web.Request) -> web.Response:
        caller = request[CALLER]
        group, offsets = await _described(seam, caller, request.match_info["id"])
        rows = _lag_rows(seam, caller, offsets.partitions if offsets else ())
        return web.json_response({
            "group": group.group_id, "state": group.state.value,
            "protocol": group.protocol_name, "generation": group.generation_id,
            "members": [
                {"member_id": m.member_id, "client_id": m.client_id, "host": m.client_host,
                 "instance_id": m.group_instance_id}
                for m in group.members
            ],
            "partitions": rows,
            "lag": sum(r["lag"] or 0 for r in rows),
        })  # fmt: skip

    async def reset(request: web.Request) -> web.Response:
        caller = request[CALLER]
        group_id = request.match_info["id"]
        body = await json_object(request)
        group, offsets = await _described(seam, caller, group_id)
        plan = _plan(seam, caller, body, offsets.partitions if offsets else ())
        dry = body.get("dry_run", True) is not False
        if not dry:
            if group.state is not GroupState.EMPTY:
                raise NonEmptyGroupError(
                    f"group {group_id!r} is {group.state.value}: stop its consumers first"
                )
            parts = tuple(OffsetCommitPartition(r["topic"], r["partition"], r["new"])
                          for r in plan)  # fmt: skip
            answer = await seam.commit_offsets(
                OffsetCommitRequest(group_id, parts, generation_id=-1), caller=caller
            )
            for result in answer.partitions:
                if result.error.value != 0:
                    where = f"{result.topic}-{result.partition}"
                    raise error_for_code(int(result.error), f"{where}: {result.error.name}")
        return web.json_response({"group": group_id, "dry_run": dry, "partitions": plan})

    app.router.add_get("/api/groups", list_groups)
    app.router.add_get("/api/groups/{id}", describe)
    app.router.add_post("/api/groups/{id}/reset", reset)


def _plan(seam: BrokerSeam, caller: Caller, body: dict[str, Any],
          parts: tuple[PartitionOffset, ...]) -> list[dict[str, Any]]:  # fmt: skip
    to = body.get("to")
    topics = body.get("topics")
    if topics is not None and (
        not isinstance(topics, list) or not all(isinstance(t, str) for t in topics)
    ):
        raise InvalidRequestError("topics must be a list of topic names")
    chosen = [p for p in parts if topics is None or p.topic in topics]
    if not chosen:
        raise InvalidRequestError("the group has no committed offsets to move (for those topics)")
    plan = []
    for p in sorted(chosen, key=lambda p: (p.topic, p.partition)):
        start, hwm = seam.replica_offsets(p.topic, p.partition, caller=caller)
        if to == "start":
            new = start
        elif to == "end":
            new = hwm
        elif to == "offset":
            new = _number(body.get("offset"), "offset")
        elif to == "time":
            ts = _number(body.get("timestamp"), "timestamp")
            new = seam.offset_for_time(p.topic, p.partition, ts, caller=caller)
        else:
            raise InvalidRequestError("to must be start, end, offset or time")
        new = min(max(new, start), hwm)
        plan.append({"topic": p.topic, "partition": p.partition,
                     "current": p.committed_offset, "new": new})  # fmt: skip
    return plan


def _number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequestError(f"{what} must be an integer ≥ 0")
    return value
