"""The conformance contract: what an implementation of the exokernel interface provides, and
the one abstraction function from its state to the model's.

An implementation (Exo's own ``exo.impl``, or yours) is a class constructed with a
``Config`` that offers

* ``apply(name, *args) -> Result`` — run the operation ``name`` of
  ``exo.interface.OPERATIONS`` with the same arguments, statuses and values as the model
  (errors are values: it must never raise). One freedom: the witness packet of an
  ``OVERLAP`` may be any packet (hex, at most MAX_PACKET bytes) that the new program and
  the filter in the lowest clashing slot both accept (NET-1, ``same_outcome``);
* ``observe() -> dict[str, Any]`` — its state in the model's vocabulary: for every field
  of ``exo.model.State`` but ``cfg``, a scalar for scalar fields, or a dict from key (an
  int, or a tuple of ints for two-index fields) to value for map fields. Entries left out
  take the boot value, so a sparse dict of what differs from boot is enough.

``abstract`` turns an observation into a model ``State``; ``canonical`` erases the fields
that carry no meaning (an invalid TLB slot's old page, the words of a free page, a cleared
request's target…) on both sides, so the differential test compares meaning only (design
brief). ``exo.kit.machine`` runs model and implementation in lockstep on this contract.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Collection, Sequence
from functools import lru_cache
from typing import Any, Protocol

from exo.interface import ENUMS, FREE, MAX_PACKET, Cap, Config, Result, Status
from exo.logic import ConMap
from exo.model import State, initial
from exo.model.filters import evaluate
from exo.model.net import first_clash
from exo.model.state import SCALARS, layout


class Implementation(Protocol):
    """GEN-1: the interface a third-party implementation provides (see module doc).
    Optional: ``trap(name, *args) -> Result`` (the trap layer, GEN-6) and
    ``observe_as(env) -> dict | None`` (GEN-7); the kit exercises each one an
    implementation offers (``offers``)."""

    def apply(self, name: str, *args: Any) -> Result: ...

    def observe(self) -> dict[str, Any]: ...


FEATURES = ("trap", "observe_as")
"""The optional methods of an implementation (GEN-6, GEN-7)."""


def offers(impl: Any, feature: str) -> bool:
    """Does ``impl`` offer ``feature`` (one of ``FEATURES``)? It does when it has a
    method of that name and, if it also has ``offers(feature)`` (exo's wire client: what
    the kernel's ``ready`` listed, WIRE-2), that says so. Reading a hostile object's
    attributes may raise: then it offers nothing."""
    try:
        method = getattr(impl, feature, None)
        if not callable(method):
            return False
        ask = getattr(impl, "offers", None)
        return bool(ask(feature)) if callable(ask) else True
    except Exception:
        return False


def malformed(cfg: Config, observation: Any) -> str | None:
    """GEN-5: the first way ``observation`` breaks the shape of spec/observe.md — a field
    the model does not have, a map field that is not a dict, a key of the wrong shape or
    out of its range, a value of the wrong type — naming the field and the key; None if
    it has the shape (whether the values are right is for ``differences``)."""
    if type(observation) is not dict:
        return f"observe() returned {_a(observation)}, not a dict"
    shapes = _shapes(cfg)
    for name, value in observation.items():
        shape = shapes.get(name)
        if shape is None:
            return f"observe() has a field the model does not: {name!r}"
        if shape[0] is None:  # a scalar field
            if type(value) is not int:
                return (f"field {name!r}: {_short(value)} is {_a(value)}; "
                        "a scalar field is an int")
            continue
        if type(value) is not dict:
            return (f"field {name!r}: {_a(value)}; a map field is a dict from key to "
                    "value")
        if not value:
            continue
        sizes, kind, keys = shape
        # the fast check, with set operations: every value of type ``kind``, every key
        # among the domain's keys (equal: in range, right shape) and made of exact ints
        # (``True == 1`` and hashes alike)
        if set(map(type, value.values())) <= {kind} and value.keys() <= keys and (
                set(map(type, value)) <= {int} if len(sizes) == 1
                else set(map(type, itertools.chain.from_iterable(value))) <= {int}):
            continue
        for key, v in value.items():  # something is wrong: find the first entry
            if len(sizes) == 1:
                ok = type(key) is int and 0 <= key < sizes[0]
                shape_text = f"an int in [0, {sizes[0]})"
            else:
                ok = (type(key) is tuple and len(key) == 2 and type(key[0]) is int
                      and type(key[1]) is int and 0 <= key[0] < sizes[0]
                      and 0 <= key[1] < sizes[1])
                shape_text = (f"a tuple (i, j) of ints, i in [0, {sizes[0]}), "
                              f"j in [0, {sizes[1]})")
            if not ok:
                return f"field {name!r}: key {_short(key)}; its keys are {shape_text}"
            if type(v) is not kind:
                return (f"field {name!r}[{key!r}]: {_short(v)} is {_a(v)}; "
                        f"its values are {kind.__name__}s")
    return None


@lru_cache(maxsize=256)
def _shapes(cfg: Config) -> dict[str, tuple[Any, ...]]:
    """Each field of spec/observe.md: ``(None,)`` for a scalar, else its domain's sizes,
    the type of its values and the set of its keys (built once per configuration)."""
    boot = initial(cfg)
    out: dict[str, tuple[Any, ...]] = {name: (None,) for name in SCALARS}
    for name, (sizes, default, _) in layout(cfg).items():
        out[name] = (sizes, type(default), frozenset(k for k, _ in getattr(boot, name).items()))
    return out


def _a(value: Any) -> str:
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiouAEIOU' else 'a'} {name}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def abstract(cfg: Config, observation: dict[str, Any]) -> State:
    """GEN-5: the model state an implementation's observation stands for: fields and keys
    left out take their boot value (the sparse form; spec/observe.md lists every field).
    An observation of another shape (``malformed``): ``KeyError`` for a field the model
    does not have, ``ValueError`` otherwise, the message naming the field."""
    return abstract_changes(cfg, initial(cfg), observation)


def abstract_changes(cfg: Config, base: State, changes: dict[str, Any]) -> State:
    """``abstract`` of an observation that differs from the one ``base`` stands for only
    in the fields of ``changes`` (each given whole, in the sparse form): ``base`` with
    those fields replaced. The same errors as ``abstract``, for these fields."""
    problem = malformed(cfg, changes)
    if problem is not None:
        if "a field the model does not" in problem:
            raise KeyError(problem)
        raise ValueError(problem)
    boot = initial(cfg)
    return base.replace(**{name: value if name in SCALARS else getattr(boot, name).overlay(value)
                           for name, value in changes.items()})


def _meaningful(s: State, field: str) -> Callable[[Any], bool] | None:
    """Which keys of map ``field`` carry meaning in ``s`` (None: every key)."""
    c = s.cfg
    for prefix in ("tlb", "stlb"):
        if field in (f"{prefix}_cid", f"{prefix}_vpage", f"{prefix}_page", f"{prefix}_write"):
            valid = getattr(s, f"{prefix}_valid")
            return lambda k: bool(valid[k])
    if field in ("gm_vpage", "gm_page", "gm_write"):
        return lambda k: bool(s.gm_valid[k])
    if field in ("filter_owner", "filter_code"):
        return lambda k: bool(s.filter_valid[k])
    if field in ("rev_kind", "rev_target", "rev_deadline"):
        return lambda k: bool(s.rev_pending[k])
    if field == "word":
        return lambda k: bool(s.owner[k[0]] != FREE)
    if field == "rx_pkt":
        return lambda k: bool((k[1] - s.rx_head[k[0]]) % c.ring_size < s.rx_count[k[0]])
    return None


_GUARDS: dict[str, tuple[str, ...]] = {
    **{f"{p}_{f}": (f"{p}_valid",) for p in ("tlb", "stlb")
       for f in ("cid", "vpage", "page", "write")},
    **{f"gm_{f}": ("gm_valid",) for f in ("vpage", "page", "write")},
    "filter_owner": ("filter_valid",), "filter_code": ("filter_valid",),
    **{f"rev_{f}": ("rev_pending",) for f in ("kind", "target", "deadline")},
    "word": ("owner",), "rx_pkt": ("rx_head", "rx_count"),
}
"""The fields ``_meaningful`` reads for each field it narrows: where they are equal in two
states, a key means the same on both sides exactly where it is kept on both."""


def _canonical_field(s: State, field: str) -> Any:
    """Map ``field`` of ``s`` with every meaningless entry set to its boot value."""
    m = getattr(s, field)
    keep = _meaningful(s, field)
    if keep is None:
        return m
    boot = getattr(initial(s.cfg), field)
    return m.update((k, v) for k, v in boot.items() if not keep(k))


def canonical(s: State) -> State:
    """``s`` with every meaningless entry set to its boot value."""
    return s.replace(**{f: _canonical_field(s, f) for f in layout(s.cfg)})


def differences(model: State, impl: State, limit: int = 8,
                fields: Collection[str] | None = None) -> list[str]:
    """Where two states differ in meaning (after ``canonical``), as readable lines, in
    field and domain order, at most ``limit``; with ``fields``, only in those fields. A
    field is looked at where it differs or the fields that say which of its keys mean
    something (``_GUARDS``) do, key by key, without building canonical forms: a key's
    meaning on each side is its value where ``_meaningful`` keeps it and its boot value
    elsewhere."""
    out: list[str] = []
    boot = initial(model.cfg)
    for name in layout(model.cfg):
        if fields is not None and name not in fields:
            continue
        ma, mb = getattr(model, name), getattr(impl, name)
        same_keys = all(getattr(model, g) == getattr(impl, g) for g in _GUARDS.get(name, ()))
        if same_keys and ma == mb:
            continue
        keep_a, keep_b = _meaningful(model, name), _meaningful(impl, name)
        default = getattr(boot, name)
        keys: Any = None
        if isinstance(ma, ConMap) and isinstance(mb, ConMap) and same_keys:
            try:  # the same keys kept on both sides: only raw differences can count
                keys = ma.differing(mb)
            except TypeError:  # an unhashable value inside: compare key by key
                keys = None
        if keys is None:
            keys = [k for k, _ in ma.items()]
        for k in keys:
            v, w = ma[k], mb[k]
            if keep_a is not None and not keep_a(k):
                v = default[k]
            if keep_b is not None and not keep_b(k):
                w = default[k]
            if w != v:
                out.append(f"{name}[{k}]: model {v!r}, implementation {w!r}")
                if len(out) >= limit:
                    return out
    for name in SCALARS:
        if fields is not None and name not in fields:
            continue
        if getattr(model, name) != getattr(impl, name):
            out.append(f"{name}: model {getattr(model, name)!r}, implementation "
                       f"{getattr(impl, name)!r}")
    return out[:limit]


def stale_fields(model: State, impl: State, agreed: tuple[State, State]) -> set[str]:
    """The fields whose comparison may have changed since the states ``agreed`` (a model
    state and an observed one with no ``differences``): those whose value object on
    either side is not the one it was, and those whose ``_GUARDS`` are. A field outside
    them compares as it did, so ``differences`` need look at these only (states are
    immutable: the same object is the same value)."""
    was_m, was_i = agreed
    moved = {name for name in (*SCALARS, *layout(model.cfg))
             if getattr(model, name) is not getattr(was_m, name)
             or getattr(impl, name) is not getattr(was_i, name)}
    return moved | {name for name, guards in _GUARDS.items() if not moved.isdisjoint(guards)}


def exact_kind(value: Any) -> str | None:
    """The kind of a result's status or value, by exact type (GEN-1's rule for
    arguments, applied to answers): ``"int"`` for an ``int`` or a member of the project's
    own enumerations (``exo.interface.ENUMS``) — never a ``bool``; ``"cap"`` for a ``Cap``
    of such integers; ``"bytes"``, ``"str"``; None for anything else (a ``bool``, a
    subclass, a float), which equals nothing."""
    t = type(value)
    if t is int or any(t is e for e in ENUMS):
        return "int"
    if t is Cap:
        fields = (value.page, value.gen, value.rights)
        return "cap" if all(exact_kind(f) == "int" for f in fields) else None
    if t is bytes:
        return "bytes"
    if t is str:
        return "str"
    return None


def same_value(a: Any, b: Any) -> bool:
    """Equal kinds (``exact_kind``) and equal values: ``False`` is not ``0``, ``True`` is
    not ``1``, a capability is equal field by field."""
    kind = exact_kind(a)
    if kind is None or kind != exact_kind(b):
        return False
    if kind == "cap":
        return bool((int(a.page), int(a.gen), int(a.rights))
                    == (int(b.page), int(b.gen), int(b.rights)))
    return bool(a == b)


def same_result(a: Result, b: Result) -> bool:
    """GEN-1: both are ``Result`` s with equal statuses and equal values, compared by
    exact kind (``same_value``)."""
    if type(a) is not Result or type(b) is not Result:
        return False
    return same_value(a.status, b.status) and same_value(a.value, b.value)


HEX = re.compile(r"(?:[0-9a-f]{2})*")
"""WIRE-6 and NET-1: the one form of a packet in hex — lower-case digits, two per byte,
nothing else (``bytes.fromhex`` alone would also take upper case and spaces)."""


def same_outcome(before: State, name: str, args: Sequence[Any], expected: Result,
                 got: Result) -> bool:
    """GEN-1, with the one freedom the spec leaves: on ``OVERLAP`` NET-1 asks for *a*
    packet that both the new program and the first clashing filter accept, not for the
    model's own witness — so any such packet (hex, at most ``MAX_PACKET`` bytes, checked
    on the reference interpreter) is as good as the model's. ``before`` is the model state
    the operation ran on."""
    if same_result(expected, got):
        return True
    if not (name == "filter_install" and len(args) == 2
            and type(got) is Result and type(got.value) is str
            and same_value(got.status, int(Status.OVERLAP))):
        return False
    if type(got) is not Result or not same_value(expected.status, got.status) or (
            HEX.fullmatch(got.value) is None):
        return False
    packet = bytes.fromhex(got.value)
    env, program = args
    clash = first_clash(before, env, program)
    return (isinstance(clash, int) and clash >= 0 and len(packet) <= MAX_PACKET
            and evaluate(program, packet) != 0
            and evaluate(before.filter_code[clash], packet) != 0)
