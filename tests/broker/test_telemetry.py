"""The broker's running figures: the latency histogram's buckets, the bound on request
names, record counting from batch headers, and the JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import time

from logd.broker.telemetry import MAX_REQUEST_KINDS, Telemetry
from logd.node.logs import JsonFormatter
from logd.records.builder import build_value_batch
from logd.records.header import count_records
from logd.stats import LATENCY_BUCKETS, Histogram


def test_histogram_buckets_are_cumulative_and_end_at_the_count() -> None:
    h = Histogram((0.001, 0.01, 0.1))
    for value in (0.0005, 0.001, 0.005, 0.05, 0.5, 5.0):
        h.observe(value)
    assert h.cumulative() == [(0.001, 2), (0.01, 3), (0.1, 4), (float("inf"), 6)]
    assert h.count == 6 and abs(h.sum - 5.5565) < 1e-9


def test_locked_histogram_loses_nothing_across_threads() -> None:
    import threading

    h = Histogram(locked=True)

    def work() -> None:
        for _ in range(20_000):
            h.observe(0.002)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert h.count == 80_000 and h.cumulative()[-1][1] == 80_000
    assert len(h.cumulative()) == len(LATENCY_BUCKETS) + 1


def test_request_names_beyond_the_cap_count_as_other() -> None:
    t = Telemetry()
    started = time.perf_counter()
    for i in range(MAX_REQUEST_KINDS + 50):
        t.request("kafka", f"api-{i}", started, 10, 20, error=i % 2 == 0)
    names = {request for listener, request in t.requests if listener == "kafka"}
    assert len(names) == MAX_REQUEST_KINDS + 1 and "other" in names
    other = t.requests[("kafka", "other")]
    assert other.latency.count == 50 and other.bytes_in == 500 and other.errors == 25
    t.request("grpc", "Fetch", started)  # another listener has its own allowance
    assert t.requests[("grpc", "Fetch")].latency.count == 1


def _batch(n: int) -> bytes:
    return bytes(build_value_batch([b"v%d" % i for i in range(n)], 1_700_000_000_000))


def test_count_records_reads_every_whole_batch_and_ignores_a_torn_tail() -> None:
    data = _batch(3) + _batch(5) + _batch(1)
    assert count_records(data) == 9
    assert count_records(data[:-1]) == 8
    assert count_records(b"") == 0 and count_records(b"\x00" * 30) == 0
    t = Telemetry()
    t.fetched(data)
    assert (t.records_fetched, t.bytes_fetched) == (9, len(data))


def test_json_log_lines_carry_the_event_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("test.telemetry.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("fsync of %s took %.0f ms", "t-0", 812.0,
                    extra={"event": "fsync_slow", "log": "t-0", "ms": 812})  # fmt: skip
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("a bug")
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "fsync of t-0 took 812 ms" and first["level"] == "WARNING"
    assert (first["event"], first["log"], first["ms"]) == ("fsync_slow", "t-0", 812)
    assert first["ts"].endswith("Z") and first["logger"] == "test.telemetry.json"
    assert "ValueError: boom" in second["exc"]


def test_a_malformed_http_request_is_one_log_line_without_traceback(capsys) -> None:  # type: ignore[no-untyped-def]
    """aiohttp's ERROR with a traceback for a client's bad request (the admin fuzzer's
    ``BREW`` method) becomes one INFO line; a bug's traceback is kept."""
    from aiohttp.http_exceptions import BadHttpMethod

    from logd.node.logs import configure

    configure("INFO")
    server = logging.getLogger("aiohttp.server")
    try:
        raise BadHttpMethod("BREW")
    except BadHttpMethod as exc:
        server.error("Error handling request from 127.0.0.1", exc_info=exc)
    try:
        raise RuntimeError("a bug")
    except RuntimeError as exc:
        server.error("Error handling request", exc_info=exc)
    lines = capsys.readouterr().err.splitlines()
    assert "INFO" in lines[0] and "bad HTTP request" in lines[0] and "BREW" in lines[0], lines
    assert "ERROR" in lines[1] and "Traceback" in lines[2], lines
    assert sum("Traceback" in line for line in lines) == 1
