"""The brokers' Raft TCP listener (``logd.cluster.rpc_listener``) and its caller
(``rpc_link``) over real loopback sockets, on uvloop as in a broker.

The listener's fuzzer (hypothesis): arbitrary bytes before a hello, hellos naming another
cluster or no broker, and garbage, bad lengths or another sender's frames after a good hello
-- the listener hands the handler nothing it should not, answers no hello it should not,
never lets an exception reach the loop, and still serves a good caller afterwards. A few
hundred cases by default, many more under ``-m soak``. Then the bounds one at a time (a
slow hello, too many connections, fault injection's ``blocked_from``) and TLS: a client
certificate required, naming the broker the hello names.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logd.cluster.codec import encode_frame
from logd.cluster.frame_encode import encode_frame_bytes
from logd.cluster.internal import ClusterHandler, FaultState
from logd.cluster.rpc_link import open_connection
from logd.cluster.rpc_listener import RaftListener, RaftListenerSettings
from logd.cluster.rpc_wire import decode_hello, encode_hello, frame
from logd.metadata.types import HostPort
from logd.security.certs import Issued, issue, make_ca
from logd.tls.contexts import client_context
from logd.tls.settings import TlsSettings
from replication import Heartbeat
from tests.helpers import free_port, wait_until

T = TypeVar("T")
CLUSTER = "c1"
ME = 0
LIMIT = 64 * 1024
DEFAULT = settings(
    max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
SOAK = settings(DEFAULT, max_examples=5_000)
NOW = dt.datetime.now(dt.UTC)


class Served:
    """A listener on its own uvloop thread; what reached its handler."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, **overrides: Any) -> None:
        self.loop = uvloop.new_event_loop()
        self.errors: list[str] = []
        self.loop.set_exception_handler(lambda loop, ctx: self.errors.append(str(ctx)))
        self._lock = threading.Lock()
        self._received: list[tuple[int, int]] = []  # (src, messages)
        self._events: list[tuple[str, int]] = []
        self.faults = FaultState()
        handler = ClusterHandler(
            self._receive, _unused, _unused, _unused, self.faults, fault_injection=False,
            peer_connected=lambda p: self._event("connected", p),
            peer_lost=lambda p: self._event("lost", p),
        )  # fmt: skip
        config: dict[str, Any] = {
            "address": HostPort("127.0.0.1", free_port()), "node_id": ME,
            "cluster_id": CLUSTER, "max_frame_bytes": LIMIT, **overrides,
        }  # fmt: skip
        self.listener = RaftListener(RaftListenerSettings(**config), handler, {0, 1, 2}, tls=tls)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.address = self.run(self.listener.start())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _receive(self, messages: list[Any]) -> None:
        if not messages:
            return  # a hello frame: seen as ``connected``
        with self._lock:
            self._received.append((messages[0][1].src, len(messages)))

    def _event(self, kind: str, peer: int) -> None:
        with self._lock:
            self._events.append((kind, peer))

    def received(self) -> list[tuple[int, int]]:
        with self._lock:
            return list(self._received)

    def events(self) -> list[tuple[str, int]]:
        with self._lock:
            return list(self._events)

    def close(self) -> None:
        self.run(self.listener.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def _unused(request: Any) -> Any:
    raise AssertionError("not called")


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    s = Served(hello_timeout_s=2.0)
    yield s
    s.close()
    assert not s.errors


def _connect(address: HostPort) -> socket.socket:
    sock = socket.create_connection((address.host, address.port), timeout=10)
    sock.settimeout(10)
    return sock


def _read_to_end(sock: socket.socket) -> bytes:
    """Everything the listener sends until it closes (or we stop: EOF sent first)."""
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def _raft(src: int, groups: int = 1) -> bytes:
    hb = [(f"g{i}", Heartbeat(term=1, src=src, dst=ME, commit=0)) for i in range(groups)]
    return frame(encode_frame(src, ME, hb).SerializeToString())


def _greeted(address: HostPort, node: int = 1) -> socket.socket:
    sock = _connect(address)
    sock.sendall(encode_hello(CLUSTER, node))
    header = sock.recv(4, socket.MSG_WAITALL)
    body = sock.recv(int.from_bytes(header, "big"), socket.MSG_WAITALL)
    assert decode_hello(body) == (CLUSTER, ME)
    return sock


def _still_serves(s: Served) -> None:
    before = len(s.received())
    with _greeted(s.address, node=2) as sock:
        sock.sendall(_raft(2))
        wait_until(lambda: len(s.received()) > before, timeout=10, message="a good frame")


# -- the fuzzer --------------------------------------------------------------------------

_hellos = st.one_of(
    st.binary(max_size=300),  # anything at all
    st.builds(encode_hello, st.text(max_size=20).filter(lambda c: c != CLUSTER),
              st.integers(0, 5)),  # another cluster
    st.builds(encode_hello, st.just(CLUSTER), st.sampled_from([ME, 3, 7, 2**31 - 1])),
    st.integers(1025, 2**32 - 1).map(lambda n: n.to_bytes(4, "big") + b"\x0a\x02c1"),
)  # fmt: skip


def _refused_before_hello(s: Served, data: bytes) -> None:
    before = len(s.received())
    with _connect(s.address) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        assert _read_to_end(sock) == b"", "no hello answered to a stranger"
    assert len(s.received()) == before
    assert not s.errors


@DEFAULT
@given(_hellos)
def test_a_caller_that_is_not_a_broker_of_the_cluster_gets_nothing(
    served: Served, data: bytes
) -> None:
    _refused_before_hello(served, data)


_after_hello = st.lists(
    st.one_of(
        st.binary(max_size=200).map(frame),  # a frame of garbage
        st.binary(max_size=200),  # bytes that are not even frames
        st.integers(LIMIT + 1, 2**32 - 1).map(lambda n: n.to_bytes(4, "big")),  # too long
        st.integers(0, 5).map(_raft),  # a good frame, maybe naming another sender
    ),
    min_size=1, max_size=5,
)  # fmt: skip


def _garbage_after_hello(s: Served, chunks: list[bytes]) -> None:
    before = len(s.received())
    with _greeted(s.address) as sock:
        try:
            sock.sendall(b"".join(chunks))
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the listener closed already: fine
        assert _read_to_end(sock) == b"", "nothing but the hello comes back"
    assert all(src == 1 for src, _ in s.received()[before:]), "only the caller's own frames"
    assert not s.errors


@DEFAULT
@given(_after_hello)
def test_garbage_after_a_good_hello_ends_the_connection_and_nothing_else(
    served: Served, chunks: list[bytes]
) -> None:
    _garbage_after_hello(served, chunks)


def test_the_listener_still_serves_after_the_fuzzing(served: Served) -> None:
    _still_serves(served)
    assert not served.errors


@pytest.mark.soak
@SOAK
@given(_hellos, _after_hello)
def test_fuzz_soak(served: Served, data: bytes, chunks: list[bytes]) -> None:
    _refused_before_hello(served, data)
    _garbage_after_hello(served, chunks)


# -- bounds, one at a time ----------------------------------------------------------------


def test_a_slow_hello_is_cut_off() -> None:
    s = Served(hello_timeout_s=0.5)
    try:
        with _connect(s.address) as slow:
            slow.sendall(encode_hello(CLUSTER, 1)[:3])  # a slowloris: part of a hello
            assert _read_to_end(slow) == b""  # closed by the listener, not by us
        wait_until(lambda: s.listener.refused == 1, message="the slow hello counted")
        _still_serves(s)
    finally:
        s.close()
    assert not s.errors


def test_a_connection_past_the_bound_is_closed_at_once() -> None:
    s = Served(hello_timeout_s=120.0, max_connections=3)  # no hello timeout in this test
    held = [_connect(s.address) for _ in range(3)]
    try:
        wait_until(lambda: len(s.listener._connections) == 3, message="3 connections")
        started = time.monotonic()
        with _connect(s.address) as extra:
            assert _read_to_end(extra) == b""
        assert time.monotonic() - started < 60, "closed by the bound, not by a timeout"
        assert s.listener.refused == 1
    finally:
        for sock in held:
            sock.close()
    try:
        wait_until(lambda: not s.listener._connections, message="the held ones gone")
        assert s.listener.refused == 1, "ended by their callers: not refused"
        _still_serves(s)
    finally:
        s.close()
    assert not s.errors


def test_a_connection_is_the_peers_stream_and_blocked_from_drops_its_frames() -> None:
    s = Served()
    try:
        with _greeted(s.address, node=1) as sock:
            sock.sendall(_raft(1, groups=2))
            wait_until(lambda: s.received() == [(1, 2)], message="the frame")
            assert s.events() == [("connected", 1)]
            s.faults.blocked_from.add(1)
            sock.sendall(_raft(1) * 3)
            wait_until(lambda: s.listener.frames_received == 4, message="the blocked frames")
            s.faults.blocked_from.clear()
            sock.sendall(_raft(1, groups=4))
            wait_until(lambda: len(s.received()) == 2, message="the unblocked frame")
            assert s.received() == [(1, 2), (1, 4)], "blocked frames are dropped"
        wait_until(lambda: s.events()[-1] == ("lost", 1), message="lost contact at its end")
    finally:
        s.close()
    assert not s.errors


# -- the caller, and TLS -----------------------------------------------------------------


def test_the_caller_checks_whom_it_reached_and_fails_writes_once_the_peer_closed() -> None:
    s = Served()
    try:
        caller = uvloop.new_event_loop()
        try:
            with pytest.raises(ConnectionError, match="expected broker 2"):
                caller.run_until_complete(
                    open_connection(s.address, src=1, dst=2, cluster_id=CLUSTER, tls=None,
                                    timeout_s=10)
                )  # fmt: skip
            conn = caller.run_until_complete(
                open_connection(s.address, src=1, dst=ME, cluster_id=CLUSTER, tls=None,
                                timeout_s=10)
            )  # fmt: skip
            caller.run_until_complete(conn.write(encode_frame_bytes(1, ME, ())))
            wait_until(lambda: s.events() == [("connected", 1)], message="the hello frame")
            s.run(s.listener.close())

            async def write_until_it_fails() -> None:
                for _ in range(1000):
                    await conn.write(encode_frame_bytes(1, ME, ()))
                    await asyncio.sleep(0.01)

            with pytest.raises(ConnectionError):
                caller.run_until_complete(write_until_it_fails())
        finally:
            caller.close()
    finally:
        s.close()


def _pki(tmp: Path) -> dict[str, TlsSettings]:
    ca = make_ca(CLUSTER, NOW)
    (tmp / "ca.crt").write_bytes(ca.cert_pem)

    def write(name: str, issued: Issued) -> TlsSettings:
        (tmp / f"{name}.crt").write_bytes(issued.cert_pem)
        (tmp / f"{name}.key").write_bytes(issued.key_pem)
        return TlsSettings(tmp / f"{name}.crt", tmp / f"{name}.key", tmp / "ca.crt")

    names = ("broker-0", "broker-1", "alice")
    return {name: write(name, issue(ca, name, NOW)) for name in names}


def test_tls_takes_a_broker_certificate_naming_the_hellos_broker_only(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(pki["broker-0"].cert), str(pki["broker-0"].key))
    server.load_verify_locations(str(pki["broker-0"].ca))
    server.verify_mode = ssl.CERT_REQUIRED
    s = Served(tls=server)
    caller = uvloop.new_event_loop()

    def greet(who: str, node: int, *, cert: bool = True) -> Any:
        settings = pki[who] if cert else TlsSettings(ca=pki[who].ca)
        return caller.run_until_complete(
            open_connection(s.address, src=node, dst=ME, cluster_id=CLUSTER,
                            tls=client_context(settings), timeout_s=10)
        )  # fmt: skip

    try:
        conn = greet("broker-1", 1)
        caller.run_until_complete(conn.write(encode_frame_bytes(1, ME, ())))
        wait_until(lambda: s.events() == [("connected", 1)], message="the TLS caller")
        conn.cancel()
        refused = s.listener.refused
        for who, node in (("alice", 1), ("broker-1", 2)):
            with pytest.raises((ConnectionError, ssl.SSLError)):
                greet(who, node)
        assert s.listener.refused == refused + 2
        with pytest.raises((ConnectionError, ssl.SSLError, OSError)):
            greet("broker-1", 1, cert=False)  # no client certificate: no handshake
        assert s.received() == []
    finally:
        caller.close()
        s.close()
