"""Bounds-checked readers and writers for kio's Kafka message types (sans-I/O).

The message *types* come from ``kio`` (frozen dataclasses generated from Kafka's JSON
message schemas: field order, Kafka types, flexible versions and tag numbers in each field's
metadata). Its serializers we do not use for two reasons, measured in issue 14's note:

* kio's Rust reader reserves memory for an array's *claimed* length before it reads a
  single element: a 5-byte Metadata request claiming 2**32 topics makes it ask for 32 GiB
  and abort the process (the CVE-2022-34917 class of bug). Every reader here checks a
  claimed count against the bytes that are left (divided by the smallest possible element)
  and never reserves anything up front.
* kio's writer builds an ``io.BytesIO`` per entity for the tagged fields; ours appends to
  one ``bytearray``: 2-3x faster on a 100-topic Metadata answer (issue 14's note).

So logd *compiles* a reader and a writer per kio class from the same field metadata kio
uses (once, cached), and the tests check both against kio's own reader and writer on valid
input, for every message of every version. Every failure on bad input is
:class:`SchemaDecodeError`. This module is the codec's one entry point; the work is split by
job: :mod:`~logd.frontends.kafka.schema_fields` (kio's field metadata, varints, the shared
pieces), :mod:`~logd.frontends.kafka.schema_read` (the bounds-checked readers),
:mod:`~logd.frontends.kafka.schema_write` (the writers).

Pure: no I/O; safe to call from any thread (the caches only ever gain entries).
"""

from __future__ import annotations

from logd.frontends.kafka.schema_fields import (
    Reader,
    SchemaDecodeError,
    Writer,
    read_uvarint,
    write_uvarint,
)
from logd.frontends.kafka.schema_read import decode, reader_for
from logd.frontends.kafka.schema_write import encode, writer_for

__all__ = [
    "Reader",
    "SchemaDecodeError",
    "Writer",
    "decode",
    "encode",
    "read_uvarint",
    "reader_for",
    "write_uvarint",
    "writer_for",
]
