"""The security layer of one broker, built from its config and bound to the metadata:
the guard (the seam's gate), the authenticator and the admin. ``logd.node`` builds one per
broker and hands it to the seam; front ends reach it only through the seam.

``LOGD_BOOTSTRAP_USER=NAME:PASSWORD`` (Redpanda's ``RP_BOOTSTRAP_USER``) creates that
SCRAM-SHA-256 user once the broker serves, if no such user exists.

Owned by the broker's event loop.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from logd.broker.security.admin import SecurityAdmin
from logd.broker.security.authn import Authenticator
from logd.broker.security.guard import Guard
from logd.broker.security.settings import SecuritySettings
from logd.broker.security.state import SecurityState
from logd.clock import Clock
from logd.errors import InvalidConfigError
from logd.metadata.security import ScramUpsert, SecurityChange, SecurityView
from logd.security.quota import QuotaManager
from logd.security.scram import ScramMechanism, make_credential

__all__ = ["BOOTSTRAP_USER_ENV", "SecurityServices"]

BOOTSTRAP_USER_ENV = "LOGD_BOOTSTRAP_USER"


@dataclass
class SecurityServices:
    settings: SecuritySettings
    state: SecurityState
    guard: Guard
    authn: Authenticator
    admin: SecurityAdmin
    write: Callable[[Sequence[SecurityChange]], Awaitable[None]]

    @classmethod
    def build(
        cls,
        settings: SecuritySettings,
        image: Callable[[], SecurityView],
        write: Callable[[Sequence[SecurityChange]], Awaitable[None]],
        clock: Clock,
    ) -> SecurityServices:
        state = SecurityState(
            image,
            super_users=settings.super_users,
            allow_everyone_if_no_acl_found=settings.allow_if_no_acl,
            quotas=QuotaManager(
                window_ms=settings.quota_window_size_s * 1000, samples=settings.quota_window_num
            ),
        )
        return cls(
            settings=settings,
            state=state,
            guard=Guard(settings, state, clock),
            authn=Authenticator(settings, state),
            admin=SecurityAdmin(state, write),
            write=write,
        )

    @staticmethod
    def check_bootstrap_user(spec: str | None = None) -> tuple[str, str] | None:
        """``LOGD_BOOTSTRAP_USER`` as (name, password); InvalidConfigError when malformed."""
        spec = spec if spec is not None else os.environ.get(BOOTSTRAP_USER_ENV)
        if not spec:
            return None
        name, sep, password = spec.partition(":")
        if not sep or not name or not password:
            raise InvalidConfigError(f"{BOOTSTRAP_USER_ENV} must be NAME:PASSWORD")
        return name, password

    async def bootstrap_user(self, spec: str | None = None) -> str | None:
        """Creates the ``NAME:PASSWORD`` user of ``LOGD_BOOTSTRAP_USER`` when it does not
        exist yet; returns its name (None without the variable)."""
        found = self.check_bootstrap_user(spec)
        if found is None:
            return None
        name, password = found
        mechanism = ScramMechanism.SCRAM_SHA_256
        if self.state.credential(name, mechanism) is None:
            credential = make_credential(mechanism, password, os.urandom(32))
            await self.write([ScramUpsert(name, credential)])
        return name
