"""The admin listener of a real broker: /metrics in Prometheus' format (checked by
Debian's ``promtool check metrics``), the figures users alert on, /v1/health giving
``logd cluster health``'s answer, /v1/ready, and every name deploy/ relies on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import Producer
from kio.schema.api_versions.v3.request import ApiVersionsRequest

from logd.frontends.mqtt.codec import encode
from logd.frontends.mqtt.packets import (
    Connect,
    Disconnect,
    PingReq,
    PingResp,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
)
from tests.helpers import wait_until
from tests.integration.admin.support import admin_url, get, get_json, logd, samples
from tests.integration.cluster import BrokerProcess
from tests.integration.kafka.raw import RawClient, request_frame
from tests.integration.mqtt_helpers import RawClient as MqttClient

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _metrics(broker: BrokerProcess, query: str = "") -> str:
    status, body, headers = get(admin_url(broker, "/metrics" + query))
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return body.decode()


def test_metrics_count_what_clients_did(shared_broker: BrokerProcess) -> None:
    b = shared_broker
    assert logd(b, "topic", "create", "metered", "-p", "2", "-r", "1").returncode == 0
    before = samples(_metrics(b)).get(("logd_kafka_records_produced_total", ()), 0.0)
    lines = b"".join(b"k%d v%d\n" % (i, i) for i in range(250))
    produced = logd(b, "produce", "metered", "--key-separator", " ", stdin=lines)
    assert produced.returncode == 0, produced.stderr
    consumed = logd(b, "consume", "metered", "-o", "start", "-n", "250", "-g", "metered-readers")
    assert consumed.returncode == 0 and len(consumed.stdout.splitlines()) == 250

    text = _metrics(b)
    found = samples(text)
    assert found[("logd_cluster_brokers", ())] == 1
    assert found[("logd_cluster_controller_id", ())] == 0
    assert found[("logd_cluster_healthy", ())] == 1
    assert found[("logd_kafka_records_produced_total", ())] - before == 250
    assert found[("logd_kafka_records_fetched_total", ())] >= 250
    assert found[("logd_storage_log_bytes", (("topic", "metered"),))] > 250 * 4
    assert found[("logd_consumer_group_lag", (("group", "metered-readers"),))] == 0
    # The gRPC front end reported its requests at its boundary: produce and fetch latency
    # (the client fetches through FetchStream: each of its rounds counts as one request).
    produce = (("listener", "grpc"), ("request", "Produce"))
    assert found[("logd_kafka_request_latency_seconds_count", produce)] >= 1
    fetch = (("listener", "grpc"), ("request", "FetchStream"))
    assert found[("logd_kafka_request_latency_seconds_count", fetch)] >= 1
    assert found[("logd_storage_fsync_latency_seconds_count", ())] >= 1
    assert found[("logd_storage_disk_free_bytes", ())] > 0
    # Per-partition series only when asked for.
    assert not any(name.startswith("logd_partition_") for name, _ in found)
    detail = samples(_metrics(b, "?detail=partitions"))
    hwm = detail[("logd_partition_high_watermark", (("partition", "0"), ("topic", "metered")))]
    hwm1 = detail[("logd_partition_high_watermark", (("partition", "1"), ("topic", "metered")))]
    assert 250 <= hwm + hwm1 <= 252  # a new leader's epoch may take one offset (a gap filler)


def test_the_kafka_listener_reports_each_request(shared_broker: BrokerProcess) -> None:
    b = shared_broker
    assert logd(b, "topic", "create", "kafka-metered", "-p", "1", "-r", "1").returncode == 0
    before = samples(_metrics(b))
    producer = Producer({"bootstrap.servers": b.bound()["kafka"], "acks": "all",
                         "linger.ms": 5})  # fmt: skip
    for i in range(100):
        producer.produce("kafka-metered", value=b"v%d" % i, key=b"k%d" % i)
    assert producer.flush(30) == 0
    # A frame naming an API nobody serves: the connection closes, counted as an error.
    frame = bytearray(
        request_frame(
            18, 3, ApiVersionsRequest(client_software_name="raw", client_software_version="1")
        )
    )
    frame[4:6] = (999).to_bytes(2, "big")
    with RawClient(b.bound()["kafka"]) as raw:
        raw.send_raw(bytes(frame))
        assert raw.closed_by_broker()

    def grown(name: str, labels: tuple[tuple[str, str], ...]) -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    after = samples(_metrics(b))
    produce = (("listener", "kafka"), ("request", "Produce"))
    assert grown("logd_kafka_records_produced_total", ()) == 100
    assert grown("logd_kafka_request_latency_seconds_count", produce) >= 1
    assert grown("logd_kafka_request_errors_total", produce) == 0
    bytes_in = (("direction", "in"), *produce)
    assert grown("logd_kafka_request_bytes_total", tuple(sorted(bytes_in))) > 100 * 4
    for request in ("ApiVersions", "Metadata"):
        labels = (("listener", "kafka"), ("request", request))
        assert grown("logd_kafka_request_latency_seconds_count", labels) >= 1
    invalid = (("listener", "kafka"), ("request", "invalid"))
    assert grown("logd_kafka_request_errors_total", invalid) == 1


def test_the_mqtt_listener_reports_each_packet(shared_broker: BrokerProcess) -> None:
    """Each packet a device sends is one request of listener ``mqtt`` (the packet type
    names it), counted once answered: a QoS 1 PUBLISH at its PUBACK, after the commit; the
    open connections are a gauge per listener."""
    b = shared_broker
    before = samples(_metrics(b))
    device = MqttClient(b)
    try:
        device.send(Connect("metered-device", 5, True, 60))
        assert device.receive() is not None  # CONNACK
        device.send(PingReq(), *(Publish("mqtt-metered/dev-1/x", b"r%d" % i, 1, packet_id=i + 1)
                                 for i in range(3)))  # fmt: skip
        answers = [device.receive() for _ in range(4)]
        assert isinstance(answers[0], PingResp), answers
        assert [(type(a), a.reason) for a in answers[1:]] == [(PubAck, 0)] * 3, answers
        device.send(Subscribe(9, (Subscription("mqtt-metered/#", 1),)))
        while not isinstance(answer := device.receive(), SubAck):
            assert answer is not None, "closed before SUBACK"
        during = samples(_metrics(b))
        device.send(Disconnect())
        assert device.closed_by_server()
    finally:
        device.close()

    def grown(name: str, request: str) -> float:
        labels = (("listener", "mqtt"), ("request", request))
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    open_now = ("logd_rpc_active_connections", (("listener", "mqtt"),))
    assert during[open_now] >= 1
    wait_until(lambda: samples(_metrics(b))[open_now] == during[open_now] - 1, timeout=10,
               message="the closed connection no longer counted")  # fmt: skip
    after = samples(_metrics(b))
    for request, count in (("CONNECT", 1), ("PINGREQ", 1), ("PUBLISH", 3), ("SUBSCRIBE", 1),
                           ("DISCONNECT", 1)):  # fmt: skip
        assert grown("logd_kafka_request_latency_seconds_count", request) == count, request
        assert grown("logd_kafka_request_errors_total", request) == 0, request
    publish_in = (("direction", "in"), ("listener", "mqtt"), ("request", "PUBLISH"))
    sizes = after[("logd_kafka_request_bytes_total", publish_in)] - before.get(
        ("logd_kafka_request_bytes_total", publish_in), 0.0
    )
    assert sizes == 3 * len(encode(Publish("mqtt-metered/dev-1/x", b"r0", 1, packet_id=1), 5))
    assert (
        after[("logd_kafka_records_produced_total", ())]
        - before[("logd_kafka_records_produced_total", ())]
        >= 3
    )
    kafka_open = ("logd_rpc_active_connections", (("listener", "kafka"),))
    assert kafka_open in after


def test_the_http_listener_reports_each_request(shared_broker: BrokerProcess) -> None:
    b = shared_broker
    assert logd(b, "topic", "create", "rest-metered", "-p", "1", "-r", "1").returncode == 0
    before = samples(_metrics(b))
    rest = f"http://{b.listeners['http']}"
    body = json.dumps({"records": [{"value": {"n": i}} for i in range(5)]}).encode()
    json_v2 = {"Content-Type": "application/vnd.kafka.json.v2+json"}
    status, answer, _ = get(f"{rest}/topics/rest-metered", data=body, method="POST",
                            headers=json_v2)  # fmt: skip
    assert status == 200, answer
    assert get(f"{rest}/topics/no-such-topic-here")[0] == 404
    after = samples(_metrics(b))

    def grown(name: str, request: str) -> float:
        labels = (("listener", "http"), ("request", request))
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    assert grown("logd_kafka_request_latency_seconds_count", "POST /topics/{topic}") == 1
    assert grown("logd_kafka_request_errors_total", "POST /topics/{topic}") == 0
    assert grown("logd_kafka_request_errors_total", "GET /topics/{topic}") == 1
    records = ("logd_kafka_records_produced_total", ())
    assert after[records] - before[records] == 5


def test_promtool_accepts_the_metrics_page(shared_broker: BrokerProcess) -> None:
    for query in ("", "?detail=partitions"):
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=_metrics(shared_broker, query).encode(),
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_deploy_rules_pass_promtool_and_name_real_metrics(shared_broker: BrokerProcess) -> None:
    rules = DEPLOY / "prometheus" / "alerts.yml"
    for args in (["check", "rules", str(rules)], ["test", "rules", "alerts_test.yml"]):
        checked = subprocess.run(
            ["promtool", *args], cwd=rules.parent, capture_output=True, timeout=60, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    config = DEPLOY / "prometheus" / "prometheus.yml"
    checked = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True,
                             timeout=60, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Every logd_* name the alerts and the dashboard query is one a broker exports.
    text = _metrics(shared_broker)
    exported = {name for name, _ in samples(text)}
    # A family may have no sample yet (no refusal so far): its TYPE line names it.
    exported |= set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    dashboard = json.loads((DEPLOY / "grafana" / "logd-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(re.findall(r"\blogd_[a-z_]+", rules.read_text() + "\n".join(exprs)))
    assert used and used <= exported, used - exported


def test_health_is_the_cli_answer_and_ready_says_serving(shared_broker: BrokerProcess) -> None:
    status, health = get_json(admin_url(shared_broker, "/v1/health"))
    cli = logd(shared_broker, "cluster", "health", "--format", "json")
    assert cli.returncode == 0 and status == 200
    assert health == json.loads(cli.stdout)
    assert health["healthy"] is True
    assert get_json(admin_url(shared_broker, "/v1/ready")) == (200, {"ready": True})


def test_unhealthy_cluster_answers_503_with_the_cli_answer(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster = cluster_factory(3)
    b0 = cluster[0]
    assert logd(b0, "topic", "create", "replicated", "-p", "3", "-r", "3").returncode == 0
    wait_until(lambda: get(admin_url(b0, "/v1/health"))[0] == 200, 60, 0.2, message="healthy")
    lines = b"".join(b"r%d\n" % i for i in range(30))
    assert logd(b0, "produce", "replicated", "--acks", "all", stdin=lines).returncode == 0

    # Broker 0's console reads every partition from its own replica, leader or follower.
    def browsed() -> list[str]:
        status, answer = get_json(admin_url(b0, "/api/topics/replicated/messages?from=oldest"))
        assert status == 200, answer
        return sorted(r["value"] for r in answer["records"])

    wait_until(lambda: len(browsed()) == 30, 30, 0.2, message="followers to catch up")
    assert browsed() == sorted(f"r{i}" for i in range(30))
    cluster[2].kill()

    def unhealthy() -> bool:
        status, body = get_json(admin_url(b0, "/v1/health"))
        return status == 503 and 2 in body["nodes_down"]

    wait_until(unhealthy, 60, 0.2, message="broker 2 seen down")

    # Both look at broker 0 while the cluster stays the same: the same answer.
    def same() -> bool:
        status, health = get_json(admin_url(b0, "/v1/health"))
        cli = logd(b0, "cluster", "health", "--format", "json")
        return status == 503 and cli.returncode == 10 and health == json.loads(cli.stdout)

    wait_until(same, 60, 0.5, message="the CLI and /v1/health to agree")
    found = samples(_metrics(b0))
    assert found[("logd_cluster_healthy", ())] == 0
    assert found[("logd_cluster_brokers_down", ())] == 1
    assert found[("logd_cluster_under_replicated_partitions", ())] >= 1


def test_json_log_format_gives_one_object_a_line_with_events(broker_factory) -> None:  # type: ignore[no-untyped-def]
    b = broker_factory("json-logs", extra_args=["--log-format", "json"])
    assert logd(b, "topic", "create", "logged", "-p", "1", "-r", "1").returncode == 0

    def elected() -> list[dict[str, object]]:
        lines = [json.loads(line) for line in b.stderr_text().splitlines() if line.strip()
                 and not line.startswith("--- start")]  # the harness's own marker  # fmt: skip
        return [e for e in lines if e.get("event") == "leader_elected"
                and e.get("partition") == "logged-0"]  # fmt: skip

    (event,) = wait_until(elected, 30, 0.1, message="the leader_elected line")
    assert event["level"] == "INFO" and event["msg"] == "logged-0: leading in epoch 1"
    assert event["epoch"] == 1 and str(event["ts"]).endswith("Z")
