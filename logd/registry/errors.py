"""The schema registry's expected failures, with Confluent's HTTP statuses and error codes.

Why not logd/errors.py: those carry Kafka's wire codes, one number space for every Kafka
response; Confluent's Schema Registry has its own (HTTP status + a five-digit
``error_code``, e.g. 40401 subject not found, 42201 invalid schema, 409 incompatible), and
clients (confluent-kafka's ``SchemaRegistryError``) read exactly those.  Each class below
is one of them; the REST front end turns any of them into ``{error_code, message}`` in one
place.  Pure: no I/O.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "IncompatibleSchemaError",
    "InvalidCompatibilityLevelError",
    "InvalidModeError",
    "InvalidReferenceError",
    "InvalidSchemaError",
    "InvalidVersionError",
    "OperationNotPermittedError",
    "ReferenceExistsError",
    "RegistryError",
    "SchemaNotFoundError",
    "SchemaVersionNotSoftDeletedError",
    "SchemaVersionSoftDeletedError",
    "StoreError",
    "SubjectNotFoundError",
    "SubjectNotSoftDeletedError",
    "SubjectSoftDeletedError",
    "UnprocessableEntityError",
    "VersionNotFoundError",
    "WriterUnavailableError",
]


class RegistryError(Exception):
    """An expected registry failure: ``http_status`` and Confluent's ``error_code``."""

    http_status: ClassVar[int] = 500
    error_code: ClassVar[int] = 50001
    retriable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SubjectNotFoundError(RegistryError):
    http_status = 404
    error_code = 40401


class VersionNotFoundError(RegistryError):
    http_status = 404
    error_code = 40402


class SchemaNotFoundError(RegistryError):
    http_status = 404
    error_code = 40403


class SubjectSoftDeletedError(RegistryError):
    http_status = 404
    error_code = 40404


class SubjectNotSoftDeletedError(RegistryError):
    http_status = 404
    error_code = 40405


class SchemaVersionSoftDeletedError(RegistryError):
    http_status = 404
    error_code = 40406


class SchemaVersionNotSoftDeletedError(RegistryError):
    http_status = 404
    error_code = 40407


class InvalidSchemaError(RegistryError):
    http_status = 422
    error_code = 42201


class InvalidVersionError(RegistryError):
    http_status = 422
    error_code = 42202


class InvalidCompatibilityLevelError(RegistryError):
    http_status = 422
    error_code = 42203


class InvalidModeError(RegistryError):
    http_status = 422
    error_code = 42204


class OperationNotPermittedError(RegistryError):
    http_status = 422
    error_code = 42205


class ReferenceExistsError(RegistryError):
    http_status = 422
    error_code = 42206


class InvalidReferenceError(InvalidSchemaError):
    """A reference that names no live schema, or that closes a cycle (Confluent: 42201)."""


class UnprocessableEntityError(RegistryError):
    """A request body that is not what the route takes (Confluent: 422, code 422)."""

    http_status = 422
    error_code = 422


class IncompatibleSchemaError(RegistryError):
    http_status = 409
    error_code = 409


class StoreError(RegistryError):
    """The `_schemas` topic could not take a write (Confluent: 50001 store error)."""

    http_status = 500
    error_code = 50001
    retriable = True


class WriterUnavailableError(RegistryError):
    """No elected writer right now (Confluent: 50003 error forwarding to the leader)."""

    http_status = 500
    error_code = 50003
    retriable = True
