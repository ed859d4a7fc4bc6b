"""Controller quorum changes, the metadata side (issue 23; KRaft's AddVoter/RemoveVoter):
add a broker to the quorum or remove one, one change at a time.

The change is one record (the quorum to reach); the controller leader then walks the
metadata group there (``logd.cluster.quorum``). A removed voter stays a learner of the
metadata group: replacing a dead voter is ``add`` a live broker, then ``remove`` the dead
one, after which the quorum again survives the loss of any one voter (of three).

Ownership: used on the broker's event loop; holds no state of its own.
"""

from __future__ import annotations

from logd.errors import InvalidRequestError, ReassignmentInProgressError
from logd.metadata.store import MetadataStore
from logd.metadata.types import ControllerQuorum

__all__ = ["ControllerVoters"]


class ControllerVoters:
    """Adds and removes controller voters through the metadata store."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def describe(self) -> ControllerQuorum:
        return self._store.quorum()

    async def alter(self, add: int = -1, remove: int = -1) -> None:
        """Make broker ``add`` a voter and/or demote voter ``remove`` (-1: neither)."""
        if add < 0 and remove < 0:
            raise InvalidRequestError("name a broker to add to or remove from the quorum")
        quorum = self._store.quorum()
        if set(quorum.target) != set(quorum.voters):
            raise ReassignmentInProgressError(
                f"the controller quorum is changing to {list(quorum.target)} already"
            )
        target = set(quorum.target)
        if add >= 0:
            known = {b.node_id for b in self._store.brokers()}
            if add not in known:
                raise InvalidRequestError(f"no broker {add} (the cluster has {sorted(known)})")
            if add in target:
                raise InvalidRequestError(f"broker {add} is a controller voter already")
            target.add(add)
        if remove >= 0:
            if remove not in target:
                raise InvalidRequestError(f"broker {remove} is not a controller voter")
            target.discard(remove)
        if not target:
            raise InvalidRequestError("the controller quorum needs at least one voter")
        await self._store.set_controller_voters(sorted(target))
