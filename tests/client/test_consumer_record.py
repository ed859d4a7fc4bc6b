"""ConsumerRecord: what an application reads off a consumed record (a tuple subclass the
decoder builds directly, issue 8), compared, copied and printed as users expect."""

from __future__ import annotations

import copy
import pickle

import pytest

from logd.client.types import TIMESTAMP_LOG_APPEND_TIME, ConsumerRecord


def record(**changes: object) -> ConsumerRecord:
    fields: dict[str, object] = {
        "topic": "t", "partition": 1, "offset": 5, "timestamp": 7,
        "timestamp_type": TIMESTAMP_LOG_APPEND_TIME, "key": b"k", "value": b"v",
        "headers": [("h", b"x")], "leader_epoch": 3,
    }  # fmt: skip
    fields.update(changes)
    return ConsumerRecord(**fields)  # type: ignore[arg-type]


def test_fields_read_by_name() -> None:
    r = ConsumerRecord("t", 1, 5, 7, TIMESTAMP_LOG_APPEND_TIME, b"k", b"v", [("h", b"x")], 3)
    assert (r.topic, r.partition, r.offset, r.timestamp) == ("t", 1, 5, 7)
    assert (r.timestamp_type, r.key, r.value, r.leader_epoch) == (1, b"k", b"v", 3)
    assert r.headers == [("h", b"x")]
    assert ConsumerRecord("t", 0, 0, 0, 0, None, None).headers == []
    assert ConsumerRecord("t", 0, 0, 0, 0, None, None).leader_epoch == -1


def test_fields_are_read_only() -> None:
    with pytest.raises(AttributeError):
        record().value = b"other"  # type: ignore[misc]


def test_equality_is_by_content_not_leader_epoch() -> None:
    assert record() == record(leader_epoch=8)
    assert record(headers=(("h", b"x"),)) == record()
    assert not (record() != record(leader_epoch=8))  # noqa: SIM202 - __ne__ itself
    for field, other in [("value", b"w"), ("key", None), ("offset", 6), ("headers", [])]:
        assert record() != record(**{field: other})
        assert not (record() == record(**{field: other}))  # noqa: SIM201 - __eq__ itself
    assert record() != ("t", 1)
    with pytest.raises(TypeError):
        hash(record())


def test_pickle_and_copy_keep_every_field() -> None:
    r = record()
    for clone in (pickle.loads(pickle.dumps(r)), copy.copy(r), copy.deepcopy(r)):
        assert type(clone) is ConsumerRecord
        assert clone == r and clone.leader_epoch == 3


def test_repr_names_the_record_and_shortens_long_values() -> None:
    text = repr(record(value=b"x" * 100))
    assert text.startswith("ConsumerRecord(topic='t', partition=1, offset=5, timestamp=7")
    assert "...(100 bytes)" in text
