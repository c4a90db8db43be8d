"""Integrity and noninterference (spec/noninterference.md) can fail: five broken
variants of the model, each refuted by Z3 with a counterexample that replays on the
executable model, and each shown by two concrete traces from boot that differ only in
what the observer must not see (another environment's value) and after which the
observer's results or private view part. The unbroken model keeps the same two traces
apart from nothing. The variants are the issue's:

* a switch that forgets to clear one register (CPU-7);
* a Dealloc that leaves a grantee's STLB entry (MEM-2, TLB-9);
* a TLB lookup that ignores the context id (TLB-6);
* a ``packet_take`` that reads another environment's ring (NET-4);
* a trap layer that takes the caller from an argument (GEN-6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from exo.interface import OPERATIONS, TRAPS, Cap, Config, ExcKind, Interrupt, OpSig, Rights
from exo.logic import And, If
from exo.model import REGISTRY, State
from exo.model import cpu as mcpu
from exo.model import memory as mmem
from exo.model import tlb as mtlb
from exo.model import trap as mtrap
from exo.proofs.discharge import discharge, discharge_ni
from exo.proofs.noninterference import two_traces
from exo.proofs.obligations import BY_NAME, RLIMIT
from exo.spec import flows

Step = tuple[str, tuple[Any, ...]]
RW = int(Rights.READWRITE)


def boot(n: int) -> list[Step]:
    """``n`` environments made by the kernel's loader (raw calls, GEN-6), each with its
    handlers, entry points and slice ``e + 1`` (mod ``n``); then a tick starts slice 1:
    environment 0 runs."""
    steps: list[Step] = []
    for e in range(n):
        steps += [("env_create", (e, e)),
                  ("set_exception_context", (e, int(ExcKind.TLB_MISS), 0x100)),
                  ("set_exception_context", (e, int(ExcKind.PROTECTION), 0x110)),
                  ("set_interrupt_context", (e, int(Interrupt.SLICE_START), 0x200)),
                  ("set_protected_entry", (e, 0, 0x300)), ("set_protected_entry", (e, 1, 0x310)),
                  ("slice_alloc", (e, (e + 1) % n))]
    return [*steps, ("timer_tick", ())]


def trap(op: str, *args: Any) -> Step:
    return ("trap", (op, *args))


# --------------------------------------------------------------------------- the variants


def _keeps_register_0(s: State) -> State:
    """CPU-7 broken: the switch clears every register but register 0."""
    return s.replace(regs=s.regs.map(lambda r, old: If(r == 0, old, 0)), epc=0, cause=-1,
                     badvpage=0)


def _keeps_stlb(s: State) -> State:
    """TLB-9 broken for the STLB: after a Dealloc, STLB entries stay whoever holds them."""
    return REVALIDATE(s).replace(stlb_valid=s.stlb_valid)


REVALIDATE = mtlb.revalidate


def _hit_any_cid(s: State, cid: Any, vpage: Any) -> tuple[Any, Any]:
    """TLB-6 broken: the lookup compares the virtual page, not the context id."""
    i = mtlb.tlb_slot(s, cid, vpage)
    return And(s.tlb_valid[i], s.tlb_vpage[i] == vpage), i


PACKET_TAKE = REGISTRY["packet_take"]


def _take_next_ring(s: State, env: Any) -> Any:
    """NET-4 broken: environment 0's ring is taken from by everyone (environment 0 takes
    from 1's)."""
    return PACKET_TAKE(s, If(env == 0, 1, 0))


TRAP = mtrap.trap


def _caller_from_argument(s: State, op: str, *args: Any) -> Any:
    """GEN-6 broken: a trap given the raw operation's arguments acts for the environment
    the first one names."""
    if type(op) is str and op in TRAPS and len(args) == len(OPERATIONS[op].args):
        return REGISTRY[op](s, *args)
    return TRAP(s, op, *args)


Patch = Callable[[pytest.MonkeyPatch], None]


def _patch_clear(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(mcpu, "clear_processor", _keeps_register_0)


def _patch_dealloc(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(mmem, "revalidate", _keeps_stlb)


def _patch_tlb(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(mtlb, "tlb_hit", _hit_any_cid)
    if hasattr(mmem, "tlb_hit"):
        mp.setattr(mmem, "tlb_hit", _hit_any_cid)


def _patch_take(mp: pytest.MonkeyPatch) -> None:
    mp.setitem(REGISTRY, "packet_take", _take_next_ring)


def _patch_trap(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(mtrap, "trap", _caller_from_argument)
    mp.setattr(flows, "trap", _caller_from_argument)


CFG3 = Config(n_envs=3, n_pages=4, page_words=2, tlb_size=1, stlb_size=2, n_cids=3,
              n_slices=3, n_guaranteed=1, n_regs=2, slice_ticks=3, excess_limit=1,
              n_filters=2, ring_size=2)


def _secret_traces(secret: int) -> dict[str, tuple[list[Step], int]]:
    """Per variant: the trace with ``secret`` as the value the observer must not see, and
    the observer."""
    cap0 = Cap(2, 0, RW)
    return {
        # env 0 leaves a value in register 0 and yields to env 1
        "clear": ([*boot(2), ("set_reg", (0, secret)), trap("yield_to", 1)], 1),
        # env 0 grants page 2 to env 1, which binds it; env 0 deallocates it; env 2 takes
        # the page and writes its secret; env 1 loads through its old binding
        "dealloc": ([*boot(3), trap("alloc", 2), trap("grant", cap0, 1, RW),
                     trap("yield_to", 1), trap("tlbwr", 5, Cap(2, 0, RW), True),
                     trap("yield_to", 0), trap("dealloc", cap0), trap("yield_to", 2),
                     trap("alloc", 2), ("set_reg", (0, secret)),
                     trap("tlbwr", 7, Cap(2, 1, RW), True), ("store", (7, 0, 0)),
                     ("set_reg", (0, 0)), trap("yield_to", 1), ("load", (5, 0, 0))], 1),
        # env 0 writes its secret through its own binding of virtual page 5; env 1 loads
        # its virtual page 5, which it never bound
        "tlb": ([*boot(2), trap("alloc", 2), trap("tlbwr", 5, cap0, True),
                 ("set_reg", (0, secret)), ("store", (5, 0, 0)), ("set_reg", (0, 0)),
                 trap("yield_to", 1), ("load", (5, 0, 0))], 1),
        # a packet for env 0 arrives (its filter accepts everything); env 1 takes from
        # its own, empty ring
        "take": ([*boot(2), trap("filter_install", ((6, 0, 0, 0xFFFF),)),
                  ("packet_arrive", (bytes([secret % 256]),)), trap("yield_to", 1),
                  trap("packet_take")], 1),
        # env 0 traps alloc naming env 1 as the caller: the page is its secret choice
        "trap": ([*boot(2), trap("alloc", 1, secret % 4)], 1),
    }


VARIANTS: dict[str, tuple[Patch, str, OpSig | None]] = {
    "clear": (_patch_clear, "ni/yield_to/respect", None),
    # a stale binding is excluded by INV-2, an invariant every noninterference
    # obligation assumes of its states: the broken Dealloc breaks it
    "dealloc": (_patch_dealloc, "step/dealloc/INV-2", None),
    "tlb": (_patch_tlb, "ni/load/consistency", None),
    "take": (_patch_take, "ni/packet_take/output", None),
    # called with the raw operation's arguments, a caller first (the correct layer
    # refuses the count)
    "trap": (_patch_trap, "int/alloc", OPERATIONS["alloc"]),
}
"""Each variant: how it is planted, the obligation that refutes it, the arguments."""


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_unbroken_model_keeps_the_two_traces_alike(name: str) -> None:
    first, observer = _secret_traces(42)[name]
    second, _ = _secret_traces(43)[name]
    assert two_traces(CFG3, first, second, observer) is None


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variant_parts_two_traces(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    patch, _, _ = VARIANTS[name]
    patch(monkeypatch)
    first, observer = _secret_traces(42)[name]
    second, _ = _secret_traces(43)[name]
    found = two_traces(CFG3, first, second, observer)
    assert found is not None, f"{name}: the two traces stay alike"
    assert found["step"] == len(first) - 1, found  # at the step that leaks, not before
    assert found["parted"], found


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variant_is_refuted_by_z3(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    patch, obligation, signature = VARIANTS[name]
    patch(monkeypatch)
    if obligation.startswith(("ni/", "int/")):
        v = discharge_ni(obligation, RLIMIT, signature=signature)
        assert v.verdict == "counterexample", (v.verdict, v.detail)
        assert v.counterexample["replayed"], v.detail
        if not obligation.startswith("int/"):
            assert len(v.counterexample["traces"]) == 2
    else:
        r = discharge(BY_NAME[obligation])
        assert r.verdict == "counterexample", (r.verdict, r.detail)
        assert r.counterexample.get("replayed"), r.detail


def test_the_clocks_switch_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The register a switch forgets is found at the clock's switch as well (NI-5 for
    ``timer_tick``, whose actor is the kernel: its view is the public state)."""
    _patch_clear(monkeypatch)
    v = discharge_ni("ni/timer_tick/consistency", RLIMIT)
    assert v.verdict == "counterexample" and v.counterexample["replayed"], v.detail
    assert any(p.startswith("regs[") for p in v.counterexample["parted"]), v.counterexample


def test_the_correct_trap_refuses_a_named_caller() -> None:
    """GEN-6 unbroken, stated as the variant's obligation: a trap given the raw
    arguments (a caller named first) changes nothing outside its actor's authority."""
    v = discharge_ni("int/alloc", RLIMIT, signature=OPERATIONS["alloc"])
    assert v.verdict == "proved", v.detail

