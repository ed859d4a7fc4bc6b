"""The broker process: health, reflection, graceful shutdown, start-up failures, signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from logd.broker.listeners import LISTENERS
from logd.errors import ErrorCode
from logd.node.frontends import FRONT_ENDS
from logd.node.listeners import read_listeners
from logd.v1 import admin_pb2, broker_pb2
from tests.helpers import free_port, wait_until
from tests.integration.cluster import CONSOLE_ENTRY, MODULE_ENTRY, BrokerProcess
from tests.integration.wire import (
    ACKS_ALL,
    admin,
    batch,
    broker,
    create_topic,
    fetch,
    produce_one,
    status_error_code,
    values,
)

pytestmark = pytest.mark.integration


def test_health_and_reflection(broker: BrokerProcess) -> None:
    health = health_pb2_grpc.HealthStub(broker.channel())
    for service in ("", "logd.v1.LogBroker", "logd.v1.LogAdmin"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(broker.channel())
    answers = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
    )
    names = {s.name for a in answers for s in a.list_services_response.service}
    assert {"logd.v1.LogBroker", "logd.v1.LogAdmin", "grpc.health.v1.Health"} <= names
    out = broker.stdout_text()
    assert f"listening on {broker.address}, data in {broker.data_dir}" in out
    assert "logd produce" in out and "logd consume" in out
    # Every listener that exists (gRPC, each registered front end and the brokers' Raft TCP
    # listener) reports the address it bound; the others (no front end yet) were given free
    # ports and are not started.
    assert f"listener grpc {broker.address}\n" in out
    served = {name: broker.listeners[name] for name in (*FRONT_ENDS, "rpc")}
    assert broker.bound() == {"grpc": broker.address, **served}
    for name, address in served.items():
        assert f"listener {name} {address}\n" in out


@pytest.fixture
def patient_broker(broker_factory, tmp_path: Path) -> BrokerProcess:
    """A broker whose shutdown grace (60 s) outlasts every client deadline in these tests
    (30 s): a request that the drain failed to finish shows up as DEADLINE_EXCEEDED."""
    config = tmp_path / "patient.toml"
    config.write_text("shutdown.grace.ms = 60000\n")
    return broker_factory(config_file=config)


def test_sigterm_answers_waiting_fetches_and_exits_clean(patient_broker: BrokerProcess) -> None:
    b = patient_broker
    create_topic(b, "t")
    produce_one(b, "t", 0, batch([b"v"]))
    request = broker_pb2.FetchRequest(
        max_wait_ms=600_000,
        min_bytes=1,
        # Offset 0 is the leader's LEADER_CHANGE control batch, 1 the record: wait at 2.
        partitions=[broker_pb2.FetchPartition(topic="t", partition=0, offset=2, max_bytes=1000)],
    )
    waiting = broker(b).Fetch.future(request, timeout=30)
    # Sent after the fetch on the same connection, so the fetch is (almost surely) parked
    # in the broker by the time this returns; both outcomes below are correct anyway.
    broker(b).Metadata(broker_pb2.MetadataRequest(), timeout=30)
    assert not waiting.done()
    assert b.stop() == 0
    try:
        data = waiting.result()
    except grpc.RpcError as exc:  # arrived after the server stopped accepting
        assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
    else:
        assert (data.partitions[0].error.code, data.partitions[0].records) == (0, b"")
    assert (b.data_dir / ".logd_cleanshutdown").exists()


def test_sigterm_ends_open_produce_streams_after_answering(
    patient_broker: BrokerProcess,
) -> None:
    broker_ = patient_broker
    create_topic(broker_, "t")
    sent = threading.Event()
    release = threading.Event()

    def requests():
        yield broker_pb2.ProduceRequest(
            correlation_id=1, topic="t", partition=0, acks=ACKS_ALL, records=batch([b"in"])
        )
        sent.set()
        release.wait(60)  # keep the stream open, as a long-lived producer does

    call = broker(broker_).Produce(requests(), timeout=30)
    first = next(call)
    assert (first.correlation_id, first.error.code) == (1, 0)
    assert broker_.stop() == 0
    with pytest.raises(grpc.RpcError) as caught:
        next(call)
    release.set()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert status_error_code(caught.value) == ErrorCode.BROKER_NOT_AVAILABLE
    broker_.start()
    assert values(fetch(broker_, "t", 0, 0).records) == [(1, b"in")]  # 0: LEADER_CHANGE


def test_a_paused_broker_serves_again_when_resumed(broker: BrokerProcess) -> None:
    create_topic(broker, "t")
    broker.pause()
    with pytest.raises(grpc.RpcError) as caught:
        fetch(broker, "t", 0, 0, timeout=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    broker.resume()
    broker.wait_ready()
    assert produce_one(broker, "t", 0, batch([b"v"])).error.code == 0


def _run_broker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logd.node", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_a_second_broker_cannot_share_the_data_dir(broker: BrokerProcess) -> None:
    result = _run_broker("--data-dir", str(broker.data_dir), "--listen", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "in use by another broker" in result.stderr
    assert result.stderr.count("error:") == 1
    assert produce_one(broker, "absent", 0, batch([b"x"])).error.code == 3  # unharmed


def test_a_port_in_use_is_one_clear_line(broker: BrokerProcess, tmp_path: Path) -> None:
    result = _run_broker("--data-dir", str(tmp_path / "other"), "--listen", broker.address)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: listen: cannot listen on {broker.address}")
    assert result.stderr.count("\n") == 1, result.stderr  # one line, nothing from gRPC


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("no.such.key = 1\n", "no.such.key"),
        ('fsync = "sometimes"\n', "fsync"),
        ("num.partitions = 0\n", "num.partitions"),
        ('[topic.defaults]\n"retention.ms" = "soon"\n', "retention.ms"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(tmp_path: Path, content: str, named: str) -> None:
    config = tmp_path / "broker.toml"
    config.write_text(content)
    result = _run_broker(
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "data"),
        "--listen",
        f"127.0.0.1:{free_port()}",
    )
    assert result.returncode == 1, result
    assert result.stderr.startswith("error: ") and named in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_logd_serve_runs_the_same_broker(broker_factory) -> None:
    b = broker_factory(entry=CONSOLE_ENTRY)
    create_topic(b, "t")
    assert produce_one(b, "t", 0, batch([b"v"])).error.code == 0
    assert f"listening on {b.address}" in b.stdout_text()
    assert b.stop() == 0
    assert (b.data_dir / ".logd_cleanshutdown").exists()


def test_a_broker_without_a_quorum_waits_not_serving_and_stops_clean(broker_factory) -> None:
    # Its peers never answer: no controller can be elected, so it must not claim SERVING,
    # yet SIGTERM still stops it cleanly.
    port = free_port()
    b = broker_factory(start=False, port=port, peers=f"0@127.0.0.1:{port},1@127.0.0.1:1")
    b.start(wait=False)
    health = health_pb2_grpc.HealthStub(b.channel())

    def status() -> int | None:
        try:
            return health.Check(health_pb2.HealthCheckRequest(), timeout=1.0).status
        except grpc.RpcError:
            return None

    assert wait_until(status, timeout=30, message="the health service") == (
        health_pb2.HealthCheckResponse.NOT_SERVING
    )
    assert b.stop() == 0


def test_retention_runs_periodically(broker_factory, tmp_path: Path) -> None:
    config = tmp_path / "fast-retention.toml"
    config.write_text("log.retention.check.interval.ms = 50\n")
    b = broker_factory(config_file=config)
    create_topic(b, "t", configs={"segment.bytes": "200", "retention.bytes": "0"})
    for i in range(4):
        produce_one(b, "t", 0, batch([b"%d" % i + b"x" * 150]))

    def log_start() -> int:
        answer = admin(b).DescribeTopics(admin_pb2.DescribeTopicsRequest(names=["t"]))
        return answer.topics[0].partitions[0].log_start_offset

    # Every segment but the active one goes; the log then starts at the last batch (offset
    # 4: 0 holds the leader's LEADER_CHANGE control batch, in a segment of its own here).
    assert wait_until(lambda: log_start() == 4, message="retention to run") is True
    assert fetch(b, "t", 0, 0).error.code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert values(fetch(b, "t", 0, 4).records) == [(4, b"3" + b"x" * 150)]


def test_health_turns_not_serving_when_draining_begins(patient_broker: BrokerProcess) -> None:
    health = health_pb2_grpc.HealthStub(patient_broker.channel())
    watch = health.Watch(health_pb2.HealthCheckRequest(service="logd.v1.LogBroker"), timeout=30)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    assert patient_broker.proc is not None
    patient_broker.proc.send_signal(signal.SIGTERM)
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert patient_broker.stop() == 0


def test_port_zero_binds_a_free_port_and_reports_it(tmp_path: Path) -> None:
    """``--listen 127.0.0.1:0``: the broker picks a port, serves on it and says which, in
    ``listeners.json`` and on stdout; every other listener may be ``off``."""
    data = tmp_path / "data"
    off = [arg for spec in LISTENERS for arg in (spec.flag, "off")]
    out = tmp_path / "stdout.txt"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [*MODULE_ENTRY, "--listen", "127.0.0.1:0", "--data-dir", str(data), *off],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_until(lambda: "grpc" in read_listeners(data) or proc.poll() is not None, 60)
        address = read_listeners(data)["grpc"]
        host, _, port = address.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0
        assert read_listeners(data) == {"grpc": address}
        with grpc.insecure_channel(address) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        assert f"listener grpc {address}\n" in out.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_listener_flags_are_checked_like_every_other_key(tmp_path: Path) -> None:
    bad = subprocess.run(
        [*MODULE_ENTRY, "--data-dir", str(tmp_path), "--kafka-listen", "nowhere"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "error: kafka.listen: expected HOST:PORT, got 'nowhere'"
    ]
