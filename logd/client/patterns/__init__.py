"""The classic messaging patterns on logd's clients (docs/patterns.md).

* :mod:`~logd.client.patterns.requestreply` — request/reply: ``Requester`` /
  ``AsyncRequester`` send with ``reply-to`` and ``correlation-id`` headers and await the
  answer; ``Responder`` / ``AsyncResponder`` serve a topic with a handler.
* :mod:`~logd.client.patterns.filters` — record filters on key and headers for an event
  channel: give one to a consumer as ``record_filter=`` and the values of the records it
  drops are never decoded.

Queues and publish/subscribe are consumer groups (``Consumer(group_id=...).subscribe``),
fire-and-forget is ``acks=0``, replay is ``seek``/``offsets_for_times``: no helper needed.
"""

from logd.client.patterns.filters import (
    all_of,
    any_of,
    has_header,
    header_equals,
    header_in,
    key_equals,
    key_matches,
    key_prefix,
    negate,
)
from logd.client.patterns.requestreply import (
    AsyncRequester,
    AsyncResponder,
    Requester,
    Responder,
    header,
)

__all__ = [
    "AsyncRequester",
    "AsyncResponder",
    "Requester",
    "Responder",
    "all_of",
    "any_of",
    "has_header",
    "header",
    "header_equals",
    "header_in",
    "key_equals",
    "key_matches",
    "key_prefix",
    "negate",
]
