"""Protobuf type names: how a field's type name is found (protobuf's scoping rules), shared by
the compatibility checker (``protobuf_schema``) and the descriptor builder
(``protobuf_descriptor``).

A name is searched from the innermost scope outward (``pkg.Outer.Inner``, then ``pkg.Outer``,
then ``pkg``, then the root); a leading dot makes it fully qualified. ``kinds`` holds every
known full name (this file's and its imports') -> ``"message"`` or ``"enum"``; the
well-known types (``google.protobuf.*``) every registry knows are messages but for the few
enums listed here. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Final

from logd.registry.errors import InvalidSchemaError

__all__ = ["SCALARS", "WELL_KNOWN", "Scope", "camel", "json_name", "resolve", "unescape"]

SCALARS: Final = frozenset(
    {
        "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
        "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
    }
)  # fmt: skip
WELL_KNOWN: Final = "google.protobuf."
_WELL_KNOWN_ENUMS: Final = frozenset(
    {
        "google.protobuf.NullValue",
        "google.protobuf.Syntax",
        "google.protobuf.Field.Kind",
        "google.protobuf.Field.Cardinality",
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """Where a name is used: ``name`` is the enclosing message's full name (or the package at
    the top level, "" for none)."""

    name: str
    package: str
    kinds: Mapping[str, str]

    def inner(self, name: str) -> Scope:
        return Scope(f"{self.name}.{name}" if self.name else name, self.package, self.kinds)


def resolve(type_name: str, scope: Scope) -> tuple[str, str]:
    """(kind, full name) of a type used in ``scope``: ``"scalar"``, ``"message"`` or
    ``"enum"``. InvalidSchemaError when no known type has the name."""
    if type_name in SCALARS:
        return "scalar", type_name
    if type_name.startswith("."):
        candidates = [type_name[1:]]
    else:
        parts = scope.name.split(".") if scope.name else []
        candidates = [".".join([*parts[:i], type_name]) for i in range(len(parts), 0, -1)]
        if scope.package:
            candidates.append(f"{scope.package}.{type_name}")
        candidates.append(type_name)
    for c in candidates:
        if c in scope.kinds:
            return scope.kinds[c], c
    for c in candidates:
        if c.startswith(WELL_KNOWN):
            return ("enum" if c in _WELL_KNOWN_ENUMS else "message"), c
    where = scope.name or "the file"
    raise InvalidSchemaError(f"Invalid Protobuf schema: type {type_name!r} not found in {where}")


def json_name(name: str) -> str:
    """protoc's default ``json_name``: underscores dropped, the letter after one capital."""
    parts = name.split("_")
    return parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:])


def camel(name: str) -> str:
    """protoc's ToCamelCase with a capital first letter (a map field's entry type)."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.DOTALL)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def unescape(text: str) -> str:
    """A string literal's content as the parser hands it (escapes still in) -> its value."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "xX" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
        return _SIMPLE.get(code, code)

    return _ESCAPE.sub(one, text)
