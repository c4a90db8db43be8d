"""Unit tests of processor environments (exo.model.env): ENV-1 env_create, ENV-2
env_destroy, ENV-3 set_exception_context, ENV-4 set_interrupt_context, ENV-5
set_protected_entry; with GEN-1/GEN-2 (statuses, ill-typed arguments, unchanged state on
failure) and GEN-3 (entry addresses)."""

from __future__ import annotations

import pytest

from exo.interface import (
    FREE,
    NO_ENTRY,
    NUM_EXCEPTIONS,
    Cap,
    ExcKind,
    Resource,
    Status,
    Vector,
)
from exo.model import State
from exo.spec.invariants import check
from tests.builders import (
    CFG,
    PAGE,
    RO,
    RW,
    changed,
    do,
    entry,
    ok,
    ops_of,
    owning,
    register_all,
    rejected,
    repossess,
    running_world,
    step,
    ticks,
    with_envs,
)

ENV_OPS = ["env_create", "env_destroy", "set_exception_context", "set_interrupt_context",
           "set_protected_entry"]

A = CFG.addr_limit


def test_env_ops_registered_GEN_1() -> None:
    """GEN-1: the env module defines exactly the ENV-1..ENV-5 operations."""
    assert sorted(ops_of("env")) == sorted(ENV_OPS)


# --------------------------------------------------------------------------- ENV-1 env_create


@pytest.mark.parametrize("args", [(-1, 2), (3, 2), (2**64, 2), (2, -1), (2, 4), (2, 2**64),
                                  (-5, -5)])
def test_env_create_out_of_range_ENV_1(args: tuple[int, int]) -> None:
    """ENV-1: an env or context id outside its range is INVALID_ARGUMENT (GEN-2)."""
    rejected(with_envs(2), "env_create", args, Status.INVALID_ARGUMENT)


def test_env_create_alive_ENV_1() -> None:
    """ENV-1: creating a live environment is ENV_EXISTS, even with its own or a free cid."""
    s = with_envs(2)
    rejected(s, "env_create", (0, 2), Status.ENV_EXISTS)
    rejected(s, "env_create", (0, 0), Status.ENV_EXISTS)
    rejected(s, "env_create", (1, 0), Status.ENV_EXISTS)  # ENV_EXISTS is checked before IN_USE


def test_env_create_cid_in_use_ENV_1() -> None:
    """ENV-1: a context id used by a live environment is IN_USE."""
    s = with_envs(2)
    rejected(s, "env_create", (2, 0), Status.IN_USE)
    rejected(s, "env_create", (2, 1), Status.IN_USE)


def test_env_create_success_ENV_1() -> None:
    """ENV-1: the new env is live with its cid, owns and holds nothing, has no entry
    points, guaranteed mappings, slices, excess, request or repossession records; nothing
    else changes; the value is the env."""
    s = with_envs(2)
    new, res = ok(s, "env_create", 2, 3)
    assert res.value == 2
    assert new.env_alive[2] is True
    assert new.env_cid[2] == 3
    assert new.cid_env[3] == 2
    assert all(new.entry[2, v] == NO_ENTRY for v in range(len(Vector)))
    assert all(new.owner[p] != 2 for p in range(CFG.n_pages))
    assert all(new.rights[2, p] == 0 for p in range(CFG.n_pages))
    assert all(new.slice_owner[q] != 2 for q in range(CFG.n_slices))
    assert all(new.gm_valid[2, g] is False for g in range(CFG.n_guaranteed))
    assert new.excess[2] == 0
    assert new.rev_pending[2] is False
    assert new.repo_exc[2] is False
    assert changed(s, new) == {"env_alive", "env_cid", "cid_env"}


def test_env_create_reuses_slot_and_cid_ENV_1() -> None:
    """ENV-1/ENV-2: after a destroy, the env slot and its context id can be reused, and the
    reincarnation starts clean (no entries, nothing owned)."""
    s, _ = running_world()
    s = step(s, "env_destroy", 0)
    s = step(s, "env_create", 2, 0)  # env 0's old cid, now free
    assert s.cid_env[0] == 2
    new = step(s, "env_create", 0, 3)
    assert new.env_cid[0] == 3
    assert all(new.entry[0, v] == NO_ENTRY for v in range(len(Vector)))
    assert all(new.rights[0, p] == 0 for p in range(CFG.n_pages))
    assert all(new.slice_owner[q] != 0 for q in range(CFG.n_slices))


# --------------------------------------------------------------------------- ENV-2 env_destroy


@pytest.mark.parametrize("env", [-1, 3, 2**64, -(2**64)])
def test_env_destroy_out_of_range_ENV_2(env: int) -> None:
    """ENV-2: an env outside the range is INVALID_ARGUMENT (GEN-2)."""
    rejected(with_envs(2), "env_destroy", (env,), Status.INVALID_ARGUMENT)


def test_env_destroy_dead_ENV_2() -> None:
    """ENV-2: destroying an env that is not alive is NO_SUCH_ENV, also a second time."""
    s = with_envs(2)
    rejected(s, "env_destroy", (2,), Status.NO_SUCH_ENV)
    gone = step(s, "env_destroy", 1)
    rejected(gone, "env_destroy", (1,), Status.NO_SUCH_ENV)


def _busy_world() -> tuple[State, dict[int, Cap]]:
    """Env 0 running on slice 1 and owning slice 2, pages 0 and 1 (page 1 guaranteed at
    vpage 9), with bindings of page 0 for itself and for env 1 (granted READ), a READ grant
    of env 1's page 2 bound at vpage 4, and a pending page request; env 1 binds page 2."""
    s, caps = running_world()
    s = step(s, "slice_alloc", 0, 2)
    s, rcap = ok(s, "grant", 0, caps[0], 1, RO)
    s = step(s, "tlbwr", 1, 7, rcap.value, False)
    s = step(s, "tlbwr", 0, 3, caps[0], True)
    s = step(s, "gm_set", 0, 0, 9, caps[1], True)
    s, c2 = ok(s, "grant", 1, caps[2], 0, RO)
    s = step(s, "tlbwr", 0, 4, c2.value, False)
    s = step(s, "tlbwr", 1, 8, caps[2], True)
    s = step(s, "revoke_request", 0, int(Resource.PAGE), 0, s.now + 5)
    return s, {**caps, 10: rcap.value}


def test_env_destroy_returns_everything_ENV_2() -> None:
    """ENV-2: every page and slice of the env is returned (generations move on, every
    holder loses its rights), its own rights, cid, guaranteed mappings, entry points and
    request go, it stops running, and every TLB/STLB binding depending on it is broken."""
    s, caps = _busy_world()
    gen = {p: s.gen[p] for p in range(CFG.n_pages)}
    new = step(s, "env_destroy", 0)
    assert new.env_alive[0] is False
    assert new.env_cid[0] == FREE
    assert new.cid_env[0] == FREE
    for p in (0, 1):
        assert new.owner[p] == FREE
        assert new.gen[p] == gen[p] + 1
        assert all(new.rights[e, p] == 0 for e in range(CFG.n_envs))
    assert new.owner[2] == 1 and new.gen[2] == gen[2]
    assert new.rights[0, 2] == 0 and new.rights[1, 2] == RW
    assert all(new.slice_owner[q] == FREE for q in range(CFG.n_slices))
    assert all(new.gm_valid[0, g] is False for g in range(CFG.n_guaranteed))
    assert all(new.entry[0, v] == NO_ENTRY for v in range(len(Vector)))
    assert new.rev_pending[0] is False
    assert new.excess[0] == 0
    assert new.cur_env == FREE and new.hw_cid == FREE
    # Only env 1's binding of its own page 2 survives, in the TLB and in the STLB.
    tlb = [(new.tlb_cid[i], new.tlb_page[i]) for i in range(CFG.tlb_size) if new.tlb_valid[i]]
    stlb = [(new.stlb_cid[j], new.stlb_page[j]) for j in range(CFG.stlb_size)
            if new.stlb_valid[j]]
    assert tlb == [(1, 2)]
    assert stlb == [(1, 2)]
    # The capabilities env 1 was given for env 0's page are stale now.
    rejected(new, "tlbwr", (1, 7, caps[10], False), Status.BAD_CAPABILITY)


def test_env_destroy_clears_excess_ENV_2() -> None:
    """ENV-2: excess time still owed is forgotten, so a new env in the slot owes none."""
    s, _ = running_world()
    s, _ = ticks(s, CFG.slice_ticks + 1)
    assert s.excess[0] == 1
    new = step(s, "env_destroy", 0)
    assert new.excess[0] == 0
    again = step(new, "env_create", 0, 0)
    assert again.excess[0] == 0


def test_env_destroy_not_running_keeps_cpu_ENV_2() -> None:
    """ENV-2: destroying an env that is not running leaves the running env alone."""
    s, _ = running_world()
    new = step(s, "env_destroy", 1)
    assert new.cur_env == 0 and new.hw_cid == s.hw_cid and new.pc == s.pc
    assert new.owner[2] == FREE


def test_env_destroy_clears_repossession_vector_ENV_2() -> None:
    """ENV-2: the repossession vector and a pending repossession exception are cleared."""
    s, _ = owning()
    s = repossess(s, 1, PAGE, 2)
    assert s.repo_page[1, 2] is True and s.repo_exc[1] is True
    new = step(s, "env_destroy", 1)
    assert all(new.repo_page[1, p] is False for p in range(CFG.n_pages))
    assert new.repo_exc[1] is False


def test_env_destroy_then_running_env_NOT_RUNNING_ENV_2() -> None:
    """ENV-2: after destroying the running env, CPU operations see no environment."""
    s, _ = running_world()
    new = step(s, "env_destroy", 0)
    rejected(new, "set_reg", (0, 1), Status.NOT_RUNNING)
    rejected(new, "load", (0, 0, 0), Status.NOT_RUNNING)


# --------------------------------------------------------------------------- ENV-3..ENV-5


VECTOR_OPS: list[tuple[str, int, int]] = [
    ("set_exception_context", int(Vector.TLB_MISS), NUM_EXCEPTIONS),
    ("set_interrupt_context", int(Vector.SLICE_START), 2),
    ("set_protected_entry", int(Vector.PCT_SYNC), 2),
]
VECTOR_IDS = ["ENV-3", "ENV-4", "ENV-5"]


@pytest.mark.parametrize(("name", "base", "count"), VECTOR_OPS, ids=VECTOR_IDS)
def test_set_vector_bad_env_ENV_3_4_5(name: str, base: int, count: int) -> None:
    """ENV-3/4/5: an env out of range is INVALID_ARGUMENT; a dead one NO_SUCH_ENV."""
    s = with_envs(2)
    for env in (-1, 3, 2**70):
        rejected(s, name, (env, 0, 5), Status.INVALID_ARGUMENT)
    rejected(s, name, (2, 0, 5), Status.NO_SUCH_ENV)


@pytest.mark.parametrize(("name", "base", "count"), VECTOR_OPS, ids=VECTOR_IDS)
def test_set_vector_bad_which_ENV_3_4_5(name: str, base: int, count: int) -> None:
    """ENV-3/4/5: a vector number outside the operation's own vectors is
    INVALID_ARGUMENT (even on a dead env: range checks come first)."""
    s = with_envs(2)
    for which in (-1, count, count + 1, 2**64):
        rejected(s, name, (0, which, 5), Status.INVALID_ARGUMENT)
        rejected(s, name, (2, which, 5), Status.INVALID_ARGUMENT)


@pytest.mark.parametrize(("name", "base", "count"), VECTOR_OPS, ids=VECTOR_IDS)
def test_set_vector_bad_entry_GEN_3(name: str, base: int, count: int) -> None:
    """GEN-3 (ENV-3/4/5): an entry below NO_ENTRY or at/above addr_limit is
    INVALID_ARGUMENT, checked before NO_SUCH_ENV."""
    s = with_envs(2)
    for e in (-2, -(2**64), A, A + 1, 2**64):
        rejected(s, name, (0, 0, e), Status.INVALID_ARGUMENT)
        rejected(s, name, (2, 0, e), Status.INVALID_ARGUMENT)


@pytest.mark.parametrize(("name", "base", "count"), VECTOR_OPS, ids=VECTOR_IDS)
def test_set_vector_success_ENV_3_4_5(name: str, base: int, count: int) -> None:
    """ENV-3/4/5: each vector gets its entry (0 and addr_limit-1 are valid), only that
    vector of that env changes, and NO_ENTRY unregisters."""
    s = with_envs(2)
    for which in range(count):
        for addr in (0, 17, A - 1):
            new = step(s, name, 1, which, addr)
            assert new.entry[1, base + which] == addr
            assert changed(s, new) == {"entry"}
            others = [(e, v) for e in range(CFG.n_envs) for v in range(len(Vector))
                      if (e, v) != (1, base + which)]
            assert all(new.entry[k] == s.entry[k] for k in others)
            gone = step(new, name, 1, which, NO_ENTRY)
            assert gone.entry[1, base + which] == NO_ENTRY
            assert gone == s


def test_register_all_vectors_distinct_ENV_3_4_5() -> None:
    """ENV-3/4/5: the three operations together fill all ten vectors independently."""
    s = register_all(with_envs(2), 1)
    assert [s.entry[1, int(v)] for v in Vector] == [entry(1, v) for v in Vector]
    assert all(s.entry[0, int(v)] == NO_ENTRY for v in Vector)
    assert check(s) == {}


def test_set_vector_on_running_env_ENV_3() -> None:
    """ENV-3: registering a handler does not move control (pc unchanged)."""
    s, _ = running_world()
    new, res = do(s, "set_exception_context", 0, int(ExcKind.OVERFLOW), 55)
    assert res.status == Status.OK and check(new) == {}
    assert new.pc == s.pc and new.cur_env == 0
