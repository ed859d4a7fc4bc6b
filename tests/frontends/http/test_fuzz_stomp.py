"""Fuzz the HTTP listener's STOMP door (the REST routes have ``test_fuzz_rest.py``).

One real broker; each example opens a WebSocket to ``/stomp`` and sends a random sequence of
frames -- plausible ones (CONNECT, SEND, SUBSCRIBE, ACK, transactions… with random headers,
escapes and bodies) mixed with raw bytes, split at random points into WebSocket messages.
Whatever arrives, the server answers only CONNECTED, RECEIPT, MESSAGE, heart-beats and at
most one ERROR frame (with a ``message`` header, and the last thing sent), then closes; the
broker logs no traceback and goes on serving (a session left inside a frame is closed by the
server after ``http.request.timeout.ms``). The default suite runs 100 connections (~40 s);
``-m soak`` many more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.cluster import BrokerProcess
from tests.integration.http_support import create_topic, http_config
from tests.integration.stomp_support import frame

pytestmark = pytest.mark.integration

_COMMANDS = ("CONNECT", "STOMP", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN",
             "COMMIT", "ABORT", "DISCONNECT", "MESSAGE", "CONNECTED", "X")  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(["/topic/fz", "/topic/", "/queue/fz", "/topic/nope", "1.2", "1.0,1.1",
                     "0.1", "first", "last", "next", "timestamp=1", "-1", "client",
                     "client-individual", "auto", "g", "0,100", "x,y", "10", "99999999",
                     "a\\cb", "\\t", ""]),
    st.text(max_size=8),
)  # fmt: skip
_HEADERS = st.dictionaries(
    st.sampled_from(["accept-version", "host", "heart-beat", "login", "passcode",
                     "destination", "id", "ack", "receipt", "transaction", "x-offset",
                     "x-group", "x-partition", "key", "content-length", "content-type"]),
    _VALUES, max_size=6,
)  # fmt: skip
_CONNECT = frame("CONNECT", {"accept-version": "1.2", "host": "fz"})
_FRAMES = st.one_of(
    st.builds(frame, st.sampled_from(_COMMANDS), _HEADERS,
              st.binary(max_size=40)),
    st.binary(max_size=60),
    st.just(b"\n"),
)  # fmt: skip
_SESSIONS = st.tuples(st.booleans(), st.lists(_FRAMES, max_size=6), st.integers(1, 50))
_ANSWERS = (b"CONNECTED", b"RECEIPT", b"MESSAGE", b"ERROR")
_QUIET_S = 0.5  # nothing more for this long: the session is waiting for the rest of a frame


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    root: Path = tmp_path_factory.mktemp("fuzz-stomp")
    config = http_config(root, stomp_max_frame_bytes=2048, auto_create_topics=False,
                         request_timeout_ms=1000)  # fmt: skip
    b = BrokerProcess(root / "broker", config_file=config)
    b.start()
    create_topic(b, "fz", 2)
    yield b
    code = b.stop()
    assert "Traceback" not in b.stderr_text(), b._tail()
    assert code == 0, b._tail()


def _session(broker: BrokerProcess, connect: bool, frames: list[bytes], cut: int) -> None:
    ws = websocket.create_connection(f"ws://{broker.bound()['http']}/stomp", timeout=30)
    data = (_CONNECT if connect else b"") + b"".join(frames)
    for i in range(0, len(data), cut):
        ws.send_binary(data[i : i + cut])
    ws.send_binary(frame("DISCONNECT", {"receipt": "bye"}))
    ws.settimeout(_QUIET_S)
    answers: list[bytes] = []
    while True:
        try:
            opcode, got = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            break  # a frame left open (a content-length not reached): the server waits on
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        if got.strip(b"\r\n"):
            answers.append(got)
        if got.startswith(b"RECEIPT\nreceipt-id:bye\n"):
            break
    ws.close()
    commands = [a.split(b"\n", 1)[0] for a in answers]
    assert all(c in _ANSWERS for c in commands), commands
    if b"ERROR" in commands:
        assert commands.index(b"ERROR") == len(commands) - 1, commands
        assert b"\nmessage:" in answers[-1]


def _fuzz(examples: int) -> Any:
    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])  # fmt: skip
    @given(session=_SESSIONS)
    def run(broker: BrokerProcess, session: tuple[bool, list[bytes], int]) -> None:
        _session(broker, *session)

    return run


test_random_frames_get_answers_or_one_error = _fuzz(100)
test_random_frames_soak = pytest.mark.soak(_fuzz(20_000))


def test_still_serving_after_the_fuzz(broker: BrokerProcess) -> None:
    _fuzz(30)(broker)
    ws = websocket.create_connection(f"ws://{broker.bound()['http']}/stomp", timeout=30)
    ws.send_binary(_CONNECT + frame("SEND", {"destination": "/topic/fz", "receipt": "r"}, b"x"))
    answers = [ws.recv(), ws.recv()]
    assert answers[0].startswith("CONNECTED") and answers[1].startswith("RECEIPT"), answers
    ws.close()
