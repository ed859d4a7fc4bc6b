"""Request/reply and filtered channels against a real broker: pairing under load, timeouts,
late replies, handler failures, many threads; records a filter drops never come back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from logd.client import OFFSET_BEGINNING, Admin, Consumer, NewTopic, Producer, TopicPartition
from logd.client.patterns import (
    AsyncRequester,
    AsyncResponder,
    Requester,
    Responder,
    header_in,
    key_prefix,
)
from logd.errors import RequestTimedOutError
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.group_support import running_group_broker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    yield from running_group_broker(tmp_path_factory.mktemp("patterns"))


def topics(b: BrokerProcess, *names: str, partitions: int = 2) -> None:
    with Admin(brokers=b.address) as admin:
        admin.create_topics([NewTopic(n, partitions) for n in names])


def test_many_requests_in_flight_each_get_their_own_reply(broker: BrokerProcess) -> None:
    topics(broker, "svc.echo")

    async def handler(request):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0)
        return b"re:" + request.value

    async def main() -> None:
        async with AsyncResponder(broker.address, "svc.echo", handler) as responder:
            serving = asyncio.create_task(responder.serve())
            async with AsyncRequester(broker.address) as requester:
                calls = [
                    asyncio.create_task(requester.request("svc.echo", b"%d" % i, timeout=60))
                    for i in range(200)
                ]
                await asyncio.sleep(0)
                assert requester.in_flight == 200, "all in flight at once"
                replies = await asyncio.gather(*calls)
                assert [r.value for r in replies] == [b"re:%d" % i for i in range(200)]
                assert requester.late_replies == 0
            serving.cancel()

    asyncio.run(main())


def test_a_request_times_out_and_its_late_reply_is_dropped(
    broker: BrokerProcess, tmp_path: Path
) -> None:
    topics(broker, "svc.late")
    with Requester(broker.address) as requester:
        with pytest.raises(RequestTimedOutError, match=r"no reply from 'svc\.late' within 0\.3s"):
            requester.request("svc.late", b"first", timeout=0.3)
        # A responder comes up and answers the stale request: nobody waits for that reply.
        responder = Responder(broker.address, "svc.late", lambda r: r.value + b"!")
        serving = threading.Thread(target=responder.serve)
        serving.start()
        try:
            wait_until(lambda: requester.late_replies == 1, 60, message="the late reply")
            assert requester.request("svc.late", b"second", timeout=60).value == b"second!"
        finally:
            responder.close()
            serving.join()
    assert requester.late_replies == 1


def test_requests_from_many_threads_and_records_that_are_not_requests(
    broker: BrokerProcess,
) -> None:
    topics(broker, "svc.len")
    with Producer(brokers=broker.address) as producer:
        producer.produce("svc.len", b"no reply-to: not a request")
    responder = Responder(broker.address, "svc.len", lambda r: str(len(r.value)))
    serving = threading.Thread(target=responder.serve)
    serving.start()
    try:
        with Requester(broker.address) as requester:
            words = [b"x" * n for n in range(1, 81)]
            with ThreadPoolExecutor(8) as pool:
                replies = list(pool.map(lambda w: requester.request("svc.len", w), words))
        assert [int(r.value) for r in replies] == list(range(1, 81))
    finally:
        responder.close()
        serving.join()
    assert (responder.served, responder.skipped) == (80, 1)


def test_a_filtered_consumer_skips_what_it_drops_and_moves_past_it(
    broker: BrokerProcess,
) -> None:
    topics(broker, "events", partitions=1)
    with Producer(brokers=broker.address) as producer:
        for i in range(300):
            kind = ("created", "updated", "deleted")[i % 3]
            producer.produce("events", b"%d" % i, key=b"eu-%d" % i if i % 2 else b"us-%d" % i,
                             headers={"type": kind})  # fmt: skip
    keep = header_in("type", ["created", "deleted"])
    eu = key_prefix("eu-")
    with Consumer(brokers=broker.address, record_filter=lambda k, h: keep(k, h) and eu(k, h)) as c:
        tp = TopicPartition("events", 0, OFFSET_BEGINNING)
        c.assign([tp])
        got: list[int] = []
        while len(got) < 100:
            got += [int(r.value) for r in c.consume(1000, 10)]
        # The end is 301: offset 0 holds the leader's LEADER_CHANGE batch (DESIGN.md ¶3).
        wait_until(lambda: c.position([tp])[0].offset == 301, 10, message="the end")
        assert c.consume(1000, 0.2) == []
    assert got == [i for i in range(300) if i % 3 != 1 and i % 2]
