"""The front-end seam: every call passes its caller through the one gate, and a refusal is
the typed error a front end maps like any other."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection
from pathlib import Path

import pytest

from logd.broker.api import FetchPartitionRequest, NewTopic
from logd.broker.seam import ANONYMOUS, BROKER, Caller
from logd.errors import ErrorCode, LogdError, NotControllerError
from logd.groups.messages import HeartbeatRequest
from logd.records import build_value_batch
from tests.broker.harness import open_core

ALICE = Caller(principal="User:alice", client_id="app", listener="grpc", address="ipv4:1.2.3.4:5")


class Recording:
    """A gate that admits everyone but ``refused`` actions, and remembers what it saw."""

    def __init__(self, refused: Collection[str] = ()) -> None:
        self.seen: list[tuple[Caller, str, tuple[str, ...]]] = []
        self.refused = set(refused)

    def admit(self, caller: Caller, action: str, resources: Collection[str] = ()) -> None:
        self.seen.append((caller, action, tuple(sorted(resources))))
        if action in self.refused:
            raise NotControllerError(f"{caller.principal} may not {action}")  # any typed error


def test_every_call_reaches_the_gate_with_its_caller(tmp_path: Path) -> None:
    async def run() -> None:
        gate = Recording()
        ctx = await open_core(tmp_path)
        seam = ctx.seam(gate)
        try:
            (created,) = await seam.create_topics([NewTopic("t", 1)], caller=ALICE)
            assert created.error is None
            produced = await seam.produce("t", 0, -1, build_value_batch([b"v"], 0), caller=ALICE)
            assert produced.error is None
            (fetched,) = await seam.fetch(
                [FetchPartitionRequest("t", 0, 0, 1 << 20)],
                max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, caller=ALICE,
            )  # fmt: skip
            assert fetched.error is None and fetched.records
            await seam.metadata(["t"])  # no caller: anonymous
            await seam.heartbeat(HeartbeatRequest("g", 1, "m"), caller=ALICE)
        finally:
            await ctx.close()
        assert gate.seen == [
            (ALICE, "create_topics", ("t",)),
            (ALICE, "produce", ("t",)),
            (ALICE, "fetch", ("t",)),
            (ANONYMOUS, "metadata", ("t",)),
            (ALICE, "heartbeat", ("g",)),
        ]

    asyncio.run(asyncio.wait_for(run(), 60))


def test_a_refused_call_is_a_typed_error_and_changes_nothing(tmp_path: Path) -> None:
    async def run() -> None:
        ctx = await open_core(tmp_path)
        seam = ctx.seam(Recording(refused={"produce", "create_topics"}))
        try:
            with pytest.raises(LogdError):
                await seam.create_topics([NewTopic("t", 1)], caller=ALICE)
            assert await seam.list_topics() == []
            # Produce never raises (a stream answers every request): the refusal is the answer.
            answer = await seam.produce("t", 0, 1, build_value_batch([b"v"], 0), caller=ALICE)
            assert answer.error is not None and answer.error.code is ErrorCode.NOT_CONTROLLER
        finally:
            await ctx.close()

    asyncio.run(asyncio.wait_for(run(), 60))


def test_the_broker_itself_passes_and_a_caller_with_its_fields_does_not(tmp_path: Path) -> None:
    """``BROKER`` (the registry's own `_schemas` calls) is known by identity: a client that
    authenticated under the same principal is checked like anyone."""

    async def run() -> None:
        ctx = await open_core(tmp_path)
        gate = Recording(refused={"create_topics", "produce", "fetch"})
        seam = ctx.seam(gate)
        try:
            (created,) = await seam.create_topics([NewTopic("t", 1)], caller=BROKER)
            assert created.error is None
            produced = await seam.produce("t", 0, -1, build_value_batch([b"v"], 0), caller=BROKER)
            assert produced.error is None
            (own,) = await seam.fetch_replica(
                [FetchPartitionRequest("t", 0, 0, 1 << 20)],
                max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, caller=BROKER,
            )  # fmt: skip
            assert own.error is None and own.records
            assert gate.seen == []
            twin = dataclasses.replace(BROKER)
            assert twin == BROKER and twin is not BROKER
            with pytest.raises(LogdError):
                await seam.create_topics([NewTopic("u", 1)], caller=twin)
            assert gate.seen == [(twin, "create_topics", ("u",))]
        finally:
            await ctx.close()

    asyncio.run(asyncio.wait_for(run(), 60))
