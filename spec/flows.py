"""The flow policy and the authority function (spec/noninterference.md, NI-1..NI-3).

Written over ``exo.logic``, so the proofs (``exo.proofs.noninterference``) state their
obligations with it on Z3 terms and the kit checks it on every step (``exo.kit``'s
integrity check). The model's own functions are used only to run the actions and to name
the state (``exo.model.view.sees``: what an environment sees, GEN-7); the policy itself —
who may affect whom, what a step may change — is written here, from the clauses.

* ``ACTIONS``: what the theorems speak of: every system call made through the trap layer
  (GEN-6), the hardware events the running environment causes (``load``, ``store``,
  ``set_reg``, ``raise_exception``), the kernel's own events (``timer_tick``: the
  clock; ``packet_arrive``: the network) and its decisions (``env_create``,
  ``env_destroy``, ``revoke_request``, ``abort``).
* ``actor``: the domain an action belongs to: the running environment, or ``KERNEL``
  (the clock, the network, the kernel's decisions, and a trap with the CPU idle), whose
  view is the public state alone.
* ``may_affect``: NI-1, the declared flows: which environments an action may change the
  private view of besides its actor's.
* ``declared_inputs``: NI-1, what an action may read beyond its actor's view.
* ``authority``: NI-2, the entries a step may change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exo.interface import FREE, NUM_VECTORS, TRAPS, Cap, Result, Rights
from exo.logic import And, BoolV, Implies, IntV, Not, Or, forall, in_range
from exo.model import REGISTRY, State
from exo.model.state import SCALARS, layout
from exo.model.trap import trap

__all__ = [
    "ACTIONS",
    "EVENTS",
    "KERNEL",
    "KERNEL_ACTIONS",
    "KERNEL_OPS",
    "RUNNING_EVENTS",
    "actor",
    "authority",
    "declared_inputs",
    "may_affect",
    "outside_authority",
    "run",
]

KERNEL = FREE
"""NI-1: the domain of the kernel's own events (the clock, the network) and of a trap
with the CPU idle: no environment; its view is the public state (GEN-7)."""

EVENTS: tuple[str, ...] = ("load", "store", "set_reg", "raise_exception", "timer_tick",
                           "packet_arrive")
"""The hardware events among the actions (their own entry, GEN-6)."""

KERNEL_OPS: tuple[str, ...] = ("env_create", "env_destroy", "revoke_request", "abort")
"""The kernel's own decisions (GEN-3): actions of the ``KERNEL`` domain."""

ACTIONS: tuple[str, ...] = (*TRAPS, *EVENTS, *KERNEL_OPS)
"""NI-1: the actions the noninterference and integrity theorems speak of."""

KERNEL_ACTIONS = frozenset({"timer_tick", "packet_arrive", *KERNEL_OPS})
"""NI-1: the actions whose actor is ``KERNEL`` (the clock, the network and the kernel's
own decisions): no environment made them, so only NI-5 is stated of them."""


RUNNING_EVENTS: tuple[str, ...] = tuple(e for e in EVENTS if e not in KERNEL_ACTIONS)
"""The events the running environment causes (its actions besides its traps, NI-2)."""
_MAY_KILL = frozenset({"load", "store", "raise_exception"})
"""Events after which the running environment may be destroyed (EXC-2), its pages freed
and its grantees' rights gone (ENV-2)."""


def run(s: State, op: str, args: tuple[Any, ...]) -> tuple[State, Result]:
    """NI-1: action ``op`` on ``s``: a system call through the trap layer, else the
    event's own entry."""
    if op in TRAPS:
        return trap(s, op, *args)
    return REGISTRY[op](s, *args)


def actor(s: State, op: str) -> IntV:
    """NI-1: the domain action ``op`` belongs to in ``s``: ``KERNEL`` for the clock, the
    network and the kernel's decisions, else the running environment (``KERNEL`` too when
    the CPU idles)."""
    return KERNEL if op in KERNEL_ACTIONS else s.cur_env


def _holds(s: State, u: IntV, page: IntV) -> BoolV:
    """``u`` holds at least READ on ``page`` (MEM-6)."""
    return s.rights[u, page] >= int(Rights.READ)


def may_affect(s: State, op: str, args: tuple[Any, ...], u: IntV) -> BoolV:
    """NI-1: may action ``op`` with ``args`` change what environment ``u`` sees privately
    (its own rows, the words of its pages, the processor while it runs)? Its actor, and:

    * a grant: the grantee (MEM-3: a grant changes the grantee's rights);
    * a protected control transfer: the callee (PCT-1..PCT-3: the registers go to it);
    * a dealloc: every environment holding the page (MEM-2: its rights and bindings go);
    * a store: every environment holding a page the actor may write (MEM-5: shared
      memory is a declared channel);
    * an event that may destroy the actor (EXC-2): every environment holding one of its
      pages (ENV-2 frees them);
    * the kernel's events and decisions: anyone (the clock starts slices, the network
      fills rings, an abort takes a resource).
    """
    d = actor(s, op)
    if op in KERNEL_ACTIONS:
        return True
    parts: list[BoolV] = [u == d]
    if op == "grant":
        parts.append(u == args[1])
    if op in ("scall", "acall"):
        parts.append(u == args[0])
    if op == "dealloc":
        cap: Cap = args[0]
        parts.append(And(in_range(cap.page, s.cfg.n_pages), _holds(s, u, cap.page)))
    if op == "store":
        parts.append(_some(s.cfg.n_pages, lambda p: And(
            _holds(s, u, p), s.rights[d, p] >= int(Rights.READWRITE)), "shared"))
    if op in _MAY_KILL:
        parts.append(_some(s.cfg.n_pages, lambda p: And(s.owner[p] == d, _holds(s, u, p)),
                           "granted"))
    return Or(*parts)


def _some(n: IntV, pred: Callable[[IntV], BoolV], name: str) -> BoolV:
    """``∃ p ∈ [0, n): pred(p)`` as a quantifier, not a fresh constant (``may_affect`` is
    also asked inside ``authority``'s quantifier over keys, where a constant with its own
    axiom could not depend on the key)."""
    return Not(forall((n,), lambda p: Not(pred(p)), name=name))


def declared_inputs(s: State, t: State, op: str, args: tuple[Any, ...]) -> BoolV:
    """NI-1: ``s`` and ``t`` agree on what action ``op`` may read beyond its actor's
    view:

    * ``yield_to``, ``scall``, ``acall``: the target's entry points (ENV-3..ENV-5: an
      entry point is registered to be called; whether it is there is the callee's
      published interface);
    * ``filter_install``: the programs of the installed filters (NET-1: an overlap
      answers with a packet both accept; the filters are checked against each other);
    """
    if op in ("yield_to", "scall", "acall"):
        e = args[0]
        return Implies(in_range(e, s.cfg.n_envs), forall(
            (NUM_VECTORS,), lambda v: s.entry[e, v] == t.entry[e, v], name="entry"))
    if op == "filter_install":
        return forall((s.cfg.n_filters,), lambda f: Implies(
            s.filter_valid[f], s.filter_code[f] == t.filter_code[f]), name="code")
    return True


_SCHEDULER = frozenset({"cur_env", "hw_cid", "now", "cur_slice", "slice_left", "pc", "epc",
                        "cause", "badvpage", "regs", "kernel_drops"})
"""Entries no environment owns: the clock and the schedule (public), the processor (the
running environment's, cleared at every start, CPU-7), the kernel's drop count."""

_CACHES = frozenset(f"{p}_{f}" for p in ("tlb", "stlb")
                    for f in ("valid", "cid", "vpage", "page", "write"))
"""The shared translation caches: any binding may evict any other (TLB-6, TLB-7)."""

_ROWS = frozenset({"entry", "rights", "repo_page", "repo_slice", "repo_filter", "excess",
                   "rev_pending", "rev_kind", "rev_target", "rev_deadline", "repo_exc",
                   "rx_head", "rx_count", "rx_pkt", "rx_drops", "gm_valid", "gm_vpage",
                   "gm_page", "gm_write"})
"""Fields whose first index is the environment whose record the entry is."""


def authority(s: State, post: State, op: str, args: tuple[Any, ...], field: str,
              key: tuple[IntV, ...] = ()) -> BoolV:
    """NI-2: may action ``op`` (from ``s`` to ``post``) change entry ``key`` of ``field``?

    * the schedule, the clock and the processor, and the shared caches: yes;
    * an environment's record (``entry``, ``rights``, ...): its actor's, one ``may_affect``
      names, the environment that starts running and the owner of the slice that begins
      (CPU-5 delivers a waiting repossession exception and charges a debt);
    * a page's words: a page the actor may write (MEM-5), or a free one;
    * a page's owner and generation, a slice's owner, a filter slot: free, or the actor's;
    * an environment's life and context id: the actor's; a context id's user: free, or
      the actor's.
    """
    d = actor(s, op)
    if field in _SCHEDULER or field in _CACHES:
        return True
    if field in _ROWS:
        x = key[0]
        return Or(x == d, x == post.cur_env, x == post.slice_owner[post.cur_slice],
                  may_affect(s, op, args, x))
    if field == "word":
        p = key[0]
        return Or(s.rights[d, p] >= int(Rights.READWRITE), s.owner[p] == FREE)
    if field in ("owner", "gen"):
        return Or(s.owner[key[0]] == FREE, s.owner[key[0]] == d)
    if field == "slice_owner":
        return Or(s.slice_owner[key[0]] == FREE, s.slice_owner[key[0]] == d)
    if field in ("filter_valid", "filter_owner", "filter_code"):
        f = key[0]
        return Or(Not(s.filter_valid[f]), s.filter_owner[f] == d)
    if field in ("env_alive", "env_cid"):
        return key[0] == d
    if field == "cid_env":
        return Or(s.cid_env[key[0]] == FREE, s.cid_env[key[0]] == d)
    raise KeyError(f"NI-2: no field {field!r}")


def outside_authority(s: State, post: State, op: str, args: tuple[Any, ...]) -> list[str]:
    """NI-2 on concrete states: each entry that differs between ``s`` and ``post`` and
    lies outside ``authority``, as ``field[key]: before -> after`` (empty: the step kept
    to its authority). The kit runs it on the states an implementation shows."""
    out = [f"{n}: {getattr(s, n)!r} -> {getattr(post, n)!r}" for n in SCALARS
           if getattr(s, n) != getattr(post, n) and not authority(s, post, op, args, n)]
    for name in layout(s.cfg):
        before, after = getattr(s, name), getattr(post, name)
        for k, v in before.items():
            if after[k] != v and not authority(s, post, op, args, name,
                                               k if type(k) is tuple else (k,)):
                out.append(f"{name}[{k}]: {v!r} -> {after[k]!r}")
    return out
