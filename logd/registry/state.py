"""The registry's applied state: what the `_schemas` records say, and the queries on it.

Every broker keeps one, built by applying the topic's records in offset order
(:meth:`RegistryState.apply`), and answers every read from it.  Application follows
Karapace's reader: a SCHEMA value adds or replaces one (subject, version), a SCHEMA
tombstone removes it (a hard delete), DELETE_SUBJECT soft-deletes every version up to the
one it names, CONFIG and MODE set or (tombstone) clear a level.  A record that is not in
that format is skipped and counted, never fatal: anyone with write access to the topic
could have put it there.  Ids are global: the same (type, canonical text, references)
under any subject has one id; ``max_id`` is the highest ever seen, NOOP floors included.

Not thread-safe; owned by the broker's registry front end (one event loop).  Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from logd.registry.errors import (
    InvalidSchemaError,
    RegistryError,
    SchemaNotFoundError,
    SubjectNotFoundError,
    VersionNotFoundError,
)
from logd.registry.model import CompatibilityLevel, Mode, Reference, SchemaType
from logd.registry.parsed import ParsedSchema
from logd.registry.records import WRITER_SUBJECT, KeyType, decode_key, decode_value
from logd.registry.schemas import Stored, parse_references, parse_schema, parse_schema_type

__all__ = ["DEFAULT_COMPATIBILITY", "RegistryState", "SchemaEntry", "VersionEntry"]

DEFAULT_COMPATIBILITY = CompatibilityLevel.BACKWARD


@dataclasses.dataclass(frozen=True, slots=True)
class SchemaEntry:
    """A schema under its global id."""

    schema_id: int
    schema_type: SchemaType
    text: str
    references: tuple[Reference, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class VersionEntry:
    """One (subject, version)."""

    subject: str
    version: int
    schema_id: int
    deleted: bool


class RegistryState:
    """Subjects, versions, ids, configs and modes as applied so far."""

    def __init__(self) -> None:
        self.schemas: dict[int, SchemaEntry] = {}
        self.subjects: dict[str, dict[int, VersionEntry]] = {}
        self.configs: dict[str, CompatibilityLevel] = {}
        self.global_config: CompatibilityLevel | None = None
        self.modes: dict[str, Mode] = {}
        self.global_mode: Mode = Mode.READWRITE
        self.max_id = 0
        self.writer: tuple[int, str] | None = None  # (node id, registry URL) announced
        self.skipped = 0  # records that were not in the format
        self._ids_by_identity: dict[tuple[str, str, tuple[Reference, ...]], int] = {}
        self._parsed: dict[int, ParsedSchema] = {}

    # ---- applying records -------------------------------------------------------------

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one `_schemas` record; False (and counted) when it is not in the format."""
        try:
            k = decode_key(key)
            v = decode_value(value)
            if k.keytype is KeyType.SCHEMA:
                self._apply_schema(k.subject, k.version, v)
            elif k.keytype is KeyType.CONFIG:
                self._apply_config(k.subject, v)
            elif k.keytype is KeyType.MODE:
                self._apply_mode(k.subject, v)
            elif k.keytype is KeyType.DELETE_SUBJECT:
                self._apply_delete_subject(v)
            elif k.subject == WRITER_SUBJECT and v is not None:
                node, url = v["nodeId"], v["url"]
                if not isinstance(node, int) or not isinstance(url, str):
                    raise ValueError("bad writer announcement")
                self.writer = (node, url)
            elif v is not None and isinstance(v.get("maxId"), int):
                self.max_id = max(self.max_id, v["maxId"])
        except (ValueError, KeyError, TypeError, RegistryError):
            self.skipped += 1
            return False
        return True

    def _apply_schema(
        self, subject: str | None, version: int | None, v: dict[str, object] | None
    ) -> None:
        if v is None:
            if subject is None or version is None:
                raise ValueError("schema tombstone without subject and version")
            versions = self.subjects.get(subject, {})
            versions.pop(version, None)
            if not versions:
                self.subjects.pop(subject, None)
            return
        subj, ver, sid, text = v["subject"], v["version"], v["id"], v["schema"]
        if not (isinstance(subj, str) and isinstance(ver, int) and isinstance(sid, int)):
            raise ValueError("bad schema value")
        if not isinstance(text, str) or sid <= 0 or ver <= 0:
            raise ValueError("bad schema value")
        schema_type = parse_schema_type(v.get("schemaType"))
        refs = parse_references(v.get("references"))
        if sid not in self.schemas:
            self.schemas[sid] = SchemaEntry(sid, schema_type, text, refs)
        self.max_id = max(self.max_id, sid)
        self.subjects.setdefault(subj, {})[ver] = VersionEntry(
            subj, ver, sid, bool(v.get("deleted"))
        )

    def _apply_config(self, subject: str | None, v: dict[str, object] | None) -> None:
        level = None if v is None else CompatibilityLevel.parse(v["compatibilityLevel"])
        if subject is None:
            self.global_config = level
        elif level is None:
            self.configs.pop(subject, None)
        else:
            self.configs[subject] = level

    def _apply_mode(self, subject: str | None, v: dict[str, object] | None) -> None:
        mode = None if v is None else Mode.parse(v["mode"])
        if subject is None:
            self.global_mode = mode or Mode.READWRITE
        elif mode is None:
            self.modes.pop(subject, None)
        else:
            self.modes[subject] = mode

    def _apply_delete_subject(self, v: dict[str, object] | None) -> None:
        if v is None:
            raise ValueError("DELETE_SUBJECT without a value")
        subject, upto = v["subject"], v["version"]
        if not isinstance(subject, str) or not isinstance(upto, int):
            raise ValueError("bad DELETE_SUBJECT value")
        versions = self.subjects.get(subject, {})
        for ver, entry in list(versions.items()):
            if ver <= upto:
                versions[ver] = dataclasses.replace(entry, deleted=True)

    # ---- reads ------------------------------------------------------------------------

    def compatibility(self, subject: str | None) -> CompatibilityLevel:
        if subject is not None and subject in self.configs:
            return self.configs[subject]
        return self.global_config or DEFAULT_COMPATIBILITY

    def mode(self, subject: str | None) -> Mode:
        if subject is not None and subject in self.modes:
            return self.modes[subject]
        return self.global_mode

    def subject_names(self, *, deleted: bool = False, deleted_only: bool = False) -> list[str]:
        out = []
        for name, versions in sorted(self.subjects.items()):
            live = any(not e.deleted for e in versions.values())
            if deleted_only:
                if not live and versions:
                    out.append(name)
            elif live or (deleted and versions):
                out.append(name)
        return out

    def versions(self, subject: str, *, deleted: bool = False) -> list[VersionEntry]:
        """A subject's versions, oldest first; SubjectNotFoundError when it has none."""
        entries = [e for _, e in sorted(self.subjects.get(subject, {}).items())]
        shown = [e for e in entries if deleted or not e.deleted]
        if not shown:
            raise SubjectNotFoundError(f"Subject '{subject}' not found.")
        return shown

    def version(self, subject: str, version: int, *, deleted: bool = False) -> VersionEntry:
        """One version (-1 = latest live); the Confluent errors when it is missing."""
        entries = self.versions(subject, deleted=deleted)
        if version == -1:
            return entries[-1]
        for e in entries:
            if e.version == version:
                return e
        raise VersionNotFoundError(f"Version {version} not found.")

    def schema(self, schema_id: int) -> SchemaEntry:
        entry = self.schemas.get(schema_id)
        if entry is None or not any(True for _ in self.uses(schema_id, deleted=True)):
            raise SchemaNotFoundError(f"Schema {schema_id} not found")
        return entry

    def uses(self, schema_id: int, *, deleted: bool = False) -> Iterator[VersionEntry]:
        """Every (subject, version) registered with ``schema_id``."""
        for _, versions in sorted(self.subjects.items()):
            for _, e in sorted(versions.items()):
                if e.schema_id == schema_id and (deleted or not e.deleted):
                    yield e

    def referenced_by(self, subject: str, version: int) -> list[int]:
        """Ids of live schemas whose references name (subject, version)."""
        out = set()
        for versions in self.subjects.values():
            for e in versions.values():
                if e.deleted:
                    continue
                refs = self.schemas[e.schema_id].references
                if any(r.subject == subject and r.version == version for r in refs):
                    out.add(e.schema_id)
        return sorted(out)

    def id_for(self, parsed: ParsedSchema) -> int | None:
        """The id already given to an equal schema, if any."""
        key = parsed.identity()
        if key not in self._ids_by_identity:
            self._index_identities()
        return self._ids_by_identity.get(key)

    def _index_identities(self) -> None:
        for sid in list(self.schemas):
            if sid not in self._parsed:
                try:
                    self.parsed(sid)
                except RegistryError:
                    continue

    def parsed(self, schema_id: int) -> ParsedSchema:
        """The schema under ``schema_id``, parsed (cached: schemas never change)."""
        cached = self._parsed.get(schema_id)
        if cached is None:
            e = self.schemas.get(schema_id)
            if e is None:
                raise SchemaNotFoundError(f"Schema {schema_id} not found")
            cached = parse_schema(e.schema_type, e.text, e.references, self.lookup)
            self._parsed[schema_id] = cached
            self._ids_by_identity.setdefault(cached.identity(), schema_id)
        return cached

    def lookup(self, subject: str, version: int) -> Stored:
        """Resolve a reference: a live (subject, version), -1 for the latest."""
        try:
            e = self.version(subject, version)
        except RegistryError as exc:
            raise InvalidSchemaError(
                f"Invalid reference to subject {subject!r} version {version}: {exc.message}"
            ) from exc
        s = self.schemas[e.schema_id]
        return Stored(s.schema_type, s.text, s.references, e.version)
