"""Protobuf schemas as descriptors: a parsed ``.proto`` to a ``FileDescriptorProto`` and a
``FileDescriptorProto`` back to ``.proto`` text.

Why: confluent-kafka's ``ProtobufSerializer`` registers a schema as the base64 of its
message's ``FileDescriptorProto`` (not as ``.proto`` text), and its ``ProtobufDeserializer``
asks for schemas in that form (``?format=serialized``). Confluent's registry accepts both and
stores the text; so does this one: a descriptor is turned into ``.proto`` text
(:func:`proto_text`) before parsing, and a stored schema is turned into a descriptor
(:func:`file_descriptor`) when asked -- the same descriptor ``protoc --descriptor_set_out``
writes for the file (tests/registry/test_protobuf_descriptor.py compares them).

Hand-written because no maintained pure-Python library does either: ``protoc``
(grpcio-tools) compiles only files on disk in a subprocess-like call, and
``proto-schema-parser`` gives an AST, not descriptors. Covered: syntax proto2/proto3,
package, imports (public, weak), messages (nested), fields (labels, proto3 ``optional``,
defaults, ``json_name``), maps, oneofs, groups, enums, reserved ranges and names, extension
ranges, extensions, services and the standard options. Custom options (``(my.option)``)
are left out of a descriptor: they need the extension's own descriptor. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import descriptor_pb2 as pb  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped]
from proto_schema_parser import ast

from logd.registry.errors import InvalidSchemaError
from logd.registry.protobuf_names import Scope, camel, json_name, resolve, unescape

__all__ = ["decode_descriptor", "encode_descriptor", "file_descriptor"]

F = pb.FieldDescriptorProto
_TYPES = {
    "double": F.TYPE_DOUBLE, "float": F.TYPE_FLOAT, "int64": F.TYPE_INT64,
    "uint64": F.TYPE_UINT64, "int32": F.TYPE_INT32, "fixed64": F.TYPE_FIXED64,
    "fixed32": F.TYPE_FIXED32, "bool": F.TYPE_BOOL, "string": F.TYPE_STRING,
    "bytes": F.TYPE_BYTES, "uint32": F.TYPE_UINT32, "sfixed32": F.TYPE_SFIXED32,
    "sfixed64": F.TYPE_SFIXED64, "sint32": F.TYPE_SINT32, "sint64": F.TYPE_SINT64,
}  # fmt: skip
_LABELS = {
    ast.FieldCardinality.REPEATED: F.LABEL_REPEATED,
    ast.FieldCardinality.REQUIRED: F.LABEL_REQUIRED,
}
MESSAGE_MAX = 1 << 29  # one past the largest field number (descriptor ranges end exclusive)
ENUM_MAX = (1 << 31) - 1  # enum reserved ranges end inclusive
#: Bounds on what is decoded: a schema body is at most a few MB anyway.
MAX_DESCRIPTOR_BYTES = 4 << 20


def decode_descriptor(text: str) -> pb.FileDescriptorProto | None:
    """The descriptor ``text`` is the base64 of, or None when it is not base64 (``.proto``
    text). InvalidSchemaError when it is base64 of something that is not a descriptor."""
    stripped = text.strip()
    if not stripped or len(stripped) > MAX_DESCRIPTOR_BYTES * 2 or "{" in stripped:
        return None
    try:
        raw = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        return None
    descriptor = pb.FileDescriptorProto()
    try:
        descriptor.ParseFromString(raw)
    except (DecodeError, RuntimeError) as exc:
        raise InvalidSchemaError(f"Invalid Protobuf schema: not a descriptor: {exc}") from None
    _check_text(descriptor)
    return descriptor


def _check_text(message: Message) -> None:
    """Every string of the descriptor is text (descriptor.proto is proto2: its strings are
    not checked as UTF-8 when parsed, and come out as bytes when they are not)."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        if field.type == field.TYPE_STRING and not all(isinstance(v, str) for v in values):
            raise InvalidSchemaError(f"Invalid Protobuf schema: {field.name} is not UTF-8 text")
        if field.type == field.TYPE_MESSAGE:
            for v in values:
                _check_text(v)


def encode_descriptor(descriptor: pb.FileDescriptorProto) -> str:
    return base64.b64encode(descriptor.SerializeToString(deterministic=True)).decode("ascii")


def file_descriptor(file: ast.File, name: str, kinds: dict[str, str]) -> pb.FileDescriptorProto:
    """The descriptor of ``file`` (types resolved through ``kinds``: full name -> "message"
    or "enum", this file's and its imports'), named ``name``."""
    if file.edition is not None:
        raise InvalidSchemaError("Invalid Protobuf schema: editions have no descriptor here")
    out = pb.FileDescriptorProto(name=name)
    if file.syntax == "proto3":
        out.syntax = "proto3"
    package = next((e.name for e in file.file_elements if isinstance(e, ast.Package)), "")
    if package:
        out.package = package
    scope = Scope(package, package, kinds)
    for element in file.file_elements:
        if isinstance(element, ast.Import):
            if element.public:
                out.public_dependency.append(len(out.dependency))
            if element.weak:
                out.weak_dependency.append(len(out.dependency))
            out.dependency.append(element.name)
        elif isinstance(element, ast.Option):
            _option(out.options, element)
        elif isinstance(element, ast.Message):
            _message(out.message_type.add(), element, scope.inner(element.name), file.syntax)
        elif isinstance(element, ast.Enum):
            _enum(out.enum_type.add(), element)
        elif isinstance(element, ast.Service):
            _service(out.service.add(), element, scope)
        elif isinstance(element, ast.Extension):
            _extend(out.extension, element, scope, file.syntax)
    return out


def _message(
    out: pb.DescriptorProto, message: ast.Message, scope: Scope, syntax: str | None
) -> None:
    out.name = message.name
    synthetic: list[pb.FieldDescriptorProto] = []
    for element in message.elements:
        if isinstance(element, ast.Field):
            field = _field(out.field.add(), element, scope, syntax)
            if field.proto3_optional:
                synthetic.append(field)
        elif isinstance(element, ast.MapField):
            _map(out, element, scope)
        elif isinstance(element, ast.OneOf):
            index = len(out.oneof_decl)
            out.oneof_decl.add(name=element.name)
            for inner in element.elements:
                if isinstance(inner, ast.Field):
                    _field(out.field.add(), inner, scope, syntax).oneof_index = index
                elif isinstance(inner, ast.Option):
                    _option(out.oneof_decl[index].options, inner)
        elif isinstance(element, ast.Group):
            _group(out, element, scope, syntax)
        elif isinstance(element, ast.Message):
            _message(out.nested_type.add(), element, scope.inner(element.name), syntax)
        elif isinstance(element, ast.Enum):
            _enum(out.enum_type.add(), element)
        elif isinstance(element, ast.Reserved):
            for start, end in _ranges(element.ranges, MESSAGE_MAX - 1):
                out.reserved_range.add(start=start, end=end + 1)
            out.reserved_name.extend(element.names)
        elif isinstance(element, ast.ExtensionRange):
            for start, end in _ranges(element.ranges, MESSAGE_MAX - 1):
                out.extension_range.add(start=start, end=end + 1)
        elif isinstance(element, ast.Extension):
            _extend(out.extension, element, scope, syntax)
        elif isinstance(element, ast.Option):
            _option(out.options, element)
    for field in synthetic:  # proto3 `optional`: a oneof of its own, after the real ones
        field.oneof_index = len(out.oneof_decl)
        out.oneof_decl.add(name="_" + field.name)


def _field(
    out: pb.FieldDescriptorProto, field: ast.Field, scope: Scope, syntax: str | None
) -> pb.FieldDescriptorProto:
    out.name, out.number = field.name, field.number
    out.label = _LABELS.get(field.cardinality, F.LABEL_OPTIONAL)  # type: ignore[arg-type]
    if syntax == "proto3" and field.cardinality is ast.FieldCardinality.OPTIONAL:
        out.proto3_optional = True
    _type(out, field.type, scope)
    out.json_name = json_name(field.name)
    for option in field.options:
        if option.name == "default":
            out.default_value = _default(option.value, string=out.type == F.TYPE_STRING)
        elif option.name == "json_name" and isinstance(option.value, str):
            out.json_name = unescape(option.value)
        else:
            _option(out.options, option)
    return out


def _type(out: pb.FieldDescriptorProto, type_name: str, scope: Scope) -> None:
    if type_name in _TYPES:
        out.type = _TYPES[type_name]
        return
    kind, full = resolve(type_name, scope)
    out.type = F.TYPE_ENUM if kind == "enum" else F.TYPE_MESSAGE
    out.type_name = "." + full


def _map(out: pb.DescriptorProto, field: ast.MapField, scope: Scope) -> None:
    entry = out.nested_type.add(name=camel(field.name) + "Entry")
    entry.options.map_entry = True
    for number, (name, type_name) in enumerate(
        (("key", field.key_type), ("value", field.value_type)), start=1
    ):
        part = entry.field.add(name=name, number=number, label=F.LABEL_OPTIONAL, json_name=name)
        _type(part, type_name, scope)
    added = out.field.add(name=field.name, number=field.number, label=F.LABEL_REPEATED)
    added.type, added.type_name = F.TYPE_MESSAGE, f".{scope.name}.{entry.name}"
    added.json_name = json_name(field.name)
    for option in field.options:
        _option(added.options, option)


def _group(out: pb.DescriptorProto, group: ast.Group, scope: Scope, syntax: str | None) -> None:
    nested = ast.Message(name=group.name, elements=group.elements)
    _message(out.nested_type.add(), nested, scope.inner(group.name), syntax)
    added = out.field.add(name=group.name.lower(), number=group.number)
    added.label = _LABELS.get(group.cardinality, F.LABEL_OPTIONAL)  # type: ignore[arg-type]
    added.type, added.type_name = F.TYPE_GROUP, f".{scope.name}.{group.name}"
    added.json_name = json_name(added.name)


def _enum(out: pb.EnumDescriptorProto, enum: ast.Enum) -> None:
    out.name = enum.name
    for element in enum.elements:
        if isinstance(element, ast.EnumValue):
            value = out.value.add(name=element.name, number=element.number)
            for option in element.options:
                _option(value.options, option)
        elif isinstance(element, ast.EnumReserved):
            for start, end in _ranges(element.ranges, ENUM_MAX):
                out.reserved_range.add(start=start, end=end)
            out.reserved_name.extend(element.names)
        elif isinstance(element, ast.Option):
            _option(out.options, element)


def _service(out: pb.ServiceDescriptorProto, service: ast.Service, scope: Scope) -> None:
    out.name = service.name
    for element in service.elements:
        if isinstance(element, ast.Method):
            method = out.method.add(name=element.name)
            method.input_type = "." + resolve(element.input_type.type, scope)[1]
            method.output_type = "." + resolve(element.output_type.type, scope)[1]
            if element.input_type.stream:
                method.client_streaming = True
            if element.output_type.stream:
                method.server_streaming = True
            for option in element.elements:
                if isinstance(option, ast.Option):
                    _option(method.options, option)
        elif isinstance(element, ast.Option):
            _option(out.options, element)


def _extend(out: Any, extension: ast.Extension, scope: Scope, syntax: str | None) -> None:
    """``extend`` fields into ``out`` (a repeated FieldDescriptorProto)."""
    extendee = "." + resolve(extension.typeName, scope)[1]
    for element in extension.elements:
        if isinstance(element, ast.Field):
            _field(out.add(), element, scope, syntax).extendee = extendee


def _option(options: Message, option: ast.Option) -> None:
    """Set a standard option by its name; custom ones (``(pkg.name)``) are left out."""
    if option.name.startswith("("):
        return
    field = options.DESCRIPTOR.fields_by_name.get(option.name)
    if field is None:
        raise InvalidSchemaError(f"Invalid Protobuf schema: unknown option {option.name!r}")
    value = unescape(option.value) if isinstance(option.value, str) else option.value
    if field.enum_type is not None:
        if (
            not isinstance(value, ast.Identifier)
            or value.name not in field.enum_type.values_by_name
        ):
            raise InvalidSchemaError(f"Invalid Protobuf schema: option {option.name} = {value!r}")
        value = field.enum_type.values_by_name[value.name].number
    try:
        setattr(options, option.name, value)
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidSchemaError(f"Invalid Protobuf schema: option {option.name}: {exc}") from None


def _default(value: object, *, string: bool) -> str:
    """A default as a descriptor spells it: true/false, an enum's name, numbers, text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, ast.Identifier):
        return value.name
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return str(value)  # inf, -inf, nan: as protoc writes them
        return repr(value).removesuffix(".0")
    if isinstance(value, str):
        return unescape(value) if string else value  # bytes stay C-escaped, as protoc keeps them
    return str(value)


def _ranges(ranges: Sequence[str], largest: int) -> Iterable[tuple[int, int]]:
    """``"2"``, ``"9 to 11"``, ``"40 to max"`` as (first, last) inclusive."""
    for text in ranges:
        first, _, last = (part.strip() for part in text.partition("to"))
        try:
            start = int(first, 0)
            end = largest if last == "max" else int(last, 0) if last else start
        except ValueError:
            raise InvalidSchemaError(f"Invalid Protobuf schema: range {text!r}") from None
        yield start, end
