"""GEN-7: what one environment sees, read off the optimized kernel's own tables.

Written from the clause (spec/observe.md), not from ``exo.model.view``: the kit compares
the two on every view it asks for. The public part is the allocation state, the clock,
who runs and the shared translation caches; the rest is the environment's own records,
the words of the pages it holds a right to, and the processor while it runs.
"""

from __future__ import annotations

from typing import Any

from exo.impl.state import KernelState
from exo.interface import FREE, Rights

__all__ = ["observe_as"]


def observe_as(st: KernelState, e: Any) -> dict[str, Any] | None:
    """GEN-7: environment ``e``'s view in the observation vocabulary (GEN-5: entries at
    their boot value may be listed or not); None when ``e`` is not exactly an ``int``
    naming an environment slot."""
    c = st.cfg
    if type(e) is not int or not 0 <= e < c.n_envs:
        return None
    out: dict[str, Any] = {
        "cur_env": st.cur_env, "hw_cid": st.hw_cid, "now": st.now,
        "cur_slice": st.cur_slice, "slice_left": st.slice_left,
        "env_alive": dict(enumerate(st.env_alive)),
        "env_cid": dict(enumerate(st.env_cid)),
        "cid_env": dict(enumerate(st.cid_env)),
        "owner": dict(enumerate(st.owner)),
        "gen": dict(enumerate(st.gen)),
        "slice_owner": dict(enumerate(st.slice_owner)),
        "filter_valid": dict(enumerate(st.filter_valid)),
        "filter_owner": {f: st.filter_owner[f] for f in range(c.n_filters)
                         if st.filter_valid[f]},
        **st.tlb.observe("tlb"),
        **st.stlb.observe("stlb"),
        # e's own records
        "entry": {(e, v): x for v, x in enumerate(st.entry[e])},
        "rights": {(e, p): r for p, r in st.held[e].items()},
        "word": {(p, w): x for p, r in st.held[e].items() if r >= Rights.READ
                 for w, x in enumerate(st.word[p])},
        "gm_valid": {(e, g): v for g, v in enumerate(st.gm_valid[e])},
        "gm_vpage": {(e, g): st.gm_vpage[e][g] for g in range(c.n_guaranteed)
                     if st.gm_valid[e][g]},
        "gm_page": {(e, g): st.gm_page[e][g] for g in range(c.n_guaranteed)
                    if st.gm_valid[e][g]},
        "gm_write": {(e, g): st.gm_write[e][g] for g in range(c.n_guaranteed)
                     if st.gm_valid[e][g]},
        "excess": {e: st.excess[e]},
        "rev_pending": {e: st.rev_pending[e]},
        "repo_page": {(e, p): True for p in st.repo_page[e]},
        "repo_slice": {(e, q): True for q in st.repo_slice[e]},
        "repo_exc": {e: st.repo_exc[e]},
        "repo_filter": {(e, f): True for f in st.repo_filter[e]},
        "filter_code": {f: st.filter_code[f] for f in st.filters[e]},
        "rx_head": {e: st.rx_head[e]},
        "rx_count": {e: st.rx_count[e]},
        "rx_pkt": {(e, (st.rx_head[e] + i) % c.ring_size):
                   st.rx_pkt[e][(st.rx_head[e] + i) % c.ring_size]
                   for i in range(st.rx_count[e])},
        "rx_drops": {e: st.rx_drops[e]},
    }
    if st.rev_pending[e]:
        out["rev_kind"] = {e: st.rev_kind[e]}
        out["rev_target"] = {e: st.rev_target[e]}
        out["rev_deadline"] = {e: st.rev_deadline[e]}
    if st.cur_env == e and e != FREE:  # the processor is the running environment's
        out.update(pc=st.pc, epc=st.epc, cause=st.cause, badvpage=st.badvpage,
                   regs=dict(enumerate(st.regs)))
    return out
