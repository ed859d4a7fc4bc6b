"""The asyncio security admin client: users, ACLs and client quotas (``logd.v1.SecurityAdmin``).

Users are created Kafka's way: the client draws a salt and sends the *salted* password
(PBKDF2 of ``iterations``); the broker derives and stores the SCRAM keys and never sees
the password. Per-item errors in an answer are raised, the first one first.

Not thread-safe: use it from the event loop it was started on; the sync
:class:`logd.client.sync.security_admin.SecurityAdmin` runs one in a background thread.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from logd.client.config import AdminConfig, parse_config
from logd.client.transport.connection import Connection, ConnectionPool
from logd.client.transport.rpc import error_from_proto
from logd.errors import LogdError, NetworkError
from logd.security.acl import AclBinding, AclBindingFilter
from logd.security.quota import QuotaEntity
from logd.security.scram import ITERATIONS_MIN, ScramMechanism, salted_password
from logd.security.wire import (
    acl_from_proto,
    acl_to_proto,
    entity_from_proto,
    entity_to_proto,
    filter_to_proto,
)
from logd.v1 import security_pb2, security_pb2_grpc

__all__ = ["AsyncSecurityAdmin", "UserInfo"]

T = TypeVar("T")
#: A user and its credentials: (mechanism name, iterations) each.
UserInfo = tuple[str, list[tuple[str, int]]]


def _raise_first(errors: Iterable[Any]) -> None:
    for error in errors:
        exc: LogdError | None = error_from_proto(error)
        if exc is not None:
            raise exc


class AsyncSecurityAdmin:
    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        **options: Any,
    ) -> None:
        self.config: AdminConfig = parse_config(AdminConfig, config, options)
        self._random = random_bytes
        self._pool: ConnectionPool | None = None

    async def start(self) -> None:
        if self._pool is None:
            self._pool = ConnectionPool(self.config)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def __aenter__(self) -> AsyncSecurityAdmin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: str, request: Any) -> Any:
        if self._pool is None:
            raise NetworkError("the security admin client is not started")

        def call(conn: Connection) -> Awaitable[Any]:
            stub = security_pb2_grpc.SecurityAdminStub(conn.channel)  # type: ignore[no-untyped-call]
            return conn.unary(getattr(stub, method), request)

        return await self._pool.call_any(call)

    # -- users --------------------------------------------------------------------------------

    async def create_user(
        self,
        name: str,
        password: str,
        mechanism: str = "SCRAM-SHA-256",
        iterations: int = ITERATIONS_MIN,
    ) -> None:
        """Creates the user, or replaces its password for that mechanism."""
        mech = ScramMechanism.from_name(mechanism)
        salt = self._random(32)
        upsert = security_pb2.UserUpsertion(
            name=name,
            mechanism=int(mech),
            iterations=iterations,
            salt=salt,
            salted_password=salted_password(mech, password.encode(), salt, iterations),
        )
        resp = await self._call("AlterUsers", security_pb2.AlterUsersRequest(upsertions=[upsert]))
        _raise_first(r.error for r in resp.results)

    async def delete_user(self, name: str, mechanisms: Sequence[str] | None = None) -> None:
        """Deletes the user's credentials (every one it has when ``mechanisms`` is None)."""
        if mechanisms is None:
            users = await self.describe_users([name])
            mechanisms = [m for m, _ in users[0][1]]
        deletions = [
            security_pb2.UserDeletion(name=name, mechanism=int(ScramMechanism.from_name(m)))
            for m in mechanisms
        ]
        resp = await self._call("AlterUsers", security_pb2.AlterUsersRequest(deletions=deletions))
        _raise_first(r.error for r in resp.results)

    async def describe_users(self, names: Sequence[str] = ()) -> list[UserInfo]:
        resp = await self._call("DescribeUsers", security_pb2.DescribeUsersRequest(names=names))
        _raise_first(u.error for u in resp.users)
        return [
            (
                u.name,
                [(ScramMechanism(c.mechanism).mechanism_name, c.iterations) for c in u.credentials],
            )
            for u in resp.users
        ]

    # -- ACLs ---------------------------------------------------------------------------------

    async def create_acls(self, bindings: Sequence[AclBinding]) -> None:
        request = security_pb2.CreateAclsRequest(acls=[acl_to_proto(b) for b in bindings])
        resp = await self._call("CreateAcls", request)
        _raise_first(resp.errors)

    async def describe_acls(self, flt: AclBindingFilter | None = None) -> list[AclBinding]:
        request = security_pb2.DescribeAclsRequest(
            filter=filter_to_proto(flt or AclBindingFilter())
        )
        resp = await self._call("DescribeAcls", request)
        return [acl_from_proto(a) for a in resp.acls]

    async def delete_acls(self, filters: Sequence[AclBindingFilter]) -> list[AclBinding]:
        """Deletes what the filters match; returns what was deleted."""
        request = security_pb2.DeleteAclsRequest(filters=[filter_to_proto(f) for f in filters])
        resp = await self._call("DeleteAcls", request)
        return sorted({acl_from_proto(a) for r in resp.results for a in r.acls})

    # -- quotas -------------------------------------------------------------------------------

    async def alter_quotas(
        self, entity: QuotaEntity, values: Mapping[str, float | None], validate_only: bool = False
    ) -> None:
        """Sets (a number) or removes (None) quota keys of one entity."""
        entry = security_pb2.EntityQuotas(
            entity=entity_to_proto(entity),
            values=[
                security_pb2.QuotaValue(key=k, value=v or 0.0, remove=v is None)
                for k, v in values.items()
            ],
        )
        request = security_pb2.AlterQuotasRequest(entries=[entry], validate_only=validate_only)
        resp = await self._call("AlterQuotas", request)
        _raise_first(resp.errors)

    async def describe_quotas(
        self, user: str | None = None, client_id: str | None = None
    ) -> list[tuple[QuotaEntity, dict[str, float]]]:
        request = security_pb2.DescribeQuotasRequest()
        if user is not None:
            request.user = user
        if client_id is not None:
            request.client_id = client_id
        resp = await self._call("DescribeQuotas", request)
        return [
            (entity_from_proto(e.entity), {v.key: v.value for v in e.values}) for e in resp.entries
        ]

    async def whoami(self) -> str:
        resp = await self._call("WhoAmI", security_pb2.WhoAmIRequest())
        return str(resp.principal)
