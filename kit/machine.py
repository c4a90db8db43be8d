"""The kit's Hypothesis state machine: the model and an implementation side by side,
one rule per operation of ``exo.interface.OPERATIONS`` (arguments from
``exo.kit.values``) plus the library-OS rules of ``exo.kit.rules``, forged capabilities,
wrong types and arity, revocation and the abort protocol. Every call is one
``exo.kit.lockstep.Lockstep`` step. ``lockstep_machine(MyKernel, cfg).TestCase`` runs it
in a pytest suite; ``exo.kit.check.run_check`` runs it as ``exo check`` does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NoReturn

from hypothesis import HealthCheck, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from exo.interface import (
    FREE,
    OPERATIONS,
    TRAPS,
    Cap,
    Config,
    OpSig,
    Result,
    Status,
    acts_for_caller,
    null_value,
)
from exo.kit.bpf_samples import SAMPLES
from exo.kit.bringup import fields_for
from exo.kit.configs import GROUPS, PREFIX_GROUP, on
from exo.kit.conformance import Implementation
from exo.kit.coverage import Coverage
from exo.kit.explore import two_running_envs
from exo.kit.lockstep import TRAP, Factory, Lockstep, Step
from exo.kit.profiles import DEFAULT, admits
from exo.kit.profiles import problem as profile_problem
from exo.kit.stale import StaleStateRules
from exo.kit.text import plain
from exo.kit.values import JUNK, NAMED_PROGRAMS, PACKETS, SCENARIOS, Packet, Program, arg_strategy
from exo.logic import ConMap
from exo.model import State

__all__ = ["HEALTH", "LockstepMachine", "lockstep_machine"]


class LockstepMachine(StaleStateRules, RuleBasedStateMachine):
    """Base of the machines ``lockstep_machine`` builds: model and implementation side by
    side. Subclasses set ``factory`` and ``cfg``."""

    factory: Factory
    cfg: Config
    caps = Bundle("caps")
    started = 0  # machines built so far (progress reporting)
    on_start: Callable[[], None] | None = None
    coverage: Coverage | None = None  # the behaviour cells the model's steps hit
    enabled: frozenset[str] = frozenset(GROUPS)  # swarm: the rule groups of this example
    traces: list[list[Step]] | None = None  # each example's calls (the last: the shrunk one)
    ops: frozenset[str] | None = None  # --ops: the only operations called (None: all)
    fields: frozenset[str] | None = None  # --ops: the only observe() fields compared
    profile: str = DEFAULT  # --filters (exo.kit.profiles): which filter_install calls
    failed_at: list[float] | None = None  # perf_counter() of the run's first failure
    step_count: list[int] | None = None  # lockstep calls made so far (campaign progress)

    def _failed(self, message: str) -> NoReturn:
        """Fail the example (Hypothesis then shrinks it); the first failure's time is kept
        so that ``run_check`` can say how long shrinking took."""
        cls = type(self)
        if cls.failed_at is not None and not cls.failed_at:
            cls.failed_at.append(time.perf_counter())
        raise AssertionError(message)

    def __init__(self) -> None:
        super().__init__()
        cls = type(self)
        if cls.on_start is not None:
            cls.on_start()
        self.ls = Lockstep(cls.factory, self.cfg, cls.fields)
        if self.ls.failure is not None:
            self._failed(self.ls.failure.message)
        self.cells: set[str] = set()
        self.trace: list[Step] = []
        if cls.traces is not None:
            cls.traces[:] = [self.trace]  # only the example running now is kept
        coverage, counted = cls.coverage, cls.step_count
        if coverage is not None or counted is not None:
            def record(pre: State, name: str, args: tuple[Any, ...], res: Result,
                       post: State, call: str) -> None:
                if counted is not None:
                    counted[0] += 1
                if coverage is not None:
                    self.cells.update(coverage.record(pre, name, args, res, post, call))
            self.ls.on_step = record

    @property
    def model(self) -> State:
        """The model's state, kept by ``exo.kit.lockstep.Lockstep``."""
        return self.ls.model

    @property
    def impl(self) -> Implementation:
        assert self.ls.impl is not None
        return self.ls.impl

    # ------------------------------------------------------------------ one lockstep step

    def _apply(self, name: str, args: tuple[Any, ...] | list[Any]) -> Result:
        """One call on both sides (``Lockstep.call``), then the observation against the
        model's state (``Lockstep.conforms``): a difference fails the example at the call
        that caused it, even inside a rule that makes several. With ``--ops`` (``ops``), a
        call of another operation is not made at all. A system call that names the running
        environment as its caller is that environment's own: it goes through the trap
        layer (``_trap``) when the implementation offers one."""
        if (self.ops is not None and name not in self.ops) or not admits(
                self.profile, name, args):  # --ops, --filters: a call not made at all
            return Result(Status.INVALID_ARGUMENT, 0)
        if self._as_user(name, tuple(args)):  # GEN-6: the running environment's own call
            return self._trap(name, tuple(args[1:]))
        self.trace.append((name, tuple(plain(a) for a in args)))
        failure = self.ls.call(name, args) or self.ls.conforms(invariants=False)
        if failure is not None:
            self._failed(failure.message)
        assert self.ls.result is not None
        return self.ls.result

    def _trap(self, name: str, args: tuple[Any, ...] | list[Any]) -> Result:
        """GEN-6: system call ``name`` made through the trap layer by the running
        environment, one lockstep step (a ``trap`` step, compared as ``_apply`` compares),
        then the integrity of what the implementation shows (NI-2, ``Lockstep.integrity``)
        and the caller's view (GEN-7) against the model's. An implementation that offers
        no trap (or a run whose ``--ops`` leave ``trap`` out) gets the raw call for the
        running environment instead (nothing with the CPU idle), so a library-OS workload
        still runs on it; the table then shows the trap cells missing (or excluded)."""
        if name not in TRAPS:
            return Result(Status.INVALID_ARGUMENT, 0)
        caller = self.model.cur_env
        raw = (caller, *args) if acts_for_caller(name) else tuple(args)
        if (self.ops is not None and name not in self.ops) or not admits(
                self.profile, name, raw):  # --ops, --filters: a call not made at all
            return Result(Status.INVALID_ARGUMENT, 0)
        if not self.ls.offers("trap") or (self.ops is not None and "trap" not in self.ops):
            if caller == FREE:
                return Result(Status.NOT_RUNNING, null_value(TRAPS[name]))
            return self._apply(name, raw)
        self.trace.append((TRAP, (name, *(plain(a) for a in args))))
        self.ls.conforms(invariants=False)  # the state before, as the implementation shows it
        before = self.ls.seen
        failure = (self.ls.call(TRAP, (name, *args))
                   or self.ls.conforms(invariants=False, integrity=(before, TRAP, (name, *args)))
                   or (self.ls.views([caller]) if caller != FREE else None))
        if failure is not None:
            self._failed(failure.message)
        assert self.ls.result is not None
        return self.ls.result

    def _as_user(self, name: str, args: tuple[Any, ...]) -> bool:
        """Is this call of system call ``name`` the running environment's own, to be made
        through the trap layer (GEN-6)? When it names the running environment as its
        caller and the implementation offers ``trap`` (and ``--ops`` has it): the kit then
        exercises the layer as often as the calls themselves."""
        return (name in TRAPS and acts_for_caller(name) and bool(args)
                and type(args[0]) is int and args[0] == self.model.cur_env
                and args[0] != FREE and self.ls.offers("trap")
                and (self.ops is None or "trap" in self.ops))

    def _held_cap(self, pick: int) -> Cap:
        """A capability the running environment holds (the ``pick``-th of its pages,
        wrapping around), or a made-up one when it holds none."""
        s, e = self.model, self.model.cur_env
        held = [Cap(p, s.gen[p], s.rights[e, p]) for p in range(self.cfg.n_pages)
                if e != FREE and s.rights[e, p] > 0]
        return held[pick % len(held)] if held else Cap(pick % self.cfg.n_pages, 0, 1)

    @on("trap")
    @rule(name=st.sampled_from(sorted(TRAPS)), data=st.data())
    def trap_call(self, name: str, data: st.DataObject) -> None:
        """GEN-6: the running environment makes system call ``name`` through the trap
        layer, its arguments drawn as the raw rule draws them (a capability: one the
        caller holds, most of the time)."""
        args: list[Any] = []
        for arg, kind in TRAPS[name].args:
            if kind == "cap":
                pick = data.draw(st.integers(0, 7), label=arg)
                args.append(self._held_cap(pick) if pick < 6 else Cap(pick, 0, 2))
            else:
                args.append(data.draw(arg_strategy(name, arg, kind, self.cfg), label=arg))
        self._trap(name, args)

    @on("trap")
    @rule(name=st.sampled_from(sorted(n for n in TRAPS if acts_for_caller(n))),
          caller=st.integers(0, 3), data=st.data())
    def trap_naming_a_caller(self, name: str, caller: int, data: st.DataObject) -> None:
        """GEN-6: a trap that names a caller anyway (the raw operation's arguments, an
        environment first): the trap's own signature has no ``env``, so the count is
        wrong and the call is refused, whoever it names."""
        if not self.ls.offers("trap") or (self.ops is not None and (
                "trap" not in self.ops or name not in self.ops)):
            return
        args: list[Any] = [caller]
        for arg, kind in TRAPS[name].args:
            if kind == "cap":
                args.append(self._held_cap(data.draw(st.integers(0, 7), label=arg)))
            else:
                args.append(data.draw(arg_strategy(name, arg, kind, self.cfg), label=arg))
        self.trace.append((TRAP, (name, *(plain(a) for a in args))))
        failure = self.ls.call(TRAP, (name, *args)) or self.ls.conforms(invariants=False)
        if failure is not None:
            self._failed(failure.message)

    @on("trap")
    @rule(name=st.sampled_from(sorted(set(OPERATIONS) - set(TRAPS))))
    def trap_not_a_system_call(self, name: str) -> None:
        """GEN-6: a trap naming a hardware event or a kernel operation is refused."""
        if not self.ls.offers("trap") or (self.ops is not None and "trap" not in self.ops):
            return
        args = (0,) * len(OPERATIONS[name].args)
        self.trace.append((TRAP, (name, *args)))
        failure = self.ls.call(TRAP, (name, *args)) or self.ls.conforms(invariants=False)
        if failure is not None:
            self._failed(failure.message)

    def _cap_result(self, name: str, args: tuple[Any, ...]) -> Any:
        res = self._apply(name, args)
        if Status(res.status) == Status.OK and isinstance(res.value, Cap):
            return res.value
        return multiple()

    @initialize(target=caps, scenario=st.sampled_from(SCENARIOS),
                swarm=st.sets(st.sampled_from(GROUPS)).map(lambda g: tuple(sorted(g))))
    def boot(self, scenario: str, swarm: tuple[str, ...]) -> Any:
        """Boot, then set up ``scenario`` so few steps reach deep states:

        * ``empty``: nothing more;
        * ``two_envs``: environments 0 and 1 with every entry point registered, each
          owning a slice, env 0 running;
        * ``two_envs_mapped``: also each env allocates page ``env`` and maps virtual page 0
          to it writable (TLB and STLB); their capabilities go to ``caps``.

        Scenarios the configuration is too small for fall back to ``empty``. ``swarm`` is the
        set of rule groups this example runs (``exo.kit.configs.GROUPS``; empty: all of them)."""
        self.enabled = frozenset(swarm) if swarm else frozenset(GROUPS)
        c = self.cfg
        if scenario == "empty" or min(c.n_envs, c.n_cids, c.n_slices, c.n_pages) < 2:
            return multiple()
        for name, args in two_running_envs():
            self._apply(name, args)
        if scenario != "two_envs_mapped":
            return multiple()
        caps = []
        for env in (0, 1):
            cap = self._apply("alloc", [env, env]).value
            if type(cap) is not Cap:  # alloc refused, or not made (--ops): no capability
                continue
            self._apply("tlbwr", [env, 0, cap, True])
            caps.append(cap)
        return multiple(*caps)

    @on("hostile")
    @rule(target=caps, page=st.integers(-1, 9), gen=st.integers(-1, 3),
          rights=st.integers(-1, 3))
    def forge(self, page: int, gen: int, rights: int) -> Cap:
        """A capability made up by an attacker: refused unless current and held."""
        return Cap(page, gen, rights)

    # -- aimed calls: the capability's owner presents it, so deep paths get exercised
    #    (explore._aim does the same for the random walks); the exact call made is in
    #    every failure message.

    def _owner(self, cap: Cap) -> Any:
        page = cap.page
        if isinstance(page, int) and not isinstance(page, bool) and (
                0 <= page < self.cfg.n_pages):
            return self.model.owner[page]
        return -1

    @on("memory")
    @rule(target=caps, cap=caps, grantee=st.integers(0, 3), rights=st.integers(0, 3))
    def grant_as_owner(self, cap: Cap, grantee: int, rights: int) -> Any:
        """grant(owner of cap.page, cap, grantee, rights)."""
        return self._cap_result("grant", (self._owner(cap), cap, grantee, rights))

    @on("memory")
    @rule(cap=caps)
    def dealloc_as_owner(self, cap: Cap) -> None:
        """dealloc(owner of cap.page, cap)."""
        self._apply("dealloc", (self._owner(cap), cap))

    @on("tlb")
    @rule(vpage=st.integers(0, 3), cap=caps, writable=st.booleans())
    def tlbwr_as_owner(self, vpage: int, cap: Cap, writable: bool) -> None:
        """tlbwr(owner of cap.page, vpage, cap, writable)."""
        self._apply("tlbwr", (self._owner(cap), vpage, cap, writable))

    @on("tlb")
    @rule(slot=st.integers(0, 1), vpage=st.integers(0, 3), cap=caps, writable=st.booleans())
    def gm_set_as_owner(self, slot: int, vpage: int, cap: Cap, writable: bool) -> None:
        """gm_set(owner of cap.page, slot, vpage, cap, writable)."""
        self._apply("gm_set", (self._owner(cap), slot, vpage, cap, writable))

    @on("hostile")
    @rule(name=st.sampled_from(sorted(OPERATIONS)), junk=st.sampled_from(JUNK),
          position=st.integers(0, 4))
    def wrong_type(self, name: str, junk: Any, position: int) -> None:
        """GEN-1: a value of the wrong type at one argument (the others plausible)."""
        sig = OPERATIONS[name]
        plausible = {"int": 0, "bool": False, "cap": Cap(0, 0, 1), "program": NAMED_PROGRAMS[4],
                     "packet": b"\x00"}
        args = [plausible[k] for _, k in sig.args]
        if args:
            args[position % len(args)] = junk
        else:
            args = [junk]
        self._apply(name, args)

    @on("hostile")
    @rule(name=st.sampled_from(sorted(OPERATIONS)), extra=st.booleans())
    def wrong_arity(self, name: str, extra: bool) -> None:
        """GEN-1: one argument too many or too few."""
        n = len(OPERATIONS[name].args)
        args = [0] * (n + 1 if extra or n == 0 else n - 1)
        self._apply(name, args)

    @on("revocation")
    @rule(kind=st.sampled_from(["page", "slice", "filter"]), pick=st.integers(0, 15),
          wait=st.integers(1, 3))
    def revoke_owned(self, kind: str, pick: int, wait: int) -> None:
        """REV-1: the kernel asks an owner for one of its pages, slices or filters back
        (the ``pick``-th owned one, wrapping around; nothing if none is owned)."""
        s = self.model
        table = {"page": s.owner, "slice": s.slice_owner, "filter": s.filter_owner}[kind]
        assert isinstance(table, ConMap)
        owned = [(o, k) for k, o in table.items()
                 if o >= 0 and (kind != "filter" or s.filter_valid[k])]
        if not owned:
            return
        env, target = owned[pick % len(owned)]
        resource = {"page": 0, "slice": 1, "filter": 2}[kind]
        self._apply("revoke_request", [env, resource, target, s.now + wait])

    @rule(pick=st.integers(0, 3), alone=st.booleans(),
          program=st.one_of(st.sampled_from([p for p in NAMED_PROGRAMS if p.name in SAMPLES]),
                            st.sampled_from(NAMED_PROGRAMS)),
          packets=st.lists(PACKETS, min_size=1, max_size=4), take=st.booleans())
    def filter_traffic(self, pick: int, alone: bool, program: Program,
                       packets: list[Packet], take: bool) -> None:
        """NET-1..NET-4 together: (``alone``) every installed filter is removed by its
        owner first, so the new one cannot overlap; the ``pick``-th live environment
        (wrapping around; nothing if none is live) installs ``program`` (real tcpdump
        programs half of the time), the packets arrive, and (``take``) the environment
        takes one from its ring. The Z3 overlap check, the demux and its FLT-8 check all
        run this way."""
        s = self.model
        assert isinstance(s.env_alive, ConMap) and isinstance(s.filter_valid, ConMap)
        live = [e for e, alive in s.env_alive.items() if alive]
        if not live:
            return
        if alone:
            for slot, valid in s.filter_valid.items():
                if valid:
                    self._apply("filter_remove", [s.filter_owner[slot], slot])
        env = live[pick % len(live)]
        self._apply("filter_install", [env, program])
        for packet in packets:
            self._apply("packet_arrive", [packet])
        if take:
            self._apply("packet_take", [env])

    @on("revocation")
    @rule(env=st.integers(0, 3), at_deadline=st.booleans())
    def tick_past_deadline_and_abort(self, env: int, at_deadline: bool) -> None:
        """REV-3: let the clock pass a pending request's deadline, then abort it. With
        ``at_deadline``, first abort on the deadline's own tick (``now ==
        rev_deadline``: still too early, the boundary of the requirement)."""
        for _ in range(6):
            s = self.model
            if not (0 <= env < self.cfg.n_envs and s.rev_pending[env]) or (
                    s.now > s.rev_deadline[env]):
                break
            if at_deadline and s.now == s.rev_deadline[env]:
                self._apply("abort", [env])
            self._apply("timer_tick", [])
        self._apply("abort", [env])

    # ------------------------------------------------------------------ after every step

    def teardown(self) -> None:
        """At the end of the program the model keeps every invariant
        (``Lockstep.model_holds``; once per program, not per step: the check costs about
        ten steps), and every environment sees what GEN-7 says (``Lockstep.views``, when
        the implementation offers ``observe_as``). Steer generation toward examples that
        hit many behaviour cells."""
        failure = self.ls.model_holds() or self.ls.views(range(self.cfg.n_envs))
        if failure is not None:
            self._failed(failure.message)
        if self.cells:
            target(float(len(self.cells)), label="behaviour cells hit")

    @invariant()
    def conforms(self) -> None:
        """The observation means the model's state (``Lockstep.conforms``): at boot, and
        after a rule that made no call (every call is compared as it is made)."""
        failure = self.ls.conforms(invariants=False)
        if failure is not None:
            self._failed(failure.message)


_KEYWORD = {"target": "target_", "targets": "targets_"}


def _op_rule(name: str, sig: OpSig, cfg: Config) -> Callable[..., Any]:
    """A rule applying operation ``name``; its keyword arguments are the operation's."""
    # ``target`` is a keyword of ``rule`` itself: that argument is spelled ``target_``
    names = [_KEYWORD.get(a, a) for a, _ in sig.args]
    strategies: dict[str, Any] = {
        _KEYWORD.get(a, a): (
            LockstepMachine.caps if k == "cap" else arg_strategy(name, a, k, cfg))
        for a, k in sig.args
    }

    group = on(PREFIX_GROUP[sig.clause.split("-")[0]])
    if sig.result == "cap":
        def make(self: LockstepMachine, **kw: Any) -> Any:
            return self._cap_result(name, tuple(kw[a] for a in names))

        made: Callable[..., Any] = group(rule(target=LockstepMachine.caps, **strategies)(
            _named(make, name, sig)))
        return made

    def step(self: LockstepMachine, **kw: Any) -> None:
        self._apply(name, tuple(kw[a] for a in names))

    decorate: Callable[[Callable[..., Any]], Callable[..., Any]] = rule(**strategies)
    stepped: Callable[..., Any] = group(decorate(_named(step, name, sig)))
    return stepped


def _named(fn: Callable[..., Any], name: str, sig: OpSig) -> Callable[..., Any]:
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{sig.clause}: apply {name} to the model and the implementation."
    return fn


HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
          HealthCheck.large_base_example]


def lockstep_machine(factory: Factory, cfg: Config | None = None,
                     ops: frozenset[str] | None = None, workload: str | None = None,
                     filters: str = DEFAULT) -> type[RuleBasedStateMachine]:
    """A Hypothesis state machine running ``factory(cfg)`` in lockstep with the model.

    One rule per operation of ``exo.interface.OPERATIONS`` (named after it, its keyword
    arguments the operation's), plus forged capabilities, wrong types, wrong arity,
    revocation and the abort protocol. Use ``lockstep_machine(MyKernel, cfg).TestCase``
    in a pytest suite; set ``.TestCase.settings`` to change the budget. ``ops``
    (``exo.kit.bringup.parse_ops``): make only these operations' calls and compare only the
    ``observe()`` fields they can change (``exo.kit.bringup.fields_for``). ``workload``
    ("exos", ``exo.kit.exos``): also a rule that runs library-OS services, every kernel
    call of theirs a lockstep step. ``filters`` (``exo.kit.profiles``): in
    "declarative", no ``filter_install`` of a verified program FLT-9 does not recognize.
    """
    why = profile_problem(filters)
    if why is not None:
        raise ValueError(why)
    cfg = cfg if cfg is not None else Config()
    problem = cfg.problem()
    if problem is not None:
        raise ValueError(f"bad configuration: {problem}")
    label = getattr(factory, "__name__", type(factory).__name__)
    body: dict[str, Any] = {
        "factory": staticmethod(factory),
        "cfg": cfg,
        "__doc__": f"{label} in lockstep with the exo model.",
        "ops": ops,
        "fields": fields_for(ops) if ops is not None else None,
        "profile": filters,
    }
    for name, sig in OPERATIONS.items():
        if ops is None or name in ops:
            body[name] = _op_rule(name, sig, cfg)
    bases: tuple[type, ...] = (LockstepMachine,)
    if workload is not None:
        from exo.kit.exos import WORKLOADS, ExosWorkload

        if workload not in WORKLOADS:
            raise ValueError(f"--workload: {workload!r} is not one of {', '.join(WORKLOADS)}")
        bases = (ExosWorkload, LockstepMachine)
    machine = type(f"Lockstep_{label}", bases, body)
    machine.TestCase.settings = settings(  # type: ignore[attr-defined]
        max_examples=100, stateful_step_count=30, deadline=None,
        suppress_health_check=HEALTH)
    return machine
