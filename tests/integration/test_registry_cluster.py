"""The schema registry on three real brokers (issue 17): every broker answers reads from its
own copy of `_schemas`, writes reach the one writer (the leader of `_schemas`) from any
broker, and when the writer's broker is SIGKILLed the others go on serving -- reads at once,
writes after the election -- with the same ids, and the ids given afterwards are new ones.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import httpx
import pytest

from logd.client import Admin
from tests.helpers import wait_until
from tests.integration.cluster import Cluster
from tests.integration.replicas import partition_info, wait_leader

pytestmark = pytest.mark.integration

CT = "application/vnd.schemaregistry.v1+json"


def _avro(name: str, *fields: str) -> str:
    return json.dumps(
        {"type": "record", "name": name, "fields": [{"name": f, "type": "string"} for f in fields]}
    )


def _urls(cluster: Cluster) -> dict[int, str]:
    return {b.node_id: f"http://{b.bound()['registry']}" for b in cluster}


def _register(http: httpx.Client, url: str, subject: str, schema: str) -> int:
    """The id, retrying while the writer is being elected (50003, as Confluent answers)."""

    def attempt() -> int | None:
        r = http.post(f"{url}/subjects/{subject}/versions", json={"schema": schema},
                      headers={"Content-Type": CT})  # fmt: skip
        if r.status_code == 500 and r.json()["error_code"] == 50003:
            return None
        assert r.status_code == 200, r.text
        return int(r.json()["id"])

    return wait_until(attempt, timeout=60, interval=0.2, message=f"registering on {url}")


def _schema_at(http: httpx.Client, url: str, schema_id: int) -> str | None:
    r = http.get(f"{url}/schemas/ids/{schema_id}")
    return str(r.json()["schema"]) if r.status_code == 200 else None


def test_ids_stay_stable_when_the_writers_broker_is_killed(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(3)
    urls = _urls(cluster)
    schemas = {f"s{i}-value": _avro(f"R{i}", "a") for i in range(3)}
    with httpx.Client(timeout=30) as http:
        # Writes through every broker: two of them forward to the writer.
        ids = {s: _register(http, urls[i], s, text) for i, (s, text) in enumerate(schemas.items())}
        assert sorted(ids.values()) == [1, 2, 3]
        writer = wait_leader(cluster.bootstrap, "_schemas").leader
        assert sorted(partition_info(cluster.bootstrap, "_schemas").replicas) == [0, 1, 2]
        with Admin(brokers=cluster.bootstrap) as admin:
            (described,) = admin.describe_topics(["_schemas"])
        assert described.configs["cleanup.policy"].value == "compact"
        # Every broker's own copy has every schema.
        for url in urls.values():
            for schema_id in ids.values():
                wait_until(functools.partial(_schema_at, http, url, schema_id), timeout=30,
                           message=f"schema {schema_id} on {url}")  # fmt: skip

        cluster[writer].kill()
        survivors = [urls[i] for i in urls if i != writer]
        # Reads need no leader: each survivor answers from its replica at once.
        for url in survivors:
            for subject, schema_id in ids.items():
                served = _schema_at(http, url, schema_id)
                assert served is not None and json.loads(served) == json.loads(schemas[subject])
            assert http.get(f"{url}/subjects").json() == sorted(ids)

        # Writes after the election: the same schema keeps its id, a new one gets a new id.
        for subject, schema_id in ids.items():
            assert _register(http, survivors[0], subject, schemas[subject]) == schema_id
        fresh = _register(http, survivors[1], "after-value", _avro("After", "b"))
        assert fresh == 4
        new_writer = wait_leader(cluster.bootstrap, "_schemas", not_in=(writer,)).leader
        assert new_writer != writer

        # The killed broker comes back, catches up from its replica, serves the same ids.
        cluster[writer].start()
        back = _urls(cluster)[writer]
        for schema_id in (*ids.values(), fresh):
            wait_until(functools.partial(_schema_at, http, back, schema_id), timeout=60,
                       message=f"schema {schema_id} on the restarted broker")  # fmt: skip
        assert http.get(f"{back}/subjects").json() == sorted([*ids, "after-value"])
        assert _register(http, back, "again-value", _avro("Again", "c")) == 5
