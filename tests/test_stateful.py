"""Hypothesis drives the model alone through random operation sequences — hostile
arguments included — and checks every invariant (spec/invariants.md) after every step,
plus GEN-1 (nothing raises, a status always comes back) and GEN-2 (a failed operation
leaves the state unchanged)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from exo.interface import NUM_EXCEPTIONS, OPERATIONS, Cap, Config, Status
from exo.kit.explore import PROGRAMS, two_running_envs
from exo.logic import ConMap
from exo.model import REGISTRY, State, initial
from exo.spec.invariants import INVARIANTS

CFG = Config(n_envs=3, n_pages=4, page_words=2, tlb_size=2, stlb_size=4, n_cids=4,
             n_slices=3, n_guaranteed=2, n_regs=2, slice_ticks=2, excess_limit=1,
             addr_limit=1 << 16)

HOSTILE = st.sampled_from([-1, -(2**63), 2**64, 10**9])


def index(n: int) -> st.SearchStrategy[int]:
    """Mostly a valid index below ``n``, sometimes one out of range or absurd."""
    return st.one_of(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, n - 1),
                     st.integers(-2, n + 1), HOSTILE)


ARG: dict[str, st.SearchStrategy[Any]] = {
    "env": index(CFG.n_envs), "grantee": index(CFG.n_envs), "callee": index(CFG.n_envs),
    "page": index(CFG.n_pages), "vpage": index(4), "offset": index(CFG.page_words),
    "reg": index(CFG.n_regs), "cid": index(CFG.n_cids), "slot": index(CFG.n_guaranteed),
    "slice": index(CFG.n_slices), "exc": index(NUM_EXCEPTIONS), "which": index(2),
    "rights": index(3), "resource": index(3), "target": index(4),
    "filter": index(CFG.n_filters),
    "program": st.sampled_from(PROGRAMS),
    "packet": st.binary(max_size=6),
    "entry": st.sampled_from([-1, 0x100, 0x200, -7, 2**40]),
    "value": st.integers(-(2**40), 2**40), "deadline": st.integers(-1, 12),
}


class ModelMachine(RuleBasedStateMachine):
    """The model alone, one operation per step."""

    caps = Bundle("caps")

    def __init__(self) -> None:
        super().__init__()
        self.state: State = initial(CFG)

    @initialize(populated=st.booleans())
    def boot(self, populated: bool) -> None:
        """Boot; usually also create two environments with every entry point registered,
        each owning a slice, the first one running — so later steps reach deep states."""
        self.state = initial(CFG)
        if not populated:
            return
        for name, args in two_running_envs():
            assert self._apply(name, args).status == Status.OK, (name, args)

    def _apply(self, name: str, args: list[Any]) -> Any:
        before = self.state
        after, res = REGISTRY[name](before, *args)
        event(f"{name}: {Status(res.status).name}")
        assert res.status in set(Status), f"{name}: status {res.status!r} not a Status"
        if res.status != Status.OK:
            assert after == before, f"{name}{tuple(args)} failed with {res!r} but changed state"
        self.state = after
        return res

    @rule(target=caps, env=ARG["env"], page=ARG["page"])
    def alloc(self, env: int, page: int) -> Cap:
        cap: Cap = self._apply("alloc", [env, page]).value
        return cap

    @rule(target=caps, env=ARG["env"], cap=caps, grantee=ARG["grantee"], rights=ARG["rights"])
    def grant(self, env: int, cap: Cap, grantee: int, rights: int) -> Cap:
        granted: Cap = self._apply("grant", [env, cap, grantee, rights]).value
        return granted

    @rule(target=caps, page=ARG["page"], gen=st.integers(-1, 3), rights=st.integers(-1, 3))
    def forge(self, page: int, gen: int, rights: int) -> Cap:
        """A capability made up by an attacker (the kernel must refuse it unless held)."""
        return Cap(page, gen, rights)

    @rule(env=ARG["env"], cap=caps)
    def dealloc(self, env: int, cap: Cap) -> None:
        self._apply("dealloc", [env, cap])

    @rule(env=ARG["env"], vpage=ARG["vpage"], cap=caps, writable=st.booleans())
    def tlbwr(self, env: int, vpage: int, cap: Cap, writable: bool) -> None:
        self._apply("tlbwr", [env, vpage, cap, writable])

    @rule(env=ARG["env"], slot=ARG["slot"], vpage=ARG["vpage"], cap=caps, writable=st.booleans())
    def gm_set(self, env: int, slot: int, vpage: int, cap: Cap, writable: bool) -> None:
        self._apply("gm_set", [env, slot, vpage, cap, writable])

    @rule(data=st.data(), name=st.sampled_from(
        [n for n, sig in OPERATIONS.items() if all(k != "cap" for _, k in sig.args)]))
    def other(self, data: st.DataObject, name: str) -> None:
        """Any operation without a capability argument, with drawn arguments."""
        args = [data.draw(st.booleans() if k == "bool" else ARG[a], label=a)
                for a, k in OPERATIONS[name].args]
        self._apply(name, args)

    @rule(data=st.data(), kind=st.sampled_from(["page", "slice", "filter"]),
          wait=st.integers(1, 3))
    def revoke_something_owned(self, data: st.DataObject, kind: str, wait: int) -> None:
        """REV-1: the kernel asks an owner for one of its pages, slices or filters back."""
        s = self.state
        table = {"page": s.owner, "slice": s.slice_owner, "filter": s.filter_owner}[kind]
        assert isinstance(table, ConMap)
        owned = [(o, k) for k, o in table.items()
                 if o >= 0 and (kind != "filter" or s.filter_valid[k])]
        if not owned:
            return
        env, target = data.draw(st.sampled_from(owned), label="owner, target")
        resource = {"page": 0, "slice": 1, "filter": 2}[kind]
        self._apply("revoke_request", [env, resource, target, s.now + wait])

    @rule(env=index(CFG.n_envs))
    def tick_past_deadline_and_abort(self, env: int) -> None:
        """REV-3: let the clock pass a pending request's deadline, then abort it."""
        for _ in range(6):
            s = self.state
            if not (0 <= env < CFG.n_envs and s.rev_pending[env]) or s.now > s.rev_deadline[env]:
                break
            self._apply("timer_tick", [])
        self._apply("abort", [env])

    @rule(name=st.sampled_from(sorted(OPERATIONS)),
          junk=st.sampled_from(["x", None, 1.5, True, (), Cap("p", 0, 1)]))
    def wrong_types(self, name: str, junk: Any) -> None:
        """GEN-1: a value of the wrong type anywhere gives INVALID_ARGUMENT."""
        n = len(OPERATIONS[name].args)
        args: list[Any] = [junk] * max(n, 1)
        res = self._apply(name, args)
        assert res.status == Status.INVALID_ARGUMENT

    @invariant()
    def every_invariant_holds(self) -> None:
        for inv in INVARIANTS:
            bad = inv.violations(self.state)
            assert not bad, f"{inv.id} ({inv.title}) violated at {bad}"


ModelMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestModel = ModelMachine.TestCase
