"""The background thread that runs the sync clients' asyncio cores.

The sync clients (``Producer``, ``Consumer``, ``Admin``) of a process share one
:class:`LoopThread` (:func:`shared_loop`): a daemon thread running an event loop (uvloop
when installed) on which every grpc.aio object of those clients lives. The caller's thread
submits coroutines with :meth:`LoopThread.run` and callbacks with
:meth:`LoopThread.call_soon`; per-record work never crosses (the producer appends to a
thread-safe accumulator, the consumer decodes fetched bytes on the caller's thread).

Why shared and never closed: grpc.aio delivers a call's last completion events to the
call's loop a little after the channel closed; a loop closed by then makes gRPC log
"Event loop is closed" from another loop. One loop that lives as long as the process has
no such window, and costs one idle thread once every client is closed.

Thread-safe: :meth:`run`, :meth:`call_soon` and :meth:`stop` may be called from any thread
other than the loop's own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from logd.errors import NetworkError, RequestTimedOutError

__all__ = ["LoopThread", "shared_loop"]

T = TypeVar("T")


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class LoopThread:
    """An event loop in a daemon thread. See the module docstring."""

    def __init__(self, name: str) -> None:
        self.loop = _new_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        self._stopped = False

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (or ``timeout`` seconds)."""
        if self._stopped:
            coro.close()
            raise NetworkError("the client is closed")
        assert threading.current_thread() is not self._thread, "run() from the loop deadlocks"
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RequestTimedOutError(f"no result within {timeout:g}s") from None

    @property
    def alive(self) -> bool:
        return not self._stopped and self._thread.is_alive()

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Schedule ``fn`` on the loop (thread-safe; ignored once stopped)."""
        if not self._stopped:
            # RuntimeError: the loop closed between the check and the call.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(fn)

    def stop(self) -> None:
        """Stop the loop and join the thread (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join()


_shared: LoopThread | None = None
_shared_lock = threading.Lock()


def shared_loop() -> LoopThread:
    """The process's client loop thread, started on first use (thread-safe)."""
    global _shared  # noqa: PLW0603 - one per process, created on first use
    with _shared_lock:
        if _shared is None or not _shared.alive:
            _shared = LoopThread("logd-client")
        return _shared
