"""Confluent REST Proxy API reference examples (API v2), recorded as data: the request as
documented and the documented answer, replayed against logd's HTTP listener by
``test_http_rest.py`` and compared field by field (:func:`same_shape`).

Documented answers carry example offsets and broker ids; what the comparison checks is
Confluent's contract: every documented field is present, with a value of the same JSON type,
nested the same way; where a value follows from the request (an explicit partition, null
schema ids) the test asserts it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXAMPLES", "same_shape"]

_V2_ACCEPT = "application/vnd.kafka.v2+json, application/vnd.kafka+json, application/json"

_REPLICAS = [{"broker": 1, "leader": True, "in_sync": True}]

#: name -> (method, path, headers, body, documented status, documented answer)
EXAMPLES: dict[str, tuple[str, str, dict[str, str], Any, int, Any]] = {
    "list topics": (
        "GET", "/topics", {"Accept": "application/vnd.kafka.v2+json"}, None, 200,
        ["topic1", "topic2"],
    ),
    "topic metadata": (
        "GET", "/topics/test", {"Accept": "application/vnd.kafka.v2+json"}, None, 200,
        {
            "name": "test",
            "configs": {"cleanup.policy": "compact"},
            "partitions": [{"partition": 1, "leader": 1, "replicas": _REPLICAS}],
        },
    ),
    "produce binary to a topic": (
        "POST", "/topics/test",
        {"Content-Type": "application/vnd.kafka.binary.v2+json", "Accept": _V2_ACCEPT},
        {"records": [{"key": "a2V5", "value": "Y29uZmx1ZW50"},
                     {"value": "a2Fma2E=", "partition": 1},
                     {"value": "bG9ncw=="}]},
        200,
        {"key_schema_id": None, "value_schema_id": None,
         "offsets": [{"partition": 2, "offset": 100}, {"partition": 1, "offset": 101},
                     {"partition": 2, "offset": 102}]},
    ),
    "produce JSON to a topic": (
        "POST", "/topics/test",
        {"Content-Type": "application/vnd.kafka.json.v2+json", "Accept": _V2_ACCEPT},
        {"records": [{"key": "somekey", "value": {"foo": "bar"}},
                     {"value": ["foo", "bar"], "partition": 1},
                     {"value": 53.5}]},
        200,
        {"key_schema_id": None, "value_schema_id": None,
         "offsets": [{"partition": 2, "offset": 100}, {"partition": 1, "offset": 101},
                     {"partition": 2, "offset": 102}]},
    ),
    "partitions": (
        "GET", "/topics/test/partitions", {"Accept": _V2_ACCEPT}, None, 200,
        [{"partition": 1, "leader": 1, "replicas": _REPLICAS}],
    ),
    "one partition": (
        "GET", "/topics/test/partitions/1", {"Accept": _V2_ACCEPT}, None, 200,
        {"partition": 1, "leader": 1, "replicas": _REPLICAS},
    ),
    "produce binary to a partition": (
        "POST", "/topics/test/partitions/1",
        {"Content-Type": "application/vnd.kafka.binary.v2+json", "Accept": _V2_ACCEPT},
        {"records": [{"key": "a2V5", "value": "Y29uZmx1ZW50"}, {"value": "a2Fma2E="}]},
        200,
        {"key_schema_id": None, "value_schema_id": None,
         "offsets": [{"partition": 1, "offset": 100}, {"partition": 1, "offset": 101}]},
    ),
    "produce JSON to a partition": (
        "POST", "/topics/test/partitions/1",
        {"Content-Type": "application/vnd.kafka.json.v2+json", "Accept": _V2_ACCEPT},
        {"records": [{"key": "somekey", "value": {"foo": "bar"}}, {"value": 53.5}]},
        200,
        {"key_schema_id": None, "value_schema_id": None,
         "offsets": [{"partition": 1, "offset": 100}, {"partition": 1, "offset": 101}]},
    ),
    "brokers": (
        "GET", "/brokers", {"Accept": _V2_ACCEPT}, None, 200, {"brokers": [1, 2, 3]},
    ),
}  # fmt: skip


#: Fields whose content is the data's own (a topic's configs, a record's key and value): only
#: their presence is Confluent's contract.
_OWN = frozenset({"configs", "key", "value"})


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def same_shape(documented: Any, ours: Any, where: str = "$") -> list[str]:
    """Where ``ours`` departs from the documented answer's shape (empty: none)."""
    if documented is None:
        return [] if ours is None else [f"{where}: documented null, got {ours!r}"]
    if _kind(documented) != _kind(ours):
        return [f"{where}: documented a {_kind(documented)}, got {ours!r}"]
    if isinstance(documented, dict):
        problems = []
        for key, value in documented.items():
            if key not in ours:
                problems.append(f"{where}.{key}: missing")
            elif key not in _OWN:
                problems += same_shape(value, ours[key], f"{where}.{key}")
        return problems
    if isinstance(documented, list) and documented:
        if not ours:
            return [f"{where}: documented a non-empty list, got []"]
        return [
            p
            for i, item in enumerate(ours)
            for p in same_shape(documented[0], item, f"{where}[{i}]")
        ]
    return []
