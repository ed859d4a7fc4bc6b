"""Who is calling the gRPC listener: one server interceptor that authenticates every call
before its handler runs, through the seam's security half (the same checks as every other
front end), and refuses non-brokers on the cluster's internal service.

Client services (``LogBroker``, ``LogAdmin``, ``GroupCoordinator``, ``SecurityAdmin``):
call metadata ``authorization: Basic base64(user:password)`` is checked against the user's
stored SCRAM keys; else a verified client certificate names the principal
(``ssl.principal.mapping.rules``); else, when the broker requires authentication, the call
ends UNAUTHENTICATED (after the KIP-306 delay, counted). The resulting :class:`Caller` is
put in a context variable that ``handlers.caller_of`` reads. A caller muted by a quota
(``throttle_ms``) is held that long before its call runs: gRPC has no throttle field, so
holding the next call is how it is muted.

Internal services (``ClusterInternal``, and ``ClusterForward``, whose requests name the caller
another broker authenticated): with TLS, the peer's certificate must be
``CN=broker-<id>`` for a broker of the cluster (mTLS; needs ``--tls-client-auth required``
for brokers to present one); without a certificate, the call must carry the cluster's id
and a broker's node id (``logd-cluster-id``, ``logd-node-id``): refused otherwise with
PERMISSION_DENIED. The handshake without TLS is weaker than mTLS (anyone who knows the id
can present it; docs/security.md).

Health and reflection answer anyone (they reveal nothing and probes need them).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import grpc

from logd.broker.seam import ANONYMOUS, BrokerSeam, Caller
from logd.errors import ClusterAuthorizationFailedError, LogdError, SaslAuthenticationFailedError
from logd.frontends.grpc.errors import abort
from logd.security.cert_names import broker_node_id
from logd.security.plain import parse_basic

_log = logging.getLogger(__name__)

__all__ = [
    "CALLER",
    "CLUSTER_ID_KEY",
    "NODE_ID_KEY",
    "Authentication",
    "client_id_of",
    "metadata_of",
]

CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("logd_caller", default=None)
CLUSTER_ID_KEY = "logd-cluster-id"
NODE_ID_KEY = "logd-node-id"
#: Brokers only: the internal service, and the requests a broker forwards to a partition's
#: leader with the caller it authenticated (``logd.v1.ClusterForward``).
_INTERNAL = frozenset({"logd.v1.ClusterInternal", "logd.v1.ClusterForward"})
_OPEN = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")
#: A broker no peer list names yet asks to join (issue 23): any node id is admitted, with
#: the cluster's handshake or a broker certificate (it is told apart from the others by its
#: id once registered: ``allow``).
_JOIN = "/logd.v1.ClusterInternal/Join"
_LISTENER = "grpc"

Behavior = Callable[[Any, grpc.aio.ServicerContext], Any]


def metadata_of(context: grpc.aio.ServicerContext) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        out[key] = value if isinstance(value, str) else value.decode("utf-8", "replace")
    return out


def client_id_of(metadata: dict[str, str]) -> str:
    """The client's name from its user agent (``logd-python/<client.id>``)."""
    agent = metadata.get("user-agent", "")
    return agent.split(" ", 1)[0].partition("/")[2] if agent.startswith("logd-") else ""


def _peer_pem(context: grpc.aio.ServicerContext) -> bytes | None:
    auth = context.auth_context()
    if b"ssl" not in (auth.get("transport_security_type") or []):
        return None
    pems = auth.get("x509_pem_cert") or []
    return pems[0] if pems else None


class Authentication(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """The interceptor; :meth:`attach` gives it the seam once the node is open."""

    def __init__(self, *, cluster_id: str, brokers: Collection[int], tls: bool) -> None:
        self._cluster_id = cluster_id
        self._brokers = set(brokers)
        self._tls = tls
        self._seam: BrokerSeam | None = None

    def attach(self, seam: BrokerSeam) -> None:
        self._seam = seam

    def allow(self, node: int) -> None:
        """Broker ``node`` joined the cluster (issue 23): it may call the internal service."""
        self._brokers.add(node)

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        service = details.method.lstrip("/").partition("/")[0]
        if service in _OPEN:
            return handler
        if details.method == _JOIN:
            return _wrap(handler, self._admit_joining)
        if service in _INTERNAL:
            return _wrap(handler, self._admit_broker)
        seam = self._seam
        if seam is None or (not seam.security.authentication_required and not self._tls):
            return handler  # nothing to learn: everyone is anonymous (no cost per call)
        return _wrap(handler, self._admit_client)

    async def _admit_client(self, context: grpc.aio.ServicerContext) -> None:
        seam = self._seam
        assert seam is not None
        meta = metadata_of(context)
        security = seam.security
        principal: str | None = None
        try:
            token = meta.get("authorization")
            pem = _peer_pem(context)
            if token is not None:
                try:
                    credentials = parse_basic(token)
                except LogdError:
                    await security.failed(_LISTENER, "bad authorization", context.peer())
                    raise
                principal = await security.authenticate_password(
                    credentials.username, credentials.password, _LISTENER, context.peer()
                )
            elif pem is not None and security.authentication_required:
                principal = await security.certificate_principal(pem, _LISTENER, context.peer())
            elif security.authentication_required:
                await security.failed(_LISTENER, "no credentials", context.peer())
                raise SaslAuthenticationFailedError(
                    "authentication required: give --user/--password (sasl.username and"
                    " sasl.password) or a client certificate"
                )
        except LogdError as exc:
            await abort(context, exc)
        caller = Caller(
            principal=principal or ANONYMOUS.principal,
            client_id=client_id_of(meta),
            listener=_LISTENER,
            address=context.peer() or "",
        )
        CALLER.set(caller)
        wait_ms = security.throttle_ms(caller)
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000.0)

    async def _admit_joining(self, context: grpc.aio.ServicerContext) -> None:
        await self._admit_broker(context, joining=True)

    async def _admit_broker(self, context: grpc.aio.ServicerContext, joining: bool = False) -> None:
        pem = _peer_pem(context)
        if pem is not None:
            node = broker_node_id(pem)
            ok = node is not None and (joining or node in self._brokers)
            how = f"certificate {node!r}"
        else:
            meta = metadata_of(context)
            node_text = meta.get(NODE_ID_KEY, "")
            ok = (
                meta.get(CLUSTER_ID_KEY) == self._cluster_id
                and node_text.isdigit()
                and (joining or int(node_text) in self._brokers)
            )
            how = "no broker certificate and no cluster handshake"
        if not ok:
            _log.info("refused %s on the internal service: %s", context.peer(), how)
            if self._seam is not None:
                self._seam.security.note_refused_peer(_LISTENER)
            await abort(
                context,
                ClusterAuthorizationFailedError(
                    f"the internal service answers brokers of this cluster only ({how})"
                ),
            )


def _wrap(handler: Any, admit: Callable[[grpc.aio.ServicerContext], Awaitable[None]]) -> Any:
    """The same handler, with ``admit(context)`` run first in the call's own task."""
    if handler.unary_unary is not None:
        inner, make = handler.unary_unary, grpc.unary_unary_rpc_method_handler
    elif handler.stream_stream is not None:
        inner, make = handler.stream_stream, grpc.stream_stream_rpc_method_handler
    elif handler.unary_stream is not None:
        inner, make = handler.unary_stream, grpc.unary_stream_rpc_method_handler
    else:
        inner, make = handler.stream_unary, grpc.stream_unary_rpc_method_handler

    if inspect.isasyncgenfunction(inner):

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await admit(context)
            async for item in inner(request, context):
                yield item

        return make(
            streaming,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await admit(context)
        return await inner(request, context)

    return make(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
