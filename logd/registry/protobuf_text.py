"""A ``FileDescriptorProto`` written back as ``.proto`` text (what the registry stores when
a client registers a descriptor: confluent-kafka's ``ProtobufSerializer`` does). The
reverse of ``protobuf_descriptor.file_descriptor``; see that module for why and what is
covered. Types are written fully qualified (``.pkg.Msg``), as the descriptor names them.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2 as pb  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]

from logd.registry.errors import InvalidSchemaError
from logd.registry.protobuf_names import json_name

__all__ = ["proto_text"]

F = pb.FieldDescriptorProto
_SCALAR_NAMES = {
    F.TYPE_DOUBLE: "double", F.TYPE_FLOAT: "float", F.TYPE_INT64: "int64",
    F.TYPE_UINT64: "uint64", F.TYPE_INT32: "int32", F.TYPE_FIXED64: "fixed64",
    F.TYPE_FIXED32: "fixed32", F.TYPE_BOOL: "bool", F.TYPE_STRING: "string",
    F.TYPE_BYTES: "bytes", F.TYPE_UINT32: "uint32", F.TYPE_SFIXED32: "sfixed32",
    F.TYPE_SFIXED64: "sfixed64", F.TYPE_SINT32: "sint32", F.TYPE_SINT64: "sint64",
}  # fmt: skip
_MESSAGE_MAX = 1 << 29
_ENUM_MAX = (1 << 31) - 1
_INDENT = "  "
#: Descriptors nest no deeper than this (the parser's own bound is far above real schemas).
MAX_DEPTH = 64


def proto_text(descriptor: pb.FileDescriptorProto) -> str:
    """``.proto`` text that parses to ``descriptor`` (less custom options)."""
    proto3 = descriptor.syntax == "proto3"
    if descriptor.syntax not in ("", "proto2", "proto3"):
        raise InvalidSchemaError(f"Invalid Protobuf schema: syntax {descriptor.syntax!r}")
    lines = [f'syntax = "{"proto3" if proto3 else "proto2"}";']
    if descriptor.package:
        lines.append(f"package {descriptor.package};")
    for i, dependency in enumerate(descriptor.dependency):
        kind = (
            "public "
            if i in descriptor.public_dependency
            else "weak "
            if i in descriptor.weak_dependency
            else ""
        )
        lines.append(f"import {kind}{_quote(dependency)};")
    lines += _options(descriptor.options, "")
    for message in descriptor.message_type:
        lines += _message(message, "", proto3, 0)
    for enum in descriptor.enum_type:
        lines += _enum(enum, "")
    lines += _extensions(descriptor.extension, "", proto3)
    for service in descriptor.service:
        lines += _service(service)
    return "\n".join(lines) + "\n"


def _message(message: pb.DescriptorProto, pad: str, proto3: bool, depth: int) -> list[str]:
    if depth > MAX_DEPTH:
        raise InvalidSchemaError("Invalid Protobuf schema: messages nested too deeply")
    inner = pad + _INDENT
    lines = [f"{pad}message {message.name} {{"]
    lines += _options(message.options, inner)
    nested = {n.name: n for n in message.nested_type}
    shown: set[str] = set()  # map entries and groups: written with their field
    written_oneofs: set[int] = set()
    for field in message.field:
        if field.HasField("oneof_index") and not field.proto3_optional:
            if field.oneof_index not in written_oneofs:
                written_oneofs.add(field.oneof_index)
                lines += _oneof(message, field.oneof_index, nested, shown, inner, proto3, depth)
            continue
        lines += _field(field, nested, shown, inner, proto3, depth)
    for child in message.nested_type:
        if child.name not in shown:
            lines += _message(child, inner, proto3, depth + 1)
    for enum in message.enum_type:
        lines += _enum(enum, inner)
    lines += _extensions(message.extension, inner, proto3)
    for r in message.extension_range:
        lines.append(f"{inner}extensions {_range(r.start, r.end - 1, _MESSAGE_MAX - 1)};")
    lines += _reserved(message.reserved_range, message.reserved_name, inner, exclusive=True)
    lines.append(f"{pad}}}")
    return lines


def _oneof(
    message: pb.DescriptorProto,
    index: int,
    nested: dict[str, pb.DescriptorProto],
    shown: set[str],
    pad: str,
    proto3: bool,
    depth: int,
) -> list[str]:
    if index >= len(message.oneof_decl):
        raise InvalidSchemaError(f"Invalid Protobuf schema: oneof {index} of {message.name}")
    decl = message.oneof_decl[index]
    lines = [f"{pad}oneof {decl.name} {{"]
    lines += _options(decl.options, pad + _INDENT)
    for field in message.field:
        if field.HasField("oneof_index") and field.oneof_index == index:
            lines += _field(field, nested, shown, pad + _INDENT, proto3, depth, in_oneof=True)
    lines.append(f"{pad}}}")
    return lines


def _field(
    field: pb.FieldDescriptorProto,
    nested: dict[str, pb.DescriptorProto],
    shown: set[str],
    pad: str,
    proto3: bool,
    depth: int,
    *,
    in_oneof: bool = False,
) -> list[str]:
    entry = nested.get(field.type_name.rpartition(".")[2]) if field.type_name else None
    if entry is not None and entry.options.map_entry and field.label == F.LABEL_REPEATED:
        shown.add(entry.name)
        if len(entry.field) != 2:
            raise InvalidSchemaError(f"Invalid Protobuf schema: map entry {entry.name}")
        key, value = (_type_of(f) for f in entry.field)
        return [f"{pad}map<{key}, {value}> {field.name} = {field.number}{_field_options(field)};"]
    label = _label(field, proto3, in_oneof)
    if field.type == F.TYPE_GROUP and entry is not None:
        shown.add(entry.name)
        body = _message(entry, pad, proto3, depth + 1)
        head = f"{pad}{label}group {entry.name} = {field.number}{_field_options(field)} {{"
        return [head, *body[1:]]
    return [f"{pad}{label}{_type_of(field)} {field.name} = {field.number}{_field_options(field)};"]


def _label(field: pb.FieldDescriptorProto, proto3: bool, in_oneof: bool) -> str:
    if in_oneof:
        return ""
    if field.label == F.LABEL_REPEATED:
        return "repeated "
    if field.label == F.LABEL_REQUIRED:
        return "required "
    if proto3:
        return "optional " if field.proto3_optional else ""
    return "optional "


def _type_of(field: pb.FieldDescriptorProto) -> str:
    if field.type in _SCALAR_NAMES:
        return _SCALAR_NAMES[field.type]
    if not field.type_name:
        raise InvalidSchemaError(f"Invalid Protobuf schema: field {field.name} has no type")
    return str(field.type_name)


def _field_options(field: pb.FieldDescriptorProto) -> str:
    parts = []
    if field.HasField("default_value"):
        parts.append(f"default = {_default(field)}")
    if field.HasField("json_name") and field.json_name != json_name(field.name):
        parts.append(f"json_name = {_quote(field.json_name)}")
    parts += [f"{name} = {value}" for name, value in _option_values(field.options)]
    return f" [{', '.join(parts)}]" if parts else ""


def _default(field: pb.FieldDescriptorProto) -> str:
    if field.type == F.TYPE_STRING:
        return _quote(field.default_value)
    if field.type == F.TYPE_BYTES:  # already C-escaped in a descriptor
        return f'"{field.default_value}"'
    return str(field.default_value)  # numbers, true/false, an enum value's name, inf/nan


def _enum(enum: pb.EnumDescriptorProto, pad: str) -> list[str]:
    inner = pad + _INDENT
    lines = [f"{pad}enum {enum.name} {{", *_options(enum.options, inner)]
    for value in enum.value:
        opts = ", ".join(f"{n} = {v}" for n, v in _option_values(value.options))
        lines.append(f"{inner}{value.name} = {value.number}{f' [{opts}]' if opts else ''};")
    lines += _reserved(enum.reserved_range, enum.reserved_name, inner, exclusive=False)
    lines.append(f"{pad}}}")
    return lines


def _extensions(fields: Iterable[pb.FieldDescriptorProto], pad: str, proto3: bool) -> list[str]:
    lines: list[str] = []
    by_extendee: dict[str, list[pb.FieldDescriptorProto]] = {}
    for field in fields:
        by_extendee.setdefault(field.extendee, []).append(field)
    for extendee, group in by_extendee.items():
        lines.append(f"{pad}extend {extendee} {{")
        for field in group:
            lines += _field(field, {}, set(), pad + _INDENT, proto3, 0)
        lines.append(f"{pad}}}")
    return lines


def _service(service: pb.ServiceDescriptorProto) -> list[str]:
    lines = [f"service {service.name} {{", *_options(service.options, _INDENT)]
    for m in service.method:
        takes = f"{'stream ' if m.client_streaming else ''}{m.input_type}"
        gives = f"{'stream ' if m.server_streaming else ''}{m.output_type}"
        options = _options(m.options, _INDENT * 2)
        end = " {" if options else ";"
        lines.append(f"{_INDENT}rpc {m.name} ({takes}) returns ({gives}){end}")
        if options:
            lines += [*options, f"{_INDENT}}}"]
    lines.append("}")
    return lines


def _reserved(
    ranges: Iterable[Any], names: Iterable[str], pad: str, *, exclusive: bool
) -> list[str]:
    largest = _MESSAGE_MAX - 1 if exclusive else _ENUM_MAX
    spans = [_range(r.start, r.end - 1 if exclusive else r.end, largest) for r in ranges]
    lines = [f"{pad}reserved {', '.join(spans)};"] if spans else []
    if names:
        lines.append(f"{pad}reserved {', '.join(_quote(n) for n in names)};")
    return lines


def _range(start: int, end: int, largest: int) -> str:
    if end >= largest:
        return f"{start} to max"
    return str(start) if start == end else f"{start} to {end}"


def _options(options: Message, pad: str) -> list[str]:
    return [f"{pad}option {name} = {value};" for name, value in _option_values(options)]


def _option_values(options: Message) -> list[tuple[str, str]]:
    """The standard options set, as ``name``/``value`` text (custom ones are extensions,
    which ``ListFields`` leaves out)."""
    out = []
    for field, value in options.ListFields():
        if field.is_repeated:  # uninterpreted_option, and no standard option repeats
            continue
        if field.enum_type is not None:
            known = field.enum_type.values_by_number.get(value)
            if known is None:
                raise InvalidSchemaError(f"Invalid Protobuf schema: option {field.name} {value}")
            text = known.name
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = _quote(value)
        elif isinstance(value, Message):
            continue  # e.g. FeatureSet (editions): no text form here
        else:
            text = str(value)
        out.append((field.name, text))
    return out


def _quote(text: str) -> str:
    escaped = []
    for ch in text:
        if ch in ('"', "\\"):
            escaped.append("\\" + ch)
        elif ch == "\n":
            escaped.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\x{ord(ch):02x}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'
