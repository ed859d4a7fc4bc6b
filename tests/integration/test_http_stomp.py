"""STOMP 1.2 over WebSocket on the HTTP listener, driven by stomp.py (and websocket-client
for frames no client library would send): SEND with RECEIPTs after commit, SUBSCRIBE from
an offset, a time or the end receiving records the CLI produced, client-individual ACKs
committing a group's offsets, transactions, heart-beats, and bad input -> an ERROR frame,
nothing stored."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket

from logd.client import Consumer, Producer, TopicPartition
from tests.integration.cluster import BrokerProcess
from tests.integration.http_support import create_topic, http_config
from tests.integration.stomp_support import frame, raw_socket, read_frames, stomp_connection

pytestmark = pytest.mark.integration

LOGD = str(Path(sys.executable).with_name("logd"))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    root = tmp_path_factory.mktemp("stomp")
    config = http_config(root, stomp_max_frame_bytes=4096, stomp_heartbeat_ms=200)
    b = BrokerProcess(root / "broker", config_file=config)
    b.start()
    yield b
    code = b.stop()
    assert "Traceback" not in b.stderr_text(), b._tail()
    assert code == 0, b._tail()


def _read(broker: BrokerProcess, topic: str, count: int, partition: int = 0) -> list[object]:
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition(topic, partition, 0)])
        records = consumer.consume(count, timeout=20)
    assert len(records) == count
    return list(records)


def _cli_produce(broker: BrokerProcess, topic: str, lines: list[str]) -> None:
    subprocess.run([LOGD, "produce", topic, "-b", broker.address],
                   input="\n".join(lines) + "\n", text=True, check=True, timeout=60,
                   capture_output=True)  # fmt: skip


def test_send_gets_its_receipt_once_committed_and_reads_back_with_grpc(
    broker: BrokerProcess,
) -> None:
    create_topic(broker, "st-send", 1)
    conn, seen = stomp_connection(broker)
    conn.connect(wait=True)
    try:
        for i in range(3):
            conn.send("/topic/st-send", f"hello {i}", headers={"key": f"k{i}", "trace": f"t{i}",
                                                             "receipt": f"r{i}"})  # fmt: skip
        seen.wait(lambda: len(seen.receipts) == 3)
        assert seen.receipts == ["r0", "r1", "r2"] and seen.errors == []
    finally:
        conn.disconnect()
    records = _read(broker, "st-send", 3)
    assert [(r.key, r.value) for r in records] == [  # type: ignore[attr-defined]
        (b"k%d" % i, b"hello %d" % i) for i in range(3)
    ]
    assert ("trace", b"t0") in records[0].headers  # type: ignore[attr-defined]


def test_subscribe_from_an_offset_receives_what_the_cli_produced(broker: BrokerProcess) -> None:
    create_topic(broker, "st-cli", 1)
    _cli_produce(broker, "st-cli", [f"line {i}" for i in range(5)])
    offsets = [r.offset for r in _read(broker, "st-cli", 5)]  # type: ignore[attr-defined]
    conn, seen = stomp_connection(broker)
    conn.connect(wait=True)
    try:
        conn.subscribe("/topic/st-cli", id="s1", headers={"x-offset": str(offsets[2])})
        seen.wait(lambda: len(seen.messages) == 3)
        assert [body for _, body in seen.messages] == ["line 2", "line 3", "line 4"]
        headers = seen.messages[0][0]
        assert headers["subscription"] == "s1" and headers["destination"] == "/topic/st-cli"
        assert (headers["x-partition"], headers["x-offset"]) == ("0", str(offsets[2]))
        _cli_produce(broker, "st-cli", ["live"])
        seen.wait(lambda: len(seen.messages) == 4)
        assert seen.messages[-1][1] == "live"
    finally:
        conn.disconnect()


def test_subscribe_from_the_end_and_from_a_time(broker: BrokerProcess) -> None:
    create_topic(broker, "st-when", 1)
    _cli_produce(broker, "st-when", ["old"])
    (old,) = _read(broker, "st-when", 1)
    conn, seen = stomp_connection(broker)
    conn.connect(wait=True)
    try:
        conn.subscribe("/topic/st-when", id="end", headers={"receipt": "sub"})
        seen.wait(lambda: "sub" in seen.receipts)
        since = str(old.timestamp + 1)  # type: ignore[attr-defined]
        conn.subscribe("/topic/st-when", id="time", headers={"x-offset": f"timestamp={since}"})
        _cli_produce(broker, "st-when", ["new"])
        seen.wait(lambda: len(seen.messages) == 2)
        assert sorted((h["subscription"], b) for h, b in seen.messages) == [
            ("end", "new"), ("time", "new")]  # fmt: skip
    finally:
        conn.disconnect()


def test_client_individual_acks_commit_the_groups_offsets(broker: BrokerProcess) -> None:
    """Acknowledge records 0, 1 and 3 of four: the group's offset stops before 2, so the next
    subscription of the group starts there."""
    create_topic(broker, "st-acks", 1)
    _cli_produce(broker, "st-acks", [f"m{i}" for i in range(4)])
    conn, seen = stomp_connection(broker)
    conn.connect(wait=True)
    conn.subscribe("/topic/st-acks", id="a", ack="client-individual",
                   headers={"x-group": "g-acks", "x-offset": "first"})  # fmt: skip
    seen.wait(lambda: len(seen.messages) == 4)
    for i in (0, 1, 3):
        conn.ack(seen.messages[i][0]["ack"], receipt=f"ack{i}")
    seen.wait(lambda: len(seen.receipts) == 3)
    conn.disconnect()
    again, seen2 = stomp_connection(broker)
    again.connect(wait=True)
    try:
        again.subscribe("/topic/st-acks", id="b", ack="client-individual",
                        headers={"x-group": "g-acks", "x-offset": "next"})  # fmt: skip
        seen2.wait(lambda: len(seen2.messages) == 2)
        assert [body for _, body in seen2.messages] == ["m2", "m3"]
    finally:
        again.disconnect()


def test_a_transaction_appends_its_sends_together_at_commit(broker: BrokerProcess) -> None:
    create_topic(broker, "st-tx", 1)
    conn, seen = stomp_connection(broker)
    conn.connect(wait=True)
    try:
        tx = conn.begin()
        for i in range(3):
            conn.send("/topic/st-tx", f"tx{i}", transaction=tx)
        conn.abort(conn.begin())  # a second transaction, dropped
        conn.commit(tx, receipt="done")
        seen.wait(lambda: "done" in seen.receipts)
    finally:
        conn.disconnect()
    records = _read(broker, "st-tx", 3)
    assert [r.value for r in records] == [b"tx0", b"tx1", b"tx2"]  # type: ignore[attr-defined]


def test_heart_beats_both_ways(broker: BrokerProcess) -> None:
    """The server beats every max(200 ms, what the client asks); a client that promised
    beats and sends none is disconnected with an ERROR frame."""
    ws = raw_socket(broker)
    ws.send(frame("CONNECT", {"accept-version": "1.2", "host": "x", "heart-beat": "100,100"}))
    connected = ws.recv()
    assert "heart-beat:200,200" in connected
    beats = 0
    start = time.monotonic()
    while True:
        data = ws.recv()
        if data == "\n":
            beats += 1
            continue
        break
    assert beats >= 1
    assert data.startswith("ERROR") and "nothing from the client" in data
    assert time.monotonic() - start < 10
    ws.close()


@pytest.fixture(scope="module")
def bad_topic(broker: BrokerProcess) -> str:
    create_topic(broker, "st-bad", 1)
    return "st-bad"


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([frame("SEND", {"destination": "/topic/st-bad"}, b"x")], "SEND before CONNECT"),
        ([frame("CONNECT", {"accept-version": "1.0,1.1", "host": "x"})], "STOMP 1.2 only"),
        ([frame("CONNECT", {"accept-version": "1.2", "host": "x"}),
          frame("SEND", {"destination": "/queue/st-bad", "receipt": "r"}, b"x")],
         "expected /topic/"),
        ([frame("CONNECT", {"accept-version": "1.2", "host": "x"}),
          frame("SEND", {"destination": "/topic/st-bad"}, b"x" * 5000)], "longer than"),
        ([frame("CONNECT", {"accept-version": "1.2", "host": "x"}),
          frame("SEND", {"destination": "/topic/st-bad", "content-length": "99999"}, b"x")],
         "over the limit"),
        ([frame("CONNECT", {"accept-version": "1.2", "host": "x"}),
          frame("ACK", {"id": "7.3"})], "no such message"),
        ([frame("CONNECT", {"accept-version": "1.2", "host": "x"}),
          b"HELLO\n\n\0"], "unknown command"),
        ([frame("CONNECT", {"accept-version": "1.2", "host": "x"}),
          frame("SUBSCRIBE", {"id": "1", "destination": "/topic/st-bad", "x-offset": "soon"})],
         "x-offset"),
    ],
)  # fmt: skip
def test_bad_input_gets_an_error_frame_and_nothing_is_stored(
    broker: BrokerProcess, bad_topic: str, frames: list[bytes], message: str
) -> None:
    ws = raw_socket(broker)
    for data in frames:
        ws.send_binary(data)
    got = read_frames(ws, until="ERROR")
    assert got and got[-1].startswith(b"ERROR"), got
    assert message.encode() in got[-1], got[-1]
    ws.close()
    with Consumer(brokers=broker.address) as consumer:
        consumer.assign([TopicPartition(bad_topic, 0, 0)])
        assert consumer.consume(1, timeout=0.5) == []


def test_a_websocket_message_over_the_limit_closes_with_1009(broker: BrokerProcess) -> None:
    ws = raw_socket(broker)
    ws.send_binary(frame("CONNECT", {"accept-version": "1.2", "host": "x"}))
    assert ws.recv().startswith("CONNECTED")
    ws.send_binary(b"x" * 20_000)
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    assert int.from_bytes(data[:2], "big") == 1009
    ws.close()


def test_a_client_that_stops_reading_is_disconnected_not_buffered(tmp_path: Path) -> None:
    """64 KiB of frames may wait for a client; one that reads nothing for 1 s while 12 MB
    wait in the topic (more than the loopback's socket buffers hold) is disconnected (the
    broker says so in its log), having received far less than the topic holds."""
    config = http_config(tmp_path, stomp_send_buffer_bytes=65536,
                         stomp_slow_consumer_timeout_ms=1000)  # fmt: skip
    slow = BrokerProcess(tmp_path / "broker", config_file=config)
    slow.start()
    try:
        create_topic(slow, "st-slow", 1)
        with Producer(brokers=slow.address) as producer:
            for _ in range(60):
                producer.produce("st-slow", b"v" * 200_000)
            assert producer.flush(60) == 0
        ws = raw_socket(slow, receive_buffer=16384)
        ws.send_binary(frame("CONNECT", {"accept-version": "1.2", "host": "x"})
                       + frame("SUBSCRIBE", {"id": "s", "destination": "/topic/st-slow",
                                             "x-offset": "first"}))  # fmt: skip
        deadline = time.monotonic() + 60
        while "disconnected as a slow consumer" not in slow.stderr_text():
            assert time.monotonic() < deadline, slow._tail()
            time.sleep(0.1)
        received = read_frames(ws, until="ERROR")
        ws.close()
        messages = [f for f in received if f.startswith(b"MESSAGE")]
        assert 0 < len(messages) < 40
    finally:
        assert slow.stop() == 0
    assert "Traceback" not in slow.stderr_text()


def test_shutdown_ends_sessions_with_an_error_frame(tmp_path: Path) -> None:
    """SIGTERM: a subscribed client gets ERROR "shutting down" and the broker exits 0
    within its grace."""
    b = BrokerProcess(tmp_path / "broker")
    b.start()
    create_topic(b, "st-drain", 1)
    ws = raw_socket(b)
    ws.send_binary(frame("CONNECT", {"accept-version": "1.2", "host": "x"})
                   + frame("SUBSCRIBE", {"id": "s", "destination": "/topic/st-drain",
                                         "receipt": "r"}))  # fmt: skip
    assert read_frames(ws, until="RECEIPT")[-1].startswith(b"RECEIPT")
    started = time.monotonic()
    assert b.stop() == 0
    assert time.monotonic() - started < 10
    (error,) = read_frames(ws, until="ERROR")
    assert error.startswith(b"ERROR") and b"shutting down" in error
    ws.close()
