"""The commands of the interaction scripts (``testdata/*.txt``), over a ``Cluster``.

One command a line: a name, positional arguments and ``key=value`` options, e.g.
``add-nodes 1,2,3 voters=1,2,3 pre_vote=false`` or ``propose 1 hello count=3``.
Each command returns the text it printed; see the scripts for every command in use.

Not thread-safe; owned by one test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from replication import ConfChange, ConfChangeType, RaftError
from tests.replication.cluster import Cluster, describe_entries

__all__ = ["InteractionEnv"]

_INT_SETTINGS = {
    "election_ticks",
    "heartbeat_ticks",
    "max_inflight_appends",
    "max_append_entries",
    "max_append_bytes",
}
_BOOL_SETTINGS = {"pre_vote", "check_quorum", "apply_entries", "quiesce"}
_CHANGES = {
    "add-voter": ConfChangeType.ADD_VOTER,
    "add-learner": ConfChangeType.ADD_LEARNER,
    "remove": ConfChangeType.REMOVE,
}


def _ids(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


class InteractionEnv:
    def __init__(self) -> None:
        self.cluster = Cluster()
        self._commands: dict[str, Callable[[list[str], dict[str, str]], None]] = {
            "add-nodes": self._add_nodes,
            "campaign": lambda a, _: self.cluster.raw(int(a[0])).campaign(),
            "tick": self._tick,
            "tick-election": self._tick_election,
            "tick-heartbeat": self._tick_heartbeat,
            "process-ready": self._process_ready,
            "deliver-msgs": self._deliver,
            "stabilize": lambda a, _: self.cluster.stabilize([int(x) for x in a] or None),
            "propose": self._propose,
            "propose-conf-change": self._propose_conf_change,
            "transfer-leadership": self._transfer,
            "isolate": lambda a, _: self.cluster.isolated.add(int(a[0])),
            "heal": lambda a, _: self.cluster.isolated.clear(),
            "restart": lambda a, _: self.cluster.restart(int(a[0])),
            "compact": self._compact,
            "report-snapshot": self._report_snapshot,
            "raft-log": self._raft_log,
            "raft-state": self._raft_state,
            "status": self._status,
            "set-down": self._set_down,
        }

    def run(self, line: str) -> str:
        name, *words = line.split()
        args = [w for w in words if "=" not in w]
        opts = dict(w.split("=", 1) for w in words if "=" in w)
        command = self._commands.get(name)
        if command is None:
            raise ValueError(f"unknown command {name!r}")
        try:
            command(args, opts)
        except RaftError as err:
            self.cluster.log(f"error: {type(err).__name__}: {err}")
        lines = self.cluster.take_lines()
        return "\n".join(lines) if lines else "ok"

    # -- commands --------------------------------------------------------------------

    def _add_nodes(self, args: list[str], opts: dict[str, str]) -> None:
        settings: dict[str, Any] = {}
        for key, value in opts.items():
            if key in _INT_SETTINGS:
                settings[key] = int(value)
            elif key in _BOOL_SETTINGS:
                settings[key] = value == "true"
        voters = _ids(opts.get("voters", ""))
        learners = _ids(opts.get("learners", ""))
        self.cluster.add_nodes(_ids(args[0]), voters, learners, **settings)

    def _tick(self, args: list[str], _: dict[str, str]) -> None:
        self.cluster.tick(int(args[0]), int(args[1]) if len(args) > 1 else 1)

    def _tick_election(self, args: list[str], _: dict[str, str]) -> None:
        raft = self.cluster.raw(int(args[0]))._raft
        self.cluster.tick(int(args[0]), max(1, raft.randomized_timeout - raft.election_elapsed))

    def _tick_heartbeat(self, args: list[str], _: dict[str, str]) -> None:
        node = self.cluster.nodes[int(args[0])]
        self.cluster.tick(int(args[0]), node.config.heartbeat_ticks)

    def _process_ready(self, args: list[str], _: dict[str, str]) -> None:
        for node_id in args:
            if not self.cluster.handle_ready(int(node_id)):
                self.cluster.log(f"> {node_id} has no Ready")

    def _deliver(self, args: list[str], opts: dict[str, str]) -> None:
        to = [int(x) for x in args] or None
        if not self.cluster.deliver(to, drop=opts.get("drop") == "true"):
            self.cluster.log("no messages")

    def _propose(self, args: list[str], opts: dict[str, str]) -> None:
        raw = self.cluster.raw(int(args[0]))
        entry = raw.propose(args[1].encode(), int(opts.get("count", "1")))
        self.cluster.log(f"offsets {entry.base_offset}-{entry.last_offset} term {entry.term}")

    def _propose_conf_change(self, args: list[str], opts: dict[str, str]) -> None:
        changes = [
            ConfChange(_CHANGES[key], node)
            for key, value in opts.items()
            if key in _CHANGES
            for node in _ids(value)
        ]
        joint = {"true": True, "false": False}.get(opts.get("joint", ""))
        entry = self.cluster.raw(int(args[0])).propose_conf_change(changes, joint=joint)
        self.cluster.log(f"conf change at offset {entry.last_offset}")

    def _transfer(self, args: list[str], _: dict[str, str]) -> None:
        self.cluster.raw(int(args[0])).transfer_leadership(int(args[1]))

    def _compact(self, args: list[str], _: dict[str, str]) -> None:
        self.cluster.nodes[int(args[0])].storage.compact(int(args[1]))

    def _report_snapshot(self, args: list[str], opts: dict[str, str]) -> None:
        success = opts.get("success", "true") == "true"
        self.cluster.raw(int(args[0])).report_snapshot(int(args[1]), success=success)

    def _raft_log(self, args: list[str], _: dict[str, str]) -> None:
        node = self.cluster.nodes[int(args[0])]
        snap = node.storage.snapshot().meta
        self.cluster.log(f"log start after ({snap.offset},{snap.term})")
        self.cluster.log(describe_entries(node.storage.all_entries()))

    def _raft_state(self, _: list[str], __: dict[str, str]) -> None:
        for node_id in sorted(self.cluster.nodes):
            st = self.cluster.raw(node_id).status()
            self.cluster.log(
                f"{node_id}: {st.role.value} term={st.term} leader={st.leader} "
                f"commit={st.commit} last={st.last_offset} {st.conf}"
                + (" quiet" if st.quiesced else "")
            )

    def _set_down(self, args: list[str], _: dict[str, str]) -> None:
        """``set-down NODE [PEERS]``: what NODE's failure detector says is down now."""
        self.cluster.raw(int(args[0])).set_down_peers(frozenset(_ids(args[1] if args[1:] else "")))

    def _status(self, args: list[str], _: dict[str, str]) -> None:
        st = self.cluster.raw(int(args[0])).status()
        for node_id, pr in sorted(st.progress.items()):
            learner = " learner" if pr.is_learner else ""
            paused = " probe_sent" if pr.probe_sent else ""
            self.cluster.log(
                f"{node_id}: {pr.state.value} match={pr.match} next={pr.next}"
                f" inflight={pr.inflight}{learner}{paused}"
            )
