"""Managing users, ACLs and client quotas: reads from the metadata image, writes through the
controller (``ControllerStore.write_security``), with Kafka's per-item answers so both the
Kafka admin APIs and logd's gRPC ``SecurityAdmin`` service are thin over it.

Users arrive as Kafka's AlterUserScramCredentials carries them: salt and *salted* password,
computed by the client; the broker derives StoredKey and ServerKey and stores only those.
Authorization of these calls is the guard's (``describe_acls`` … in ``actions``).

Owned by the broker's event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from logd.broker.security.state import SecurityState
from logd.errors import (
    DuplicateResourceError,
    InvalidRequestError,
    LogdError,
    ResourceNotFoundError,
    UnacceptableCredentialError,
)
from logd.metadata.security import (
    AclAdd,
    AclRemove,
    QuotaSet,
    ScramRemove,
    ScramUpsert,
    SecurityChange,
)
from logd.security.acl import AclBinding, AclBindingFilter
from logd.security.admin_types import (
    QuotaAlteration,
    ScramDeletion,
    ScramUpsertion,
    UserDescription,
)
from logd.security.quota import QuotaEntity, QuotaKind
from logd.security.scram import credential_from_salted_password

__all__ = ["SecurityAdmin"]

Write = Callable[[Sequence[SecurityChange]], Awaitable[None]]
_USER_MAX = 1024


class SecurityAdmin:
    def __init__(self, state: SecurityState, write: Write) -> None:
        self.state = state
        self._write = write

    # -- users --------------------------------------------------------------------------------

    def describe_users(self, names: Sequence[str] | None = None) -> list[UserDescription]:
        """Every user (``names`` None) or the named ones (RESOURCE_NOT_FOUND when unknown)."""
        if names is None:
            return [
                UserDescription(n, tuple((c.mechanism, c.iterations) for c in creds))
                for n, creds in self.state.users()
            ]
        out = []
        for name in names:
            creds = self.state.credentials(name)
            if creds:
                out.append(UserDescription(name, tuple((c.mechanism, c.iterations) for c in creds)))
            else:
                out.append(UserDescription(name, error=ResourceNotFoundError(f"no user {name!r}")))
        return out

    async def alter_users(
        self, upsertions: Sequence[ScramUpsertion], deletions: Sequence[ScramDeletion]
    ) -> dict[str, LogdError | None]:
        """Per user name: None (done) or the error. A name twice in one request is refused
        (Kafka: DUPLICATE_RESOURCE), and so is deleting a credential that does not exist."""
        names = [u.name for u in upsertions] + [d.name for d in deletions]
        results: dict[str, LogdError | None] = {}
        duplicated = {n for n in names if names.count(n) > 1}
        records: list[SecurityChange] = []
        for d in deletions:
            results[d.name] = self._deletion_error(d, duplicated)
            if results[d.name] is None:
                records.append(ScramRemove(d.name, d.mechanism))
        for u in upsertions:
            try:
                self._check_name(u.name, duplicated)
                credential = credential_from_salted_password(
                    u.mechanism, u.salted_password, u.salt, u.iterations
                )
            except LogdError as exc:
                results[u.name] = exc
                continue
            results[u.name] = None
            records.append(ScramUpsert(u.name, credential))
        await self._write(records)
        return results

    def _check_name(self, name: str, duplicated: set[str]) -> None:
        if not name or len(name) > _USER_MAX:
            raise UnacceptableCredentialError("a user name is 1..1024 characters")
        if name in duplicated:
            raise DuplicateResourceError(f"user {name!r} appears more than once in the request")

    def _deletion_error(self, d: ScramDeletion, duplicated: set[str]) -> LogdError | None:
        try:
            self._check_name(d.name, duplicated)
        except LogdError as exc:
            return exc
        if self.state.credential(d.name, d.mechanism) is None:
            return ResourceNotFoundError(
                f"user {d.name!r} has no {d.mechanism.mechanism_name} credential"
            )
        return None

    # -- ACLs ---------------------------------------------------------------------------------

    def describe_acls(self, flt: AclBindingFilter) -> list[AclBinding]:
        return self.state.authorizer.describe(flt)

    async def create_acls(self, bindings: Sequence[AclBinding]) -> list[LogdError | None]:
        results: list[LogdError | None] = []
        records: list[SecurityChange] = []
        for binding in bindings:
            try:
                binding.validate()
            except LogdError as exc:
                results.append(exc)
                continue
            results.append(None)
            records.append(AclAdd(binding))
        await self._write(records)
        return results

    async def delete_acls(self, filters: Sequence[AclBindingFilter]) -> list[list[AclBinding]]:
        """Per filter, the ACLs it matched and that are now deleted."""
        matched = [self.state.authorizer.describe(f) for f in filters]
        unique = sorted({b for found in matched for b in found})
        await self._write([AclRemove(b) for b in unique])
        return matched

    # -- quotas -------------------------------------------------------------------------------

    def describe_quotas(
        self, user: str | None = None, client_id: str | None = None, *, strict: bool = False
    ) -> list[tuple[QuotaEntity, dict[str, float]]]:
        """Quotas whose entity matches: a given ``user``/``client_id`` must equal the entity's
        ("" is the default); None matches any. ``strict``: the entity has no other part."""
        out = []
        for entity, values in sorted(
            self.state.quotas.configs.items(),
            key=lambda kv: (kv[0].user or "", kv[0].client_id or ""),
        ):
            if user is not None and entity.user != user:
                continue
            if client_id is not None and entity.client_id != client_id:
                continue
            if strict and (
                (user is None) != (entity.user is None)
                or (client_id is None) != (entity.client_id is None)
            ):
                continue
            out.append((entity, dict(values)))
        return out

    async def alter_quotas(
        self, alterations: Sequence[QuotaAlteration], *, validate_only: bool = False
    ) -> list[LogdError | None]:
        results: list[LogdError | None] = []
        records: list[SecurityChange] = []
        for alteration in alterations:
            try:
                for key, value in alteration.values:
                    QuotaKind.from_key(key)
                    if value is not None and not value > 0:
                        raise InvalidRequestError(f"quota {key} must be positive, not {value}")
            except LogdError as exc:
                results.append(exc)
                continue
            results.append(None)
            records.extend(QuotaSet(alteration.entity, k, v) for k, v in alteration.values)
        if not validate_only:
            await self._write(records)
        return results
