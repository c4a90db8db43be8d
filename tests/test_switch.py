"""CPU-7 / THM-6: nothing of one environment is visible to the next.

Each test replays an attack on the model and on the implementation in lockstep: a victim
puts a secret into a register (or takes a TLB miss, which leaves ``epc``, ``cause`` and
``badvpage``), the kernel takes the CPU from it without its cooperation (abort of the
slice in progress, destroy, a kill for excess time), and the attacker's next slice
starts. The attacker must see only boot values. A protected control transfer is the one
switch that passes the registers on (PCT-3), and a control test shows it still does.
"""

from __future__ import annotations

from typing import Any

from exo.impl import Kernel
from exo.interface import NUM_EXCEPTIONS, Config, ExcKind, Outcome, Resource, Status
from exo.kit.conformance import abstract, differences, same_result
from exo.model import REGISTRY, State, initial
from exo.spec.invariants import check

CFG = Config(n_envs=3, n_pages=4, page_words=2, tlb_size=4, stlb_size=8, n_cids=4,
             n_slices=3, n_guaranteed=2, n_regs=2, slice_ticks=3, excess_limit=2,
             addr_limit=1024)
VICTIM, ATTACKER = 0, 1
SECRET = 0x5EC2E7
UNMAPPED = 7
"""A virtual page nobody maps: a load from it is a TLB miss."""

Script = list[tuple[str, tuple[Any, ...]]]


class Both:
    """The model and the implementation driven in lockstep; every step checked equal."""

    def __init__(self) -> None:
        self.s: State = initial(CFG)
        self.k = Kernel(CFG)

    def do(self, name: str, *args: Any) -> int:
        new, res = REGISTRY[name](self.s, *args)
        got = self.k.apply(name, *args)
        assert same_result(res, got), f"{name}{args}: model {res!r}, impl {got!r}"
        assert res.status == Status.OK, f"{name}{args}: {res!r}"
        assert check(new) == {}
        assert differences(new, abstract(CFG, self.k.observe())) == []
        self.s = new
        return int(res.value)

    def tick_until(self, env: int, limit: int = 20) -> list[int]:
        outs: list[int] = []
        for _ in range(limit):
            if self.s.cur_env == env:
                return outs
            outs.append(self.do("timer_tick"))
        raise AssertionError(f"env {env} never ran")

    def processor(self) -> list[tuple[list[int], int, int, int]]:
        """(registers, epc, cause, badvpage) as the model and the implementation have them."""
        o = self.k.observe()
        impl_regs = [o["regs"][r] for r in range(CFG.n_regs)]
        return [([self.s.regs[r] for r in range(CFG.n_regs)], self.s.epc, self.s.cause,
                 self.s.badvpage), (impl_regs, o["epc"], o["cause"], o["badvpage"])]


BOOT_PROCESSOR = ([0] * CFG.n_regs, 0, -1, 0)


def world() -> Both:
    """Victim (env 0, slice 1) and attacker (env 1, slice 2), every entry point registered;
    the victim is running at the start of its slice."""
    b = Both()
    for e in (VICTIM, ATTACKER):
        b.do("env_create", e, e)
        for exc in range(NUM_EXCEPTIONS):
            b.do("set_exception_context", e, exc, 100 * (e + 1) + exc)
        for which in range(2):
            b.do("set_interrupt_context", e, which, 100 * (e + 1) + 20 + which)
            b.do("set_protected_entry", e, which, 100 * (e + 1) + 30 + which)
        b.do("slice_alloc", e, e + 1)
    b.tick_until(VICTIM)
    return b


def attacker_sees(b: Both) -> None:
    """The attacker runs and sees only boot values, on the model and on the impl."""
    assert b.s.cur_env == ATTACKER
    for seen in b.processor():
        assert seen == BOOT_PROCESSOR, seen


def test_abort_of_the_slice_in_progress_leaks_no_register_CPU_7() -> None:
    """The reported attack: the victim loads a secret into a register, the kernel aborts its
    slice (REV-3), and the attacker's slice starts next."""
    b = world()
    b.do("set_reg", 0, SECRET)
    b.do("revoke_request", VICTIM, int(Resource.SLICE), 1, b.s.now + 1)
    b.do("timer_tick")
    b.do("timer_tick")
    b.do("abort", VICTIM)
    assert b.s.cur_env == -1 and b.s.regs[0] == SECRET  # idle: nobody can read it
    b.tick_until(ATTACKER)
    attacker_sees(b)


def test_tlb_miss_state_is_not_seen_by_the_next_env_CPU_7() -> None:
    """After the victim's TLB miss (EXC-2: ``epc``, ``cause``, ``badvpage`` set) it is killed
    for excess time (CPU-4); the attacker's slice starts without them."""
    b = world()
    b.do("set_reg", 1, SECRET)
    assert b.do("load", UNMAPPED, 0, 0) == int(Outcome.DELIVERED)
    assert b.s.badvpage == UNMAPPED and b.s.cause == int(ExcKind.TLB_MISS)
    outs = b.tick_until(ATTACKER)
    assert int(Outcome.KILLED) in outs and not b.s.env_alive[VICTIM]
    attacker_sees(b)


def test_destroy_of_the_running_env_leaks_nothing_CPU_7() -> None:
    """ENV-2 of the running victim: the CPU idles, and the next start is clean."""
    b = world()
    b.do("set_reg", 0, SECRET)
    b.do("load", UNMAPPED, 0, 1)
    b.do("env_destroy", VICTIM)
    b.tick_until(ATTACKER)
    attacker_sees(b)


def test_end_of_slice_without_cooperation_leaks_nothing_CPU_7() -> None:
    """The victim ignores its end-of-slice upcall; a yield to FREE is not needed for the
    next slice's owner to start clean (here the victim yields away, still clean)."""
    b = world()
    b.do("set_reg", 0, SECRET)
    b.do("load", UNMAPPED, 0, 1)
    b.do("yield_to", -1)
    b.tick_until(ATTACKER)
    attacker_sees(b)


def test_named_yield_passes_no_register_CPU_3_CPU_7() -> None:
    """CPU-3: a yield lands on the target's start-of-slice entry with a clean processor."""
    b = world()
    b.do("set_reg", 0, SECRET)
    b.do("load", UNMAPPED, 0, 1)
    assert b.do("yield_to", ATTACKER) == int(Outcome.NONE)
    attacker_sees(b)


def test_protected_control_transfer_still_passes_registers_PCT_3() -> None:
    """PCT-3 (control): ``acall`` is the message channel; the callee sees the caller's
    registers, ``epc``, ``cause`` and ``badvpage``."""
    b = world()
    b.do("set_reg", 0, SECRET)
    b.do("load", UNMAPPED, 0, 1)
    b.do("acall", ATTACKER)
    assert b.s.cur_env == ATTACKER
    for regs, _epc, cause, badvpage in b.processor():
        assert regs[0] == SECRET and cause == int(ExcKind.TLB_MISS) and badvpage == UNMAPPED
