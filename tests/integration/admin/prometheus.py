"""Debian's Prometheus server, run by a test on a free loopback port with its own data
directory, scraping the given targets every second (``scripts/tools.d/prometheus.sh``
installs it). Nothing here fakes a scrape: the server fetches /metrics itself."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers import free_port, wait_until
from tests.integration.admin.support import get

__all__ = ["Prometheus", "prometheus"]

PROMETHEUS = "/usr/bin/prometheus"


class Prometheus:
    def __init__(self, address: str) -> None:
        self.address = address

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector (``[{"metric": {...}, "value": [t, "v"]}]``)."""
        url = f"http://{self.address}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        status, body, _ = get(url)
        answer = json.loads(body)
        assert status == 200 and answer["status"] == "success", body
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def targets_up(self) -> dict[str, str]:
        status, body, _ = get(f"http://{self.address}/api/v1/targets")
        assert status == 200, body
        active = json.loads(body)["data"]["activeTargets"]
        return {t["scrapeUrl"]: t["health"] for t in active}


@contextmanager
def prometheus(root: Path, targets: Sequence[str], interval: str = "1s") -> Iterator[Prometheus]:
    """A Prometheus server scraping ``targets`` (``HOST:PORT`` of admin listeners)."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
        "scrape_configs:\n  - job_name: logd\n    static_configs:\n"
        f"      - targets: {json.dumps(list(targets))}\n"
    )
    address = f"127.0.0.1:{free_port()}"
    log = (root / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
         f"--web.listen-address={address}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        server = Prometheus(address)

        def ready() -> bool:
            assert proc.poll() is None, (root / "prometheus.log").read_text()
            try:
                return get(f"http://{address}/-/ready", timeout=2)[0] == 200
            except OSError:
                return False

        wait_until(ready, 60, 0.1, message="prometheus to start")
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
