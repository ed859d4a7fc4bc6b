"""The applied registry state and the write plans: Confluent's rules, Karapace's records."""

from __future__ import annotations

import json

import pytest

from logd.registry import (
    CompatibilityLevel,
    Mode,
    Reference,
    RegistryState,
    SchemaType,
    parse_schema,
)
from logd.registry.errors import (
    IncompatibleSchemaError,
    InvalidSchemaError,
    OperationNotPermittedError,
    ReferenceExistsError,
    SchemaNotFoundError,
    SchemaVersionNotSoftDeletedError,
    SubjectNotFoundError,
    SubjectNotSoftDeletedError,
    SubjectSoftDeletedError,
)
from logd.registry.writes import (
    Plan,
    plan_delete_subject,
    plan_delete_version,
    plan_register,
    plan_set_config,
    plan_set_mode,
)

R1 = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})
R2 = json.dumps(
    {"type": "record", "name": "R", "fields": [
        {"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": ""}]}
)  # fmt: skip
R_BAD = json.dumps(
    {
        "type": "record",
        "name": "R",
        "fields": [{"name": "a", "type": "int"}, {"name": "c", "type": "int"}],
    }
)


def commit(state: RegistryState, plan: Plan) -> object:
    """What the writer does once the records are committed: every broker applies them."""
    for key, value in plan.records:
        assert state.apply(key.encode(), value)
    return plan.answer


def register(
    state: RegistryState,
    subject: str,
    text: str,
    refs: tuple[Reference, ...] = (),
    t: SchemaType = SchemaType.AVRO,
) -> dict[str, int]:
    parsed = parse_schema(t, text, refs, state.lookup)
    answer = commit(state, plan_register(state, subject, parsed))
    assert isinstance(answer, dict)
    return answer


def test_register_evolve_and_refuse_incompatible() -> None:
    s = RegistryState()
    assert register(s, "t-value", R1) == {"id": 1, "version": 1}
    assert register(s, "t-value", R1) == {"id": 1, "version": 1}  # same schema: no new version
    assert register(s, "t-value", R2) == {"id": 2, "version": 2}
    with pytest.raises(IncompatibleSchemaError) as exc:
        register(s, "t-value", R_BAD)
    assert exc.value.error_code == 409
    assert [e.version for e in s.versions("t-value")] == [1, 2]


def test_ids_are_global_across_subjects() -> None:
    s = RegistryState()
    register(s, "a", R1)
    assert register(s, "b", R1) == {"id": 1, "version": 1}
    assert [e.subject for e in s.uses(1)] == ["a", "b"]


def test_soft_then_hard_delete_rules() -> None:
    s = RegistryState()
    register(s, "t", R1)
    register(s, "t", R2)
    with pytest.raises(SubjectNotSoftDeletedError):
        plan_delete_subject(s, "t", permanent=True)
    assert commit(s, plan_delete_subject(s, "t", permanent=False)) == [1, 2]
    assert s.subject_names() == [] and s.subject_names(deleted=True) == ["t"]
    with pytest.raises(SubjectSoftDeletedError) as exc:
        plan_delete_subject(s, "t", permanent=False)
    assert exc.value.error_code == 40404
    assert commit(s, plan_delete_subject(s, "t", permanent=True)) == [1, 2]
    with pytest.raises(SubjectNotFoundError):
        s.versions("t", deleted=True)
    with pytest.raises(SchemaNotFoundError):
        s.schema(1)
    # ids never come back, even after the records are gone
    assert register(s, "u", json.dumps("string"))["id"] == 3


def test_hard_delete_of_a_version_needs_a_soft_delete_first() -> None:
    s = RegistryState()
    register(s, "t", R1)
    with pytest.raises(SchemaVersionNotSoftDeletedError) as exc:
        plan_delete_version(s, "t", 1, permanent=True)
    assert exc.value.error_code == 40407
    assert commit(s, plan_delete_version(s, "t", -1, permanent=False)) == 1
    assert commit(s, plan_delete_version(s, "t", 1, permanent=True)) == 1


def test_max_id_survives_compaction_through_the_noop_floor() -> None:
    s = RegistryState()
    register(s, "t", R1)
    register(s, "t", R2)
    commit(s, plan_delete_subject(s, "t", permanent=False))
    plan = plan_delete_subject(s, "t", permanent=True)
    # after compaction only the last record per key is left: the floor and the tombstones
    fresh = RegistryState()
    for key, value in plan.records:
        fresh.apply(key.encode(), value)
    assert fresh.max_id == 2


def test_references_resolve_and_block_deletion() -> None:
    s = RegistryState()
    addr = json.dumps(
        {
            "type": "record",
            "name": "Addr",
            "namespace": "x",
            "fields": [{"name": "c", "type": "string"}],
        }
    )
    register(s, "addr", addr)
    person = json.dumps(
        {"type": "record", "name": "P", "fields": [{"name": "home", "type": "x.Addr"}]}
    )
    ref = (Reference("x.Addr", "addr", 1),)
    answer = register(s, "person", person, ref)
    assert s.referenced_by("addr", 1) == [answer["id"]]
    with pytest.raises(ReferenceExistsError):
        plan_delete_subject(s, "addr", permanent=False)
    with pytest.raises(InvalidSchemaError, match="not found"):
        parse_schema(SchemaType.AVRO, person, (Reference("x.Addr", "nope", 1),), s.lookup)


def test_reference_cycle_is_refused() -> None:
    s = RegistryState()
    # records written by some other tool may form a cycle; parsing must refuse it, not loop
    for subject, other in (("a", "b"), ("b", "a")):
        value = {
            "subject": subject, "version": 1, "id": 1 if subject == "a" else 2,
            "schema": '{"type":"object"}', "schemaType": "JSON",
            "references": [{"name": f"{other}.json", "subject": other, "version": 1}],
            "deleted": False,
        }  # fmt: skip
        key = {"keytype": "SCHEMA", "subject": subject, "version": 1, "magic": 1}
        assert s.apply(json.dumps(key).encode(), json.dumps(value).encode())
    with pytest.raises(InvalidSchemaError, match="cycle"):
        s.parsed(1)


def test_config_and_mode() -> None:
    s = RegistryState()
    commit(s, plan_set_config(s, None, CompatibilityLevel.NONE))
    assert s.compatibility("any") is CompatibilityLevel.NONE
    register(s, "t", R1)
    register(s, "t", R_BAD.replace('"c"', '"d"'))  # NONE lets anything through
    commit(s, plan_set_mode(s, "t", Mode.READONLY, force=False))
    with pytest.raises(OperationNotPermittedError):
        register(s, "t", R2)


def test_records_not_in_the_format_are_skipped() -> None:
    s = RegistryState()
    assert not s.apply(b"not json", b"{}")
    assert not s.apply(b'{"keytype":"SCHEMA","subject":"t","version":1,"magic":1}', b'{"id":"x"}')
    assert not s.apply(b'{"keytype":"WHAT"}', None)
    assert s.skipped == 3
    assert s.subject_names() == []
