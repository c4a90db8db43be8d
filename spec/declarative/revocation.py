"""The declarative text of REV-1 and REV-3 (spec/revocation.md), with the repossession
exception of REV-4 as the last step of an abort.

REV-2 (a release complies with a request of its own kind only) is stated by the texts of
the releases: Dealloc (MEM-2), Slice free (CPU-2) and filter removal (NET-2,
``exo.spec.declarative.net``). REV-5 is the precondition ``GUARANTEED`` of REV-1 below.
"""

from __future__ import annotations

from typing import Any

from exo.interface import FREE, ExcKind, Resource, Status, Vector
from exo.logic import And, BoolV, If, IntV, Not, Or, find, in_range
from exo.model.state import State
from exo.spec.declarative.text import (
    A,
    Case,
    Cite,
    Requirement,
    Text,
    View,
    always,
    branch,
    env_alive,
    env_in_range,
)
from exo.spec.declarative.vocabulary import has_entry, page_freed

# --------------------------------------------------------------------------- REV-1


def _is(kind: Resource) -> Any:
    """The request is for a resource of ``kind``."""
    return lambda a: a[1] == int(kind)


_page, _slice, _filter = _is(Resource.PAGE), _is(Resource.SLICE), _is(Resource.FILTER)


def guaranteed_binds(s: Any, e: IntV, page: IntV) -> BoolV:
    """REV-5: some valid guaranteed mapping of ``e`` binds ``page``."""
    return find(s.cfg.n_guaranteed,
                lambda g: And(s.gm_valid[e, g], s.gm_page[e, g] == page),
                name="rev_gm") >= 0


def _recorded(pre: State, a: A) -> View:
    env, resource, target, deadline = a

    def mine(x: IntV) -> BoolV:
        return x == env

    return View(pre).given(
        Cite("REV-1", "The request is recorded: `rev_pending[env] = true`, and `rev_kind`, "
                      "`rev_target` and `rev_deadline` of `env` take the arguments."),
        rev_pending=lambda x: Or(mine(x), pre.rev_pending[x]),
        rev_kind=lambda x: If(mine(x), resource, pre.rev_kind[x]),
        rev_target=lambda x: If(mine(x), target, pre.rev_target[x]),
        rev_deadline=lambda x: If(mine(x), deadline, pre.rev_deadline[x]),
    )


REVOKE_REQUEST = Text(
    "revoke_request",
    (
        env_in_range("REV-1"),
        Requirement("resource-kind", Cite("REV-1", "`resource` is `PAGE`, `SLICE` or "
                                                   "`FILTER`"),
                    lambda s, a: Not(Or(_page(a), _slice(a), _filter(a))),
                    Status.INVALID_ARGUMENT),
        Requirement("page-in-range", Cite("REV-1", "for a page: `target` in `[0, n_pages)`"),
                    lambda s, a: And(_page(a), Not(in_range(a[2], s.cfg.n_pages))),
                    Status.INVALID_ARGUMENT),
        Requirement("slice-in-range", Cite("REV-1", "for a slice: `target` in "
                                                    "`[0, n_slices)`"),
                    lambda s, a: And(_slice(a), Not(in_range(a[2], s.cfg.n_slices))),
                    Status.INVALID_ARGUMENT),
        Requirement("filter-in-range", Cite("REV-1", "for a filter: `target` in "
                                                     "`[0, n_filters)`"),
                    lambda s, a: And(_filter(a), Not(in_range(a[2], s.cfg.n_filters))),
                    Status.INVALID_ARGUMENT),
        Requirement("deadline-later", Cite("REV-1", "`deadline` is later than `now`"),
                    lambda s, a: Not(a[3] > s.now), Status.INVALID_ARGUMENT),
        env_alive("REV-1"),
        Requirement("none-pending", Cite("REV-1", "`env` has no request pending"),
                    lambda s, a: s.rev_pending[a[0]], Status.BUSY),
        Requirement("owns-page", Cite("REV-1", "for a page: `env` owns `target`"),
                    lambda s, a: And(_page(a), s.owner[a[2]] != a[0]), Status.NOT_OWNER),
        Requirement("owns-slice", Cite("REV-1", "for a slice: `env` owns `target`"),
                    lambda s, a: And(_slice(a), s.slice_owner[a[2]] != a[0]),
                    Status.NOT_OWNER),
        Requirement("owns-filter", Cite("REV-1", "for a filter: slot `target` holds an "
                                                 "installed filter of `env`"),
                    lambda s, a: And(_filter(a), Not(And(s.filter_valid[a[2]],
                                                         s.filter_owner[a[2]] == a[0]))),
                    Status.NOT_OWNER),
        Requirement("not-guaranteed", Cite("REV-1", "for a page: no valid guaranteed mapping "
                                                    "of `env` binds `target`"),
                    lambda s, a: And(_page(a), guaranteed_binds(s, a[0], a[2])),
                    Status.GUARANTEED),
    ),
    (Case("recorded", Cite("REV-1", "`OK` with the value 0."),
          always, _recorded, lambda s, a: 0),),
)

# --------------------------------------------------------------------------- REV-3, REV-4

_REV3 = "The request is cleared, and its target is taken."
_REV4_AT_ONCE = ("If, after the resource is taken, `env` is running and has a repossession "
                 "handler, the exception is delivered at once: `epc` receives `pc`; `cause` "
                 "becomes `REPOSSESSION`; `pc` becomes the handler.")
_REV4_WAITS = ("Otherwise `repo_exc[env]` is set, and the exception waits for `env`'s next "
               "start (CPU-5).")


def repossession_raised(v: Any, env: IntV) -> View:
    """REV-3/REV-4, as a step: on the state ``v`` (the resource already taken), raise a
    repossession exception to ``env``: delivered at once if ``env`` is the environment
    running and it has a repossession handler, else left waiting in ``repo_exc[env]``."""
    at_once = branch(Cite("REV-3", _REV4_AT_ONCE), "delivered-at-once",
                     And(v.cur_env == env, has_entry(v, env, Vector.REPOSSESSION)))
    handler = v.entry[env, int(Vector.REPOSSESSION)]
    delivered = v.given(
        Cite("REV-3", _REV4_AT_ONCE),
        epc=If(at_once, v.pc, v.epc),
        cause=If(at_once, int(ExcKind.REPOSSESSION), v.cause),
        pc=If(at_once, handler, v.pc),
    )
    waiting: View = delivered.given(
        Cite("REV-3", _REV4_WAITS),
        repo_exc=lambda x: Or(v.repo_exc[x], And(x == env, Not(at_once))),
    )
    return waiting


def _request_cleared(pre: State, env: IntV) -> View:
    return View(pre).given(Cite("REV-3", _REV3),
                           rev_pending=lambda x: And(x != env, pre.rev_pending[x]))


def _page_taken(pre: State, a: A) -> View:
    (env,) = a
    t = pre.rev_target[env]
    freed = page_freed(_request_cleared(pre, env), t,
                       Cite("REV-3", "A page. It is freed exactly as by Dealloc (MEM-2): it "
                                     "gets no owner and a new generation; every holder's "
                                     "rights drop to `NONE`; every TLB entry, STLB entry and "
                                     "guaranteed mapping of it is broken (TLB-9)."))
    recorded = freed.given(
        Cite("REV-3", "`repo_page[env, target]` becomes true."),
        repo_page=lambda x, p: Or(freed.repo_page[x, p], And(x == env, p == t)),
    )
    return repossession_raised(recorded, env)


_IN_PROGRESS = Cite("REV-3", "If `env` is running and the slice is the one in progress, "
                             "`cur_env` and `hw_cid` become `FREE`, and the CPU idles for "
                             "the rest of the slice. If another environment is running in "
                             "that slice, it keeps the CPU.")


def _slice_taken(pre: State, a: A) -> View:
    (env,) = a
    t = pre.rev_target[env]
    v = _request_cleared(pre, env)
    in_progress = branch(_IN_PROGRESS, "slice-in-progress",
                         And(v.cur_env == env, v.cur_slice == t))
    # the sentence's second half: the slice in progress, run by someone else, goes on
    branch(_IN_PROGRESS, "another-runs-in-it",
           And(v.cur_slice == t, v.cur_env != env, v.cur_env != FREE))
    taken = v.given(
        Cite("REV-3", "A slice. It gets no owner, and `repo_slice[env, target]` becomes "
                      "true."),
        slice_owner=lambda q: If(q == t, FREE, v.slice_owner[q]),
        repo_slice=lambda x, q: Or(v.repo_slice[x, q], And(x == env, q == t)),
    ).given(
        _IN_PROGRESS,
        cur_env=If(in_progress, FREE, v.cur_env),
        hw_cid=If(in_progress, FREE, v.hw_cid),
    )
    return repossession_raised(taken, env)


def _filter_taken(pre: State, a: A) -> View:
    (env,) = a
    t = pre.rev_target[env]
    v = _request_cleared(pre, env)
    taken = v.given(
        Cite("REV-3", "A filter. It is removed as by filter removal (NET-2): "
                      "`filter_valid[target]` becomes false."),
        filter_valid=lambda f: And(f != t, v.filter_valid[f]),
    ).given(
        Cite("REV-3", "`repo_filter[env, target]` becomes true. Packets already in `env`'s "
                      "receive ring stay there."),
        repo_filter=lambda x, f: Or(v.repo_filter[x, f], And(x == env, f == t)),
    )
    return repossession_raised(taken, env)


def _kind_is(kind: Resource) -> Any:
    return lambda s, a: s.rev_kind[a[0]] == int(kind)


_OK3 = Cite("REV-3", "`OK` with the value 0.")

ABORT = Text(
    "abort",
    (
        env_in_range("REV-3"),
        env_alive("REV-3"),
        Requirement("request-pending", Cite("REV-3", "`env` has a request pending"),
                    lambda s, a: Not(s.rev_pending[a[0]]), Status.NO_REQUEST),
        Requirement("deadline-passed", Cite("REV-3", "the deadline has passed "
                                                     "(`now > rev_deadline[env]`)"),
                    lambda s, a: Not(s.now > s.rev_deadline[a[0]]), Status.TOO_EARLY),
    ),
    (
        Case("page", _OK3, _kind_is(Resource.PAGE), _page_taken, lambda s, a: 0),
        Case("slice", _OK3, _kind_is(Resource.SLICE), _slice_taken, lambda s, a: 0),
        Case("filter", _OK3, _kind_is(Resource.FILTER), _filter_taken, lambda s, a: 0),
    ),
)

TEXTS: dict[str, Text] = {t.op: t for t in (REVOKE_REQUEST, ABORT)}
