"""Helpers of the STOMP tests: a stomp.py connection over WebSocket to a broker's HTTP
listener, a listener that collects frames and waits on a condition with a deadline, and raw
frames over websocket-client for the bad-input cases."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import stomp
import websocket

from tests.integration.cluster import BrokerProcess

__all__ = ["Collector", "frame", "raw_socket", "read_frames", "stomp_connection"]


class Collector(stomp.ConnectionListener):  # type: ignore[misc]
    """Every MESSAGE, RECEIPT and ERROR, in order; :meth:`wait` for a condition on them."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, str], str]] = []
        self.receipts: list[str] = []
        self.errors: list[tuple[dict[str, str], str]] = []
        self.disconnected = False
        self._cond = threading.Condition()

    def _add(self, action: Callable[[], None]) -> None:
        with self._cond:
            action()
            self._cond.notify_all()

    def on_message(self, frame: Any) -> None:
        self._add(lambda: self.messages.append((dict(frame.headers), frame.body)))

    def on_receipt(self, frame: Any) -> None:
        self._add(lambda: self.receipts.append(frame.headers["receipt-id"]))

    def on_error(self, frame: Any) -> None:
        self._add(lambda: self.errors.append((dict(frame.headers), frame.body)))

    def on_disconnected(self) -> None:
        self._add(lambda: setattr(self, "disconnected", True))

    def wait(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                left = deadline - time.monotonic()
                assert left > 0, (self.messages[-3:], self.receipts, self.errors)
                self._cond.wait(left)


def stomp_connection(broker: BrokerProcess, **kwargs: Any) -> tuple[Any, Collector]:
    host, port = broker.bound()["http"].rsplit(":", 1)
    conn = stomp.WSStompConnection([(host, int(port))], ws_path="/stomp", **kwargs)
    collector = Collector()
    conn.set_listener("collector", collector)
    return conn, collector


def frame(command: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [command, *(f"{k}:{v}" for k, v in (headers or {}).items())]
    return ("\n".join(lines) + "\n\n").encode() + body + b"\0"


def raw_socket(broker: BrokerProcess, receive_buffer: int = 0) -> websocket.WebSocket:
    """A WebSocket to ``/stomp``; ``receive_buffer``: a small fixed SO_RCVBUF (no autotuning),
    for a client that reads slowly."""
    options = ((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),) if receive_buffer else ()
    return websocket.create_connection(
        f"ws://{broker.bound()['http']}/stomp", timeout=30, subprotocols=["v12.stomp"],
        sockopt=options,
    )  # fmt: skip


def read_frames(ws: websocket.WebSocket, until: str, limit: int = 10_000) -> list[bytes]:
    """Frames (heart-beats dropped) up to and including the first ``until`` command, or
    until the server closes."""
    out: list[bytes] = []
    for _ in range(limit):
        try:
            data = ws.recv()
        except websocket.WebSocketConnectionClosedException:
            return out
        if isinstance(data, str):
            data = data.encode()
        if not data or data.strip(b"\r\n") == b"":
            if not data:
                return out
            continue
        out.append(data)
        if data.split(b"\n", 1)[0] == until.encode():
            return out
    return out
