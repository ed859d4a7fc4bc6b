"""REST Proxy v2 consumer instances on a real broker: the documented flow with httpx, records
produced by the gRPC client read over HTTP, offsets committed where every consumer of the
group sees them, two instances sharing a group's partitions, expiry.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from logd.client import Admin, Producer
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.http_examples import same_shape
from tests.integration.http_support import V2, create_topic, http_config, url_of

pytestmark = pytest.mark.integration

_JSON = {"Content-Type": V2}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    root = tmp_path_factory.mktemp("http-consumers")
    config = http_config(root, consumer_instance_timeout_ms=1500)
    b = BrokerProcess(root / "broker", config_file=config)
    b.start()
    yield b
    code = b.stop()
    assert "Traceback" not in b.stderr_text(), b._tail()
    assert code == 0, b._tail()


@pytest.fixture
def rest(broker: BrokerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url_of(broker), timeout=30) as client:
        yield client


def _produce(broker: BrokerProcess, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    with Producer(brokers=broker.address) as producer:
        for key, value in items:
            producer.produce(topic, value, key=key, headers=[("src", b"grpc")])
        assert producer.flush(30) == 0


def _create(rest: httpx.Client, group: str, **settings: Any) -> str:
    answer = rest.post(f"/consumers/{group}", json=settings, headers=_JSON)
    assert answer.status_code == 200, answer.text
    base = answer.json()["base_uri"]
    name = answer.json()["instance_id"]
    assert base == f"{str(rest.base_url).rstrip('/')}/consumers/{group}/instances/{name}"
    return str(base)


def _read(rest: httpx.Client, base: str, count: int, fmt: str = "binary") -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(got) < count:
        assert time.monotonic() < deadline, f"read {len(got)} of {count}"
        answer = rest.get(f"{base}/records?timeout=1000",
                          headers={"Accept": f"application/vnd.kafka.{fmt}.v2+json"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == f"application/vnd.kafka.{fmt}.v2+json"
        got += answer.json()
    return got


def test_the_documented_flow_reads_what_grpc_produced(
    rest: httpx.Client, broker: BrokerProcess
) -> None:
    create_topic(broker, "flow", 2)
    base = _create(
        rest,
        "testgroup",
        name="my_consumer",
        format="binary",
        **{"auto.offset.reset": "earliest", "auto.commit.enable": "false"},
    )
    assert base.endswith("/consumers/testgroup/instances/my_consumer")
    subscribed = rest.post(f"{base}/subscription", json={"topics": ["flow"]}, headers=_JSON)
    assert subscribed.status_code == 204
    assert rest.get(f"{base}/subscription").json() == {"topics": ["flow"]}
    items = [(b"k%d" % i, b"v%d" % i) for i in range(10)]
    _produce(broker, "flow", items)
    got = _read(rest, base, 10)
    assert (
        same_shape(
            {"topic": "t", "key": "a2V5", "value": "Y29uZmx1ZW50", "partition": 1, "offset": 100},
            got[0],
        )
        == []
    )  # the documented binary record
    assert sorted((base64.b64decode(r["key"]), base64.b64decode(r["value"])) for r in got) == (
        sorted(items)
    )
    assert all(r["headers"] == [{"name": "src", "value": base64.b64encode(b"grpc").decode()}]
               for r in got)  # fmt: skip
    assignment = rest.get(f"{base}/assignments").json()
    assert sorted((p["topic"], p["partition"]) for p in assignment["partitions"]) == [
        ("flow", 0), ("flow", 1)]  # fmt: skip
    # commit what was read; the group's offsets show it to every consumer
    assert rest.post(f"{base}/offsets", headers=_JSON).status_code == 204
    ends = {p: max(r["offset"] for r in got if r["partition"] == p) + 1 for p in (0, 1)}
    committed = rest.request("GET", f"{base}/offsets", headers=_JSON,
                             content=json.dumps({"partitions": [{"topic": "flow", "partition": p}
                                                                for p in (0, 1)]}))  # fmt: skip
    assert same_shape({"offsets": [{"topic": "t", "partition": 0, "offset": 21,
                                    "metadata": ""}]}, committed.json()) == []  # fmt: skip
    assert {o["partition"]: o["offset"] for o in committed.json()["offsets"]} == ends
    with Admin(brokers=broker.address) as admin:
        (described,) = admin.describe_groups(["testgroup"])
        assert described.state.lower() == "stable" and len(described.members) == 1
    assert rest.delete(base, headers=_JSON).status_code == 204
    gone = rest.get(f"{base}/records", headers={"Accept": "application/vnd.kafka.binary.v2+json"})
    assert gone.status_code == 404 and gone.json()["error_code"] == 40403


def test_json_format_manual_assignment_and_positions(
    rest: httpx.Client, broker: BrokerProcess
) -> None:
    create_topic(broker, "manual", 1)
    _produce(broker, "manual", [(b'"k"', json.dumps({"n": i}).encode()) for i in range(6)])
    base = _create(rest, "jsongroup", format="json", **{"auto.commit.enable": "false"})
    assert rest.post(f"{base}/assignments", json={"partitions": [{"topic": "manual",
                                                                  "partition": 0}]},
                     headers=_JSON).status_code == 204  # fmt: skip
    assert rest.get(f"{base}/assignments").json() == {
        "partitions": [{"topic": "manual", "partition": 0}]}  # fmt: skip
    part = [{"topic": "manual", "partition": 0}]
    rest.post(f"{base}/positions/beginning", json={"partitions": part}, headers=_JSON)
    got = _read(rest, base, 6, "json")
    assert [r["value"] for r in got] == [{"n": i} for i in range(6)]
    assert (
        same_shape(
            {"topic": "t", "key": "somekey", "value": {"foo": "bar"}, "partition": 1, "offset": 10},
            got[0],
        )
        == []
    )  # the documented JSON record
    third = got[2]["offset"]
    rest.post(
        f"{base}/positions",
        headers=_JSON,
        json={"offsets": [{"topic": "manual", "partition": 0, "offset": third}]},
    )
    assert [r["value"] for r in _read(rest, base, 4, "json")] == [{"n": i} for i in range(2, 6)]
    rest.post(f"{base}/positions/end", json={"partitions": part}, headers=_JSON)
    empty = rest.get(f"{base}/records?timeout=200",
                     headers={"Accept": "application/vnd.kafka.json.v2+json"})  # fmt: skip
    assert empty.json() == []
    rest.post(f"{base}/positions", headers=_JSON, json={"timestamps": [
        {"topic": "manual", "partition": 0, "timestamp": "2000-01-01T00:00:00Z"}]})  # fmt: skip
    assert len(_read(rest, base, 6, "json")) == 6
    # a commit of the last record consumed stores the next offset (Confluent's rule)
    last = got[-1]["offset"]
    rest.post(
        f"{base}/offsets",
        headers=_JSON,
        json={"offsets": [{"topic": "manual", "partition": 0, "offset": last}]},
    )
    committed = rest.request("GET", f"{base}/offsets", headers=_JSON,
                             content=json.dumps({"partitions": part})).json()  # fmt: skip
    assert committed["offsets"][0]["offset"] == last + 1
    wrong = rest.get(f"{base}/records", headers={"Accept": "application/vnd.kafka.binary.v2+json"})
    assert wrong.status_code == 406 and wrong.json()["error_code"] == 40601
    mixed = rest.post(f"{base}/subscription", json={"topics": ["manual"]}, headers=_JSON)
    assert mixed.status_code == 409 and mixed.json()["error_code"] == 40903
    rest.delete(base)


def test_two_instances_share_the_group_partitions(
    rest: httpx.Client, broker: BrokerProcess
) -> None:
    create_topic(broker, "shared", 4)
    first = _create(rest, "sharing")
    second = _create(rest, "sharing")
    for base in (first, second):
        rest.post(f"{base}/subscription", json={"topics": ["shared"]}, headers=_JSON)

    def split() -> list[list[int]] | None:
        held = []
        for base in (first, second):
            rest.get(
                f"{base}/records?timeout=0",
                headers={"Accept": "application/vnd.kafka.binary.v2+json"},
            )  # keep alive
            held.append(sorted(p["partition"] for p in rest.get(f"{base}/assignments")
                               .json()["partitions"]))  # fmt: skip
        return held if sorted(held[0] + held[1]) == [0, 1, 2, 3] and all(held) else None

    halves = wait_until(split, timeout=40, interval=0.2, message="the partitions split")
    assert sorted(len(h) for h in halves) == [2, 2]
    for base in (first, second):
        assert rest.delete(base).status_code == 204


def test_an_idle_instance_expires_and_leaves_its_group(
    rest: httpx.Client, broker: BrokerProcess
) -> None:
    create_topic(broker, "idle", 1)
    base = _create(rest, "idlers")
    rest.post(f"{base}/subscription", json={"topics": ["idle"]}, headers=_JSON)
    with Admin(brokers=broker.address) as admin:
        wait_until(lambda: admin.describe_groups(["idlers"])[0].members, timeout=20,
                   message="the instance joined")  # fmt: skip
        # no request for consumer.instance.timeout.ms (1.5 s): destroyed, and it left
        # (watched through the group: a request to the instance would keep it alive)
        wait_until(lambda: not admin.describe_groups(["idlers"])[0].members, timeout=20,
                   interval=0.2, message="the instance to leave")  # fmt: skip
    gone = rest.get(f"{base}/assignments")
    assert gone.status_code == 404 and gone.json()["error_code"] == 40403


def test_consumer_bad_input(rest: httpx.Client) -> None:
    def error(answer: httpx.Response, status: int, code: int) -> None:
        assert answer.status_code == status, answer.text
        assert answer.json()["error_code"] == code

    error(rest.post("/consumers/g", json={"format": "xml"}, headers=_JSON), 422, 42204)
    error(rest.post("/consumers/g", json={"auto.offset.reset": "sideways"}, headers=_JSON), 422,
          42204)  # fmt: skip
    base = _create(rest, "g", name="dup")
    error(rest.post("/consumers/g", json={"name": "dup"}, headers=_JSON), 409, 40902)
    error(rest.get("/consumers/g/instances/nobody/assignments"), 404, 40403)
    error(rest.post(f"{base}/subscription", json={"topics": ["a"], "topic_pattern": "b"},
                    headers=_JSON), 409, 40903)  # fmt: skip
    error(rest.post(f"{base}/subscription", json={"topic_pattern": "("}, headers=_JSON), 422, 422)
    error(rest.post(f"{base}/positions", json={"offsets": [{"topic": "a", "partition": 0,
                                                            "offset": -5}]}, headers=_JSON),
          422, 42202)  # fmt: skip
    error(rest.post(f"{base}/positions", json={"offsets": [{"topic": "a", "partition": 0,
                                                            "offset": 5}]}, headers=_JSON),
          409, 40903)  # fmt: skip
    rest.delete(base)
