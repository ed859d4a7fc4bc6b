"""gRPC method handlers built by hand, so that undecodable requests get a typed error.

The generated ``add_*Servicer_to_server`` deserializes with ``Message.FromString``; bytes
that are not a valid protobuf then make grpc answer UNKNOWN with a Python exception's text.
Here the deserializer returns a :class:`Malformed` marker instead, and the handler answers
INVALID_REQUEST through the one error helper like any other bad input. Stream handlers see
the marker among the requests and decide themselves (the produce stream answers what it
already read, then ends with INVALID_REQUEST).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped]

from logd.broker.seam import Caller, Telemetry
from logd.errors import InvalidRequestError
from logd.frontends.grpc.auth import CALLER, client_id_of, metadata_of
from logd.frontends.grpc.errors import abort, translate

__all__ = [
    "LISTENER",
    "Malformed",
    "caller_of",
    "service_handler",
    "stream_stream",
    "unary_stream",
    "unary_unary",
]

#: This front end's listener name, as the node and ``Caller.listener`` spell it.
LISTENER = "grpc"


@dataclasses.dataclass(frozen=True, slots=True)
class Malformed:
    """A request message whose bytes did not parse."""

    type_name: str
    reason: str

    def error(self) -> InvalidRequestError:
        return InvalidRequestError(f"request is not a valid {self.type_name}: {self.reason}")


def _deserializer(message_type: type[Message]) -> Callable[[bytes], Message | Malformed]:
    parse = message_type.FromString
    name = message_type.DESCRIPTOR.full_name

    def deserialize(data: bytes) -> Message | Malformed:
        try:
            return parse(data)
        except DecodeError as exc:
            return Malformed(name, str(exc) or "wire format is corrupt")

    return deserialize


def _serialize(message: Message) -> bytes:
    data: bytes = message.SerializeToString()
    return data


UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Message]]


def unary_unary(
    method: str,
    behavior: UnaryBehavior,
    request_type: type[Message],
    telemetry: Telemetry | None = None,
) -> grpc.RpcMethodHandler:
    """A unary handler: malformed requests and escaped errors become typed statuses; each
    call is reported to ``telemetry`` (the request boundary, ``logd.broker.telemetry``)."""

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Message:
        started = time.perf_counter()
        failed = True
        try:
            if isinstance(request, Malformed):
                await abort(context, request.error())
            async with translate(context, method):
                answer = await behavior(request, context)
                failed = False
                return answer
        finally:
            if telemetry is not None:
                telemetry.request(LISTENER, method, started, error=failed)
        raise AssertionError("unreachable: translate re-raises or aborts")  # pragma: no cover

    return grpc.unary_unary_rpc_method_handler(
        handle, request_deserializer=_deserializer(request_type), response_serializer=_serialize
    )


def unary_stream(
    method: str,
    behavior: Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]],
    request_type: type[Message],
) -> grpc.RpcMethodHandler:
    """A server-streaming handler (it writes with ``context.write``): malformed requests and
    escaped errors become typed statuses, as :func:`unary_unary`'s."""

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> None:
        if isinstance(request, Malformed):
            await abort(context, request.error())
        async with translate(context, method):
            await behavior(request, context)

    return grpc.unary_stream_rpc_method_handler(
        handle, request_deserializer=_deserializer(request_type), response_serializer=_serialize
    )


def stream_stream(
    behavior: Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]],
    request_type: type[Message],
    deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler:
    """A bidirectional-stream handler; requests may include :class:`Malformed` markers.
    ``deserializer``: reads each request instead of ``request_type.FromString`` (and
    returns :class:`Malformed` itself for bytes it cannot read)."""
    return grpc.stream_stream_rpc_method_handler(
        behavior,
        request_deserializer=deserializer or _deserializer(request_type),
        response_serializer=_serialize,
    )


def service_handler(
    service: str, methods: dict[str, grpc.RpcMethodHandler]
) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(service, methods)


def caller_of(context: grpc.aio.ServicerContext) -> Caller:
    """Who calls: as ``auth.Authentication`` established it for this call (authenticated
    principal, client id, peer), or, when the listener authenticates nobody, anonymous
    with the client's name from its user agent (``logd-python/<client.id>``)."""
    known = CALLER.get()
    if known is not None:
        return known
    client_id = client_id_of(metadata_of(context))
    return Caller(client_id=client_id, listener=LISTENER, address=context.peer() or "")
