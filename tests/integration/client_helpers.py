"""Small helpers for the client's integration tests (``test_client_*.py``)."""

from __future__ import annotations

from logd.client import Admin, NewTopic

__all__ = ["create_topic"]


def create_topic(address: str, name: str, partitions: int) -> None:
    with Admin(brokers=address) as admin:
        admin.create_topics([NewTopic(name, partitions, 1)])
