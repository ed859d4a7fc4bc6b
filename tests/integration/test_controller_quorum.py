"""Replacing a controller voter (issue 23) on four real brokers: the quorum starts as
brokers 0-2 (3 a learner); broker 0 dies for good (SIGKILL); `logd cluster controller
add-voter 3` then `remove-voter 0` make the quorum 1, 2, 3 -- so losing another of the
first three (broker 1, SIGKILL) still leaves a working controller: a topic is created.
(Placement still picks dead brokers: the topic is only checked to be in the metadata.)
Bad changes are refused in one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from logd.client import Admin, NewTopic
from logd.errors import InvalidRequestError
from tests.helpers import wait_until
from tests.integration.cluster import Cluster
from tests.integration.test_cli import logd, ok, one_error_line

pytestmark = pytest.mark.integration

NODES = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("quorum") / "cluster", NODES)
    try:
        c.start()
        yield c
    finally:
        c.close()


def _quorum(cluster: Cluster, node: int) -> dict[str, object]:
    out = ok(logd(cluster[node], "cluster", "controller", "status", "--format", "json"))
    return json.loads(out)  # type: ignore[no-any-return]


def _settled(cluster: Cluster, node: int, voters: list[int]) -> bool:
    q = _quorum(cluster, node)
    return q["voters"] == voters and not q["changing"] and q["leader"] in voters


def test_a_dead_voter_is_replaced_and_the_quorum_survives_another_loss(cluster: Cluster) -> None:
    first = _quorum(cluster, 3)
    assert (first["voters"], first["learners"], first["changing"]) == ([0, 1, 2], [3], False)
    assert cluster[0].kill() != 0  # for good
    bootstrap = ",".join(cluster[n].address for n in (1, 2, 3))
    with Admin(brokers=bootstrap) as admin:
        wait_until(lambda: admin.describe_cluster().controller_id in (1, 2), timeout=60,
                   message="a controller leader among 1 and 2")  # fmt: skip
        with pytest.raises(InvalidRequestError):
            admin.add_controller_voter(99)
        with pytest.raises(InvalidRequestError):
            admin.remove_controller_voter(3)  # not a voter
    said = ok(logd(cluster[1], "cluster", "controller", "add-voter", "3"))
    assert said.strip() == "broker 3: joining the controller quorum"
    wait_until(lambda: _settled(cluster, 1, [0, 1, 2, 3]), timeout=60,
               message="broker 3 to become a voter")  # fmt: skip
    ok(logd(cluster[2], "cluster", "controller", "remove-voter", "0"))
    wait_until(lambda: _settled(cluster, 2, [1, 2, 3]), timeout=60,
               message="broker 0 to leave the quorum")  # fmt: skip
    assert _quorum(cluster, 3)["learners"] == [0]  # demoted: still a member
    # Another of the first three dies: 2 and 3 are a majority of the new quorum.
    assert cluster[1].kill() != 0
    survivors = ",".join(cluster[n].address for n in (2, 3))
    with Admin(brokers=survivors) as admin:
        wait_until(lambda: admin.describe_cluster().controller_id in (2, 3), timeout=60,
                   message="a controller leader among 2 and 3")  # fmt: skip
        admin.create_topics([NewTopic("after-the-losses", 1, 2)])  # a metadata write
    for n in (2, 3):  # committed by the new quorum, known to both survivors
        with Admin(brokers=cluster[n].address) as admin:
            assert "after-the-losses" in {t.name for t in admin.list_topics()}
    line = one_error_line(logd(cluster[2], "cluster", "controller", "remove-voter", "0"))
    assert "broker 0 is not a controller voter" in line
