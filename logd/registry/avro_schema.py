"""Avro schemas: parsing (the ``avro`` package), canonical text, and compatibility.

Compatibility is the Avro specification's schema-resolution rules as the ``avro``
package's ``ReaderWriterCompatibilityChecker`` implements them (Apache Avro 1.12,
``avro/compatibility.py``): field added with or without a default, promotions
int→long→float→double and string↔bytes, enum symbols (and the enum default), unions,
named types matched by name or alias, fixed sizes.  A maintained checker rather than our
own: it is the reference implementation the Java one is tested against.

References (Confluent's): each referenced schema is parsed first into the same name table,
so the referrer can use its named types by full name.  Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import avro.errors
import avro.name
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from logd.registry.errors import InvalidSchemaError
from logd.registry.model import Reference, SchemaType
from logd.registry.parsed import Dependency, ParsedSchema, canonical_json

__all__ = ["AvroSchema", "parse_avro"]


class AvroSchema(ParsedSchema):
    """A parsed Avro schema; ``avro`` holds the ``avro`` package's object."""

    schema_type = SchemaType.AVRO

    def __init__(
        self,
        text: str,
        references: tuple[Reference, ...],
        dependencies: tuple[Dependency, ...],
        parsed: avro.schema.Schema,
    ) -> None:
        super().__init__(text, references, dependencies)
        self.avro = parsed
        self._canonical = canonical_json(parsed.to_json())

    @property
    def canonical(self) -> str:
        return self._canonical

    def incompatibilities(self, writer: ParsedSchema) -> list[str]:
        mismatch = self.type_mismatch(writer)
        if mismatch:
            return mismatch
        assert isinstance(writer, AvroSchema)
        checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
        result = checker.get_compatibility(self.avro, writer.avro)
        if result.compatibility is SchemaCompatibilityType.compatible:
            return []
        kinds = ", ".join(sorted(str(k.value) for k in result.incompatibilities))
        details = "; ".join(sorted(str(m) for m in result.messages))
        where = ", ".join(sorted(str(x) for x in result.locations))
        return [f"{kinds or 'incompatible'} at {where or '/'}: {details}"]


def _load_json(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidSchemaError(f"Invalid schema: not JSON ({exc})") from exc


def _make(data: object, names: avro.name.Names) -> avro.schema.Schema:
    try:
        return avro.schema.make_avsc_object(data, names)
    except (avro.errors.AvroException, TypeError, ValueError, AttributeError, KeyError) as exc:
        raise InvalidSchemaError(f"Invalid Avro schema: {exc}") from exc
    except RecursionError as exc:
        raise InvalidSchemaError("Invalid Avro schema: nested too deeply") from exc


def parse_avro(
    text: str, references: Sequence[Reference] = (), dependencies: Sequence[Dependency] = ()
) -> AvroSchema:
    """Parse ``text``; ``dependencies`` are its references, already parsed, in order.

    Raises InvalidSchemaError with one line saying what is wrong.
    """
    data = _load_json(text)
    names = avro.name.Names(validate_names=True)
    seen: set[str] = set()
    for dep in _flatten(dependencies):
        assert isinstance(dep.schema, AvroSchema), "reference of another type"
        if dep.schema.canonical in seen:
            continue
        seen.add(dep.schema.canonical)
        _make(json.loads(dep.schema.text), names)
    return AvroSchema(text, tuple(references), tuple(dependencies), _make(data, names))


def _flatten(dependencies: Sequence[Dependency]) -> list[Dependency]:
    """Every dependency after its own dependencies (they were resolved acyclic)."""
    out: list[Dependency] = []
    for dep in dependencies:
        out.extend(_flatten(dep.schema.dependencies))
        out.append(dep)
    return out
