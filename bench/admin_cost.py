"""What the admin listener costs and how quick its pages are (issue 20), on one broker holding
PARTITIONS partitions (one loaded topic, the rest idle topics of 100 partitions) and GROUPS
consumer groups with committed offsets:

1. **Scrape cost**: produce for SECONDS (100 B values in batches of 10,000, acks=all, fsync
   always) with nothing scraping, then with a scraper fetching ``/metrics`` every second,
   alternating REPEATS times in the same run (so a loaded machine slows both alike); the
   ratio of the medians. Runs are timed, not counted: each must span several scrapes.
2. **Page timings**: the JSON API behind each console page and ``/metrics``, median of 5
   requests; then each console page in Debian's headless Chromium, from navigation to its
   table shown, median of 3.

Run: ``.venv/bin/python -m bench.admin_cost [SECONDS] [REPEATS] [PARTITIONS] [GROUPS]``
(default 10 s x 3, 1,000 partitions, 100 groups). Prints markdown tables and writes
``bench/results/admin-<UTC>.json``. A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.harness import free_port, values_of
from bench.logd_suite import LogdCluster
from logd.client import Admin, NewTopic, Producer, TopicPartition

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results"
IDLE_PER_TOPIC = 100
SLICE = 10_000


class _Scraper(threading.Thread):
    """GET /metrics every ``interval`` seconds until stopped; keeps each scrape's time."""

    def __init__(self, url: str, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.stopping = threading.Event()
        self.seconds: list[float] = []

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            started = time.perf_counter()
            with urllib.request.urlopen(self.url, timeout=30) as answer:
                answer.read()
            self.seconds.append(time.perf_counter() - started)


def _populate(brokers: str, partitions: int, groups: int) -> None:
    with Admin(brokers=brokers) as admin:
        idle = max(partitions - 1, 0)
        names = [f"idle-{i}" for i in range((idle + IDLE_PER_TOPIC - 1) // IDLE_PER_TOPIC)]
        topics = [NewTopic("load", 1, 1)]
        for i, name in enumerate(names):
            count = min(IDLE_PER_TOPIC, idle - i * IDLE_PER_TOPIC)
            topics.append(NewTopic(name, count, 1))
        for topic in topics:  # one at a time: each waits for its leaders
            admin.create_topics([topic])
        for g in range(groups):
            name = names[g % len(names)] if names else "load"
            admin.alter_group_offsets(f"group-{g}", {TopicPartition(name, 0): 0})


def _produce_for(brokers: str, topic: str, values: list[bytes], seconds: float) -> float:
    """Records per second acknowledged (acks=all) while producing for ``seconds``."""
    batch = [values[i % len(values)] for i in range(SLICE)]
    with Producer(brokers=brokers, acks="all") as producer:
        producer.produce(topic, b"warm-up")
        producer.flush()
        sent = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            producer.produce_batch(topic, batch)
            sent += SLICE
        left = producer.flush()
        elapsed = time.perf_counter() - start
    return (sent - left) / elapsed


def _get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as answer:
        answer.read()
    return time.perf_counter() - started


def _api_timings(base: str) -> dict[str, float]:
    paths = ["/metrics", "/v1/health", "/api/cluster", "/api/topics", "/api/topics/idle-0",
             "/api/topics/load/messages", "/api/groups", "/api/groups/group-0"]  # fmt: skip
    return {p: statistics.median(_get(base + p) for _ in range(5)) * 1000 for p in paths}


def _page_timings(base: str) -> dict[str, float]:
    from tests.integration.admin.browser import chromium_page

    pages = {
        "overview": ("#/", "[data-testid=health]"),
        "topics": ("#/topics", "[data-testid=topics-table] tbody tr"),
        "topic idle-0": ("#/topic/idle-0", "table tbody tr"),
        "messages load": ("#/messages/load", "[data-testid=messages-table]"),
        "groups": ("#/groups", "[data-testid=groups-table] tbody tr"),
        "group group-0": ("#/group/group-0", "[data-testid=lag-table] tbody tr"),
    }
    out: dict[str, float] = {}
    with chromium_page() as page:
        page.goto(base + "/static/app.css")  # the browser started and warm
        for name, (fragment, ready) in pages.items():
            runs = []
            for _ in range(3):
                page.goto("about:blank")
                started = time.perf_counter()
                page.goto(base + "/" + fragment)
                page.locator(ready).first.wait_for()
                runs.append(time.perf_counter() - started)
            out[name] = statistics.median(runs) * 1000
    return out


def main(argv: list[str]) -> None:
    seconds = float(argv[0]) if argv else 10.0
    repeats = int(argv[1]) if len(argv) > 1 else 3
    partitions = int(argv[2]) if len(argv) > 2 else 1000
    groups = int(argv[3]) if len(argv) > 3 else 100
    admin_address = f"127.0.0.1:{free_port()}"
    base = f"http://{admin_address}"
    runs: dict[str, list[float]] = {"no scrape": [], "scrape every 1 s": []}
    scrapes: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="logd-admin-") as tmp,
        LogdCluster(Path(tmp), 1, extra=["--admin-listen", admin_address]) as cluster,
    ):
        t0 = time.perf_counter()
        _populate(cluster.brokers, partitions, groups)
        print(f"{partitions} partitions and {groups} groups made in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
        values = values_of(100)
        for r in range(repeats):
            order = ["no scrape", "scrape every 1 s"]
            for mode in order if r % 2 == 0 else reversed(order):
                scraper = _Scraper(base + "/metrics") if mode != "no scrape" else None
                if scraper is not None:
                    scraper.start()
                rate = _produce_for(cluster.brokers, "load", values, seconds)
                if scraper is not None:
                    scraper.stopping.set()
                    scraper.join()
                    scrapes.extend(scraper.seconds)
                runs[mode].append(rate)
                print(f"{mode:17} {rate:,.0f} msgs/s", flush=True)
        api = _api_timings(base)
        pages = _page_timings(base)
    medians = {m: statistics.median(v) for m, v in runs.items()}
    ratio = medians["scrape every 1 s"] / medians["no scrape"]
    print("\n| mode | produce msgs/s (median) | ÷ no scrape |\n|---|---|---|")
    for mode, value in medians.items():
        print(f"| {mode} | {value:,.0f} | {value / medians['no scrape']:.3f} |")
    print(f"\none /metrics scrape: median {statistics.median(scrapes) * 1000:.1f} ms "
          f"over {len(scrapes)} scrapes" if scrapes else "")  # fmt: skip
    print(f"\n| API ({partitions} partitions, {groups} groups) | ms (median of 5) |\n|---|---|")
    for path, ms in api.items():
        print(f"| `{path}` | {ms:.1f} |")
    print("\n| console page in Chromium | ms to its table (median of 3) |\n|---|---|")
    for name, ms in pages.items():
        print(f"| {name} | {ms:.0f} |")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"admin-{stamp}.json"
    report: dict[str, Any] = {
        "seconds": seconds, "repeats": repeats, "partitions": partitions, "groups": groups,
        "runs": runs, "medians": medians, "scrape_ratio": ratio,
        "scrape_ms": [s * 1000 for s in scrapes], "api_ms": api, "page_ms": pages,
    }  # fmt: skip
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
