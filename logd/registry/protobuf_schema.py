"""Protobuf schemas: parsing ``.proto`` text (``proto-schema-parser``, a maintained pure
Python parser; ``protoc`` would mean files and a subprocess) and Confluent's compatibility.

The checker follows Confluent's Protobuf rules (Robert Yokota, "Understanding Protobuf
Compatibility", 2021), comparing the writer's (old) descriptors with the reader's (new):

* incompatible: the package changed; a message removed; a field's kind changed (scalar,
  enum, message, map); a scalar changed outside its wire-compatible group; a message or
  enum field now names another type; a numeric field's label changed (singular↔repeated);
  a required field added or removed; a field removed from a oneof; a field moved into an
  existing oneof; several fields moved into a new oneof;
* compatible: messages, enums, fields, oneofs and enum constants added; a field renamed
  (the number is what the wire carries); a non-oneof optional field removed; enum
  constants removed or renumbered (unknown values are kept).

Types are resolved to full names (``pkg.Outer.Inner``) through the scopes protobuf uses,
then the imports (Confluent references by import path); ``google/protobuf/*.proto`` are
the well-known types every registry knows.  Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from proto_schema_parser import ast
from proto_schema_parser.generator import Generator
from proto_schema_parser.parser import Parser

from logd.registry.errors import InvalidSchemaError
from logd.registry.model import Reference, SchemaType
from logd.registry.parsed import Dependency, ParsedSchema
from logd.registry.protobuf_descriptor import decode_descriptor, encode_descriptor, file_descriptor
from logd.registry.protobuf_names import Scope, resolve
from logd.registry.protobuf_text import proto_text

__all__ = ["ProtobufSchema", "parse_protobuf"]

_WIRE_GROUPS = (
    frozenset({"int32", "uint32", "int64", "uint64", "bool"}),
    frozenset({"sint32", "sint64"}),
    frozenset({"fixed32", "sfixed32"}),
    frozenset({"fixed64", "sfixed64"}),
    frozenset({"string", "bytes"}),
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: str  # "scalar", "enum", "message", "map"
    type: str  # scalar name or resolved full name; "k,v" for maps
    label: str  # "", "repeated", "required", "optional"
    oneof: str  # "" when not in a oneof


@dataclasses.dataclass(slots=True)
class _Descriptors:
    package: str = ""
    messages: dict[str, dict[int, _Field]] = dataclasses.field(default_factory=dict)
    enums: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    #: every type this file can name (its own and its imports'): full name -> message|enum
    kinds: dict[str, str] = dataclasses.field(default_factory=dict)


class ProtobufSchema(ParsedSchema):
    """A parsed ``.proto`` file with its types resolved."""

    schema_type = SchemaType.PROTOBUF

    def __init__(
        self,
        text: str,
        references: tuple[Reference, ...],
        dependencies: tuple[Dependency, ...],
        file: ast.File,
        descriptors: _Descriptors,
    ) -> None:
        super().__init__(text, references, dependencies)
        self.file = file
        self.descriptors = descriptors
        self._canonical = Generator().generate(file)

    @property
    def canonical(self) -> str:
        return self._canonical

    @property
    def package(self) -> str:
        return self.descriptors.package

    @property
    def message_names(self) -> list[str]:
        """Full names of this file's messages, in declaration order (index 0 first)."""
        return list(self.descriptors.messages)

    def serialized(self, name: str = "default.proto") -> str:
        """The base64 of this file's ``FileDescriptorProto`` (``?format=serialized``)."""
        return encode_descriptor(file_descriptor(self.file, name, self.descriptors.kinds))

    def incompatibilities(self, writer: ParsedSchema) -> list[str]:
        mismatch = self.type_mismatch(writer)
        if mismatch:
            return mismatch
        assert isinstance(writer, ProtobufSchema)
        return _compare(self.descriptors, writer.descriptors)


class _RaisingListener:
    """ANTLR error listener that turns the first syntax error into InvalidSchemaError."""

    def syntaxError(  # ANTLR's name
        self, recognizer: Any, symbol: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        raise InvalidSchemaError(f"Invalid Protobuf schema: line {line}:{column} {msg}")

    def reportAmbiguity(self, *args: Any) -> None:
        pass

    def reportAttemptingFullContext(self, *args: Any) -> None:
        pass

    def reportContextSensitivity(self, *args: Any) -> None:
        pass


def _strict(recognizer: Any) -> None:
    recognizer.removeErrorListeners()
    recognizer.addErrorListener(_RaisingListener())


def parse_protobuf(
    text: str, references: Sequence[Reference] = (), dependencies: Sequence[Dependency] = ()
) -> ProtobufSchema:
    """Parse ``text``; imports must be references (by import path) or well-known types.
    ``text`` may also be the base64 of a ``FileDescriptorProto`` (confluent-kafka's
    serializers register that): it is turned into ``.proto`` text, which is what is kept."""
    descriptor = decode_descriptor(text)
    if descriptor is not None:
        text = proto_text(descriptor)
    try:
        file = Parser(setup_lexer=_strict, setup_parser=_strict).parse(text)
    except RecursionError as exc:
        raise InvalidSchemaError("Invalid Protobuf schema: nested too deeply") from exc
    except InvalidSchemaError:
        raise
    except Exception as exc:  # the parser's own visitor may fail on odd trees
        raise InvalidSchemaError(f"Invalid Protobuf schema: {exc}") from exc
    imported: dict[str, ProtobufSchema] = {}
    for dep in dependencies:
        assert isinstance(dep.schema, ProtobufSchema), "reference of another type"
        imported[dep.reference.name] = dep.schema
    for element in file.file_elements:
        if isinstance(element, ast.Import) and not (
            element.name in imported or element.name.startswith("google/protobuf/")
        ):
            raise InvalidSchemaError(
                f"Invalid Protobuf schema: import {element.name!r} has no reference"
            )
    descriptors = _describe(file, imported.values())
    if not descriptors.messages and not descriptors.enums:
        raise InvalidSchemaError("Invalid Protobuf schema: it defines no message and no enum")
    if file.edition is None:
        # Everything a descriptor names resolves (extendees, rpc types, options), so that
        # ?format=serialized never fails on a stored schema.
        file_descriptor(file, "check.proto", descriptors.kinds)
    return ProtobufSchema(text, tuple(references), tuple(dependencies), file, descriptors)


def _describe(file: ast.File, imported: Iterable[ProtobufSchema]) -> _Descriptors:
    out = _Descriptors()
    for element in file.file_elements:
        if isinstance(element, ast.Package):
            out.package = element.name
    prefix = f"{out.package}." if out.package else ""
    for dep in imported:
        out.kinds.update(dep.descriptors.kinds)
    pending: list[tuple[str, ast.Message]] = []
    _collect(file.file_elements, prefix, out, pending)
    for full, message in pending:
        out.messages[full] = _fields(message, Scope(full, out.package, out.kinds))
    return out


def _collect(
    elements: Iterable[object],
    prefix: str,
    out: _Descriptors,
    pending: list[tuple[str, ast.Message]],
) -> None:
    for element in elements:
        if isinstance(element, ast.Message):
            full = prefix + element.name
            if full in out.kinds:
                raise InvalidSchemaError(f"Invalid Protobuf schema: {full} is defined twice")
            out.kinds[full] = "message"
            pending.append((full, element))
            _collect(element.elements, full + ".", out, pending)
        elif isinstance(element, ast.Enum):
            full = prefix + element.name
            out.kinds[full] = "enum"
            out.enums[full] = {
                v.name: v.number for v in element.elements if isinstance(v, ast.EnumValue)
            }


def _fields(message: ast.Message, scope: Scope) -> dict[int, _Field]:
    fields: dict[int, _Field] = {}

    def add(number: int, f: _Field) -> None:
        if number in fields:
            raise InvalidSchemaError(
                f"Invalid Protobuf schema: field number {number} used twice in {scope.name}"
            )
        fields[number] = f

    for element in message.elements:
        if isinstance(element, ast.Field):
            add(element.number, _field(element, "", scope))
        elif isinstance(element, ast.OneOf):
            for inner in element.elements:
                if isinstance(inner, ast.Field):
                    add(inner.number, _field(inner, element.name, scope))
        elif isinstance(element, ast.MapField):
            value = resolve(element.value_type, scope)
            add(
                element.number,
                _Field(element.name, "map", f"{element.key_type},{value[1]}", "", ""),
            )
    return fields


def _field(f: ast.Field, oneof: str, scope: Scope) -> _Field:
    kind, name = resolve(f.type, scope)
    label = f.cardinality.value.lower() if f.cardinality is not None else ""
    return _Field(f.name, kind, name, label, oneof)


def _compare(reader: _Descriptors, writer: _Descriptors) -> list[str]:
    problems: list[str] = []
    if reader.package != writer.package:
        problems.append(f"PACKAGE_CHANGED: {writer.package!r} to {reader.package!r}")
    for name, w_fields in writer.messages.items():
        r_fields = reader.messages.get(name)
        if r_fields is None:
            problems.append(f"MESSAGE_REMOVED: {name}")
            continue
        problems.extend(_compare_fields(name, r_fields, w_fields))
    return problems


def _compare_fields(msg: str, reader: dict[int, _Field], writer: dict[int, _Field]) -> list[str]:
    problems: list[str] = []
    for number, w in sorted(writer.items()):
        r = reader.get(number)
        where = f"{msg}.{w.name} (#{number})"
        if r is None:
            if w.label == "required":
                problems.append(f"REQUIRED_FIELD_REMOVED: {where}")
            elif w.oneof:
                problems.append(f"ONEOF_FIELD_REMOVED: {where}")
            continue
        problems.extend(_compare_field(where, r, w))
    for number, new in sorted(reader.items()):
        if number not in writer and new.label == "required":
            problems.append(f"REQUIRED_FIELD_ADDED: {msg}.{new.name} (#{number})")
    moved: dict[str, list[int]] = {}
    for number, new in reader.items():
        old = writer.get(number)
        if old is not None and new.oneof and not old.oneof:
            moved.setdefault(new.oneof, []).append(number)
    existing_oneofs = {w.oneof for w in writer.values() if w.oneof}
    for oneof, numbers in sorted(moved.items()):
        if oneof in existing_oneofs:
            problems.append(f"FIELD_MOVED_TO_EXISTING_ONEOF: {msg}.{oneof} {sorted(numbers)}")
        elif len(numbers) > 1:
            problems.append(f"MULTIPLE_FIELDS_MOVED_TO_ONEOF: {msg}.{oneof} {sorted(numbers)}")
    return problems


def _compare_field(where: str, r: _Field, w: _Field) -> list[str]:
    if r.kind != w.kind:
        return [f"FIELD_KIND_CHANGED: {where} {w.kind} to {r.kind}"]
    problems: list[str] = []
    if r.type != w.type:
        if r.kind == "scalar":
            if not any(r.type in g and w.type in g for g in _WIRE_GROUPS):
                problems.append(f"FIELD_SCALAR_KIND_CHANGED: {where} {w.type} to {r.type}")
        else:
            problems.append(f"FIELD_NAMED_TYPE_CHANGED: {where} {w.type} to {r.type}")
    if (r.label == "repeated") != (w.label == "repeated") and (
        r.kind in {"scalar", "enum"} and r.type not in {"string", "bytes"}
    ):
        problems.append(f"FIELD_NUMERIC_LABEL_CHANGED: {where}")
    if (r.label == "required") != (w.label == "required"):
        problems.append(f"FIELD_LABEL_CHANGED: {where} required-ness changed")
    return problems
