"""The schema domain of logd's built-in schema registry (issue 17): pure, no I/O.

Parsing and canonical forms of Avro, JSON Schema and Protobuf schemas, references with
cycle detection, compatibility at every Confluent level, the `_schemas` record format, the
applied registry state, and what each write request turns into.  The REST front end
(``logd/frontends/registry``) and the client's serializers (``logd/client/serde``) build
on it.
"""

from __future__ import annotations

from logd.registry.compatibility import check_compatibility
from logd.registry.model import CompatibilityLevel, Mode, Reference, SchemaType
from logd.registry.parsed import ParsedSchema
from logd.registry.schemas import parse_schema
from logd.registry.state import RegistryState

__all__ = [
    "CompatibilityLevel",
    "Mode",
    "ParsedSchema",
    "Reference",
    "RegistryState",
    "SchemaType",
    "check_compatibility",
    "parse_schema",
]
