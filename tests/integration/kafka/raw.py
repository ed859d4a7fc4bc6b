"""A bare Kafka wire client for the tests: requests and answers through kio's *own*
serializers (independent of the listener's codec), over a plain socket with deadlines."""

from __future__ import annotations

import io
import socket
import struct
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.schema.request_header.v1.header import RequestHeader as HeaderV1
from kio.schema.request_header.v2.header import RequestHeader as HeaderV2
from kio.serial import entity_reader, entity_writer

__all__ = ["RawClient", "request_frame"]

TIMEOUT_S = 20.0


def request_frame(key: int, version: int, body: Any, correlation_id: int = 1) -> bytes:
    """One whole request frame (size prefix included) for ``body`` (a kio request)."""
    cls = load_request_schema(key, version)
    header_cls = HeaderV2 if cls.__flexible__ else HeaderV1
    buf = io.BytesIO()
    entity_writer(header_cls)(
        buf,
        header_cls(
            request_api_key=key,
            request_api_version=version,
            correlation_id=correlation_id,
            client_id="logd-tests",
        ),
    )
    entity_writer(cls)(buf, body)
    data = buf.getvalue()
    return struct.pack(">i", len(data)) + data


class RawClient:
    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
        self.sock.settimeout(TIMEOUT_S)
        self._next = 1

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, key: int, version: int, body: Any) -> int:
        correlation = self._next
        self._next += 1
        self.send_raw(request_frame(key, version, body, correlation))
        return correlation

    def read_frame(self) -> bytes | None:
        """The next answer frame, or None when the broker closed the connection."""
        head = self._read_exactly(4)
        if head is None:
            return None
        (size,) = struct.unpack(">i", head)
        return self._read_exactly(size)

    def answer(self, key: int, version: int) -> tuple[int, Any]:
        """(correlation id, decoded kio response) of the next frame."""
        frame = self.read_frame()
        assert frame is not None, "the broker closed the connection"
        cls = load_response_schema(key, version)
        flexible = cls.__flexible__ and key != 18
        (correlation,) = struct.unpack_from(">i", frame, 0)
        start = 5 if flexible else 4
        value, size = entity_reader(cls)(frame, start)  # kio answers the size it read
        assert start + size == len(frame), "bytes after the answer"
        return correlation, value

    def call(self, key: int, version: int, body: Any) -> Any:
        correlation = self.send(key, version, body)
        got, value = self.answer(key, version)
        assert got == correlation
        return value

    def closed_by_broker(self) -> bool:
        """True once the broker closed (EOF), within the deadline."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True

    def _read_exactly(self, n: int) -> bytes | None:
        parts = []
        while n:
            try:
                chunk = self.sock.recv(min(n, 1 << 20))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)
