"""The proof obligations: every one proved for all sizes, and none that cannot fail.

Sensitivity: for every invariant, a deliberately broken variant of an operation — the real
model code with one check or one step taken out — must make Z3 return a counterexample.
The variants are applied by patching one name in one model module for the duration of a
proof, so the rest of the transition is the code that runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest

import exo.model.cpu as cpu_mod
import exo.model.env as env_mod
import exo.model.memory as memory_mod
import exo.model.net as net_mod
import exo.model.pct as pct_mod
import exo.model.revocation as revocation_mod
import exo.model.tlb as tlb_mod
from exo import logic
from exo.interface import Status
from exo.model import filters as filters_mod
from exo.model.ops import finish as ops_finish
from exo.proofs.discharge import discharge
from exo.proofs.obligations import BY_NAME, Obligation, obligations
from exo.proofs.runner import default_manifest_path, load_manifest
from exo.spec.invariants import INVARIANTS

MANIFEST = load_manifest(default_manifest_path())


@pytest.mark.parametrize("ob", obligations(), ids=lambda ob: ob.name)
def test_obligation_is_proved(ob: Obligation) -> None:
    """Every obligation, one test item each, within its manifest budget."""
    res = discharge(ob, MANIFEST.budget(ob.name))
    assert res.verdict == "proved", f"{ob.name}: {res.verdict} {res.detail}"
    assert MANIFEST.expected(ob.name) == "proved"


def without(status: Status) -> Callable[..., Any]:
    """``first_failure`` with every precondition that answers ``status`` left out."""
    def broken(checks: list[tuple[Any, int]], ok: int) -> Any:
        return logic.first_failure([c for c in checks if c[1] != status], ok)
    return broken


real_revalidate = tlb_mod.revalidate
real_destroy = env_mod.destroy_env
real_free_page = memory_mod.free_page


def keep(*fields: str) -> Callable[..., Any]:
    """``revalidate`` that forgets to break bindings in the given fields."""
    def broken(s: Any) -> Any:
        return real_revalidate(s).replace(**{f: getattr(s, f) for f in fields})
    return broken


def destroy_keeping(*fields: str) -> Callable[..., Any]:
    """``destroy_env`` that forgets to reset the given fields."""
    def broken(s: Any, e: Any) -> Any:
        return real_destroy(s, e).replace(**{f: getattr(s, f) for f in fields})
    return broken


def free_page_keeping_rights(s: Any, page: Any) -> Any:
    """``free_page`` that forgets the holders' rights."""
    return real_free_page(s, page).replace(rights=s.rights)


# invariant -> (operation, module patched, name in it, broken replacement, what it forgets)
VARIANTS: dict[str, tuple[str, Any, str, Any, str]] = {
    "INV-1": ("dealloc", memory_mod, "revalidate", keep("tlb_valid"), "TLB not flushed"),
    "INV-2": ("dealloc", memory_mod, "revalidate", keep("stlb_valid"), "STLB not flushed"),
    "INV-3": ("dealloc", memory_mod, "revalidate", keep("gm_valid"), "guaranteed mapping kept"),
    "INV-4": ("env_create", env_mod, "first_failure", without(Status.IN_USE),
              "context id reused"),
    "INV-5": ("dealloc", memory_mod, "free_page", free_page_keeping_rights,
              "holders keep rights on a free page"),
    "INV-6": ("env_destroy", env_mod, "destroy_env", destroy_keeping("owner"),
              "pages of a dead env stay owned"),
    "INV-7": ("env_destroy", env_mod, "destroy_env", destroy_keeping("slice_owner"),
              "slices of a dead env stay owned"),
    "INV-8": ("abort", revocation_mod, "free_page", lambda s, p: s,
              "abort records the loss but takes nothing"),
    "INV-9": ("gm_set", tlb_mod, "first_failure", without(Status.NOT_OWNER),
              "guaranteed mapping of a page merely held"),
    "INV-10": ("env_destroy", env_mod, "destroy_env", destroy_keeping("cur_env", "hw_cid"),
               "a destroyed env keeps running"),
    "INV-11": ("revoke_request", revocation_mod, "first_failure", without(Status.GUARANTEED),
               "revocation names a guaranteed page"),
    "INV-12": ("filter_install", net_mod, "first_failure", without(Status.BAD_PROGRAM),
               "install without the verifier"),
    "INV-13": ("filter_install", net_mod, "first_failure", without(Status.OVERLAP),
               "install that skips the overlap check (issue: no packet stealing)"),
    "INV-14": ("packet_take", net_mod, "first_failure", without(Status.EMPTY),
               "take from an empty ring"),
}

NET_OPS = {"filter_install", "filter_remove", "packet_arrive", "packet_take"}


def test_every_invariant_has_a_broken_variant() -> None:
    assert sorted(VARIANTS) == sorted(inv.id for inv in INVARIANTS)


@contextmanager
def patched(module: Any, name: str, replacement: Any) -> Iterator[None]:
    with mock.patch.object(module, name, replacement):
        yield


@pytest.mark.parametrize("inv", sorted(VARIANTS), ids=str)
def test_broken_variant_yields_a_counterexample(inv: str) -> None:
    op, module, name, replacement, what = VARIANTS[inv]
    with patched(module, name, replacement):
        res = discharge(BY_NAME[f"step/{op}/{inv}"])
    assert res.verdict == "counterexample", f"{inv} / {op} ({what}): {res.verdict} {res.detail}"
    cex = res.counterexample
    if op in NET_OPS:  # programs and packets are opaque ids in proofs: Z3 values only
        assert "arg_env" in cex["summary"] or "arg_" in cex["summary"], cex["summary"]
        return
    assert cex["replayed"], f"the executable model must confirm it: {cex['summary']}"
    assert cex["violations"] and cex["pre_invariants_hold"]


def test_a_kill_one_tick_late_breaks_the_excess_bound_of_INV_10() -> None:
    """INV-10's second conjunct (``excess[e] <= excess_limit``) has its own broken
    variant: a timer that lets an environment owe one tick more than the limit before
    destroying it (CPU-4)."""
    late = lambda cfg, owed: owed > cfg.excess_limit + 1  # noqa: E731
    with patched(cpu_mod, "overrun", late):
        res = discharge(BY_NAME["step/timer_tick/INV-10"])
    assert res.verdict == "counterexample", res.detail
    cex = res.counterexample
    assert cex["replayed"] and cex["pre_invariants_hold"], cex["summary"]
    assert "INV-10 violated" in cex["summary"], cex["summary"]


def translate_always_permits(s: Any, vpage: Any, write: Any) -> Any:
    """``translate`` that forgets the write-permission check."""
    refilled, found, _permits, page, outcome = real_translate(s, vpage, write)
    return refilled, found, True, page, outcome


real_translate = memory_mod.translate


def finish_keeping_changes(old: Any, new: Any, status: Any, value: Any = 0) -> Any:
    """``finish`` that keeps the new state even when the operation failed."""
    return new, real_finish(old, new, status, value)[1]


real_finish = ops_finish


def finish_touching_the_clock(old: Any, new: Any, status: Any, value: Any = 0) -> Any:
    """``finish`` that also changes a field the operation must leave alone."""
    return real_finish(old, new.replace(now=new.now + 1), status, value)


def clear_processor_keeping_registers(s: Any) -> Any:
    """``clear_processor`` that forgets the register file (the reported leak: the next
    environment starts with the last one's registers)."""
    return real_clear_processor(s).replace(regs=s.regs)


real_clear_processor = cpu_mod.clear_processor

# obligation -> (module patched, name in it, broken replacement, what it forgets)
PROPERTY_VARIANTS: dict[str, tuple[Any, str, Any, str]] = {
    "thm/THM-1/store": (memory_mod, "translate", translate_always_permits,
                        "a store through a read-only binding"),
    "thm/THM-2/dealloc": (memory_mod, "revalidate", keep("stlb_valid"), "STLB kept"),
    "thm/THM-3/acall": (pct_mod, "first_failure", without(Status.NO_ENTRY),
                        "transfer to an unregistered entry point"),
    "thm/THM-4/alloc": (memory_mod, "first_failure", without(Status.IN_USE),
                        "alloc of a page someone owns"),
    "thm/THM-6/timer_tick": (cpu_mod, "clear_processor", clear_processor_keeping_registers,
                             "a slice starts with the registers of the env that ran before"),
    "thm/THM-7/acall": (pct_mod, "first_failure", without(Status.NO_TIME),
                        "a transfer after the slice ran out: the callee pays the overrun"),
    "post/env_create/effect": (env_mod, "first_failure", without(Status.ENV_EXISTS),
                               "create reuses a live environment id (design brief)"),
    "post/alloc/failure": (memory_mod, "finish", finish_keeping_changes,
                           "a failed alloc changes the state"),
    "post/alloc/frame": (memory_mod, "finish", finish_touching_the_clock,
                         "alloc also moves the clock"),
}


@pytest.mark.parametrize("name", sorted(PROPERTY_VARIANTS), ids=str)
def test_broken_variant_breaks_a_theorem_or_postcondition(name: str) -> None:
    module, attr, replacement, what = PROPERTY_VARIANTS[name]
    with patched(module, attr, replacement):
        res = discharge(BY_NAME[name])
    assert res.verdict == "counterexample", f"{name} ({what}): {res.verdict} {res.detail}"
    assert res.counterexample["replayed"], res.counterexample["summary"]


def test_contradictory_hypotheses_are_reported_vacuous(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proof from contradictory assumptions fails loudly (vacuity check)."""
    import z3

    import exo.proofs.obligations as obligations_mod
    from exo.spec.invariants import all_hold

    monkeypatch.setattr(obligations_mod, "all_hold",
                        lambda s: z3.And(all_hold(s), s.now < 0, s.now > 0))
    res = discharge(BY_NAME["step/alloc/INV-1"])
    assert res.verdict == "vacuous" and not res.ok


def test_unknown_is_a_failure() -> None:
    """A budget too small to decide gives 'unknown', which is not a pass."""
    res = discharge(BY_NAME["step/load/INV-1"], rlimit=1)
    assert res.verdict == "unknown" and not res.ok


def jump_ok_modulo(is_ja: Any, is_cond: Any, jt: Any, jf: Any, k: Any, pc: Any, n: Any) -> Any:
    """A verifier that checks the jump *target* modulo 2**32 — so it lets a jump wrap around
    to an earlier instruction (a backward jump)."""
    from exo.logic import And, Implies

    return And(Implies(is_ja, (pc + 1 + k) % filters_mod.PC_MODULUS < n),
               Implies(is_cond, And(pc + jt + 1 < n, pc + jf + 1 < n)))


def wrapping_offset(x: Any, k: Any) -> Any:
    """Indirect load offsets computed in 32 bits, wrapping around."""
    return (x + k) & 0xFFFFFFFF if isinstance(x, int) else x + k


@pytest.mark.parametrize(("lemma", "attr", "broken"), [
    ("flt/FLT-5/termination", "jump_ok", jump_ok_modulo),
    ("flt/FLT-4/bounds-ind", "indirect_offset", wrapping_offset),
], ids=["backward-jump", "wrapping-bounds-check"])
def test_broken_filter_semantics_yield_counterexamples(lemma: str, attr: str,
                                                        broken: Any) -> None:
    """FLT-5/FLT-4 sensitivity: a verifier that allows a backward jump, and a bounds check
    that wraps, each give a counterexample re-checked with Python values."""
    with patched(filters_mod, attr, broken):
        res = discharge(BY_NAME[lemma])
    assert res.verdict == "counterexample" and res.counterexample["replayed"], res.detail


# --------------------------------------------------------------------------- the double entry


def _double_entry_variants() -> list[tuple[str, str, Any]]:
    """Every broken variant of tests/double_entry/*.py: (op, description, transition)."""
    import importlib

    from exo.spec.declarative import SUBSYSTEMS

    out: list[tuple[str, str, Any]] = []
    for name in SUBSYSTEMS:
        try:
            module = importlib.import_module(f"tests.double_entry.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tests.double_entry.{name}":
                raise
            continue
        for op, variants in module.BROKEN.items():
            out += [(op, description, fn) for description, fn in variants]
    return out


DOUBLE_ENTRY = _double_entry_variants()


def test_every_operation_has_a_variant_only_the_double_entry_refutes() -> None:
    from exo.interface import OPERATIONS

    assert {op for op, _, _ in DOUBLE_ENTRY} == set(OPERATIONS)


@pytest.mark.parametrize(("op", "description", "broken"), DOUBLE_ENTRY,
                         ids=[f"{op}: {d}" for op, d, _ in DOUBLE_ENTRY])
def test_only_the_double_entry_refutes(op: str, description: str, broken: Any) -> None:
    """A model change that contradicts one sentence of OP's clause while keeping every
    invariant, the failure/frame/effect postconditions and the theorems: ``post/OP/sound``
    refutes it, with a replayed counterexample naming the conjunct and its sentence, and
    every other obligation of OP is still proved (so the refutation comes from the double
    entry alone)."""
    res = discharge(BY_NAME[f"post/{op}/sound"], MANIFEST.budget(f"post/{op}/sound"), broken)
    assert res.verdict == "counterexample", f"{description}: {res.verdict} {res.detail}"
    cex = res.counterexample
    if "pre_state" in cex:  # else a state with packet filters: opaque, not replayable
        assert cex["replayed"], res.detail
        assert cex["violations"] and all(op in v for v in cex["violations"]), cex["violations"]
    others = [ob for ob in obligations() if ob.op == op
              and not ob.name.endswith(("/sound", "/complete"))]
    for ob in others:
        other = discharge(ob, MANIFEST.budget(ob.name), broken)
        assert other.verdict == "proved", f"{description}: {ob.name} also refutes it"
