"""JSON Schema: parsing (the ``jsonschema`` package checks a schema against its meta-schema)
and compatibility.

Compatibility asks whether every document the writer's schema accepts is also accepted by
the reader's, decided structurally as Confluent's and Karapace's JSON Schema checkers do (no
library offers it: ``jsonschema`` validates documents, it does not compare schemas):

* ``type``: the reader's types cover the writer's (``number`` covers ``integer``);
* ``enum``/``const``: the reader's values cover the writer's;
* bounds (``minimum``, ``maxLength``, ``minItems`` …) may only loosen; ``pattern`` and
  ``multipleOf`` may only be dropped (or kept);
* objects: no property newly ``required``; a property known to both is checked
  recursively; a property the writer had must be allowed by the reader (an
  ``additionalProperties: false`` reader that drops it rejects old data); a property the
  reader adds must accept whatever the writer's ``additionalProperties`` let through (so
  adding one to an open content model is incompatible, Confluent's
  PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL);
* arrays: ``items`` recursively; ``anyOf``/``oneOf``: each writer branch fits a reader
  branch; other keywords (``allOf``, ``not``, ``if`` …) must be unchanged.

``$ref`` to ``#/…`` pointers and to references by name are followed (cycles stop by
remembering pairs already being compared).  Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jsonschema.exceptions
import jsonschema.validators

from logd.registry.errors import InvalidSchemaError
from logd.registry.model import Reference, SchemaType
from logd.registry.parsed import Dependency, ParsedSchema, canonical_json

__all__ = ["JsonSchema", "parse_json_schema"]

_ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "integer", "string"})
# (keyword, True when a larger reader value is looser)
_BOUNDS = (
    ("minimum", False),
    ("exclusiveMinimum", False),
    ("minLength", False),
    ("minItems", False),
    ("minProperties", False),
    ("maximum", True),
    ("exclusiveMaximum", True),
    ("maxLength", True),
    ("maxItems", True),
    ("maxProperties", True),
)
_HANDLED = frozenset(
    {
        "type", "enum", "const", "properties", "required", "additionalProperties", "items",
        "anyOf", "oneOf", "pattern", "multipleOf", "$ref", "$schema", "$id", "id", "title",
        "description", "default", "examples", "definitions", "$defs", "$comment", "format",
        "readOnly", "writeOnly", "deprecated",
    }
    | {k for k, _ in _BOUNDS}
)  # fmt: skip


class JsonSchema(ParsedSchema):
    """A parsed JSON Schema document (a dict, or ``true``/``false``)."""

    schema_type = SchemaType.JSON

    def __init__(
        self,
        text: str,
        references: tuple[Reference, ...],
        dependencies: tuple[Dependency, ...],
        document: object,
    ) -> None:
        super().__init__(text, references, dependencies)
        self.document = document
        self._canonical = canonical_json(document)

    @property
    def canonical(self) -> str:
        return self._canonical

    def resolver(self) -> Callable[[str], object]:
        """``$ref`` → schema: local pointers and named references (transitively)."""
        named: dict[str, object] = {}
        for dep in self.dependencies:
            assert isinstance(dep.schema, JsonSchema), "reference of another type"
            named[dep.reference.name] = dep.schema.document
        return lambda ref: _resolve(ref, self.document, named)

    def incompatibilities(self, writer: ParsedSchema) -> list[str]:
        mismatch = self.type_mismatch(writer)
        if mismatch:
            return mismatch
        assert isinstance(writer, JsonSchema)
        comparer = _Comparer(self.resolver(), writer.resolver())
        comparer.compare(self.document, writer.document, "#")
        return comparer.problems


def parse_json_schema(
    text: str, references: Sequence[Reference] = (), dependencies: Sequence[Dependency] = ()
) -> JsonSchema:
    """Parse ``text`` and check it against its draft's meta-schema (Draft 7 when unnamed)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidSchemaError(f"Invalid schema: not JSON ({exc})") from exc
    if not isinstance(document, dict | bool):
        raise InvalidSchemaError("Invalid JSON schema: must be an object or a boolean")
    cls = jsonschema.validators.validator_for(document, default=jsonschema.Draft7Validator)
    try:
        cls.check_schema(document)
    except jsonschema.exceptions.SchemaError as exc:
        raise InvalidSchemaError(f"Invalid JSON schema: {exc.message}") from exc
    except RecursionError as exc:
        raise InvalidSchemaError("Invalid JSON schema: nested too deeply") from exc
    return JsonSchema(text, tuple(references), tuple(dependencies), document)


def _resolve(ref: str, root: object, named: Mapping[str, object]) -> object:
    base, _, pointer = ref.partition("#")
    doc: object = root
    if base:
        if base not in named:
            return True  # an unknown document: accept anything, as a validator cannot check
        doc = named[base]
    for part in [p for p in pointer.split("/") if p]:
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif isinstance(doc, list) and key.isdigit() and int(key) < len(doc):
            doc = doc[int(key)]
        else:
            return True
    return doc


class _Comparer:
    """One comparison: the reader must accept all the writer accepts."""

    def __init__(self, reader_refs: Callable[[str], object], writer_refs: Callable[[str], object]):
        self.reader_refs = reader_refs
        self.writer_refs = writer_refs
        self.problems: list[str] = []
        self._active: set[tuple[int, int]] = set()

    def fail(self, path: str, what: str) -> None:
        self.problems.append(f"{path}: {what}")

    def _deref(self, schema: object, refs: Callable[[str], object]) -> object:
        for _ in range(64):  # a chain of pure $refs; deeper is a loop of refs
            if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
                schema = refs(schema["$ref"])
            else:
                return schema
        return True

    def compare(self, reader: object, writer: object, path: str) -> None:
        reader = self._deref(reader, self.reader_refs)
        writer = self._deref(writer, self.writer_refs)
        key = (id(reader), id(writer))
        if key in self._active:
            return
        self._active.add(key)
        try:
            self._compare(reader, writer, path)
        finally:
            self._active.discard(key)

    def _compare(self, reader: object, writer: object, path: str) -> None:
        if writer is False or reader is True or reader == {}:
            return
        if reader is False:
            self.fail(path, "the reader accepts nothing")
            return
        if writer is True:
            writer = {}
        assert isinstance(reader, dict) and isinstance(writer, dict)
        self._types(reader, writer, path)
        self._values(reader, writer, path)
        self._bounds(reader, writer, path)
        self._objects(reader, writer, path)
        self._arrays(reader, writer, path)
        self._combinators(reader, writer, path)
        for k in sorted((set(reader) | set(writer)) - _HANDLED):
            if reader.get(k) != writer.get(k):
                self.fail(path, f"keyword {k!r} changed")

    def _types(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        r, w = _type_set(reader), _type_set(writer)
        if "number" in r:
            r = r | {"integer"}
        if not w <= r:
            self.fail(path, f"type narrowed from {sorted(w)} to {sorted(r)}")

    def _values(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        r = _allowed_values(reader)
        if r is None:
            return
        w = _allowed_values(writer)
        if w is None or any(v not in r for v in w):
            self.fail(path, "enum/const values removed")

    def _bounds(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        for key, larger_looser in _BOUNDS:
            if key not in reader or isinstance(reader[key], bool):
                continue
            if key not in writer or isinstance(writer[key], bool):
                self.fail(path, f"{key} added")
            elif (reader[key] < writer[key]) if larger_looser else (reader[key] > writer[key]):
                self.fail(path, f"{key} narrowed from {writer[key]} to {reader[key]}")
        if "pattern" in reader and reader["pattern"] != writer.get("pattern"):
            self.fail(path, "pattern added or changed")
        rm, wm = reader.get("multipleOf"), writer.get("multipleOf")
        if rm is not None and (wm is None or not _is_multiple(wm, rm)):
            self.fail(path, "multipleOf added or changed")

    def _objects(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        if "object" not in _type_set(writer) & _type_set(reader):
            return
        r_props: dict[str, Any] = reader.get("properties", {}) or {}
        w_props: dict[str, Any] = writer.get("properties", {}) or {}
        r_extra = reader.get("additionalProperties", True)
        w_extra = writer.get("additionalProperties", True)
        for name in sorted(set(reader.get("required", [])) - set(writer.get("required", []))):
            self.fail(f"{path}/properties/{name}", "property became required")
        for name in sorted(set(r_props) | set(w_props)):
            where = f"{path}/properties/{name}"
            if name in r_props and name in w_props:
                self.compare(r_props[name], w_props[name], where)
            elif name in w_props:
                self.compare(r_extra, w_props[name], where)  # old data may carry it
            else:
                self.compare(r_props[name], w_extra, where)  # old data may carry anything
        self.compare(r_extra, w_extra, f"{path}/additionalProperties")

    def _arrays(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        if "array" not in _type_set(writer) & _type_set(reader):
            return
        r_items, w_items = reader.get("items", True), writer.get("items", True)
        if isinstance(r_items, list) or isinstance(w_items, list):
            if r_items != w_items:
                self.fail(f"{path}/items", "tuple items changed")
            return
        self.compare(r_items, w_items, f"{path}/items")

    def _combinators(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        for key in ("anyOf", "oneOf"):
            r_branches = reader.get(key)
            if r_branches is None:
                if isinstance(writer.get(key), list) and not any(
                    k in reader for k in ("anyOf", "oneOf")
                ):
                    for i, w_branch in enumerate(writer[key]):
                        self.compare(reader, w_branch, f"{path}/{key}/{i}")
                continue
            w_branches = writer.get(key, writer.get("anyOf" if key == "oneOf" else "oneOf"))
            if not isinstance(w_branches, list):
                w_branches = [{k: v for k, v in writer.items() if k != key}]
            for i, w_branch in enumerate(w_branches):
                if not any(self._fits(r, w_branch) for r in r_branches):
                    self.fail(f"{path}/{key}/{i}", "no reader branch accepts this writer branch")

    def _fits(self, reader: object, writer: object) -> bool:
        trial = _Comparer(self.reader_refs, self.writer_refs)
        trial.compare(reader, writer, "#")
        return not trial.problems


def _type_set(schema: dict[str, Any]) -> frozenset[str]:
    t = schema.get("type")
    if t is None:
        return _ALL_TYPES
    if isinstance(t, str):
        return frozenset({t})
    return frozenset(x for x in t if isinstance(x, str))


def _allowed_values(schema: dict[str, Any]) -> list[object] | None:
    if "const" in schema:
        return [schema["const"]]
    enum = schema.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _is_multiple(value: object, base: object) -> bool:
    if not isinstance(value, int | float) or not isinstance(base, int | float) or base == 0:
        return False
    quotient = value / base
    return abs(quotient - round(quotient)) < 1e-9
