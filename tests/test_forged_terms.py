"""GEN-1 against Z3 terms handed to a kernel by a caller that is not a proof.

The model's operations admit Z3 terms only inside the proofs' symbolic mode
(``exo.logic.strict_symbolic``). Anywhere else a Z3 term is a value of a type the
interface does not have: the call is INVALID_ARGUMENT with the null value and the state it
was given, and the term is refused by its exact type before anything of it runs. That
matters because a term can be poison: one whose context was deleted, or whose pointer is
forged, crashes the process (a segmentation fault, not an exception) as soon as any Z3
function reads it; terms of two different contexts make Z3 raise.

Every case runs in a child process, so a crash shows as the child's return code instead
of taking the test run down. A child places one kind of forged term in every argument
position of every operation (also inside a ``Cap``, and inside a program), calls the
model (``exo.model.ops.REGISTRY``) or the implementation (``exo.impl.Kernel``), and
prints what it saw; the test asserts the child exited normally and every call was
INVALID_ARGUMENT with the null value and an unchanged state.

Inside symbolic mode the model still admits the proofs' own terms (integers and booleans
of Z3's main context), and still refuses the rest: bit-vectors, reals, other ``ExprRef``
classes, subclasses, terms of another context or of a deleted one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import z3

from exo.interface import OPERATIONS, Cap, Config, Status
from exo.logic import strict_symbolic
from exo.model.ops import REGISTRY
from exo.model.state import initial, symbolic

CHILD = r'''
import json
import sys

import z3

from exo.interface import OPERATIONS, Cap, Config, Result, Status, null_value
from exo.logic import strict_symbolic

kind, target, mode = sys.argv[1:4]
cleanup = []


class Trap(z3.ArithRef):
    """A subclass of Z3's integer term whose every attribute read raises."""

    def __getattribute__(self, name):
        raise RuntimeError(f"the kernel read {name} of a forged term")

    def __del__(self):
        pass


def forge(kind):
    if kind == "int":
        return z3.Int("x")
    if kind == "intval":
        return z3.IntVal(1)
    if kind == "bool":
        return z3.Bool("b")
    if kind == "bitvec":
        return z3.BitVec("v", 8)
    if kind == "real":
        return z3.Real("r")
    if kind == "array":
        return z3.Array("a", z3.IntSort(), z3.IntSort())
    if kind == "string":
        return z3.String("s")
    if kind == "fresh_context":
        return z3.Int("x", z3.Context())
    if kind == "deleted_context":
        ctx = z3.Context()
        term = z3.Int("x", ctx)
        ctx.__del__()  # the context is freed; any Z3 call on the term reads freed memory
        ctx.owner = False  # so the garbage collector does not free it a second time

        return term
    if kind == "pointer":
        term = object.__new__(z3.ArithRef)  # exactly z3's class, with a forged pointer
        term.ast, term.ctx = z3.z3types.Ast(8), z3.main_ctx()
        cleanup.append(term)
        return term
    if kind == "subclass":
        term = object.__new__(Trap)
        return term
    raise SystemExit(f"unknown kind {kind}")


term = forge(kind)
VALID = {"int": 0, "bool": True, "cap": Cap(0, 0, 2), "program": ((0x06, 0, 0, 0),),
         "packet": b"\x00"}


def placements(arg_kind):
    """The forged term where an argument of ``arg_kind`` goes, and inside one."""
    yield term
    if arg_kind == "cap":
        yield Cap(term, 0, 2)
        yield Cap(0, term, 2)
        yield Cap(0, 0, term)
    if arg_kind == "program":
        yield ((term, 0, 0, 0),)
        yield ((0x06, 0, 0, term),)


def calls():
    for name, sig in OPERATIONS.items():
        for i, (_, arg_kind) in enumerate(sig.args):
            for bad in placements(arg_kind):
                args = [VALID[k] for _, k in sig.args]
                args[i] = bad
                yield name, sig, i, tuple(args)


def plain_null(value, null):
    """Is ``value`` exactly the null value (plain ints only; nothing of a term runs)?"""
    if type(null) is Cap:
        return type(value) is Cap and all(
            type(getattr(value, f)) is int and getattr(value, f) == getattr(null, f)
            for f in ("page", "gen", "rights"))
    return type(value) is int and value == null


def run():
    bad, checked = [], 0
    if target == "model":
        from exo.model.ops import REGISTRY
        from exo.model.state import initial

        state = initial(Config())
        for name, sig, i, args in calls():
            new, res = REGISTRY[name](state, *args)
            ok = (type(res) is Result and type(res.status) in (int, Status)
                  and res.status == Status.INVALID_ARGUMENT
                  and plain_null(res.value, null_value(sig)) and new is state)
            checked += 1
            if not ok:
                bad.append(f"{name} argument {i}")
    else:
        from exo.impl import Kernel

        kernel = Kernel(Config())
        before = kernel.observe()
        for name, sig, i, args in calls():
            res = kernel.apply(name, *args)
            ok = (type(res) is Result and type(res.status) in (int, Status)
                  and res.status == Status.INVALID_ARGUMENT
                  and plain_null(res.value, null_value(sig)) and kernel.observe() == before)
            checked += 1
            if not ok:
                bad.append(f"{name} argument {i}")
    return checked, bad


if mode == "symbolic":
    with strict_symbolic():
        checked, bad = run()
else:
    checked, bad = run()
for t in cleanup:
    t.ast = None  # the forged pointer is not released at exit
print(json.dumps({"checked": checked, "bad": bad}))
'''

CONCRETE_KINDS = ("int", "intval", "bool", "bitvec", "real", "array", "string",
                  "fresh_context", "deleted_context", "pointer", "subclass")
"""Every kind of term a caller outside the proofs could hand a kernel."""

SYMBOLIC_REFUSED = ("bitvec", "real", "array", "string", "fresh_context", "deleted_context",
                    "subclass")
"""The terms the model refuses even inside symbolic mode: none is an integer or boolean
term of Z3's main context. (A forged pointer inside an exact term of the main context
cannot be told from a real one without reading it; the proofs build their own terms.)"""

EXTRA = {"cap": 3, "program": 2}
CALLS = sum(1 + EXTRA.get(kind, 0) for sig in OPERATIONS.values() for _, kind in sig.args)
"""The calls each child makes: the term in every argument position of every operation,
and inside each field of a Cap and two fields of a program (the count shows the child
ran them all)."""


def run_child(kind: str, target: str, mode: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, target, mode],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (kind, target, mode, proc.returncode, proc.stderr[-2000:])
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize("kind", CONCRETE_KINDS)
def test_model_refuses_z3_terms_outside_symbolic_mode_GEN_1(kind: str) -> None:
    """GEN-1: outside symbolic mode every model operation refuses a Z3 term in any
    argument position with INVALID_ARGUMENT, the null value and the state it was given;
    the process does not crash."""
    out = run_child(kind, "model", "concrete")
    assert out["checked"] == CALLS, out
    assert out["bad"] == [], out


@pytest.mark.parametrize("kind", CONCRETE_KINDS)
def test_implementation_refuses_z3_terms_GEN_1(kind: str) -> None:
    """GEN-1: ``exo.impl.Kernel`` refuses every forged term the same way (its state, as
    observed, unchanged)."""
    out = run_child(kind, "impl", "concrete")
    assert out["checked"] == CALLS, out
    assert out["bad"] == [], out


@pytest.mark.parametrize("kind", SYMBOLIC_REFUSED)
def test_model_refuses_foreign_terms_inside_symbolic_mode_GEN_1(kind: str) -> None:
    """GEN-1: inside symbolic mode the model admits only integer and boolean terms of the
    main context; the rest is refused without a crash."""
    out = run_child(kind, "model", "symbolic")
    assert out["checked"] == CALLS, out
    assert out["bad"] == [], out


def test_symbolic_mode_still_admits_the_proofs_terms_GEN_1() -> None:
    """The switch is the mode, not the term: the same calls with Z3 integers and booleans
    (also as Cap fields) are refused outside symbolic mode and run the logic inside it
    (on a state of Z3 terms, as the proofs run it: the result then holds terms)."""
    state, res = REGISTRY["env_create"](initial(Config()), 0, 0)
    assert res.status == Status.OK
    page = Cap(z3.Int("p"), z3.Int("g"), z3.IntVal(2))
    calls: list[tuple[str, tuple[Any, ...]]] = [
        ("alloc", (z3.Int("env"), 0)), ("dealloc", (0, page)),
        ("tlbwr", (0, 0, page, z3.Bool("w"))), ("grant", (0, page, z3.Int("grantee"), 1)),
        ("filter_install", (0, z3.Int("program"))), ("packet_arrive", (z3.Int("packet"),))]
    for name, args in calls:
        new, refused = REGISTRY[name](state, *args)
        assert new is state and refused.status == Status.INVALID_ARGUMENT, (name, refused)
        with strict_symbolic():
            _, got = REGISTRY[name](symbolic(Config()), *args)
        value = got.value
        parts = (value.page, value.gen, value.rights) if type(value) is Cap else (value,)
        assert any(isinstance(x, z3.ExprRef) for x in (got.status, *parts)), (name, got)
