"""What a write request becomes: the `_schemas` records to append, decided on the state.

Only the elected writer runs these, on its applied state, one at a time, after its state
has caught up with everything committed before (the front end's store makes that so);
that is what keeps ids and versions unique.  Each function checks Confluent's rules and
raises the matching RegistryError, or returns a :class:`Plan`: the records (nothing when
the request changes nothing, e.g. registering a schema the subject already has) and the
answer to send once they are committed.  Pure.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from logd.registry.compatibility import check_compatibility
from logd.registry.errors import (
    IncompatibleSchemaError,
    InvalidSchemaError,
    OperationNotPermittedError,
    ReferenceExistsError,
    SchemaVersionNotSoftDeletedError,
    SchemaVersionSoftDeletedError,
    SubjectNotSoftDeletedError,
    SubjectSoftDeletedError,
    VersionNotFoundError,
)
from logd.registry.model import CompatibilityLevel, Mode
from logd.registry.parsed import ParsedSchema
from logd.registry.records import (
    RecordKey,
    SchemaValue,
    config_key,
    delete_subject_key,
    encode,
    mode_key,
    noop_key,
    schema_key,
)
from logd.registry.state import RegistryState

__all__ = [
    "Plan",
    "plan_delete_config",
    "plan_delete_mode",
    "plan_delete_subject",
    "plan_delete_version",
    "plan_register",
    "plan_set_config",
    "plan_set_mode",
]

Record = tuple[RecordKey, bytes | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    records: tuple[Record, ...]
    answer: Any


def _writable(state: RegistryState, subject: str | None, *, importing: bool = False) -> None:
    mode = state.mode(subject)
    if mode is Mode.READONLY or (mode is Mode.IMPORT and not importing):
        raise OperationNotPermittedError(f"Subject {subject!r} is in {mode.value} mode")


def plan_register(
    state: RegistryState,
    subject: str,
    parsed: ParsedSchema,
    *,
    normalize: bool = False,
    schema_id: int | None = None,
    version: int | None = None,
) -> Plan:
    """Register ``parsed`` under ``subject`` (``schema_id``/``version`` only in IMPORT mode)."""
    importing = schema_id is not None or version is not None
    _writable(state, subject, importing=importing)
    live = [e for e in state.subjects.get(subject, {}).values() if not e.deleted]
    same = state.id_for(parsed)
    for e in sorted(live, key=lambda e: e.version):
        if e.schema_id == same and not importing:
            return Plan((), {"id": e.schema_id, "version": e.version})
    if not importing:
        level = state.compatibility(subject)
        existing = [state.parsed(e.schema_id) for e in sorted(live, key=lambda e: e.version)]
        problems = check_compatibility(level, parsed, existing)
        if problems:
            raise IncompatibleSchemaError(
                f"Schema being registered is incompatible with an earlier schema for subject "
                f"'{subject}' ({level.value}): " + "; ".join(problems[:5])
            )
    all_versions = state.subjects.get(subject, {})
    new_id = schema_id if schema_id is not None else (same or state.max_id + 1)
    taken = schema_id is not None and schema_id in state.schemas
    if taken and same != schema_id:
        raise OperationNotPermittedError(f"Id {schema_id} already names another schema")
    new_version = version if version is not None else max(all_versions, default=0) + 1
    if version is not None and version in all_versions:
        raise InvalidSchemaError(f"Version {version} already exists in subject '{subject}'")
    text = parsed.normalized() if normalize else parsed.text
    value = SchemaValue(
        subject, new_version, new_id, text, parsed.schema_type, parsed.references, False
    )
    record = (schema_key(subject, new_version), value.encode())
    return Plan((record,), {"id": new_id, "version": new_version})


def plan_delete_subject(state: RegistryState, subject: str, *, permanent: bool) -> Plan:
    """Soft-delete every version, or (``permanent``, after a soft delete) remove them."""
    _writable(state, subject)
    everything = state.versions(subject, deleted=True)  # raises 40401
    live = [e for e in everything if not e.deleted]
    for e in live if not permanent else everything:
        _refuse_if_referenced(state, subject, e.version)
    if not permanent:
        if not live:
            raise SubjectSoftDeletedError(
                f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
            )
        value = encode({"subject": subject, "version": live[-1].version})
        return Plan(((delete_subject_key(subject), value),), [e.version for e in live])
    if live:
        raise SubjectNotSoftDeletedError(
            f"Subject '{subject}' was not deleted first before being permanently deleted"
        )
    records: list[Record] = [_id_floor(state)]
    records += [(schema_key(subject, e.version), None) for e in everything]
    if subject in state.configs:
        records.append((config_key(subject), None))
    return Plan(tuple(records), [e.version for e in everything])


def plan_delete_version(
    state: RegistryState, subject: str, version: int, *, permanent: bool
) -> Plan:
    """Soft-delete one version (-1 = latest), or permanently remove a soft-deleted one."""
    _writable(state, subject)
    entries = state.versions(subject, deleted=True)  # raises 40401
    if version == -1:
        live = [e for e in entries if not e.deleted]
        if not live and not permanent:
            raise VersionNotFoundError(f"Version {version} not found.")
        entry = (live or entries)[-1]
    else:
        found = [e for e in entries if e.version == version]
        if not found:
            raise VersionNotFoundError(f"Version {version} not found.")
        entry = found[0]
    _refuse_if_referenced(state, subject, entry.version)
    if permanent:
        if not entry.deleted:
            raise SchemaVersionNotSoftDeletedError(
                f"Subject '{subject}' Version {entry.version} was not deleted first before "
                f"being permanently deleted"
            )
        records = (_id_floor(state), (schema_key(subject, entry.version), None))
        return Plan(records, entry.version)
    if entry.deleted:
        raise SchemaVersionSoftDeletedError(
            f"Subject '{subject}' Version {entry.version} was soft deleted.Set permanent=true "
            f"to delete permanently"
        )
    s = state.schemas[entry.schema_id]
    value = SchemaValue(
        subject, entry.version, entry.schema_id, s.text, s.schema_type, s.references, True
    )
    return Plan(((schema_key(subject, entry.version), value.encode()),), entry.version)


def _refuse_if_referenced(state: RegistryState, subject: str, version: int) -> None:
    if state.referenced_by(subject, version):
        raise ReferenceExistsError(
            f"One or more references exist to the schema {{subject={subject},version={version}}}"
        )


def _id_floor(state: RegistryState) -> Record:
    """Keep the highest id through compaction before removing a schema record."""
    return (noop_key(), encode({"maxId": state.max_id}))


def plan_set_config(state: RegistryState, subject: str | None, level: CompatibilityLevel) -> Plan:
    value = encode({"compatibilityLevel": level.value})
    return Plan(((config_key(subject), value),), {"compatibility": level.value})


def plan_delete_config(state: RegistryState, subject: str | None) -> Plan:
    """Drop a subject's level (or reset the global one); the answer is the level it had."""
    if subject is not None and subject not in state.configs:
        state.versions(subject, deleted=True)  # 40401 for an unknown subject
    previous = state.compatibility(subject)
    return Plan(((config_key(subject), None),), {"compatibilityLevel": previous.value})


def plan_set_mode(state: RegistryState, subject: str | None, mode: Mode, *, force: bool) -> Plan:
    if mode is Mode.IMPORT and not force and subject is None and state.subjects:
        raise OperationNotPermittedError(
            "Cannot import since found existing subjects (use force=true)"
        )
    return Plan(((mode_key(subject), encode({"mode": mode.value})),), {"mode": mode.value})


def plan_delete_mode(state: RegistryState, subject: str) -> Plan:
    previous = state.mode(subject)
    return Plan(((mode_key(subject), None),), {"mode": previous.value})
