"""The public conformance kit: run your implementation of the exokernel interface in
lockstep with the model (like ``trio.testing``, for users' own implementations).

What an implementation provides
-------------------------------
A *factory* — usually the class itself — called with an ``exo.interface.Config`` (the
sizes) and returning an object with two methods:

``apply(name: str, *args) -> exo.interface.Result``
    Run the operation ``name`` of ``exo.interface.OPERATIONS`` with the model's argument
    order (ints, bools, ``Cap`` capabilities, BPF programs as tuples of
    ``(code, jt, jf, k)``, packets as ``bytes``). The ``Result`` must carry exactly the
    model's ``Status`` — not just "some error" — and the same value (an int, or a ``Cap``
    compared field by field; an ``OVERLAP`` witness may be any packet, in hex, that both
    filters accept — ``exo.conformance.same_outcome``). Errors are values (GEN-1):
    ``apply`` must **never raise**,
    whatever the arguments: negative or huge ints, ``True`` where an int is expected,
    ``None``, strings, the wrong number of arguments, forged or stale capabilities. A
    failed operation leaves the state unchanged (GEN-2).

``observe() -> dict[str, Any]``
    The implementation's state in the model's vocabulary, one entry per field of
    ``exo.model.State`` (except ``cfg``): a scalar for a scalar field (``cur_env``,
    ``now``…), or a dict for a map field, from its key (an int, or a tuple of ints for
    two-index fields such as ``rights[env, page]``) to its value. Missing fields and
    missing keys take the boot value, so a sparse dict of what differs from boot is
    enough. Fields that carry no meaning (an invalid TLB slot's old page, the words of a
    free page…) are ignored (``exo.conformance.canonical``).

What the machine does
---------------------
Every operation is a rule, with arguments mostly in range and sometimes hostile, plus
rules for values of the wrong type and the wrong number of arguments, forged
capabilities, revocation followed by abort, and ``filter_traffic``: install a filter
(small hand-made programs, or real tcpdump programs from ``exo.bpf_samples`` — ports,
arp, the libpcap #430 pair, a division, ``not port 22``), then let packets arrive: a few
raw bytes, or Ethernet frames (IPv4 with options and fragments, IPv6, TCP/UDP/ICMP, ARP)
cut at random lengths and at the edges of header fields, where out-of-bounds aborts
decide the verdict.

Using the kit
-------------
* In your own pytest suite::

      from exo.interface import Config
      from exo.testing import lockstep_machine
      TestMyKernel = lockstep_machine(MyKernel, Config()).TestCase

* From the command line: ``exo check --impl mypackage.kernel:MyKernel``.
* Programmatically: ``run_check(MyKernel, Config(), steps=50, examples=200)``.

After every step the machine asserts that model and implementation returned the same
result (``exo.conformance.same_outcome``), that the observation means the model's state
(``differences(model, abstract(cfg, impl.observe())) == []``); at the end of every
program, that the model still satisfies every invariant (``exo.spec.invariants.check``;
the proofs already cover every reachable state, and the check costs about ten steps). A
failure is shrunk by
Hypothesis to a short program of operation calls. ``ModelImplementation`` is the model
itself behind this interface: a reference, and the kit's own self-test.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from hypothesis import HealthCheck, Phase, settings, target
from hypothesis import core as hypothesis_core
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException
from hypothesis.internal.conjecture import engine as hypothesis_engine
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from exo.bpf_samples import SAMPLES
from exo.bringup import fields_for
from exo.conformance import Implementation
from exo.coverage import Coverage
from exo.explore import PROGRAMS, two_running_envs
from exo.interface import (
    NUM_EXCEPTIONS,
    OPERATIONS,
    Cap,
    Config,
    OpSig,
    Result,
    Status,
)
from exo.kitgen import GROUPS, KIT_CONFIGS, PREFIX_GROUP, LibosRules, on
from exo.lockstep import Failure, Lockstep, Step, describe, minimize, replay
from exo.logic import ConMap
from exo.model import REGISTRY, State, initial
from exo.model.state import SCALARS, layout
from exo.witnesses import sweep

Factory = Callable[[Config], Implementation]

__all__ = [
    "CheckReport",
    "ModelImplementation",
    "Packet",
    "Program",
    "frames",
    "load_factory",
    "lockstep_machine",
    "run_check",
]


# --------------------------------------------------------------------------- the model as one


def observation(s: State) -> dict[str, Any]:
    """GEN-5 for a model state: scalars as they are; each map as a dict of the entries
    that differ from boot (the sparse form the contract allows)."""
    out: dict[str, Any] = {name: getattr(s, name) for name in SCALARS}
    for name, (_, boot, _) in layout(s.cfg).items():
        out[name] = {k: v for k, v in getattr(s, name).items() if v != boot}
    return out


class ModelImplementation:
    """The reference model behind the implementation interface: ``apply`` runs
    ``exo.model.REGISTRY`` on an internal ``State``; ``observe`` returns every field."""

    def __init__(self, cfg: Config | None = None) -> None:
        self.cfg = cfg if cfg is not None else Config()
        self.state: State = initial(self.cfg)

    def apply(self, name: str, *args: Any) -> Result:
        op = REGISTRY.get(name) if type(name) is str else None  # GEN-1: exact str only
        if op is None:
            return Result(Status.INVALID_ARGUMENT, 0)
        self.state, res = op(self.state, *args)
        return res

    def observe(self) -> dict[str, Any]:
        """Every field (``observation``)."""
        return observation(self.state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------- argument values


class Program(tuple[tuple[int, int, int, int], ...]):
    """A BPF program (a tuple of ``(code, jt, jf, k)``) that prints as its short name, so a
    shrunk failure reads like a program rather than a wall of numbers."""

    name: str

    def __new__(cls, name: str, instructions: tuple[Any, ...]) -> Program:
        p = super().__new__(cls, instructions)
        p.name = name
        return p

    def __repr__(self) -> str:
        return self.name


_PROGRAM_NAMES = ("byte0_is_0", "byte0_is_1", "byte0_is_2", "byte0_is_3", "accept_all",
                  "accept_none", "byte1_is_7", "bad_jump")

NAMED_PROGRAMS: tuple[Program, ...] = (
    *(Program(_PROGRAM_NAMES[i] if i < len(_PROGRAM_NAMES) else f"program{i}", p)
      for i, p in enumerate(PROGRAMS)),
    *(Program(name, prog) for name, prog in SAMPLES.items()),
    Program("empty", ()),  # refused by the verifier
    Program("div_by_zero", ((0x34, 0, 0, 0), (0x16, 0, 0, 0))),  # A /= 0: refused
    Program("field_out_of_range", ((0x10000, 0, 0, 0),)),  # not a program: wrong type
)
"""Small BPF programs (exo.explore.PROGRAMS: disjoint, overlapping, refused), real tcpdump
programs (``exo.bpf_samples``: ports, arp, the libpcap #430 pair, a division) and a few
hostile ones, each printing as its name."""


class Packet(bytes):
    """Packet bytes that print as a short description (``ipv4/udp 68>67 cut 32/48``)."""

    name: str

    def __new__(cls, name: str, data: bytes) -> Packet:
        p = super().__new__(cls, data)
        p.name = name
        return p

    def __repr__(self) -> str:
        return self.name


_PORTS = (53, 67, 68, 80, 443, 1234)


@st.composite
def frames(draw: st.DrawFn) -> Packet:
    """An Ethernet frame the sample filters care about — IPv4 (options and fragments
    included) or IPv6 carrying TCP/UDP/ICMP, ARP, or another ethertype — cut at a random
    length half of the time, which is where out-of-bounds aborts (libpcap #430) live."""
    kind = draw(st.sampled_from(["ipv4", "ipv4", "ipv6", "arp", "other"]))
    proto = draw(st.sampled_from([6, 17, 17, 1]))
    sport, dport = draw(st.sampled_from(_PORTS)), draw(st.sampled_from(_PORTS))
    flags = draw(st.sampled_from([0x12, 0x02, 0x10]))
    if proto == 6:
        l4 = (sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes(9) + bytes([flags])
              + bytes(6))
    elif proto == 17:
        l4 = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes([0, 8, 0, 0])
    else:
        l4 = bytes([8, 0, 0, 0])
    label = {6: f"tcp {sport}>{dport}", 17: f"udp {sport}>{dport}", 1: "icmp"}[proto]
    if kind == "ipv4":
        words = draw(st.sampled_from([5, 5, 6, 15]))  # header length in 32-bit words
        frag = draw(st.sampled_from([0, 0, 0x2000, 3]))  # none, more-fragments, offset 3
        ip = (bytes([0x40 | words, 0]) + (4 * words + len(l4)).to_bytes(2, "big") + bytes(2)
              + frag.to_bytes(2, "big") + bytes([64, proto]) + bytes(2) + bytes([10, 0, 0, 1])
              + bytes([10, 0, 0, 2]) + bytes(4 * (words - 5)))
        body, ethertype = ip + l4, 0x0800
        label = f"ipv4/{label}" + (f" ihl {words}" if words != 5 else "") + (
            f" frag {frag:#x}" if frag else "")
    elif kind == "ipv6":
        ip = (bytes([0x60, 0, 0, 0]) + len(l4).to_bytes(2, "big") + bytes([proto, 64])
              + bytes(32))
        body, ethertype, label = ip + l4, 0x86DD, f"ipv6/{label}"
    elif kind == "arp":
        body, ethertype, label = bytes([0, 1, 8, 0, 6, 4, 0, 1]) + bytes(20), 0x0806, "arp"
    else:
        ethertype = draw(st.integers(0, 0xFFFF))
        body, label = bytes(8), f"ethertype {ethertype:#06x}"
    frame = bytes([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]) + ethertype.to_bytes(2, "big") + body
    # cut anywhere, or just inside a port field (source port in, destination port out)
    ports_at = len(frame) - len(l4) if kind in ("ipv4", "ipv6") else 14
    cut = min(len(frame), draw(st.one_of(
        st.just(len(frame)), st.integers(0, len(frame)),
        st.sampled_from([14, ports_at, ports_at + 2, ports_at + 3]))))
    if cut < len(frame):
        label += f" cut {cut}/{len(frame)}"
    return Packet(label, frame[:cut])

SCENARIOS = ("empty", "two_envs", "two_envs_mapped")
"""What ``boot`` sets up before the random steps (see ``LockstepMachine.boot``)."""

HOSTILE_INTS = (-1, -(2**63), 2**64, 10**9)
"""Ints no size allows: negative, beyond 64 bits, absurdly large."""

JUNK: tuple[Any, ...] = ("x", None, 1.5, True, (), b"", Cap("p", 0, 1))
"""Values of the wrong type for some or every argument kind (``True`` is not an int)."""


_PACKETS: st.SearchStrategy[bytes] = st.one_of(st.binary(max_size=6), frames())
"""Packets: a few raw bytes (the small programs look at bytes 0 and 1), or a frame."""


def _index(n: int) -> st.SearchStrategy[int]:
    """Mostly a valid index below ``n``, sometimes one just outside, sometimes absurd."""
    valid = st.integers(0, max(n - 1, 0))
    return st.one_of(*[valid] * 6, st.integers(-2, n + 1), st.sampled_from(HOSTILE_INTS))


def _arg_strategy(op: str, arg: str, kind: str, cfg: Config) -> st.SearchStrategy[Any]:
    """The strategy for argument ``arg`` of operation ``op`` (not for capabilities)."""
    if kind == "bool":
        return st.booleans()
    if kind == "program":
        return st.sampled_from(NAMED_PROGRAMS)
    if kind == "packet":
        return _PACKETS
    sizes = {
        "env": cfg.n_envs, "grantee": cfg.n_envs, "callee": cfg.n_envs,
        "page": cfg.n_pages, "vpage": 4, "offset": cfg.page_words, "reg": cfg.n_regs,
        "cid": cfg.n_cids, "slot": cfg.n_guaranteed, "slice": cfg.n_slices,
        "exc": NUM_EXCEPTIONS, "which": 2, "rights": 3, "resource": 3,
        "filter": cfg.n_filters,
    }
    if arg in sizes:
        return _index(sizes[arg])
    if arg == "target" and op == "yield_to":
        return st.one_of(st.just(-1), _index(cfg.n_envs))
    if arg == "target":
        return _index(max(cfg.n_pages, cfg.n_slices))
    if arg == "entry":
        return st.sampled_from([-1, 0x100, 0x200, -7, 2**40])
    if arg == "value":
        return st.one_of(st.integers(-5, 1000), st.integers(-(2**70), 2**70))
    if arg == "deadline":
        return st.one_of(st.integers(-1, 12), st.sampled_from(HOSTILE_INTS))
    return _index(8)


def _plain(arg: Any) -> Any:
    """A labelled ``Program`` or ``Packet`` as the plain ``tuple`` or ``bytes`` it holds:
    operations admit exact types only (GEN-1); anything else is handed on as it is."""
    if type(arg) is Program:
        return tuple(arg)
    if type(arg) is Packet:
        return bytes(arg)
    return arg


def _call_text(name: str, args: tuple[Any, ...] | list[Any]) -> str:
    return f"{name}({', '.join(map(repr, args))})"


# --------------------------------------------------------------------------- the machine


class LockstepMachine(LibosRules, RuleBasedStateMachine):
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
    failed_at: list[float] | None = None  # perf_counter() of the run's first failure

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
        if cls.coverage is not None:
            coverage = cls.coverage

            def record(pre: State, name: str, args: tuple[Any, ...], res: Result,
                       post: State, call: str) -> None:
                self.cells.update(coverage.record(pre, name, args, res, post, call))
            self.ls.on_step = record

    @property
    def model(self) -> State:
        """The model's state, kept by ``exo.lockstep.Lockstep``."""
        return self.ls.model

    @property
    def impl(self) -> Implementation:
        assert self.ls.impl is not None
        return self.ls.impl

    # ------------------------------------------------------------------ one lockstep step

    def _apply(self, name: str, args: tuple[Any, ...] | list[Any]) -> Result:
        """One call on both sides (``Lockstep.call``); a difference fails the example. With
        ``--ops`` (``ops``), a call of another operation is not made at all."""
        if self.ops is not None and name not in self.ops:
            return Result(Status.INVALID_ARGUMENT, 0)
        self.trace.append((name, tuple(_plain(a) for a in args)))
        failure = self.ls.call(name, args)
        if failure is not None:
            self._failed(failure.message)
        assert self.ls.result is not None
        return self.ls.result

    def _cap_result(self, name: str, args: tuple[Any, ...]) -> Any:
        res = self._apply(name, args)
        if Status(res.status) == Status.OK and isinstance(res.value, Cap):
            return res.value
        return multiple()

    @initialize(target=caps, scenario=st.sampled_from(SCENARIOS),
                swarm=st.sets(st.sampled_from(GROUPS)))
    def boot(self, scenario: str, swarm: set[str]) -> Any:
        """Boot, then set up ``scenario`` so few steps reach deep states:

        * ``empty``: nothing more;
        * ``two_envs``: environments 0 and 1 with every entry point registered, each
          owning a slice, env 0 running;
        * ``two_envs_mapped``: also each env allocates page ``env`` and maps virtual page 0
          to it writable (TLB and STLB); their capabilities go to ``caps``.

        Scenarios the configuration is too small for fall back to ``empty``. ``swarm`` is the
        set of rule groups this example runs (``exo.kitgen.GROUPS``; empty: all of them)."""
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
          packets=st.lists(_PACKETS, min_size=1, max_size=4), take=st.booleans())
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
    @rule(env=st.integers(0, 3))
    def tick_past_deadline_and_abort(self, env: int) -> None:
        """REV-3: let the clock pass a pending request's deadline, then abort it."""
        for _ in range(6):
            s = self.model
            if not (0 <= env < self.cfg.n_envs and s.rev_pending[env]) or (
                    s.now > s.rev_deadline[env]):
                break
            self._apply("timer_tick", [])
        self._apply("abort", [env])

    # ------------------------------------------------------------------ after every step

    def teardown(self) -> None:
        """At the end of the program the model keeps every invariant
        (``Lockstep.model_holds``; once per program, not per step: the check costs about
        ten steps). Steer generation toward examples that hit many behaviour cells."""
        failure = self.ls.model_holds()
        if failure is not None:
            self._failed(failure.message)
        if self.cells:
            target(float(len(self.cells)), label="behaviour cells hit")

    @invariant()
    def conforms(self) -> None:
        """The observation means the model's state (``Lockstep.conforms``)."""
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
            LockstepMachine.caps if k == "cap" else _arg_strategy(name, a, k, cfg))
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
                     ops: frozenset[str] | None = None, workload: str | None = None
                     ) -> type[RuleBasedStateMachine]:
    """A Hypothesis state machine running ``factory(cfg)`` in lockstep with the model.

    One rule per operation of ``exo.interface.OPERATIONS`` (named after it, its keyword
    arguments the operation's), plus forged capabilities, wrong types, wrong arity,
    revocation and the abort protocol. Use ``lockstep_machine(MyKernel, cfg).TestCase``
    in a pytest suite; set ``.TestCase.settings`` to change the budget. ``ops``
    (``exo.bringup.parse_ops``): make only these operations' calls and compare only the
    ``observe()`` fields they can change (``exo.bringup.fields_for``). ``workload``
    ("exos", ``exo.kit_exos``): also a rule that runs library-OS services, every kernel
    call of theirs a lockstep step.
    """
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
    }
    for name, sig in OPERATIONS.items():
        if ops is None or name in ops:
            body[name] = _op_rule(name, sig, cfg)
    bases: tuple[type, ...] = (LockstepMachine,)
    if workload is not None:
        from exo.kit_exos import WORKLOADS, ExosWorkload

        if workload not in WORKLOADS:
            raise ValueError(f"--workload: {workload!r} is not one of {', '.join(WORKLOADS)}")
        bases = (ExosWorkload, LockstepMachine)
    machine = type(f"Lockstep_{label}", bases, body)
    machine.TestCase.settings = settings(  # type: ignore[attr-defined]
        max_examples=100, stateful_step_count=30, deadline=None,
        suppress_health_check=HEALTH)
    return machine


# --------------------------------------------------------------------------- programmatic run


@dataclass
class CheckReport:
    """What ``run_check`` found: passed, or the shrunk failing program and why."""

    passed: bool
    examples: int
    steps: int
    program: str = ""
    error: str = ""
    runs: int = 0
    coverage: Coverage | None = None
    config: Config | None = None  # the configuration of the failing run (or the last)
    trace: list[Step] | None = None  # the failing calls, replayed and minimized
    failure: Failure | None = None  # what the replay of ``trace`` found first
    fields: frozenset[str] | None = None  # the observe() fields compared (--ops)
    seconds_to_find: float | None = None  # from the start to the first failing example
    seconds_to_shrink: float | None = None  # from then to the verdict (shrink, minimize)

    def text(self) -> str:
        if self.passed:
            return f"conformant: {self.examples} examples x {self.steps} steps"
        out = f"NOT conformant: {self.error}\n\nshrunk failing program:\n{self.program}"
        if self.trace is not None and self.failure is not None:
            calls = "\n".join(f"  {describe(n, a)}" for n, a in self.trace)
            out += (f"\n\nthe same failure in {len(self.trace)} calls (replayed and "
                    f"minimized, config {self.config!r}):\n{calls}\n{self.failure.message}")
        return out


SHRINK_SECONDS = 8
"""How long Hypothesis may shrink a failure (its own limit is 300 s, and a failing program
of 50 steps with packet filters took that long). Step deletion on a plain replay
(``exo.lockstep.minimize``: chunks, then single steps and pairs, at most
``MINIMIZE_SECONDS``) finishes the job; with 20 s here the catalogue's failures came out
no shorter, only later."""


def run_check(
    factory: Factory,
    cfg: Config | None = None,
    steps: int = 50,
    examples: int = 100,
    on_progress: Callable[[int], None] | None = None,
    derandomize: bool = False,
    seed: int | None = None,
    ops: frozenset[str] | None = None,
    shrink_seconds: int = SHRINK_SECONDS,
    workload: str | None = None,
) -> CheckReport:
    """Run the lockstep machine for ``examples`` programs of up to ``steps`` steps.

    ``on_progress(n)`` is told how many programs have run (at most ``examples``; shrinking
    a failure runs more). ``seed`` makes the run repeatable: the same seed, implementation
    and budget generate the same programs. ``ops``: bring-up mode (``lockstep_machine``).
    Raises ``ValueError`` if ``factory`` cannot
    build something with ``apply`` and ``observe`` (a usage error, not a conformance
    failure).
    """
    configs = [cfg] if cfg is not None else list(KIT_CONFIGS)
    for c in configs:
        try:
            probe = factory(c)
        except Exception as exc:
            raise ValueError(f"cannot build an implementation with {_name(factory)}(cfg): "
                             f"{type(exc).__name__}: {exc}") from exc
        missing = [m for m in ("apply", "observe") if not callable(getattr(probe, m, None))]
        if missing:
            raise ValueError(f"{_name(factory)}(cfg) has no {' or '.join(missing)} method; "
                             "see 'exo.testing' for the interface")
    shares = _shares(examples, len(configs))
    coverage = Coverage()
    report = CheckReport(passed=True, examples=examples, steps=steps, coverage=coverage)
    count = [0]

    def started() -> None:
        count[0] += 1
        if on_progress is not None and count[0] <= examples:
            on_progress(count[0])

    start = time.perf_counter()
    failed_at: list[float] = []
    shrink_limit = hypothesis_engine.MAX_SHRINKING_SECONDS
    hypothesis_engine.MAX_SHRINKING_SECONDS = max(1, int(shrink_seconds))
    forced: Any = hypothesis_core.global_force_seed
    hypothesis_core.global_force_seed = seed if seed is not None else forced  # type: ignore[assignment]
    try:
        if ops is None and _swept(factory, configs, report, failed_at):
            _timed(report, start, failed_at)
            return report
        for c, share in zip(configs, shares, strict=True):
            if share == 0:
                continue
            base = lockstep_machine(factory, c, ops, workload)
            traces: list[list[Step]] = []
            machine = type(base.__name__, (base,), {"on_start": staticmethod(started),
                                                    "coverage": coverage, "traces": traces,
                                                    "failed_at": failed_at})
            report.config = c
            if not _run_machine(machine, share, steps, derandomize, report):
                if traces:
                    _minimized(factory, c, traces[-1], report,
                               fields_for(ops) if ops is not None else None)
                break
    finally:
        hypothesis_core.global_force_seed = forced
        hypothesis_engine.MAX_SHRINKING_SECONDS = shrink_limit
    report.runs = count[0]
    _timed(report, start, failed_at)
    if on_progress is not None and report.passed:
        on_progress(examples)
    return report


def _timed(report: CheckReport, start: float, failed_at: list[float]) -> None:
    """Split a failing run's time at its first failure: search, then shrinking."""
    if report.passed or not failed_at:
        return
    report.seconds_to_find = failed_at[0] - start
    report.seconds_to_shrink = time.perf_counter() - failed_at[0]


def _minimized(factory: Factory, cfg: Config, trace: list[Step], report: CheckReport,
               fields: frozenset[str] | None) -> None:
    """Replay the shrunk example's calls outside Hypothesis; if the failure shows, delete
    single steps while it persists (``exo.lockstep.minimize``) and keep the result."""
    try:
        failure = replay(factory, cfg, trace, fields)
        if failure is None:
            return
        report.trace, report.failure = minimize(factory, cfg, trace, failure, fields=fields)
        report.fields = fields
    except ValueError:
        return  # calls that cannot be replayed as plain values: keep Hypothesis's program


def _swept(factory: Factory, configs: list[Config], report: CheckReport,
           failed_at: list[float]) -> bool:
    """Replay the shipped witness programs (``exo.witnesses``) of these configurations
    first: every run reaches every reachable cell. True if one of them failed (``report``
    filled in, the calls minimized)."""
    assert report.coverage is not None
    found = sweep(factory, report.coverage, configs)
    if found is None:
        return False
    witness, calls, failure = found
    failed_at.append(time.perf_counter())
    report.passed = False
    report.config = witness.cfg
    report.error = failure.message.splitlines()[0]
    report.program = (f"(witness program of exo/kit_witnesses.json, {len(calls)} calls; "
                      "the replayed and minimized calls follow)")
    try:
        report.trace, report.failure = minimize(factory, witness.cfg, calls, failure)
    except ValueError:
        report.trace, report.failure = calls, failure
    return True


def _shares(examples: int, n: int) -> list[int]:
    """``examples`` spread over ``n`` configurations: half to the first (the user's sizes
    or the defaults), the rest evenly; every configuration gets at least one if it can."""
    if n == 1:
        return [examples]
    first = max(1, examples // 2)
    rest = examples - first
    return [first] + [rest // (n - 1) + (1 if k < rest % (n - 1) else 0) for k in range(n - 1)]


def _run_machine(machine: type[RuleBasedStateMachine], examples: int, steps: int,
                 derandomize: bool, report: CheckReport) -> bool:
    """Run one configuration's machine; on a failure fill ``report`` and return False."""
    lines: list[object] = []
    options = settings(
        max_examples=examples, stateful_step_count=max(steps, 1), deadline=None,
        suppress_health_check=HEALTH, database=None, print_blob=False,
        report_multiple_bugs=False, derandomize=derandomize,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
    )
    try:
        with with_reporter(lines.append):
            run_state_machine_as_test(machine, settings=options)
    except HypothesisException as exc:
        # Hypothesis's own complaints (e.g. flaky): still a failure, say what it said
        report.passed = False
        report.error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        report.program = _program_text(lines, exc)
    except Exception as exc:
        report.passed = False
        report.error = _first_line(exc)
        report.program = _program_text(lines, exc)
    return report.passed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _program_text(lines: list[object], exc: BaseException) -> str:
    """The falsifying program Hypothesis printed (reporter lines or exception notes)."""
    notes = [str(n) for n in getattr(exc, "__notes__", [])]
    text = [str(x) for x in lines] + notes
    steps = [ln for chunk in text for ln in chunk.splitlines()
             if ln.startswith(("state", "caps_", "Falsifying"))
             or ln.lstrip().startswith(("state.", "caps_"))]
    noise = ("Falsifying", "state.conforms()", "state.teardown()")
    steps = [ln for ln in steps if not ln.strip().startswith(noise)]
    if steps:
        return "\n".join(steps)
    if text:
        return "\n".join(text)
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _name(factory: Any) -> str:
    return str(getattr(factory, "__qualname__", None) or repr(factory))


# --------------------------------------------------------------------------- MODULE:FACTORY


CMD_PREFIX = "cmd:"
"""An implementation spec naming a command (``cmd: ./my-kernel --flag``) instead of a
Python factory."""


def load_factory(spec: str) -> Factory:
    """Resolve ``"package.module:Factory"`` (the attribute may be dotted), or ``"cmd:
    COMMAND"``: a kernel process speaking the wire protocol (``exo check --impl-cmd``,
    spec/protocol.md). Any problem is a ``ValueError`` with a one-line message saying
    what to fix."""
    if isinstance(spec, str) and spec.startswith(CMD_PREFIX):
        from exo.protocol import WireKernel

        return WireKernel.factory(spec[len(CMD_PREFIX):].strip())
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"--impl must look like 'package.module:Factory', got {spec!r}")
    module_name, _, attr = spec.partition(":")
    module_name, attr = module_name.strip(), attr.strip()
    if not module_name or not attr:
        raise ValueError(f"--impl must look like 'package.module:Factory', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc} (is it installed, or on "
                         f"PYTHONPATH?)") from exc
    except Exception as exc:
        raise ValueError(f"importing {module_name!r} failed: {type(exc).__name__}: "
                         f"{_first_line(exc)}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not part.isidentifier() or not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{spec} is a {type(obj).__name__}, not a class or function "
                         "taking a Config")
    factory: Factory = obj
    return factory

