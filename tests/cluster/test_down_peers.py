"""Which peers a broker's groups take as down (logd/cluster/down_peers.py): pure, no I/O."""

from __future__ import annotations

from logd.cluster.down_peers import UNREACHABLE_REPEAT_S, DownPeers


def test_declared_and_unreachable_peers_are_down_and_only_changes_are_reported() -> None:
    peers = DownPeers(node_id=0, suspect_s=10.0)
    assert peers.declare(frozenset({0, 2})) == {2}  # never itself
    assert peers.declare(frozenset({2})) == frozenset()
    changed, tell = peers.lost(1, now=5.0, connected=False)
    assert (changed, tell) == ({1}, True)
    assert peers.down == {1, 2}
    assert peers.reachable(1) == {1}
    assert peers.reachable(1) == frozenset()
    assert peers.declare(frozenset()) == {2}
    assert peers.down == frozenset()


def test_a_peer_still_unreachable_is_told_at_most_once_per_repeat_interval() -> None:
    peers = DownPeers(node_id=0, suspect_s=10.0)
    assert peers.lost(1, now=1.0, connected=False) == ({1}, True)
    assert peers.lost(1, now=1.0 + UNREACHABLE_REPEAT_S / 2, connected=False) == (
        frozenset(),
        False,
    )
    assert peers.lost(1, now=1.0 + UNREACHABLE_REPEAT_S, connected=False) == (frozenset(), True)
    # Reconnecting clears the suspicion and the rate limit: the next loss is news again.
    assert peers.lost(1, now=2.5, connected=True) == ({1}, True)
    assert peers.lost(1, now=2.6, connected=False) == ({1}, True)


def test_a_suspicion_expires_unless_renewed_and_a_declared_peer_stays_down() -> None:
    peers = DownPeers(node_id=0, suspect_s=10.0)
    peers.lost(1, now=0.0, connected=False)
    peers.lost(2, now=0.0, connected=False)
    peers.declare(frozenset({2}))
    peers.lost(1, now=8.0, connected=False)  # a failed send renews the suspicion
    assert peers.expire(now=12.0) == frozenset()  # 2 expired but is still declared down
    assert peers.down == {1, 2}
    assert peers.expire(now=18.5) == {1}
    assert peers.down == {2}


def test_a_declared_peer_whose_frames_keep_arriving_is_not_down_until_they_stop() -> None:
    # A broker busy with thousands of elections heartbeats the controller late, but it is
    # alive: taking it as down woke every group it is in (issue 21).
    peers = DownPeers(node_id=0, suspect_s=10.0, alive_s=4.5)
    assert peers.heard({2}, now=10.0) == frozenset()
    assert peers.declare(frozenset({2})) == frozenset()
    assert peers.down == frozenset() and peers.spared == {2}
    assert "2 (declared down by the controller)" in peers.describe()
    assert peers.heard({2}, now=14.0) == frozenset()  # still talking: still spared
    assert peers.expire(now=18.4) == frozenset()
    assert peers.expire(now=18.6) == {2}  # silent for alive_s: down now
    assert peers.down == {2} and peers.spared == frozenset()
    assert peers.heard({2}, now=19.0) == {2}  # it speaks again
    assert peers.down == frozenset()


def test_a_full_send_queue_is_no_news_from_a_peer_heard_but_a_broken_stream_is() -> None:
    peers = DownPeers(node_id=0, suspect_s=10.0, alive_s=4.5)
    peers.heard({1}, now=1.0)
    changed, tell = peers.lost(1, now=2.0, connected=False, slow=True, why="9 queued")
    assert (changed, tell, peers.down) == (frozenset(), False, frozenset())
    assert "send queue full: 9 queued" in peers.describe()
    assert peers.expire(now=5.6) == {1}  # nothing heard for alive_s: a stalled peer
    assert peers.heard({1}, now=6.0) == {1}
    # A killed broker's connections end with it: down at once, however recently heard.
    changed, tell = peers.lost(1, now=6.1, connected=False, why="stream failed")
    assert (changed, tell, peers.down) == ({1}, True, {1})


def test_the_controller_takes_no_peer_as_silent_while_it_reads_nobody() -> None:
    # The controller fell behind reading every stream (issue 21, 10,000 partitions): by
    # wall time both peers look silent, but nobody was heard after them -- no proof.
    peers = DownPeers(node_id=0, suspect_s=10.0, alive_s=4.5)
    peers.heard({1, 2}, now=10.0)
    assert peers.alive(now=60.0) == frozenset()  # by time alone
    assert peers.not_silent(now=60.0) == {1, 2}
    # Reading resumes: 2's frames arrive, 1's do not -- 1 is silent now, 2 is not.
    peers.heard({2}, now=61.0)
    assert peers.not_silent(now=61.0) == {2}
