"""The sync security admin client: :class:`logd.client.aio.security_admin.AsyncSecurityAdmin`
on the shared background event loop (users, ACLs, client quotas).

Thread-safety: every method may be called from any thread; ``close`` once.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from logd.client.aio.security_admin import AsyncSecurityAdmin, UserInfo
from logd.client.sync.loop_thread import shared_loop
from logd.security.acl import AclBinding, AclBindingFilter
from logd.security.quota import QuotaEntity

__all__ = ["SecurityAdmin"]

T = TypeVar("T")


class SecurityAdmin:
    def __init__(self, config: Mapping[str, Any] | None = None, **options: Any) -> None:
        self._admin = AsyncSecurityAdmin(config, **options)
        self._thread = shared_loop()
        self._thread.run(self._admin.start())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._thread.run(coro)

    def create_user(
        self, name: str, password: str, mechanism: str = "SCRAM-SHA-256", iterations: int = 4096
    ) -> None:
        self._run(self._admin.create_user(name, password, mechanism, iterations))

    def delete_user(self, name: str, mechanisms: Sequence[str] | None = None) -> None:
        self._run(self._admin.delete_user(name, mechanisms))

    def describe_users(self, names: Sequence[str] = ()) -> list[UserInfo]:
        return self._run(self._admin.describe_users(names))

    def create_acls(self, bindings: Sequence[AclBinding]) -> None:
        self._run(self._admin.create_acls(bindings))

    def describe_acls(self, flt: AclBindingFilter | None = None) -> list[AclBinding]:
        return self._run(self._admin.describe_acls(flt))

    def delete_acls(self, filters: Sequence[AclBindingFilter]) -> list[AclBinding]:
        return self._run(self._admin.delete_acls(filters))

    def alter_quotas(
        self, entity: QuotaEntity, values: Mapping[str, float | None], validate_only: bool = False
    ) -> None:
        self._run(self._admin.alter_quotas(entity, values, validate_only))

    def describe_quotas(
        self, user: str | None = None, client_id: str | None = None
    ) -> list[tuple[QuotaEntity, dict[str, float]]]:
        return self._run(self._admin.describe_quotas(user, client_id))

    def whoami(self) -> str:
        return self._run(self._admin.whoami())

    def close(self) -> None:
        self._run(self._admin.close())

    def __enter__(self) -> SecurityAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
