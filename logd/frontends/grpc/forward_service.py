"""The gRPC servicer of ``logd.v1.ClusterForward``: requests another broker's front end
forwards here because this broker leads the partition (or coordinates the group).

Thin, like every servicer here: each call is converted (``convert``, ``group_convert``) and
run through this broker's seam as the caller the forwarding broker names, with its gate; it
is never forwarded again (an answer NOT_LEADER_OR_FOLLOWER goes back with its hint, and the
forwarding broker's ``logd.broker.routing.Router`` follows it).

Brokers only (``auth``: a broker certificate, or the cluster handshake without TLS), since a
request names the caller it runs as. Ownership: on the broker's event loop.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc

from logd.broker.seam import BrokerSeam, Caller
from logd.frontends.grpc import convert, group_convert
from logd.frontends.grpc.handlers import service_handler, unary_unary
from logd.v1 import forward_pb2

__all__ = ["FORWARD_SERVICE", "ForwardService"]

FORWARD_SERVICE = forward_pb2.DESCRIPTOR.services_by_name["ClusterForward"].full_name
_Ctx: TypeAlias = grpc.aio.ServicerContext


def _caller(forwarded: Any) -> Caller:
    c = forwarded.caller
    return Caller(c.principal or "User:ANONYMOUS", c.client_id, c.listener, c.address)


class ForwardService:
    def __init__(self, seam: BrokerSeam) -> None:
        self._seam = seam

    def handler(self) -> grpc.GenericRpcHandler:
        methods: dict[str, tuple[Any, Any]] = {
            "Produce": (self.produce, forward_pb2.ForwardedProduce),
            "Fetch": (self.fetch, forward_pb2.ForwardedFetch),
            "ListOffsets": (self.list_offsets, forward_pb2.ForwardedListOffsets),
            "OffsetCommit": (self.offset_commit, forward_pb2.ForwardedOffsetCommit),
            "OffsetFetch": (self.offset_fetch, forward_pb2.ForwardedOffsetFetch),
        }
        return service_handler(
            FORWARD_SERVICE,
            {name: unary_unary(name, fn, kind) for name, (fn, kind) in methods.items()},
        )

    async def produce(self, forwarded: Any, context: _Ctx) -> Any:
        r = forwarded.request
        result = await self._seam.produce(
            r.topic, r.partition, r.acks, r.records, r.timeout_ms, caller=_caller(forwarded)
        )
        return convert.produce_response(r, result)

    async def fetch(self, forwarded: Any, context: _Ctx) -> Any:
        r = forwarded.request
        results = await self._seam.fetch(
            convert.fetch_requests(r),
            max_wait_ms=r.max_wait_ms,
            min_bytes=r.min_bytes,
            max_bytes=r.max_bytes,
            caller=_caller(forwarded),
        )
        return convert.fetch_response(results)

    async def list_offsets(self, forwarded: Any, context: _Ctx) -> Any:
        queries = convert.list_offsets_queries(forwarded.request)
        answers = await self._seam.list_offsets(queries, caller=_caller(forwarded))
        return convert.list_offsets_response(answers)

    async def offset_commit(self, forwarded: Any, context: _Ctx) -> Any:
        request = group_convert.commit_request(forwarded.request)
        answer = await self._seam.commit_offsets(request, caller=_caller(forwarded))
        return group_convert.commit_response(answer)

    async def offset_fetch(self, forwarded: Any, context: _Ctx) -> Any:
        r = forwarded.request
        answer = await self._seam.fetch_offsets(
            r.group_id, group_convert.fetch_partitions(r), caller=_caller(forwarded)
        )
        return group_convert.fetch_response(answer)
