"""The ``protobuf`` embedded format: a key or value is Protobuf's JSON mapping of the
schema's first message (as Confluent's proxy takes and gives it); its payload is Confluent's
message-index list (which message of the file: ``[0]``, written as the single byte 0) then
the message's binary encoding.

How: :class:`logd.registry.protobuf_messages.ProtobufMessages` (the schema's descriptors in
a private pool, its message classes, the index prefix; shared with the console) and
``google.protobuf``'s ``json_format``. Files in editions syntax have no descriptor: their
codec is refused.

Pure; a codec is immutable and shared by every request.
"""

from __future__ import annotations

from typing import Any, Final

from google.protobuf import json_format  # type: ignore[import-untyped]

from logd.frontends.http.schemas.types import Codec, ConversionError
from logd.registry.parsed import ParsedSchema
from logd.registry.protobuf_messages import (
    ProtobufMessages,
    ProtobufPayloadError,
    read_indexes,
    write_indexes,
)
from logd.registry.protobuf_schema import ProtobufSchema

__all__ = ["ProtobufCodec", "read_indexes", "write_indexes"]

_MAIN: Final = "logd_rest_proxy_schema.proto"


class ProtobufCodec(Codec):
    """See the module docstring."""

    def __init__(self, schema: ParsedSchema) -> None:
        assert isinstance(schema, ProtobufSchema)
        try:
            self._messages = ProtobufMessages(schema, _MAIN)
        except ProtobufPayloadError as exc:
            raise ConversionError(str(exc)) from None
        self._first = self._class([0])

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, dict):
            raise ConversionError("a Protobuf message is a JSON object")
        try:
            message = json_format.ParseDict(value, self._first())
        except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConversionError(f"the value does not fit the Protobuf schema: {why}") from None
        data: bytes = message.SerializeToString()
        return write_indexes([0]) + data

    def _class(self, indexes: list[int]) -> Any:
        try:
            return self._messages.message_class(indexes)
        except ProtobufPayloadError as exc:
            raise ConversionError(str(exc)) from None

    def decode(self, payload: bytes) -> Any:
        try:
            return self._messages.decode(payload)
        except ProtobufPayloadError as exc:
            raise ConversionError(str(exc)) from None
