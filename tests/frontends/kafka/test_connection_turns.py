"""How many event-loop turns the Kafka listener's connection puts between a woken Fetch
and its answer on the socket (issue 22).

A real core (in-process, ``tests.broker.harness``) behind the listener's own
:class:`Connection`, over a real socket pair; the request is made by kio's serializers
(tests/integration/kafka/raw.py).
"""

from __future__ import annotations

import asyncio
import datetime
import socket
from pathlib import Path

from kio.schema.fetch.v7.request import FetchPartition, FetchRequest, FetchTopic
from kio.static.primitive import i32, i32Timedelta, i64

from logd.broker.api import NewTopic
from logd.frontends.kafka.connection import Connection
from logd.frontends.kafka.server_context import ServerContext
from logd.frontends.kafka.settings import KafkaSettings
from logd.frontends.kafka.table import API_TABLE
from tests.broker.harness import open_core
from tests.integration.kafka.raw import request_frame

FETCH = 1


def _parked_fetch() -> bytes:
    part = FetchPartition(partition=i32(0), fetch_offset=i64(0), partition_max_bytes=i32(1 << 20))
    wait = i32Timedelta.parse(datetime.timedelta(minutes=10))
    body = FetchRequest(max_wait=wait, min_bytes=i32(1), max_bytes=i32(1 << 20),
                        topics=(FetchTopic(topic="t", partitions=(part,)),),
                        forgotten_topics_data=())  # fmt: skip
    return request_frame(FETCH, 7, body)


def test_a_woken_fetch_is_answered_on_the_socket_in_the_turn_after_its_wake(
    tmp_path: Path,
) -> None:
    """The handler's task writes the answer itself once the fetch returns; a done callback
    on that task (the way before) wrote it one loop turn later."""

    async def body() -> None:
        ctx = await open_core(tmp_path)
        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        try:
            (created,) = await ctx.core.create_topics([NewTopic("t", 1)])
            assert created.error is None
            server = ServerContext(ctx.seam(), API_TABLE, KafkaSettings(), "127.0.0.1", 9092)
            loop = asyncio.get_running_loop()
            await loop.connect_accepted_socket(lambda: Connection(server, set()), ours)
            theirs.sendall(_parked_fetch())
            for _ in range(50):  # read, decoded, handled: the fetch waits for data
                await asyncio.sleep(0)
            assert _answer(theirs) == b""
            ctx.core.begin_drain()  # wakes every waiting fetch, synchronously
            await asyncio.sleep(0)  # one turn
            assert len(_answer(theirs)) > 4
        finally:
            theirs.close()
            await ctx.close()

    asyncio.run(body())


def _answer(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1 << 16)
    except BlockingIOError:
        return b""
