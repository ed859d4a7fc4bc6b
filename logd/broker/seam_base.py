"""Who calls the seam, the gate every call passes, and Kafka's per-item refusals: the
parts of :mod:`logd.broker.seam` its halves (core calls, :mod:`logd.broker.seam_groups`)
share. Front ends import these names from :mod:`logd.broker.seam`.

Per-item refusals: a request naming many topics (or groups) is answered item by item --
those the caller may not use carry their authorization error in the answer, the others are
served -- never refused as a whole (Kafka's KafkaApis does this for every such API).
:meth:`SeamBase.refusals` lets the gate admit the request with all its names and, when it
refuses one, asks the security layer which names are refused; :func:`serve_allowed` serves
the rest and puts the answers back in the request's order.

Ownership: the broker's event loop, like the core; not thread-safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from logd.broker.security.seam_part import SecuritySeam
from logd.errors import GroupAuthorizationFailedError, LogdError, TopicAuthorizationFailedError
from logd.security.acl import OPERATIONS_BY_RESOURCE, AclOperation, ResourceType
from logd.security.principal import BROKER as BROKER_PRINCIPAL
from logd.security.quota import QuotaKind

__all__ = ["ANONYMOUS", "BROKER", "AdmitAll", "Caller", "Gate", "SeamBase", "serve_allowed"]


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Who makes a request, as its front end established it."""

    #: Kafka's principal form (``User:NAME``); anonymous until authentication is on.
    principal: str = "User:ANONYMOUS"
    #: The client's own name for itself (Kafka's ``client.id``), "" when it gave none.
    client_id: str = ""
    #: The listener the request came through (``grpc``, ``kafka`` …).
    listener: str = ""
    #: The peer's address (``HOST:PORT``), "" when unknown.
    address: str = ""


ANONYMOUS = Caller()
#: The broker itself, for a front end's own calls on the broker's behalf (the schema
#: registry reading and writing `_schemas`, MQTT's `__mqtt_*` topics and the positions it keeps
#: for a device -- after the client's own rights were checked): admitted without a check and
#: counted against no quota; never hand it a client. Here it is known by identity (``caller
#: is BROKER``); its principal (``logd.security.principal.BROKER``, type ``Broker``) is one no
#: authenticator yields, so the guard can admit it when another broker forwards its call
#: (``logd.v1.ClusterForward``, brokers only).
BROKER = Caller(principal=str(BROKER_PRINCIPAL), listener="internal")


class Gate(Protocol):
    """Decides whether ``caller`` may do ``action`` (a seam method's name) to ``resources``
    (topic names, group ids; empty for the cluster); raises the typed LogdError (an
    authorization or quota error) when not. The security layer plugs in here."""

    def admit(self, caller: Caller, action: str, resources: Collection[str] = ()) -> None: ...


class AdmitAll:
    """The gate while there is no authentication (PLAINTEXT on loopback): everyone may."""

    def admit(self, caller: Caller, action: str, resources: Collection[str] = ()) -> None:
        return None


#: The refusals of one resource among several: answered per item, not for the request.
_PER_ITEM = (TopicAuthorizationFailedError, GroupAuthorizationFailedError)


class SeamBase:
    """The gate and the security half every seam call uses."""

    _gate: Gate
    #: Authentication, ACLs, quotas (issue 15); see :class:`SecuritySeam`.
    security: SecuritySeam

    def admit(self, caller: Caller, action: str, resources: Collection[str] = ()) -> None:
        """The one check every call makes first (see :class:`Gate`); :data:`BROKER` passes."""
        if caller is not BROKER:
            self._gate.admit(caller, action, resources)

    def _record(self, caller: Caller, kind: QuotaKind, value: float) -> None:
        if caller is not BROKER:
            self.security.record(caller, kind, value)

    def visible(self, caller: Caller, action: str, names: Collection[str]) -> list[str]:
        """The ``names`` ``caller`` may see for a listing ``action`` (the others left out,
        as Kafka leaves out of Metadata the topics a caller may not describe)."""
        if caller is BROKER:
            return list(names)
        return self.security.visible(caller, action, names)

    def refusals(self, caller: Caller, action: str, names: Iterable[str]) -> dict[str, LogdError]:
        """The check of a call that names many resources: the gate admits the request with
        all of them, or -- when it refuses one of them (a topic or a group) -- each of
        ``names`` the caller may not use is refused on its own, with its typed error, and
        the rest is served. What refuses the whole request (authentication, a cluster
        action, a gate of another kind) still raises."""
        names = list(dict.fromkeys(names))
        if caller is BROKER:
            return {}
        try:
            self._gate.admit(caller, action, names)
        except _PER_ITEM as exc:
            refused = self.security.refusals(caller, action, names)
            if not refused:
                raise exc from None
            self.security.record(caller, QuotaKind.REQUEST, 1)  # what admit would have
            return refused
        return {}

    def authorized_operations(
        self, caller: Caller, resource_type: ResourceType, name: str
    ) -> frozenset[AclOperation]:
        """The operations ``caller`` may do to the resource ``name`` of ``resource_type``,
        as the one shared authorizer decides (Kafka's ``authorized_operations`` fields of
        Metadata, DescribeCluster and DescribeGroups): a door reports, never decides."""
        if caller is BROKER:
            return OPERATIONS_BY_RESOURCE[resource_type]
        return self.security.authorized_operations(caller, resource_type, name)

    def item_refusals(
        self, caller: Caller, action: str, names: Iterable[str]
    ) -> dict[str, LogdError]:
        """Each of ``names`` ``caller`` may not use for ``action`` (the request itself was
        admitted already: the topics a group call names, say)."""
        if caller is BROKER:
            return {}
        return self.security.refusals(caller, action, names)


I = TypeVar("I")  # noqa: E741 - an item of a request
R = TypeVar("R")  # an item of its answer


async def serve_allowed(
    items: Sequence[I],
    refused: Mapping[str, LogdError],
    *,
    name: Callable[[I], str],
    key: Callable[[I], Hashable],
    answer_key: Callable[[R], Hashable],
    serve: Callable[[list[I]], Awaitable[Sequence[R]]],
    refusal: Callable[[I, LogdError], R],
) -> list[R]:
    """Answers for ``items`` in their order: ``refusal(item, error)`` for an item whose
    ``name`` is ``refused``, else what ``serve`` answered for it (matched by ``key`` of the
    item and ``answer_key`` of the answer). ``serve`` sees only the allowed items and is
    not called when none is."""
    if not refused:
        return list(await serve(list(items)))
    kept = [i for i in items if name(i) not in refused]
    answers = {answer_key(a): a for a in (await serve(kept) if kept else ())}
    return [refusal(i, refused[name(i)]) if name(i) in refused else answers[key(i)] for i in items]
