"""Writing a Ready and making it durable: the driver's step 3 (write the log and side
file, page cache only) and the fsync round that follows it (see ``driver.py`` for the pass).

One round per pass asks, in one go, the storage Flusher to fsync every log and side file
written (group commit across groups: one request per file, however many Readys and
proposals it covers), and the broker's hard-state journal once for every group whose term or
vote changed (``hardstate.py``: elections of thousands of groups cost one fsync, not two per
group; the journal syncs on its own thread, so votes never queue behind log fsyncs). Each
group is finished (``RaftDriver._finish``) as soon as its own files are durable
(``sync_round.py``) -- and only then.

Failures (issue 24). A write that fails and was undone by the log (a full disk: the log
cuts off what it wrote in part and stays online) keeps the Ready in flight *unwritten* and is
tried again -- after ``WRITE_RETRY_MIN_S``, doubling up to ``WRITE_RETRY_MAX_S`` (``group.py``)
-- like a replica with a very slow disk: it acknowledges nothing it has not persisted, said
once per episode in the log, no traceback. A retry skips the entries the failed attempt did
write. While the broker's disk is below its free-space reserve (``space_full``), a
follower's Ready holding data entries is *held back* the same way (the reserve is for the
metadata log, Raft's own entries, checkpoints and recovery), so a full follower drops out
of the quorum instead of filling its disk; the controller's group is exempt. A failed write
is told to the listener (``on_write_failed``, once per episode): a partition's leader hands
its leadership over rather than hold the partition while its disk fails. A failed fsync,
or a write that could not be undone, takes the log offline (storage's rule: no retry after a
failed fsync): the group stops for good and its listener hears ``on_storage_error`` (the
partition's replica reopens the log and rejoins as a replica that lost data).

Fsync policy (issue 22, decided by the lead). The broker's ``--fsync`` policy applies to
the partition logs written through Raft too, as Redpanda's write caching and Kafka's
default ``log.flush.*`` settings do. ``always`` (the default): a Ready's log entries are
fsynced before the replica acknowledges or counts them. ``interval`` and ``never``: they
count as persisted once written to the file (the page cache), so acks=all means "a
majority has them in memory": that survives a process crash (SIGKILL), not a power loss of
a majority. The Flusher flushes every registered log every ``flush.interval.ms`` under
``interval`` (the storage manager registers every partition log), and leaves it to the OS
and shutdown under ``never``. Under every policy the hard state (journal and side file:
a lost vote breaks election safety), the controller's metadata group (the one ``exempt``
group), snapshots and truncations stay fsynced (:meth:`ReadyWriter.syncs_log`). A Ready
with nothing to fsync is finished in the pass, as one whose commit alone moved.

Ownership: one per driver, on the broker's event loop; the Flusher and the journal answer
from their threads through ``call_soon_threadsafe`` (``SyncRound``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable

from logd.cluster.group import WRITE_RETRY_MAX_S, WRITE_RETRY_MIN_S, RaftGroup
from logd.cluster.hardstate import HardStateJournal
from logd.cluster.sync_round import SyncRound
from logd.errors import KafkaStorageError, LogdError
from logd.storage import Flusher
from logd.storage.flusher import Flushable, FlushPolicy
from replication import EntryKind, Ready, Role

__all__ = ["ReadyWriter", "syncs_log"]

_log = logging.getLogger("logd.cluster.driver")


def syncs_log(policy: FlushPolicy, rd: Ready, *, exempt: bool) -> bool:
    """Whether ``rd``'s log writes wait for an fsync: all of them under ``always``; under
    ``interval`` and ``never`` only snapshots, truncations and the ``exempt`` group's
    (the controller's metadata log); a Ready that writes nothing to the log, never
    (module doc)."""
    if rd.snapshot is not None or rd.truncate_to is not None:
        return True
    if not rd.entries:
        return False
    return policy is FlushPolicy.ALWAYS or exempt


class ReadyWriter:
    """Writes Readys, retries the failed and held back ones, runs the fsync rounds."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        flusher: Flusher,
        space_full: Callable[[], bool],
        *,
        finish: Callable[[RaftGroup, Ready], None],
        flush: Callable[[], None],
        index_peers: Callable[[RaftGroup], None],
    ) -> None:
        self._loop = loop
        self._flusher = flusher
        #: Whether the disk is below its free-space reserve (followers hold back data).
        self.space_full = space_full
        #: Steps 6-8 of a durable Ready, and sending what they queued (the driver's).
        self._finish = finish
        self._flush = flush
        #: A write changed the group's members (a snapshot, a truncation, a configuration).
        self._index_peers = index_peers
        #: Groups whose Ready in flight is not written yet (failed, or held back).
        self.retrying: set[RaftGroup] = set()
        #: Completed fsync rounds (tests and metrics).
        self.sync_rounds = 0

    def write(self, group: RaftGroup, rd: Ready, *, retry: bool) -> bool:
        """Step 3: the Ready's writes. False when held back, failed and to be retried (the
        Ready stays in flight, unwritten), or failed for good (the log is offline)."""
        if self._holds_back(group, rd):
            self._write_later(group, rd, "the disk is below its free-space reserve")
            return False
        try:
            group.storage.write(rd, retry=retry)
        except LogdError as exc:
            if group.storage.log.offline_reason is None:
                self._write_later(group, rd, str(exc), failed=True)
                return False
            _log.error("%s: cannot write the Raft log (%s); the log is offline and the "
                       "replica stops until it is reopened", group.name, exc)  # fmt: skip
            group.failed = True
            group.hold(rd)
            group.unwritten = False
            group.listener.on_storage_error(exc)
            return False
        if (rd.snapshot is not None or rd.truncate_to is not None
                or any(e.kind is EntryKind.CONF_CHANGE for e in rd.entries)):  # fmt: skip
            self._index_peers(group)
        if group.write_error is not None:
            _log.info("%s: the Raft log is written again", group.name)
        group.unwritten, group.write_error, group.retry_s = False, None, WRITE_RETRY_MIN_S
        group.write_failed = False
        self.retrying.discard(group)
        return True

    def _holds_back(self, group: RaftGroup, rd: Ready) -> bool:
        """A follower's data entries while the disk is below its reserve (module doc);
        Raft's own entries (a new leader's, a configuration) still go into the reserve, so
        a cluster whose disks are all full can still elect and commit them."""
        if group.exempt or group.node.role is Role.LEADER:
            return False
        if not any(e.kind is EntryKind.NORMAL for e in rd.entries):
            return False
        return self.space_full()

    def _write_later(self, group: RaftGroup, rd: Ready, why: str, *, failed: bool = False) -> None:
        group.hold(rd)
        episode = not group.unwritten or group.write_error != why
        if episode:
            _log.warning("%s: the Raft log is not written (%s); trying again every %.0f ms "
                         "at most", group.name, why, WRITE_RETRY_MAX_S * 1000)  # fmt: skip
        group.unwritten, group.write_error, group.write_failed = True, why, failed
        group.retry_at = self._loop.time() + group.retry_s
        group.retry_s = min(group.retry_s * 2, WRITE_RETRY_MAX_S)
        self.retrying.add(group)
        if failed and episode:
            group.listener.on_write_failed(why)

    def retry_due(self) -> None:
        """Writes that failed or were held back, tried again once their backoff passed."""
        if not self.retrying:
            return
        now = self._loop.time()
        for group in [g for g in self.retrying if now >= g.retry_at]:
            self._retry_write(group)

    def _retry_write(self, group: RaftGroup) -> None:
        rd = group.inflight
        if rd is None or group.closed or group.failed:
            self.retrying.discard(group)
            return
        if not self.write(group, rd, retry=True):
            return
        if rd.must_sync:
            self.sync([(group, rd)])
        else:
            self.durable(group, rd)

    def durable(self, group: RaftGroup, rd: Ready) -> None:
        """``rd`` is durable: finish it and every Ready after it that is durable too, in
        the order they were taken -- never one before an earlier one (driver.py)."""
        for done in group.take_durable(rd):
            if group.closed or group.failed:
                return
            self._finish(group, done)

    def sync(self, batch: list[tuple[RaftGroup, Ready]]) -> None:
        """Ask for the fsyncs of every file this pass wrote: the hard-state journal once
        (on its own thread: votes never queue behind log fsyncs), each log and side file
        once; each group is finished as soon as its own files are durable (sync_round.py)."""
        journals: dict[HardStateJournal, concurrent.futures.Future[int]] = {}
        waits_for: list[list[concurrent.futures.Future[int]]] = []
        files: list[Flushable] = []
        owners: list[list[concurrent.futures.Future[int]]] = []
        for group, rd in batch:
            futures: list[concurrent.futures.Future[int]] = []
            waits_for.append(futures)
            state_file = group.storage.state_file
            journal = state_file.take_journaled()
            if journal is not None:
                if journal not in journals:
                    journals[journal] = journal.request()
                futures.append(journals[journal])
            if state_file.dirty:
                files.append(state_file)
                owners.append(futures)
            if self.syncs_log(group, rd):
                files.append(group.storage.log)
                owners.append(futures)
        # One request for the whole pass (one lock, one wake-up of the flusher's thread).
        for futures, future in zip(owners, self._flusher.request_all(files), strict=True):
            futures.append(future)
        waits: SyncRound[tuple[RaftGroup, Ready]] = SyncRound(self._loop, self._synced)
        for (group, rd), futures in zip(batch, waits_for, strict=True):
            if futures:
                waits.add((group, rd), futures)
            else:  # nothing to fsync (the policy; module doc): durable as written
                self.durable(group, rd)
        waits.start()

    def syncs_log(self, group: RaftGroup, rd: Ready) -> bool:
        """Whether ``rd``'s log writes wait for an fsync (:func:`syncs_log`)."""
        return syncs_log(self._flusher.policy, rd, exempt=group.exempt)

    def _synced(self, durable: list[tuple[tuple[RaftGroup, Ready], BaseException | None]]) -> None:
        self.sync_rounds += 1
        for (group, rd), error in durable:
            if group.closed or group.failed or not group.holds(rd):
                continue
            log = group.storage.log
            journal = group.storage.state_file.journal
            if log.offline_reason is not None:
                # A failed fsync: never acknowledge what may not be on disk (storage's
                # rule: the log is offline); its owner reopens it from its files.
                _log.error("%s: fsync failed (%s); the log is offline and the replica stops "
                           "until it is reopened", group.name, log.offline_reason)  # fmt: skip
                group.failed = True
                group.listener.on_storage_error(KafkaStorageError(log.offline_reason))
                continue
            if journal is not None and journal.failed is not None:
                # The hard-state journal stopped for good (it could not be reopened): no
                # vote of this broker can be made durable; to its peers the replica is dead.
                _log.error("%s: %s; the replica stops", group.name, journal.failed)
                group.failed = True
                continue
            if error is not None:
                # The side file or the journal failed (undid its write, or -- a failed
                # fsync of the journal -- rewrites it at its next flush), and the log did
                # not: persist the Ready again later; nothing it promises leaves before.
                # Only a Ready alone in flight writes those files (the core hands out no
                # other beside one that changes term, vote or configuration).
                group.storage.state_file.journal_again()
                if len(group.flight) > 1:
                    _log.error("%s: %s beside other writes in flight; the replica stops",
                               group.name, error)  # fmt: skip
                    group.failed = True
                    group.listener.on_storage_error(KafkaStorageError(str(error)))
                    continue
                self._write_later(group, rd, str(error), failed=True)
                continue
            self.durable(group, rd)
        self._flush()
