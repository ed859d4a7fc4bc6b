"""The peer book and the joiner (``logd.cluster.joining``), without a network."""

from __future__ import annotations

import asyncio

from logd.cluster.joining import Joiner, PeerBook
from logd.errors import BrokerUnavailableError
from logd.metadata.types import BrokerMeta
from logd.v1 import cluster_pb2


def test_the_peer_book_links_the_registered_brokers_once_and_tells_its_subscribers() -> None:
    links: list[tuple[int, str]] = []
    book = PeerBook(0, {0: "h:1", 1: "h:2"}, lambda n, a: links.append((n, a)))
    heard: list[int] = []
    book.subscribe(heard.append)
    assert heard == [1] and links == []  # the configured peers: linked at start already
    registered = [BrokerMeta(0, "h", 1), BrokerMeta(1, "h", 2), BrokerMeta(3, "h", 4)]
    assert book.sync(registered) == [3]
    assert book.sync(registered) == []  # once
    assert links == [(3, "h:4")] and heard == [1, 3]


def test_the_joiner_asks_the_peers_in_turn_until_one_takes_it_then_waits_for_the_metadata() -> None:
    asked: list[int] = []
    ready = [False]

    async def join(peer: int, request: cluster_pb2.JoinRequest) -> None:
        asked.append(peer)
        if peer == 0:
            raise BrokerUnavailableError("broker 0 is down")
        ready[0] = True  # its registration brings us the metadata, a little later

    async def main() -> None:
        request = cluster_pb2.JoinRequest(node_id=3, host="h", port=4)
        joiner = Joiner(request, [0, 1, 2, 3], join, lambda: ready[0])
        await asyncio.wait_for(joiner.run(), 10)
        assert joiner.joined_through == 1

    asyncio.run(main())
    assert asked == [0, 1]
