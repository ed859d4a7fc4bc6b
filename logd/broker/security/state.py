"""Users, ACLs and quotas as the controller's metadata says (``SecurityView``, applied by
every broker from the same log), in the indexed forms the checks need: an ``Authorizer``
and a ``QuotaManager``, rebuilt when the image's ``version`` moved (a cheap integer
comparison on each use; security changes are rare, requests are not).

Users are salted SCRAM keys only. Not thread-safe; owned by the broker's event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from logd.metadata.security import SecurityView
from logd.security.authorizer import Authorizer
from logd.security.quota import QuotaManager
from logd.security.scram import ScramCredential, ScramMechanism

__all__ = ["SecurityState"]


class SecurityState:
    def __init__(
        self,
        image: Callable[[], SecurityView],
        *,
        super_users: tuple[str, ...] = (),
        allow_everyone_if_no_acl_found: bool = False,
        quotas: QuotaManager | None = None,
    ) -> None:
        self._image = image
        self._super_users = super_users
        self._allow = allow_everyone_if_no_acl_found
        self._authorizer = Authorizer(super_users=super_users)
        self._quotas = quotas or QuotaManager()
        self._seen = -1

    def _sync(self) -> SecurityView:
        image = self._image()
        if image.version != self._seen:
            authorizer = Authorizer(
                super_users=self._super_users, allow_everyone_if_no_acl_found=self._allow
            )
            for binding in image.acls:
                authorizer.add(binding)
            self._authorizer = authorizer
            self._quotas.configs = {e: dict(v) for e, v in image.quotas.items()}
            self._seen = image.version
        return image

    @property
    def authorizer(self) -> Authorizer:
        self._sync()
        return self._authorizer

    @property
    def quotas(self) -> QuotaManager:
        self._sync()
        return self._quotas

    def credential(self, user: str, mechanism: ScramMechanism) -> ScramCredential | None:
        return self._image().credentials.get((user, mechanism))

    def credentials(self, user: str) -> list[ScramCredential]:
        creds = self._image().credentials
        return [c for m in ScramMechanism if (c := creds.get((user, m))) is not None]

    def users(self) -> Iterator[tuple[str, list[ScramCredential]]]:
        names = sorted({name for name, _ in self._image().credentials})
        for name in names:
            yield name, self.credentials(name)
