"""Kafka's checkpoint format and the leader-epoch cache, in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from logd.storage import checkpoint
from logd.storage.epochs import UNDEFINED_EPOCH, LeaderEpochCache

NOWHERE = Path("/nonexistent/leader-epoch-checkpoint")


def test_checkpoint_round_trip_matches_kafkas_layout() -> None:
    data = checkpoint.encode([(3, 0), (5, 1200)])
    assert data == b"0\n2\n3 0\n5 1200\n"
    assert checkpoint.decode(data, 2) == [(3, 0), (5, 1200)]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"0\n",
        b"1\n0\n",  # unknown version
        b"0\n2\n3 0\n",  # count disagrees
        b"0\n1\n3 0",  # torn: no final newline
        b"0\n1\n3 x\n",
        b"0\n1\n3 0 7\n",  # wrong width
        b"0\n1\n3  0\n",
        b"\xff\xfe",
        b"0\n99999999\n",
    ],
)
def test_checkpoint_decode_rejects_anything_malformed(data: bytes) -> None:
    assert checkpoint.decode(data, 2) is None


def cache(*entries: tuple[int, int]) -> LeaderEpochCache:
    return LeaderEpochCache(NOWHERE, list(entries))


def test_epoch_at_finds_the_term_of_an_offset() -> None:
    epochs = cache((1, 0), (3, 10), (4, 25))
    assert epochs.epoch_at(0) == 1
    assert epochs.epoch_at(9) == 1
    assert epochs.epoch_at(10) == 3
    assert epochs.epoch_at(10**6) == 4
    assert cache((2, 5)).epoch_at(4) is None


def test_end_offset_for_epoch_follows_kafka() -> None:
    epochs = cache((1, 0), (3, 10), (4, 25))
    assert epochs.end_offset_for(4, log_end_offset=40) == (4, 40)  # latest: the log end
    assert epochs.end_offset_for(3, 40) == (3, 25)
    assert epochs.end_offset_for(2, 40) == (1, 10)  # unknown epoch: the one below it
    assert epochs.end_offset_for(0, 40) == (0, 0)  # below all: where the first starts
    assert epochs.end_offset_for(9, 40) == (UNDEFINED_EPOCH, -1)
    assert cache().end_offset_for(1, 0) == (UNDEFINED_EPOCH, -1)


def test_truncation_from_either_end() -> None:
    epochs = cache((1, 0), (3, 10), (4, 25))
    epochs.truncate_from_end(25)
    assert epochs.entries == [(1, 0), (3, 10)]
    epochs.truncate_from_start(12)
    assert epochs.entries == [(3, 12)]  # the epoch holding the new start begins there
    epochs.truncate_from_start(12)
    assert epochs.entries == [(3, 12)]


def test_assign_ignores_the_current_epoch_and_refuses_to_go_back() -> None:
    epochs = cache((1, 0))
    assert not epochs.assign(1, 7)
    assert epochs.assign(2, 8)
    with pytest.raises(AssertionError):
        epochs.assign(1, 9)


def test_a_new_epoch_where_an_empty_one_starts_replaces_it() -> None:
    # The log start moved past the last entry (a snapshot compacted everything): epoch 1
    # "starts" at 10009 and holds nothing; a new leader's first entry lands there.
    epochs = cache((1, 0))
    epochs.truncate_from_start(10009)
    assert epochs.entries == [(1, 10009)]
    assert epochs.assign(2, 10009)
    assert epochs.entries == [(2, 10009)]
    with pytest.raises(AssertionError):
        epochs.assign(3, 10008)  # below the latest start: still a bug
