"""The logs of one data directory (Kafka's ``LogManager``).

Layout: ``<data-dir>/<topic>-<partition>/`` per partition (DESIGN.md "On disk"), plus:

* ``.lock`` — held with an exclusive ``fcntl.flock`` while a manager is open, so two brokers
  can never share one directory (the lock dies with the process, so a crash never leaves a
  stale one; the file holds the owner's pid for the error message);
* ``.logd_cleanshutdown`` — written by :meth:`LogManager.close` after every log closed
  cleanly, removed by :meth:`LogManager.open` once loaded: its absence at open means the
  logs must be recovered (Kafka's ``.kafka_cleanshutdown``);
* a ``LogCleaner`` thread (``logd.storage.cleaner``) compacts the logs whose
  ``cleanup.policy`` includes ``compact``, from :meth:`LogManager.open` to :meth:`close`;
* ``<topic>-<partition>.<id>-delete/`` — a partition being deleted: the rename is atomic,
  so a crash half-way through the removal never leaves a half-deleted partition to load.

A topic name reaches the filesystem only through :func:`validate_topic_name`, and every
partition path is checked to lie directly inside the data directory.

Thread-safety: meant to be driven from one thread (the broker's event loop); a lock guards
the table of logs so another thread may list them.  The logs follow ``Log``'s own rules.
The flusher, if given, is the caller's: the manager registers logs with it, never stops it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from logd.clock import Clock, SystemClock
from logd.errors import (
    InvalidPartitionsError,
    InvalidTopicError,
    KafkaStorageError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from logd.storage.cleaner import CleanerConfig, LogCleaner
from logd.storage.config import LogConfig
from logd.storage.faults import check_write
from logd.storage.files import fsync_dir, write_all
from logd.storage.flusher import Flusher
from logd.storage.io_errors import storage_error
from logd.storage.log import Log
from logd.storage.space import (
    DiskSpace,
    DiskUsage,
    SpaceMonitor,
    SpaceSettings,
    SpaceState,
    format_bytes,
)

__all__ = [
    "CLEAN_SHUTDOWN_FILE",
    "LOCK_FILE",
    "LogManager",
    "parse_partition_dir",
    "partition_dir_name",
    "validate_topic_name",
]

_log = logging.getLogger(__name__)

LOCK_FILE: Final = ".lock"
CLEAN_SHUTDOWN_FILE: Final = ".logd_cleanshutdown"
_DELETE_SUFFIX: Final = "-delete"
_TOPIC: Final = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_PARTITION_DIR: Final = re.compile(r"([a-zA-Z0-9._-]{1,249})-(0|[1-9][0-9]{0,9})")
_PARTITION_MAX: Final = (1 << 31) - 1


def _say_space_changed(usage: DiskUsage) -> None:
    if usage.state is SpaceState.FULL:
        _log.error("%s: client writes are refused until space returns", usage.reason)
    elif usage.state is SpaceState.LOW:
        _log.warning("%s", usage.reason)
    else:
        _log.info("disk %s has space again (%s free): writes accepted",
                  usage.path, format_bytes(usage.free_bytes))  # fmt: skip


def validate_topic_name(topic: str) -> None:
    """Raise InvalidTopicError unless ``topic`` is ``[a-zA-Z0-9._-]{1,249}`` and not . or .."""
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic) or topic in (".", ".."):
        shown = topic if isinstance(topic, str) and len(topic) <= 60 else f"{str(topic)[:60]}..."
        raise InvalidTopicError(
            f"invalid topic name {shown!r}: use 1 to 249 of a-z A-Z 0-9 . _ - (not . or ..)"
        )


def partition_dir_name(topic: str, partition: int) -> str:
    validate_topic_name(topic)
    if type(partition) is not int or not 0 <= partition <= _PARTITION_MAX:
        raise InvalidPartitionsError(f"invalid partition {partition!r}")
    return f"{topic}-{partition}"


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    """(topic, partition) of a partition directory name, None for anything else."""
    match = _PARTITION_DIR.fullmatch(name)
    if match is None or match.group(1) in (".", ".."):
        return None
    partition = int(match.group(2))
    return (match.group(1), partition) if partition <= _PARTITION_MAX else None


class LogManager:
    """Opens, creates, deletes and closes the partition logs of one data directory."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        config: LogConfig | None = None,
        clock: Clock | None = None,
        flusher: Flusher | None = None,
        cleaner: CleanerConfig | None = None,
        space: SpaceSettings | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.default_config = config or LogConfig()
        self._clock = clock or SystemClock()
        self._flusher = flusher
        self._logs: dict[tuple[str, int], Log] = {}
        self._table_lock = threading.Lock()
        self._lock_fd: int | None = None
        #: Whether the previous shutdown was clean (known after :meth:`open`).
        self.had_clean_shutdown = False
        #: Compacts the logs whose cleanup.policy says so; runs while the manager is open.
        self.cleaner = LogCleaner(lambda: self.logs().values(), cleaner, self._clock)
        #: The free space of the data directory's disk, sampled while the manager is open.
        self.space = DiskSpace(self.data_dir, space)
        self._monitor = SpaceMonitor(self.space)
        self.space.add_listener(_say_space_changed)

    # -- open / close --------------------------------------------------------------------

    def open(self, topic_configs: Mapping[str, LogConfig] | None = None) -> None:
        """Lock the directory and open every partition in it (recovering if needed)."""
        assert self._lock_fd is None, "already open"
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = self._acquire_lock()
            marker = self.data_dir / CLEAN_SHUTDOWN_FILE
            self.had_clean_shutdown = marker.exists()
            for entry in sorted(os.scandir(self.data_dir), key=lambda e: e.name):
                self._open_entry(entry, topic_configs or {})
            if self.had_clean_shutdown:
                # From here on, a crash must trigger recovery again.
                marker.unlink()
                fsync_dir(self.data_dir)
            self._monitor.start()
            self.cleaner.start()
        except BaseException as exc:
            self._abandon_open()
            if isinstance(exc, OSError):
                raise KafkaStorageError(
                    f"cannot open data directory {self.data_dir}: {exc}"
                ) from exc
            raise

    def _abandon_open(self) -> None:
        """A partition failed to open: close the ones that did, promise nothing, unlock."""
        self._monitor.stop()
        with self._table_lock:
            logs = list(self._logs.values())
            self._logs.clear()
        for log in logs:
            if self._flusher is not None:
                self._flusher.unregister(log)
            log.close()
        self._release_lock()

    def _open_entry(self, entry: os.DirEntry[str], topic_configs: Mapping[str, LogConfig]) -> None:
        if not entry.is_dir(follow_symlinks=False):
            return
        if entry.name.endswith(_DELETE_SUFFIX):
            shutil.rmtree(entry.path)  # a deletion that a crash interrupted
            return
        parsed = parse_partition_dir(entry.name)
        if parsed is None:
            _log.warning("ignoring %s: not a <topic>-<partition> directory", entry.path)
            return
        config = topic_configs.get(parsed[0], self.default_config)
        log = Log.open(
            Path(entry.path), config, self._clock, clean_shutdown=self.had_clean_shutdown
        )
        if log.truncated_on_open:
            _log.warning("%s: recovery cut %d bytes", entry.name, log.truncated_on_open)
        self._adopt(parsed, log)

    def _acquire_lock(self) -> int:
        path = self.data_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise KafkaStorageError(
                    f"data directory {self.data_dir} is in use by another broker "
                    f"(pid {holder} holds {path})"
                ) from None
            raise
        os.ftruncate(fd, 0)
        write_all(fd, f"{os.getpid()}\n".encode())
        return fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def close(self) -> None:
        """Close every log; mark the shutdown clean only if every log closed cleanly."""
        if self._lock_fd is None:
            return
        self.cleaner.stop()
        self._monitor.stop()
        with self._table_lock:
            logs = list(self._logs.values())
            self._logs.clear()
        clean = True
        try:
            for log in logs:
                if self._flusher is not None:
                    self._flusher.unregister(log)
                log.close()
                if log.offline_reason is not None:
                    _log.error("%s closed offline: %s", log.name, log.offline_reason)
                    clean = False
            if clean:
                marker = self.data_dir / CLEAN_SHUTDOWN_FILE
                fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                fsync_dir(self.data_dir)
        finally:
            self._release_lock()

    def __enter__(self) -> LogManager:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- partitions ----------------------------------------------------------------------

    def _partition_path(self, topic: str, partition: int) -> Path:
        path = self.data_dir / partition_dir_name(topic, partition)
        # Defense in depth: the name check already rules out separators and dot-names.
        if path.parent != self.data_dir or path.name in (".", ".."):
            raise InvalidTopicError(f"invalid topic name {topic!r}")
        return path

    def _adopt(self, key: tuple[str, int], log: Log) -> None:
        log.space = self.space
        if self._flusher is not None:
            self._flusher.register(log)
            log.on_roll = self._flusher.schedule
        with self._table_lock:
            self._logs[key] = log

    def create(
        self, topic: str, partition: int, config: LogConfig | None = None, *, exist_ok: bool = False
    ) -> Log:
        """Create the partition's log; TopicAlreadyExistsError if it exists (unless exist_ok)."""
        self._check_open()
        path = self._partition_path(topic, partition)
        with self._table_lock:
            existing = self._logs.get((topic, partition))
        if existing is not None:
            if exist_ok:
                return existing
            raise TopicAlreadyExistsError(f"partition {topic}-{partition} already exists")
        try:
            check_write(path)
            path.mkdir()
        except FileExistsError:
            if not exist_ok or any(path.iterdir()):
                raise TopicAlreadyExistsError(f"{path} exists but is not an open log") from None
            # An empty directory: a creation that failed half-way (a full disk) left it.
        except OSError as exc:
            raise storage_error("creating the partition directory", exc, path) from exc
        try:
            fsync_dir(self.data_dir)
            log = Log.open(path, config or self.default_config, self._clock)
        except (OSError, KafkaStorageError) as exc:
            # Leave nothing behind: the next attempt starts from scratch.
            shutil.rmtree(path, ignore_errors=True)
            if isinstance(exc, OSError):
                raise storage_error("creating the partition directory", exc, path) from exc
            raise
        self._adopt((topic, partition), log)
        return log

    def reopen(self, topic: str, partition: int, *, to_recovery_point: bool) -> Log:
        """Replace an offline log by a fresh one opened from its files, with recovery (the
        torn tail of a failed append is cut). ``to_recovery_point``: also drop everything
        past the last offset known durable -- after a failed fsync the page cache may hold
        what the disk does not (no retry of a failed fsync), so a replica takes it again
        from its leader. Raises KafkaStorageError when the files cannot be opened."""
        self._check_open()
        old = self.get(topic, partition)
        point = old.recovery_point
        if self._flusher is not None:
            self._flusher.unregister(old)
        old.close()  # offline: closes the files without writing
        log = Log.open(old.directory, old.config, self._clock, clean_shutdown=False)
        try:
            if to_recovery_point and point < log.log_end_offset:
                log.truncate_to(max(point, log.log_start_offset))
        except KafkaStorageError:
            log.close()
            raise
        self._adopt((topic, partition), log)
        return log

    def get(self, topic: str, partition: int) -> Log:
        with self._table_lock:
            log = self._logs.get((topic, partition))
        if log is None:
            raise UnknownTopicOrPartitionError(f"this broker has no log for {topic}-{partition}")
        return log

    def logs(self) -> dict[tuple[str, int], Log]:
        with self._table_lock:
            return dict(self._logs)

    def delete(self, topic: str, partition: int) -> None:
        """Delete the partition's log and its directory."""
        self._check_open()
        with self._table_lock:
            log = self._logs.pop((topic, partition), None)
        if log is None:
            raise UnknownTopicOrPartitionError(f"this broker has no log for {topic}-{partition}")
        if self._flusher is not None:
            self._flusher.unregister(log)
        tomb = self.data_dir / f"{log.directory.name}.{uuid.uuid4().hex}{_DELETE_SUFFIX}"
        try:
            os.rename(log.directory, tomb)
            fsync_dir(self.data_dir)
            log.discard()
            shutil.rmtree(tomb)
        except OSError as exc:
            raise storage_error("deleting the partition", exc, log.directory) from exc

    def _check_open(self) -> None:
        if self._lock_fd is None:
            raise KafkaStorageError(f"the log manager of {self.data_dir} is not open")
