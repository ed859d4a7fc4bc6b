"""The registry's writer watch (``SchemaStore._watch_leadership``) asks every broker's
metadata for `_schemas`' leader five times a second, for ever, on every broker: it looks the
partition up (``BrokerSeam.partition_leader``) and builds no metadata answer (issue 22: the
metadata answers cost 1-3 % of a loaded broker's loop at RF=3). And a broker that comes to
lead `_schemas` still claims the writer's role and takes a write."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from logd.broker.seam import BrokerSeam


def _counting(calls: list[str], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    lock = threading.Lock()

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            calls.append(name)
        return fn(*args, **kwargs)

    return counted


def test_the_watch_builds_no_metadata_answer(registry_seam: tuple[str, BrokerSeam]) -> None:
    url, seam = registry_seam
    calls: list[str] = []
    # The seam object the registry holds: its calls go through these (instance attributes).
    seam.metadata = _counting(calls, "metadata", seam.metadata)  # type: ignore[method-assign]
    seam.partition_leader = _counting(  # type: ignore[method-assign]
        calls, "partition_leader", seam.partition_leader
    )
    deadline = time.monotonic() + 30
    while list(calls).count("partition_leader") < 5:  # a copy: the loop thread appends
        assert time.monotonic() < deadline, f"the watch never looked: {len(calls)} other calls"
        time.sleep(0.05)
    assert "metadata" not in list(calls)
    # the first write creates `_schemas`; this broker leads it and claims the role
    body = json.dumps({"schema": '"string"'}).encode()
    request = urllib.request.Request(
        f"{url}/subjects/s-value/versions", body,
        {"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert json.load(answer)["id"] >= 1
