"""The produce stream: correlation ids, out-of-order answers, in-flight bound, failures.

A fake call object stands in for grpc.aio's stream (no sockets); answers are fed by hand.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from logd.client.transport.produce_stream import ProduceStream
from logd.errors import LogdError, NetworkError, RequestTimedOutError
from logd.v1 import broker_pb2


class FakeCall:
    def __init__(self) -> None:
        self.written: list[Any] = []
        self.answers: asyncio.Queue[Any] = asyncio.Queue()
        self.cancelled = False

    async def write(self, request: Any) -> None:
        self.written.append(request)

    async def read(self) -> Any:
        item = await self.answers.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def cancel(self) -> None:
        self.cancelled = True


class Opener:
    def __init__(self) -> None:
        self.calls: list[FakeCall] = []

    def __call__(self, **kwargs: Any) -> FakeCall:
        assert kwargs == {"wait_for_ready": False}
        self.calls.append(FakeCall())
        return self.calls[-1]


Outcomes = list[tuple[str, Any, LogdError | None]]


def records_of(frame: bytes) -> bytes:
    """The batch in a request as the stream wrote it (serialized, for a serializer-less call)."""
    return broker_pb2.ProduceRequest.FromString(frame).records


def sender(stream: ProduceStream, outcomes: Outcomes, name: str, acks: int = -1) -> int:
    return stream.send("t", 0, acks, 1000, name.encode(),
                       lambda r, e: outcomes.append((name, r, e)))  # fmt: skip


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_answers_are_matched_by_correlation_id_in_any_order() -> None:
    async def main() -> None:
        opener = Opener()
        stream = ProduceStream("b:1", opener, max_in_flight=3, request_timeout_s=30)
        outcomes: Outcomes = []
        ids = [sender(stream, outcomes, n) for n in ("a", "b", "c")]
        assert len(set(ids)) == 3
        assert stream.available == 0
        await settle()
        (call,) = opener.calls
        assert [records_of(r) for r in call.written] == [b"a", b"b", b"c"], "written in order"
        # Handed to gRPC serialized (one copy of the batch), not as a message that gRPC
        # serializes (protobuf copied the batch twice: into the message, then to bytes).
        assert all(type(r) is bytes for r in call.written)
        call.answers.put_nowait(broker_pb2.ProduceResponse(correlation_id=ids[2], base_offset=7))
        call.answers.put_nowait(broker_pb2.ProduceResponse(correlation_id=ids[0], base_offset=5))
        await settle()
        assert [(n, r.base_offset, e) for n, r, e in outcomes] == [("c", 7, None), ("a", 5, None)]
        assert stream.available == 2
        stream.close(NetworkError("bye"))

    asyncio.run(main())


def test_a_broken_stream_fails_every_unanswered_request_in_order_and_reopens() -> None:
    async def main() -> None:
        opener = Opener()
        stream = ProduceStream("b:1", opener, max_in_flight=5, request_timeout_s=30)
        outcomes: Outcomes = []
        for n in ("a", "b", "c"):
            sender(stream, outcomes, n)
        await settle()
        opener.calls[0].answers.put_nowait(grpc.aio.EOF)
        await settle()
        assert [n for n, _, _ in outcomes] == ["a", "b", "c"]
        assert all(isinstance(e, NetworkError) and e.retriable for _, _, e in outcomes)
        assert "b:1: the broker closed the produce stream" in str(outcomes[0][2])
        assert opener.calls[0].cancelled
        sender(stream, outcomes, "d")
        await settle()
        assert len(opener.calls) == 2, "the next send opens a new stream"
        assert [records_of(r) for r in opener.calls[1].written] == [b"d"]
        stream.close(NetworkError("bye"))

    asyncio.run(main())


def test_acks_zero_completes_once_written() -> None:
    async def main() -> None:
        stream = ProduceStream("b:1", Opener(), max_in_flight=1, request_timeout_s=30)
        outcomes: Outcomes = []
        sender(stream, outcomes, "a", acks=0)
        await settle()
        assert outcomes == [("a", None, None)]
        assert stream.available == 1
        stream.close(NetworkError("bye"))

    asyncio.run(main())


def test_a_late_answer_times_the_stream_out() -> None:
    async def main() -> None:
        opener = Opener()
        stream = ProduceStream("b:1", opener, max_in_flight=2, request_timeout_s=0.01)
        outcomes: Outcomes = []
        sender(stream, outcomes, "a")
        for _ in range(500):
            if outcomes:
                break
            await asyncio.sleep(0.01)
        ((name, response, error),) = outcomes
        assert name == "a" and response is None
        assert isinstance(error, RequestTimedOutError)
        assert "no answer to a produce request within 0.01s" in str(error)
        stream.close(NetworkError("bye"))

    asyncio.run(main())


def test_sending_beyond_the_bound_is_a_bug() -> None:
    async def main() -> None:
        stream = ProduceStream("b:1", Opener(), max_in_flight=1, request_timeout_s=30)
        sender(stream, [], "a")
        with pytest.raises(AssertionError):
            sender(stream, [], "b")
        stream.close(NetworkError("bye"))

    asyncio.run(main())
