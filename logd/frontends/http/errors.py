"""Errors of the HTTP front end as Confluent's REST Proxy answers them: an HTTP status and a
body ``{"error_code": N, "message": "..."}`` (error codes from Confluent's ``Errors.java`` and
``KafkaExceptionMapper``).

:class:`RestError` is what handlers raise; :func:`from_logd` is the one translation of the
core's typed errors (``logd.errors``) for a request that fails as a whole, and
:func:`record_error` the v2 per-record form (``error_code`` 1 non-retriable, 2 retriable).
The server's error middleware (``middleware.py``) turns both, and aiohttp's own refusals,
into responses: nothing else does.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Final

from logd.errors import (
    BrokerUnavailableError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    InvalidConfigError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    InvalidTopicError,
    LogdError,
    SaslAuthenticationFailedError,
    SecurityDisabledError,
    ThrottlingQuotaExceededError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

__all__ = [
    "BAD_REQUEST",
    "CONSUMER_ALREADY_EXISTS",
    "CONSUMER_ALREADY_SUBSCRIBED",
    "CONSUMER_FORMAT_MISMATCH",
    "CONSUMER_NOT_FOUND",
    "ILLEGAL_STATE",
    "INVALID_CONSUMER_CONFIG",
    "JSON_CONVERSION",
    "KAFKA_ERROR",
    "KAFKA_RETRIABLE",
    "KEY_SCHEMA_MISSING",
    "PARTITION_NOT_FOUND",
    "TOPIC_NOT_FOUND",
    "VALUE_SCHEMA_MISSING",
    "RestError",
    "from_logd",
    "partition_not_found",
    "record_error",
    "topic_not_found",
]

# Confluent's error codes (a status's own number is used when none is more precise).
BAD_REQUEST: Final = 40002
AUTHENTICATION: Final = 40101
AUTHORIZATION: Final = 40301
TOPIC_NOT_FOUND: Final = 40401
PARTITION_NOT_FOUND: Final = 40402
CONSUMER_NOT_FOUND: Final = 40403
CONSUMER_FORMAT_MISMATCH: Final = 40601
CONSUMER_ALREADY_SUBSCRIBED: Final = 40901
CONSUMER_ALREADY_EXISTS: Final = 40902
ILLEGAL_STATE: Final = 40903
KEY_SCHEMA_MISSING: Final = 42201
VALUE_SCHEMA_MISSING: Final = 42202
JSON_CONVERSION: Final = 42203
INVALID_CONSUMER_CONFIG: Final = 42204
TOO_MANY_REQUESTS: Final = 42901
KAFKA_ERROR: Final = 50002
KAFKA_RETRIABLE: Final = 50003
BROKER_NOT_AVAILABLE: Final = 50302


class RestError(Exception):
    """A request refused or failed as a whole: ``status`` and Confluent's ``error_code``."""

    def __init__(self, status: int, error_code: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        #: The connection is closed after the answer (a body left half read).
        self.close = close

    def body(self) -> dict[str, object]:
        return {"error_code": self.error_code, "message": self.message}


def topic_not_found(topic: str) -> RestError:
    return RestError(404, TOPIC_NOT_FOUND, f"Topic {topic!r} not found.")


def partition_not_found(topic: str, partition: int) -> RestError:
    return RestError(404, PARTITION_NOT_FOUND, f"Partition {partition} of {topic!r} not found.")


_AUTHORIZATION = (
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)
_BAD_REQUEST = (
    InvalidTopicError,
    InvalidRequestError,
    InvalidConfigError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    SecurityDisabledError,
)


def from_logd(exc: LogdError, topic: str | None = None) -> RestError:
    """A core error that fails a whole request, as Confluent's KafkaExceptionMapper maps
    Kafka's (``topic``: the topic the request named, for a not-found message)."""
    if isinstance(exc, UnknownTopicOrPartitionError):
        return topic_not_found(topic) if topic is not None else RestError(404, 40403, str(exc))
    if isinstance(exc, SaslAuthenticationFailedError):
        return RestError(401, AUTHENTICATION, str(exc))
    if isinstance(exc, _AUTHORIZATION):
        return RestError(403, AUTHORIZATION, str(exc))
    if isinstance(exc, ThrottlingQuotaExceededError):
        return RestError(429, TOO_MANY_REQUESTS, str(exc))
    if isinstance(exc, BrokerUnavailableError):
        return RestError(503, BROKER_NOT_AVAILABLE, str(exc))
    if isinstance(exc, _BAD_REQUEST):
        return RestError(400, BAD_REQUEST, str(exc))
    if exc.retriable:
        return RestError(500, KAFKA_RETRIABLE, f"Retriable Kafka error: {exc}")
    return RestError(500, KAFKA_ERROR, f"Kafka error: {exc}")


def record_error(exc: LogdError) -> tuple[int, str]:
    """A v2 produce answer's per-record ``(error_code, error)``: 2 when a retry may succeed,
    1 otherwise (Confluent's ``ProduceResponse``)."""
    return (2 if exc.retriable else 1), str(exc)
