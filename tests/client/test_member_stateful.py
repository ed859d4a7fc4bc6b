"""Random lives of three group members against the pure coordinator (``group_pair``).

Members subscribe and unsubscribe, pause (no heartbeats), stop polling, commit, restart;
the coordinator moves; time passes -- in any order Hypothesis picks. After every step no
machine has taken a transition outside its table and every member's view is coherent (a
stable member holds a generation; nothing owned without a subscription). At the end every
member is healed (running, polling, subscribed or not as it chose) and time runs: the group
settles with the subscribed members splitting the topic evenly and nobody else owning
anything -- whatever happened before.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from logd.client.group.member_state import MemberState
from tests.client.group_pair import HEARTBEAT_MS, Member, Pair

S = MemberState
PARTITIONS = 6
NAMES = ("a", "b", "c")
OPTIONS = {"max_poll_interval_ms": 20_000, "session_timeout_ms": 10_000}


class Lives(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pair = Pair({"t": PARTITIONS})
        self.members = {name: self.pair.member(name, **OPTIONS) for name in NAMES}
        self.subscribed: set[str] = set()

    def _restart(self, name: str) -> Member:
        """The process of ``name`` is replaced (its old machine no longer runs)."""
        old = self.members[name]
        self.pair.members.remove(old)
        new = self.members[name] = self.pair.member(name, **OPTIONS)
        self.subscribed.discard(name)
        return new

    @rule(name=st.sampled_from(NAMES))
    def subscribe(self, name: str) -> None:
        self.members[name].subscribe("t")
        self.subscribed.add(name)

    @rule(name=st.sampled_from(NAMES))
    def unsubscribe(self, name: str) -> None:
        member = self.members[name]
        if member.frozen or member.state is S.UNSUBSCRIBED:
            return
        member.unsubscribe()
        self.subscribed.discard(name)

    @rule(name=st.sampled_from(NAMES), frozen=st.booleans())
    def pause(self, name: str, frozen: bool) -> None:
        self.members[name].frozen = frozen

    @rule(name=st.sampled_from(NAMES), polling=st.booleans())
    def polls(self, name: str, polling: bool) -> None:
        member = self.members[name]
        if polling and not member.polling:
            member.poll_again()
        elif not polling and member.polling:
            member.stop_polling()

    @rule(name=st.sampled_from(NAMES))
    def commit(self, name: str) -> None:
        member = self.members[name]
        if not member.frozen and member.owned:
            member.commit(dict.fromkeys(member.owned, 1))

    @rule(name=st.sampled_from(NAMES))
    def restart(self, name: str) -> None:
        self._restart(name)

    @rule()
    def move_coordinator(self) -> None:
        self.pair.move_coordinator()

    @rule(steps=st.integers(1, 40))  # some steps, not necessarily to rest
    def run(self, steps: int) -> None:
        for _ in range(steps):
            moved = [m.step() for m in self.pair.members]  # every member steps
            if not any(moved):
                break

    @rule(ms=st.sampled_from([HEARTBEAT_MS, 3 * HEARTBEAT_MS, 11_000, 25_000]))
    def advance(self, ms: int) -> None:
        self.pair.advance(ms)

    @invariant()
    def views_are_coherent(self) -> None:
        for member in self.pair.members:
            m = member.machine
            if m.state is S.STABLE:
                assert m.generation >= 0 and m.member_id
            if m.state is S.UNSUBSCRIBED:
                assert not m.owned
            assert (
                m.state in (S.JOIN_DUE, S.STABLE)
                or m.next_step() is not None
                or (m.state in (S.UNSUBSCRIBED, S.POLL_TIMED_OUT, S.FATAL))
            )

    def teardown(self) -> None:
        for member in self.pair.members:
            member.frozen = False
            if not member.polling:
                member.poll_again()
        for _ in range(20):
            self.pair.settle()
            self.pair.advance(2 * HEARTBEAT_MS)
            if self._settled():
                break
        assert self._settled(), [(m.name, m.state, sorted(m.owned)) for m in self.pair.members]

    def _settled(self) -> bool:
        pair = self.pair
        pair.settle()
        live = [m for m in pair.members if m.name in self.subscribed]
        others = [m for m in pair.members if m.name not in self.subscribed]
        if any(m.state is not S.STABLE for m in live) or any(m.owned for m in others):
            return False
        owned = [m.owned for m in live]
        everything = {("t", p) for p in range(PARTITIONS)}
        return not live or (
            set().union(*owned) == everything
            and sum(len(o) for o in owned) == PARTITIONS
            and max(len(o) for o in owned) - min(len(o) for o in owned) <= 1
        )


Lives.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_members_settle_whatever_happened = Lives.TestCase
