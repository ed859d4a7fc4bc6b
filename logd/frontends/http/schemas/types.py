"""What every embedded-format codec is: JSON to payload bytes and back. Pure."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["Codec", "ConversionError"]


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
