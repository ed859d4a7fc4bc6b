"""Helpers of the HTTP listener's integration tests: its URL, brokers with ``http.*``
settings, and a quick JSON call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from logd.client import Admin, NewTopic
from tests.integration.cluster import BrokerProcess

__all__ = ["BINARY", "JSON_V2", "V2", "create_topic", "http_config", "url_of"]

V2 = "application/vnd.kafka.v2+json"
JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"


def url_of(broker: BrokerProcess) -> str:
    """The HTTP listener's base URL, as the serving broker reported it bound."""
    return f"http://{broker.bound()['http']}"


def http_config(directory: Path, **settings: Any) -> Path:
    """A broker config file with ``http.<key>`` settings (underscores for dots)."""
    path = directory / "http.toml"
    lines = []
    for key, value in settings.items():
        rendered = repr(value).lower() if isinstance(value, bool) else repr(value)
        lines.append(f'"http.{key.replace("_", ".")}" = {rendered}'.replace("'", '"'))
    path.write_text("\n".join(lines) + "\n")
    return path


def create_topic(broker: BrokerProcess, name: str, partitions: int = 1) -> None:
    with Admin(brokers=broker.address) as admin:
        admin.create_topics([NewTopic(name, partitions, 1)])


def end_offset(client: httpx.Client, topic: str, partition: int = 0) -> int:
    answer = client.get(f"/topics/{topic}/partitions/{partition}/offsets")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["end_offset"])
