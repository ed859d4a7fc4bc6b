"""The registry's vocabulary: schema types, references, compatibility levels, modes.

Frozen values shared by the parsers, the compatibility checker, the state machine and the
client's serializers.  Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import enum

from logd.registry.errors import InvalidCompatibilityLevelError, InvalidModeError

__all__ = [
    "CompatibilityLevel",
    "Mode",
    "Reference",
    "SchemaType",
]


class SchemaType(enum.StrEnum):
    """Confluent's ``schemaType`` names; absent means AVRO."""

    AVRO = "AVRO"
    JSON = "JSON"
    PROTOBUF = "PROTOBUF"


class CompatibilityLevel(enum.StrEnum):
    """Confluent's compatibility levels (``GET/PUT /config``)."""

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @classmethod
    def parse(cls, text: object) -> CompatibilityLevel:
        if isinstance(text, str):
            try:
                return cls(text.upper())
            except ValueError:
                pass
        raise InvalidCompatibilityLevelError(
            f"Invalid compatibility level. Valid values are none, backward, forward, full, "
            f"backward_transitive, forward_transitive, and full_transitive (got {text!r})"
        )

    @property
    def transitive(self) -> bool:
        """Checked against every live version, not only the latest."""
        return self.value.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        """The new schema must read data written with the old ones."""
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        """The old schemas must read data written with the new one."""
        return self.value.startswith(("FORWARD", "FULL"))


class Mode(enum.StrEnum):
    """Confluent's registry modes (``GET/PUT /mode``)."""

    READWRITE = "READWRITE"
    READONLY = "READONLY"
    IMPORT = "IMPORT"

    @classmethod
    def parse(cls, text: object) -> Mode:
        if isinstance(text, str):
            try:
                return cls(text.upper())
            except ValueError:
                pass
        raise InvalidModeError(
            f"Invalid mode. Valid values are READWRITE, READONLY and IMPORT (got {text!r})"
        )


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Reference:
    """A schema's reference to another registered schema (Confluent's ``references`` item).

    ``name`` is how the referring schema names it: an Avro full name, a JSON Schema ``$ref``
    URL, or a Protobuf import path.
    """

    name: str
    subject: str
    version: int

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "subject": self.subject, "version": self.version}
