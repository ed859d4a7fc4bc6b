"""What every embedded-format codec is: JSON to payload bytes and back; the order in which a
schema's references are known to its codec. Pure."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any

from logd.registry.parsed import ParsedSchema

__all__ = ["Codec", "ConversionError", "dependencies_first"]


class ConversionError(ValueError):
    """A JSON value that its schema does not take, or bytes that are not the format's."""


class Codec(abc.ABC):
    """One schema's way between JSON and bytes."""

    @abc.abstractmethod
    def encode(self, value: Any) -> bytes:
        """The payload for a JSON value (ConversionError)."""

    @abc.abstractmethod
    def decode(self, payload: bytes) -> Any:
        """The JSON value of a payload (ConversionError)."""


def dependencies_first(schema: ParsedSchema) -> Iterator[tuple[str, ParsedSchema]]:
    """(reference name, schema) of every schema ``schema`` refers to, depth first, each
    before the schemas that refer to it."""
    for dep in schema.dependencies:
        yield from dependencies_first(dep.schema)
        yield dep.reference.name, dep.schema
