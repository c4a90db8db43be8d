"""GEN-7: what one environment sees of the machine (spec/observe.md).

``sees(s, e, field, key)`` says whether the entry ``key`` of ``field`` (a tuple of
indices; ``()`` for a scalar) lies in environment ``e``'s view of state ``s``. It is
written over ``exo.logic``, so the same text decides a concrete view (``view``), what the
wire's ``observe_as`` returns, and, on Z3 terms, when two states look the same to ``e``
(``same_view``), which the noninterference obligations are stated with.

Three kinds of entry:

* *public*: what the exokernel exposes to every environment (the paper's "expose
  allocation"): who is alive and with which context id, the owners and generations of
  pages, the slice vector, the filter slots and their owners, the clock and who runs, and
  the shared translation caches (the hardware TLB and the STLB: which binding each slot
  holds; a binding of one environment can evict another's, and the loser sees a miss);
* *e's own*: its entry points, rights, guaranteed mappings, excess, revocation request,
  repossession records, receive ring and drops, the programs of its filters, and the
  words of every page it holds a right to;
* *the processor* (registers, ``pc``, ``epc``, ``cause``, ``badvpage``): e's while e
  runs, nobody's otherwise.

Nothing else is in any view: another environment's records and pages, and the kernel's
own count of dropped packets (``kernel_drops``). Whether an entry is in the view depends
only on entries in the view (e's rights, the public ``cur_env``, the valid bits), so two
states with the same view have the same entries in it.
"""

from __future__ import annotations

from typing import Any

from exo.interface import FREE, Rights
from exo.logic import And, BoolV, If, IntV, forall, in_range
from exo.model.state import SCALARS, State, layout

__all__ = ["PUBLIC_MAPS", "PUBLIC_SCALARS", "RUNNING_SCALARS", "same_public", "same_view", "sees",
           "view"]

PUBLIC_SCALARS: tuple[str, ...] = ("cur_env", "hw_cid", "now", "cur_slice", "slice_left")
"""Scalars every environment sees (GEN-7)."""

RUNNING_SCALARS: tuple[str, ...] = ("pc", "epc", "cause", "badvpage")
"""Scalars only the running environment sees (with the registers, GEN-7)."""

HIDDEN_SCALARS: tuple[str, ...] = ("kernel_drops",)
"""Scalars no environment sees (the kernel's own count, NET-3)."""

PUBLIC_MAPS: tuple[str, ...] = (
    "env_alive", "env_cid", "cid_env", "owner", "gen", "slice_owner", "filter_valid",
    "tlb_valid", "stlb_valid")
"""Maps every environment sees whole (GEN-7)."""

_CACHE_TAGS = {f"{p}_{f}": f"{p}_valid" for p in ("tlb", "stlb")
               for f in ("cid", "vpage", "page", "write")}
"""The fields of a cache slot: public where the slot is valid (TLB-6, TLB-7)."""

_OWN_ROWS: tuple[str, ...] = (
    "entry", "rights", "repo_page", "repo_slice", "repo_filter",
    "excess", "rev_pending", "repo_exc", "rx_head", "rx_count", "rx_drops")
"""Maps indexed first by environment whose row ``e`` is e's own (every key)."""


def sees(s: State, e: IntV, field: str, key: tuple[IntV, ...] = ()) -> BoolV:
    """GEN-7: is entry ``key`` of ``field`` in environment ``e``'s view of ``s``?

    ``e`` is any environment slot (live or not: a dead slot sees the public state and its
    own boot records). ``key`` must be in the field's domain; ``field`` a name of
    ``State``.
    """
    if field in PUBLIC_SCALARS or field in PUBLIC_MAPS:
        return True
    if field in RUNNING_SCALARS or field == "regs":  # the running environment's (an idle
        return And(s.cur_env == e, e != FREE)       # CPU's last values are nobody's)
    if field in HIDDEN_SCALARS:
        return False
    if field in _CACHE_TAGS:
        return getattr(s, _CACHE_TAGS[field])[key[0]]
    if field in _OWN_ROWS:
        return key[0] == e
    if field in ("rev_kind", "rev_target", "rev_deadline"):
        return And(key[0] == e, s.rev_pending[e])
    if field == "gm_valid":
        return key[0] == e
    if field in ("gm_vpage", "gm_page", "gm_write"):
        return And(key[0] == e, s.gm_valid[e, key[1]])
    if field == "word":
        return s.rights[e, key[0]] >= int(Rights.READ)
    if field == "filter_owner":
        return s.filter_valid[key[0]]
    if field == "filter_code":
        return And(s.filter_valid[key[0]], s.filter_owner[key[0]] == e)
    if field == "rx_pkt":
        x, r = key
        head, ring = s.rx_head[e], s.cfg.ring_size
        offset = If(r >= head, r - head, r - head + ring)
        return And(x == e, offset < s.rx_count[e])
    raise KeyError(f"GEN-7: no field {field!r}")


def view(e: int, s: State) -> dict[str, Any]:
    """GEN-7 on a concrete state: ``e``'s view in the sparse form of an observation
    (GEN-5): each scalar in the view; for each map, the entries in the view that differ
    from boot. A field with nothing in the view is left out, so the view of the boot
    state holds only the public scalars that differ from boot (none). ``e`` must be an
    environment slot of ``s.cfg``."""
    out: dict[str, Any] = {}
    for name, boot in SCALARS.items():
        v = getattr(s, name)
        if v != boot and sees(s, e, name):
            out[name] = v
    for name, (_, boot, _) in layout(s.cfg).items():
        m = getattr(s, name)
        rows = {k: v for k, v in m.items() if v != boot
                and sees(s, e, name, k if type(k) is tuple else (k,))}
        if rows:
            out[name] = rows
    return out


def same_view(e: IntV, a: State, b: State) -> BoolV:
    """GEN-7 as a formula: ``e`` sees the same in ``a`` and ``b`` — the same entries in
    its view, with the same values (``a`` and ``b`` share a configuration)."""
    parts: list[BoolV] = []
    for name in SCALARS:
        in_a, in_b = sees(a, e, name), sees(b, e, name)
        parts.append(And(in_a == in_b, If(in_a, getattr(a, name) == getattr(b, name), True)))
    for name, (dom, _, _) in layout(a.cfg).items():
        parts.append(forall(dom, _same_entry(e, a, b, name), name=f"view_{name}"))
    return And(*parts)


def same_public(a: State, b: State) -> BoolV:
    """GEN-7: ``a`` and ``b`` agree on the public part of every view (the entries every
    environment sees, whoever it is)."""
    parts: list[BoolV] = [getattr(a, n) == getattr(b, n) for n in PUBLIC_SCALARS]
    for name, (dom, _, _) in layout(a.cfg).items():
        if name in PUBLIC_MAPS or name in _CACHE_TAGS or name == "filter_owner":
            parts.append(forall(dom, _same_entry(-1, a, b, name), name=f"pub_{name}"))
    return And(*parts)


def _same_entry(e: IntV, a: State, b: State, name: str) -> Any:
    """The body of ``same_view`` for map ``name``: entry k is in both views or in
    neither, and where it is, it has one value."""
    fa, fb = getattr(a, name), getattr(b, name)

    def body(*k: IntV) -> BoolV:
        key = k if len(k) > 1 else k[0]
        in_a, in_b = sees(a, e, name, k), sees(b, e, name, k)
        return And(in_a == in_b, If(in_a, fa[key] == fb[key], True))

    return body


def in_view_range(s: State, e: IntV) -> BoolV:
    """``e`` names an environment slot: a view is asked of a slot only (GEN-7)."""
    return in_range(e, s.cfg.n_envs)

