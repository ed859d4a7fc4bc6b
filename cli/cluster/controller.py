"""``logd cluster controller add-voter|remove-voter|status``: change the controller quorum
(issue 23; KRaft's ``kafka-metadata-quorum add-controller/remove-controller``). The quorum
starts as the first three brokers; to replace a voter that died for good, add a live broker,
then remove the dead one: the quorum again survives the loss of any one voter. A removed
voter stays a learner (it keeps the metadata). Each returns once the new quorum is in the
metadata; ``status`` shows the voters now and the quorum being reached."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.cluster.broker import add_node_arguments, on_broker
from cli.common import open_admin

__all__ = ["add_node_arguments", "add_status_arguments", "run_add", "run_remove", "run_status"]


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no arguments


def run_add(app: App, args: argparse.Namespace) -> int:
    from logd.client import Admin  # here: `logd --help` loads no client (grpc)

    return on_broker(app, args.node_id, Admin.add_controller_voter,
                     "joining the controller quorum")  # fmt: skip


def run_remove(app: App, args: argparse.Namespace) -> int:
    from logd.client import Admin

    return on_broker(app, args.node_id, Admin.remove_controller_voter,
                     "leaving the controller quorum (it stays a learner)")  # fmt: skip


def run_status(app: App, args: argparse.Namespace) -> int:
    del args
    admin = open_admin(app)
    try:
        q = admin.describe_controller_quorum()
    finally:
        admin.close()
    if app.output_format == "json":
        changing = set(q.target) != set(q.voters)
        app.json({"leader": q.leader_id, "voters": list(q.voters), "learners": list(q.learners),
                  "target": list(q.target), "changing": changing})  # fmt: skip
        return status.OK

    def ids(values: tuple[int, ...]) -> str:
        return ",".join(map(str, values)) or "-"

    app.print(f"leader: {q.leader_id if q.leader_id >= 0 else 'none'}")
    app.print(f"voters: {ids(q.voters)}")
    app.print(f"learners: {ids(q.learners)}")
    if set(q.target) != set(q.voters):
        app.print(f"changing to: {ids(q.target)}")
    return status.OK
