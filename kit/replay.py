"""Plain replay and minimization: a list of ``(name, args)`` steps run in lockstep from
boot (``replay``), and a failing list cut down to a short one that fails the same way
(``minimize``). Both run outside Hypothesis, on ``exo.kit.lockstep.Lockstep``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exo.interface import FREE, OPERATIONS, Config
from exo.kit.lockstep import TRAP, Factory, Failure, Lockstep, Step

__all__ = ["MINIMIZE_CALLS", "checked_steps", "minimize", "replay"]


def checked_steps(steps: Sequence[Any]) -> list[Step]:
    """The steps as ``(name, args)`` pairs; ``ValueError`` naming the first bad one."""
    out: list[Step] = []
    for i, s in enumerate(steps):
        if not (isinstance(s, tuple | list) and len(s) == 2):
            raise ValueError(f"step {i}: expected (name, args), got {s!r}")
        name, args = s
        if type(name) is not str or (name not in OPERATIONS and name != TRAP):
            raise ValueError(f"step {i}: unknown operation {name!r}: not one of "
                             f"exo.interface.OPERATIONS nor {TRAP!r}")
        if not isinstance(args, tuple | list):
            raise ValueError(f"step {i}: arguments of {name} must be a tuple, not "
                             f"{type(args).__name__}")
        if name == TRAP and (not args or type(args[0]) is not str):
            raise ValueError(f"step {i}: a {TRAP} step's first argument names the system "
                             "call (GEN-6)")
        out.append((name, tuple(args)))
    return out


MINIMIZE_CALLS = 30_000
"""How many calls ``minimize``'s replays may make in all (a failing program of hundreds
of calls would otherwise cost minutes of replays; about 15 s at the bundled kernel's
speed); it keeps the shortest program found by then. A number of calls, not seconds, so
the result does not depend on the machine's load."""


def replay(factory: Factory, cfg: Config, steps: Sequence[Step],
           fields: frozenset[str] | None = None, invariants: bool | None = True,
           blame: bool = True) -> Failure | None:
    """Run ``steps`` in lockstep from boot, checking after boot and after every step
    (after a trap step, also the integrity of the change and the caller's view, GEN-6,
    NI-2, GEN-7; at the end every environment's view, as the kit's machine does);
    the first failure, or None. ``fields`` as for ``Lockstep``. ``invariants``: True,
    the model's invariants after every step; False, once at the end (the check costs
    about ten steps, and Z3 questions when filters are installed); None, not at all
    (``minimize`` keeping a failure that is not a broken invariant). ``blame``: a result
    or state difference names the clause and sentence it contradicts (``Lockstep``;
    ``minimize``'s trials leave it out). ``ValueError`` for a malformed step (unknown
    operation, arguments not a tuple) or configuration, before anything runs."""
    problem = cfg.problem() if isinstance(cfg, Config) else "not an exo.interface.Config"
    if problem is not None:
        raise ValueError(f"bad configuration: {problem}")
    plan = checked_steps(steps)
    ls = Lockstep(factory, cfg, fields, blame)
    every = invariants is True
    failure = ls.conforms(every)
    for name, args in plan:
        if failure is not None:
            break
        before, caller = ls.seen, ls.model.cur_env
        failure = ls.call(name, args) or ls.conforms(every, integrity=(
            (before, name, args) if name == TRAP else None))
        if failure is None and name == TRAP and caller != FREE:
            failure = ls.views([caller])  # as the kit's machine checks a trap step
    if failure is None and invariants is False:
        failure = ls.model_holds()
    return failure or ls.views(range(cfg.n_envs))


def minimize(factory: Factory, cfg: Config, steps: Sequence[Step], failure: Failure,
             max_replays: int = 2000, fields: frozenset[str] | None = None,
             max_calls: int = MINIMIZE_CALLS) -> tuple[list[Step], Failure]:
    """A shorter program failing the same way (the same ``kind``): cut everything after
    ``failure.index``, delete chunks of steps (halves, quarters, ... from the end), then
    single steps (from the last to the first, repeatedly) and then pairs of steps, while
    a replay still fails with that kind. At most
    ``max_replays`` replays and ``max_calls`` calls; the shortest program found and
    its failure. The model's invariants are checked after every step only when the
    failure is a broken invariant. The trials leave out what a difference contradicts
    (``exo.kit.blame``); the program kept is replayed once more to name it."""
    every: bool | None = True if failure.kind == "invariant" else None
    best = checked_steps(steps)[: failure.index + 1]
    found = replay(factory, cfg, best, fields, invariants=every, blame=False)
    if found is None or found.kind != failure.kind:  # not reproducible as given
        return list(steps), failure
    budget = [max_replays]
    calls = [max_calls]

    def attempt(candidate: list[Step]) -> Failure | None:
        if budget[0] <= 0 or calls[0] < len(candidate):
            budget[0] = 0
            return None
        budget[0] -= 1
        calls[0] -= len(candidate)
        f = replay(factory, cfg, candidate, fields, invariants=every, blame=False)
        return f if f is not None and f.kind == failure.kind else None

    best = best[: found.index + 1]
    # chunks first (halves, quarters, ...: a long program loses most of its steps in a
    # few replays), then single steps and pairs
    size = len(best) // 2
    while size >= 2 and budget[0] > 0:
        i = len(best) - size
        while i >= 0 and budget[0] > 0:
            candidate = best[:i] + best[i + size:]
            f = attempt(candidate)
            if f is not None:
                best, found = candidate[: f.index + 1], f
            i = min(i - size, len(best) - size)
        size //= 2
    changed = True
    while changed and budget[0] > 0:
        changed = False
        i = len(best) - 1
        while i >= 0 and budget[0] > 0:
            candidate = best[:i] + best[i + 1:]
            f = attempt(candidate)
            if f is not None:
                best, found, changed = candidate[: f.index + 1], f, True
            i = min(i - 1, len(best) - 1)
        if changed:
            continue
        # pairs: two steps that only matter together (e.g. alloc then dealloc)
        for i in range(len(best) - 1, 0, -1):
            for j in range(i - 1, -1, -1):
                if budget[0] <= 0 or i >= len(best):
                    break
                candidate = best[:j] + best[j + 1:i] + best[i + 1:]
                f = attempt(candidate)
                if f is not None:
                    best, found, changed = candidate[: f.index + 1], f, True
                    break
            if changed:
                break
    named = replay(factory, cfg, best, fields, invariants=every)
    return best, (named if named is not None and named.kind == found.kind else found)
