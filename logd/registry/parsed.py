"""The common shape of a parsed schema, whatever its type.

Each schema type module (``avro_schema``, ``json_schema``, ``protobuf_schema``) returns a
:class:`ParsedSchema`: the text as registered, the canonical text that decides whether two
registrations are the same schema, and a checker that answers "can ``self`` (the reader)
read data written with ``writer``?" with a list of human-readable incompatibilities (empty
means compatible).  Pure: no I/O.
"""

from __future__ import annotations

import abc
import dataclasses
import json

from logd.registry.model import Reference, SchemaType

__all__ = ["Dependency", "ParsedSchema", "canonical_json"]


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Dependency:
    """A referenced schema, resolved: how the referrer names it, and its own parse."""

    reference: Reference
    schema: ParsedSchema


class ParsedSchema(abc.ABC):
    """A schema that parsed; immutable once built."""

    schema_type: SchemaType

    def __init__(
        self,
        text: str,
        references: tuple[Reference, ...],
        dependencies: tuple[Dependency, ...] = (),
    ) -> None:
        self.text = text
        self.references = references
        self.dependencies = dependencies

    @property
    @abc.abstractmethod
    def canonical(self) -> str:
        """The text two registrations share exactly when they are the same schema."""

    def normalized(self) -> str:
        """What ``?normalize=true`` stores instead of the text as sent."""
        return self.canonical

    @abc.abstractmethod
    def incompatibilities(self, writer: ParsedSchema) -> list[str]:
        """Why ``self`` as the reader cannot read what ``writer`` wrote ([] if it can)."""

    def type_mismatch(self, writer: ParsedSchema) -> list[str]:
        if writer.schema_type is not self.schema_type:
            return [
                f"schema type changed from {writer.schema_type.value} to {self.schema_type.value}"
            ]
        return []

    def identity(self) -> tuple[str, str, tuple[Reference, ...]]:
        """The key under which equal schemas share one global id."""
        return (self.schema_type.value, self.canonical, self.references)
