"""Writes on a broker that is not the writer: forwarded to the writer's registry.

Confluent's and Karapace's registries forward the same way (HTTP to the elected leader).
The client's credentials go along: its ``Authorization`` (checked again by the writer), and
its principal in ``X-Logd-Principal``, which the writer believes only over mTLS from a
broker's certificate (``auth``) -- so a certificate-authenticated client's write keeps its
identity, and its ACLs are checked again where the write is made.
The writer answers with the offset of its last record in ``X-Logd-Registry-Offset``; we
wait until our own copy has applied it before answering, so the client reads its own
write from this broker next.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import aiohttp
from aiohttp import web

from logd.frontends.registry.auth import PRINCIPAL_HEADER, caller_of
from logd.frontends.registry.http import reply
from logd.frontends.registry.store import SchemaStore
from logd.registry.errors import WriterUnavailableError
from logd.registry.state import RegistryState
from logd.registry.writes import Plan

__all__ = ["FORWARDED_HEADER", "OFFSET_HEADER", "write"]

OFFSET_HEADER = "X-Logd-Registry-Offset"
FORWARDED_HEADER = "X-Logd-Registry-Forwarded"
_FORWARD_TIMEOUT_S = 30.0
_PASSED_HEADERS = ("Authorization", "Content-Type", "Accept")


async def write(
    request: web.Request, store: SchemaStore, plan_for: Callable[[RegistryState], Plan]
) -> web.Response:
    """Run a write here if this broker is the writer, else forward it there."""
    if await store.is_writer():
        answer, last = await store.write(plan_for)
        response = reply(answer)
        if last >= 0:
            response.headers[OFFSET_HEADER] = str(last)
        return response
    if request.headers.get(FORWARDED_HEADER):
        # the writer moved between the sender's look and ours: let the client retry
        raise WriterUnavailableError("the schema registry writer moved; retry")
    return await _forward(request, store)


async def _forward(request: web.Request, store: SchemaStore) -> web.Response:
    url = await store.writer_url() + request.rel_url.path_qs
    headers = {h: request.headers[h] for h in _PASSED_HEADERS if h in request.headers}
    headers[FORWARDED_HEADER] = "1"
    headers[PRINCIPAL_HEADER] = caller_of(request).principal  # believed over mTLS only
    body = await request.read()
    timeout = aiohttp.ClientTimeout(total=_FORWARD_TIMEOUT_S)
    tls = store.forward_ssl if store.forward_ssl is not None else True
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(request.method, url, data=body, headers=headers, ssl=tls) as answer,
        ):
            payload = await answer.read()
            offset = answer.headers.get(OFFSET_HEADER)
            status, content_type = answer.status, answer.content_type
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise WriterUnavailableError(f"forwarding to the writer failed: {exc}") from exc
    if offset is not None and offset.isdigit():
        with contextlib.suppress(TimeoutError):  # committed there; this copy is only slow
            await store.wait_applied(int(offset))
    response = web.Response(body=payload, status=status, content_type=content_type)
    if offset is not None:
        response.headers[OFFSET_HEADER] = offset
    return response
