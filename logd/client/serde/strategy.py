"""Subject-name strategies (Confluent's): which subject a topic's key or value schema is
registered under."""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "SubjectNameStrategy",
    "record_name_strategy",
    "topic_name_strategy",
    "topic_record_name_strategy",
]

# (topic, is_key, the schema's record full name or None) -> subject
SubjectNameStrategy = Callable[[str, bool, str | None], str]


def topic_name_strategy(topic: str, is_key: bool, record_name: str | None) -> str:
    return f"{topic}-{'key' if is_key else 'value'}"


def record_name_strategy(topic: str, is_key: bool, record_name: str | None) -> str:
    if not record_name:
        raise ValueError("record_name_strategy needs a named schema (an Avro record)")
    return record_name


def topic_record_name_strategy(topic: str, is_key: bool, record_name: str | None) -> str:
    return f"{topic}-{record_name_strategy(topic, is_key, record_name)}"
