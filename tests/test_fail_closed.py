"""Fail closed, stay bounded (FLT-6, FLT-7, NET-1, FLT-1).

Every runtime solver question about filters runs under a deterministic Z3 budget
(``FILTER_RLIMIT``; ``PAIR_RLIMIT`` for NET-1's pairs, which are not asked at all above
``PAIR_WEIGHT``); a question not decided within it is ``UNDECIDED``, never "disjoint"
and never "equal": ``filter_install`` refuses with ``Status.UNDECIDED`` (model and
implementation), ``exo filter overlap/equiv`` exit 3. The cheap preconditions of NET-1
come before the solver. The ``tcpdump -dd`` reader is linear and quotes short excerpts.

Bounds are on work, never on the clock (the machine may be loaded): the Z3 steps each
check used (``z3_checks``), the number of checks, and for code outside Z3 a CPU-seconds
rlimit on a child process, which counts that process's own work only.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import z3
from click.testing import CliRunner

import exo.impl.net as impl_net
import exo.model.net as net_mod
from exo import logic
from exo.cli import main
from exo.impl import Kernel
from exo.interface import Config, Status
from exo.model import REGISTRY, State, dfilter, filters, initial
from exo.proofs.discharge import discharge
from exo.proofs.obligations import BY_NAME

LD, LDX, TAX, RET = filters.LD, filters.LDX, filters.TAX, filters.RET
CFG = Config(n_envs=3, n_filters=3, ring_size=2)
CPU_SECONDS = 60
"""A hang guard for child processes: RLIMIT_CPU counts the child's own CPU time, not the
machine's load, and every child here needs a few seconds of it at most."""
WAIT_SECONDS = 900
"""The last guard, for a child blocked without using CPU (never reached by a working
run, however loaded the machine)."""
ACCEPT_ALL: filters.Program = ((filters.RET_K, 0, 0, 1),)
REJECT_ALL: filters.Program = ((filters.RET_K, 0, 0, 0),)
PORT_80: filters.Program = ((0x28, 0, 0, 12), (0x15, 0, 3, 0x0800), (0x30, 0, 0, 23),
                            (0x15, 0, 1, 6), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))


def indirect_chain(links: int, tag: int = 0) -> filters.Program:
    """The attack: X = 0, then ``links`` times A = P[X + 0], X = A; return A. Each load's
    offset depends on the byte the one before it read (2 * links + 2 instructions; 513
    links make the 1,028-instruction program whose overlap check ran past 600 s). ``tag``
    (the first instruction's constant) makes distinct programs with the same meaning up
    to their first load, so tests do not share cached answers."""
    body = [(LD | filters.B | filters.IND, 0, 0, 0), (TAX, 0, 0, 0)] * links
    return ((LDX | filters.IMM, 0, 0, tag), *body, (filters.RET_A, 0, 0, 0))


def division_chain(n: int, tag: int = 0) -> filters.Program:
    """A = P[4..8] divided ``n`` times by X = P[0..4], accepted when the result is ``tag``."""
    return ((LD | filters.W | filters.ABS, 0, 0, 0), (TAX, 0, 0, 0),
            (LD | filters.W | filters.ABS, 0, 0, 4),
            *[(filters.ALU | filters.DIV | filters.X, 0, 0, 0)] * n,
            (filters.JMP | filters.JEQ, 0, 1, tag), (filters.RET_K, 0, 0, 1),
            (filters.RET_K, 0, 0, 0))


ATTACK = division_chain(64)
"""64 chained divisions by X (41 s without a budget): far past the budget on any run, and
four times NET-1's ``PAIR_WEIGHT`` (a pair with it is not given to Z3)."""
FILLING = division_chain(8)
"""8 chained divisions: ``solver_weight`` 32, so its pair with itself weighs exactly
``PAIR_WEIGHT`` and is asked; Z3 runs out of ``PAIR_RLIMIT`` on it."""
CHAIN = indirect_chain(513)
"""The 1,028-instruction chain of indirect loads (past 600 s without a budget). Whether
its self-overlap is found or runs out depends on Z3's search; either way it is bounded."""


@contextmanager
def z3_checks() -> Iterator[list[tuple[int, int]]]:
    """Each Z3 check made inside, as (its budget, the ``rlimit`` steps it used), in order:
    the work a question costs, counted in Z3's own deterministic steps. A question's first
    check has the budget ``FILTER_RLIMIT``, each later one (a shorter witness)
    ``SHRINK_RLIMIT`` (``filters._solve``)."""
    checks: list[tuple[int, int]] = []
    seen: list[filters.Question] = []  # kept alive, so no two share an identity
    real = filters.Question.check

    def counted(self: filters.Question) -> Any:
        budget = filters.SHRINK_RLIMIT if any(q is self for q in seen) else self.rlimit
        seen.append(self)
        before = self.steps()
        verdict = real(self)
        checks.append((budget, self.steps() - before))
        return verdict

    with mock.patch.object(filters.Question, "check", counted):
        yield checks


def assert_one_check_past_the_budget(checks: list[tuple[int, int]],
                                     budget: int = filters.FILTER_RLIMIT) -> None:
    """One Z3 check, with the budget ``budget`` (``FILTER_RLIMIT`` unless told), which it
    did not pass (a solver without the budget runs on: 41 s and more for ``ATTACK``,
    millions of steps past it)."""
    assert len(checks) == 1, checks
    given, used = checks[0]
    assert given == budget and used <= budget, checks


def _cpu_limited() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Each test asks its questions cold: a cached answer would hide the budget."""
    filters._overlap.cache_clear()
    filters._difference.cache_clear()
    net_mod._pair.cache_clear()
    impl_net._pair.cache_clear()
    dfilter._program_overlap.cache_clear()  # NET-1's shared cache of pairs (FLT-9, FLT-6)
    yield


def test_the_attack_programs_pass_the_verifier() -> None:
    assert len(CHAIN) == 1028
    for prog in (ATTACK, CHAIN, indirect_chain(513, 1), division_chain(64, 1)):
        assert filters.verify(prog) == []


def test_the_budget_is_the_named_constant_of_the_spec_FLT_6() -> None:
    text = (Path(__file__).parent.parent / "spec" / "filters.md").read_text()
    assert f"`FILTER_RLIMIT` = {filters.FILTER_RLIMIT:,}" in text
    assert f"`SHRINK_RLIMIT` = {filters.SHRINK_RLIMIT:,}" in text
    assert str(filters.UNDECIDED) == f"undecided within budget (rlimit {filters.FILTER_RLIMIT})"


# --------------------------------------------------------------------------- FLT-6 / FLT-7


def test_overlap_past_the_budget_is_undecided_not_disjoint_FLT_6() -> None:
    with z3_checks() as checks:
        found = filters.overlap(ATTACK, [ATTACK])
    assert found is not None and isinstance(found, filters.Undecided)
    assert_one_check_past_the_budget(checks)


def test_the_indirect_load_chain_is_bounded_and_never_disjoint_FLT_6() -> None:
    """Found or undecided, the question costs at most its budgets: the first check's and
    at most four shorter-witness checks'."""
    with z3_checks() as checks:
        found = filters.overlap(CHAIN, [CHAIN])
    assert found is not None
    assert 1 <= len(checks) <= 5, checks
    assert checks[0][0] == filters.FILTER_RLIMIT
    assert all(used <= budget for budget, used in checks), checks


def test_difference_past_the_budget_is_undecided_not_equal_FLT_7() -> None:
    with z3_checks() as checks:
        found = filters.difference(ATTACK, REJECT_ALL)
    assert found is not None and isinstance(found, filters.Undecided)
    assert_one_check_past_the_budget(checks)


def test_a_global_z3_timeout_cannot_turn_unknown_into_disjoint_or_equal() -> None:
    """An embedding program's ``z3.set_param('timeout', 1)`` made the old check answer
    'disjoint' and 'equal' for filters that overlap and differ. Each solver now sets its
    own timeout to none, so the answers are the real ones (or UNDECIDED, never None)."""
    a = division_chain(2, 1)
    b = (*a[:-2], (filters.RET_K, 0, 0, 2), (filters.RET_K, 0, 0, 0))
    z3.set_param("timeout", 1)
    try:
        found = filters.overlap(a, [b])
        diff = filters.difference(a, b)
    finally:
        z3.set_param("timeout", 4294967295)
    assert found is not None and diff is not None
    assert isinstance(found, tuple) and isinstance(diff, bytes)


def test_an_undecided_answer_is_cached_like_any_other() -> None:
    first = filters.overlap(ATTACK, [ATTACK])
    with z3_checks() as checks:
        again = filters.overlap(ATTACK, [ATTACK])
    assert again == first and isinstance(again, filters.Undecided)
    assert checks == [], "the solver was asked again"


@pytest.mark.parametrize("bad", [
    ((True, 0, 0, 1),),  # compares equal to ((1, 0, 0, 1),)
    ((6.0, 0, 0, 1),),
    [(6, 0, 0, 1)],
    ([6, 0, 0, 1],),
])
def test_cache_keys_are_exact_program_values(bad: object) -> None:
    """A value that merely compares equal to a program never reads a cached answer: the
    old cache answered ``((True, 0, 0, 1),)`` with the answer for ``((1, 0, 0, 1),)``."""
    assert filters.overlap(ACCEPT_ALL, [ACCEPT_ALL]) is not None
    assert filters.difference(ACCEPT_ALL, ((filters.RET_K, 0, 0, 1),)) is None
    with pytest.raises(TypeError):
        filters.overlap(bad, [ACCEPT_ALL])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        filters.overlap(ACCEPT_ALL, [bad])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        filters.difference(ACCEPT_ALL, bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- NET-1


def _model_with(program: filters.Program) -> State:
    s = initial(CFG)
    for e in range(2):
        s, res = REGISTRY["env_create"](s, e, e)
        assert res.status == Status.OK
    s, res = REGISTRY["filter_install"](s, 0, program)
    assert res.status == Status.OK
    return s


def _kernel_with(program: filters.Program) -> Kernel:
    """The demux's FLT-8 check is off: it proves the generated classifier, not NET-1's
    overlap check, and on a 1,028-instruction filter it takes tens of seconds."""
    k = Kernel(CFG, check_demux=False)
    for e in range(2):
        assert k.apply("env_create", e, e).status == Status.OK
    assert k.apply("filter_install", 0, program).status == Status.OK
    return k


@pytest.mark.parametrize("program, checks_made", [(FILLING, 1), (ATTACK, 0)],
                         ids=["past the budget", "over the weight"])
def test_model_install_undecided_state_unchanged_NET_1(program: filters.Program,
                                                       checks_made: int) -> None:
    """A pair at ``PAIR_WEIGHT`` is asked once and runs out of ``PAIR_RLIMIT``; a pair over
    it is not asked. Either way ``UNDECIDED``, the state unchanged."""
    dfilter._program_overlap.cache_clear()
    s = _model_with(program)
    with z3_checks() as checks:
        new, res = REGISTRY["filter_install"](s, 1, program)
    if checks_made:
        assert_one_check_past_the_budget(checks, dfilter.PAIR_RLIMIT)
    else:
        assert checks == []
    assert res.status == Status.UNDECIDED and res.value == 0
    assert new == s


@pytest.mark.parametrize("program, checks_made", [(FILLING, 1), (ATTACK, 0)],
                         ids=["past the budget", "over the weight"])
def test_impl_install_undecided_state_unchanged_NET_1(program: filters.Program,
                                                      checks_made: int) -> None:
    dfilter._program_overlap.cache_clear()
    impl_net._pair.cache_clear()
    k = _kernel_with(program)
    before = (list(k.state.filter_valid), list(k.state.filter_owner))
    with z3_checks() as checks:
        res = k.apply("filter_install", 1, program)
    if checks_made:
        assert_one_check_past_the_budget(checks, dfilter.PAIR_RLIMIT)
    else:
        assert checks == []
    assert res.status == Status.UNDECIDED and res.value == 0
    assert (list(k.state.filter_valid), list(k.state.filter_owner)) == before


def test_undecided_is_symmetric_and_not_disjoint() -> None:
    """The oracles on an undecided pair: ``undecided`` holds both ways round, and so does
    ``overlaps`` (the check does not prove the two disjoint), with no witness."""
    assert net_mod._undecided_concrete(ATTACK, ATTACK)
    assert net_mod._overlaps_concrete(ATTACK, ATTACK)
    assert net_mod._witness_hex(ATTACK, ATTACK) == ""
    other = division_chain(64, 1)
    assert net_mod._undecided_concrete(ATTACK, other) == net_mod._undecided_concrete(
        other, ATTACK)
    assert net_mod._overlaps_concrete(ATTACK, other) == net_mod._overlaps_concrete(
        other, ATTACK)


def _solver_runs() -> Any:
    return mock.patch.object(filters, "_solve", side_effect=AssertionError("solver ran"))


@pytest.mark.parametrize("case", ["bad env", "dead env", "bad program", "no space"])
def test_cheap_checks_come_before_the_solver_NET_1(case: str) -> None:
    """NET-1's checks 1-4 decide without asking Z3: the old model asked Z3 first, so
    ``filter_install(-1, <long program>)`` took seconds to say INVALID_ARGUMENT."""
    s = _model_with(ATTACK)
    k = _kernel_with(ATTACK)
    env, prog, expect = {
        "bad env": (-1, ATTACK, Status.INVALID_ARGUMENT),
        "dead env": (2, ATTACK, Status.NO_SUCH_ENV),
        "bad program": (1, ATTACK[:-1], Status.BAD_PROGRAM),
        "no space": (1, ATTACK, Status.NO_SPACE),
    }[case]
    if case == "no space":
        for tag in (1, 2):
            s, res = REGISTRY["filter_install"](s, 0, indirect_chain(2, tag))
            assert res.status == Status.OK
            assert k.apply("filter_install", 0, indirect_chain(2, tag)).status == Status.OK
    with _solver_runs():
        new, res = REGISTRY["filter_install"](s, env, prog)
        assert res.status == expect and new == s
        assert k.apply("filter_install", env, prog).status == expect


def test_proofs_see_an_undecided_check_read_as_disjoint() -> None:
    """Sensitivity: a model that reads 'undecided' as 'disjoint' installs a filter that
    may steal packets (INV-13 breaks); one that reports OVERLAP instead of UNDECIDED
    breaks NET-1's postcondition."""
    real = net_mod.overlaps

    def decided_overlap_only(a: Any, b: Any) -> Any:
        return logic.And(real(a, b), logic.Not(net_mod.undecided(a, b)))

    with mock.patch.object(net_mod, "overlaps", decided_overlap_only):
        assert discharge(BY_NAME["step/filter_install/INV-13"]).verdict == "counterexample"

    def without_undecided(checks: list[tuple[Any, int]], ok: int) -> Any:
        return logic.first_failure([c for c in checks if c[1] != Status.UNDECIDED], ok)

    with mock.patch.object(net_mod, "first_failure", without_undecided):
        assert discharge(BY_NAME["post/filter_install/effect"]).verdict == "counterexample"
    assert discharge(BY_NAME["step/filter_install/INV-13"]).verdict == "proved"
    assert discharge(BY_NAME["post/filter_install/effect"]).verdict == "proved"


# --------------------------------------------------------------------------- exo filter


@pytest.mark.parametrize("command", ["overlap", "equiv"])
def test_cli_undecided_exits_3(tmp_path: Path, command: str) -> None:
    a = tmp_path / "a.bpf"
    b = tmp_path / "b.bpf"
    attack = division_chain(16)  # past the budget ten times over, and quicker to build
    a.write_text(filters.to_ddd(attack))
    b.write_text(filters.to_ddd(attack if command == "overlap" else REJECT_ALL))
    proc = subprocess.run([sys.executable, "-c", "from exo.cli import main; main()",
                           "filter", command, str(a), str(b)],  # a fresh process, as a
                          capture_output=True, text=True,  # user runs it
                          timeout=WAIT_SECONDS, preexec_fn=_cpu_limited)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"undecided within budget (rlimit {filters.FILTER_RLIMIT})"


def test_cli_help_documents_exit_3() -> None:
    for command in ("overlap", "equiv"):
        out = CliRunner().invoke(main, ["filter", command, "--help"]).output
        words = " ".join(out.split())
        assert "exits 3" in words and "undecided within budget" in words


# --------------------------------------------------------------------------- FLT-1


LONG = 1_000_000
"""Characters in each long line below: a reader that backtracks (quadratic or worse) on
them needs hours of CPU, a linear one well under a second."""

LONG_LINES: dict[str, str] = {
    "bad": "{ 1, 2, 3," + " " * LONG + "x",
    "good": "{ 6," + " " * LONG + "0, 0, 1 },",
    "long token": "{ 1, 2, 3, " + "x" * LONG + " }",
    "long number": "{ " + "9" * LONG + ", 0, 0, 0 }",
    "spaces then x": "{ 1, 2, 3," + " " * LONG + "x",
    "open braces": "{" + "{" * LONG,
}

READ_LONG_LINES = """
import json, sys
from exo.model import filters
out = {}
for name, line in json.loads(sys.stdin.read()).items():
    try:
        out[name] = ["read", filters.parse_dd(line), filters.parse_any(line.encode())]
    except filters.FilterSyntaxError as exc:
        out[name] = ["refused", str(exc)]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def long_lines_read() -> dict[str, Any]:
    """What the reader makes of each of ``LONG_LINES``, read in a child process under
    RLIMIT_CPU: a reader that is not linear is killed there (SIGXCPU) instead of hanging
    the suite, and the tests below fail."""
    proc = subprocess.run([sys.executable, "-c", READ_LONG_LINES],
                          input=json.dumps(LONG_LINES), capture_output=True, text=True,
                          timeout=WAIT_SECONDS, preexec_fn=_cpu_limited)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    read: dict[str, Any] = json.loads(proc.stdout)
    return read


def test_dd_reader_is_linear_on_a_long_line_FLT_1(long_lines_read: dict[str, Any]) -> None:
    """'{ 1, 2, 3,' + spaces + 'x' took the old regex 18-27 s at 2,000 spaces; here it has
    a million, within the child's CPU rlimit."""
    kind, message = long_lines_read["bad"]
    assert kind == "refused" and len(message) < 120
    assert long_lines_read["good"] == ["read", [list(i) for i in ACCEPT_ALL],
                                       [list(i) for i in ACCEPT_ALL]]


@pytest.mark.parametrize("name", ["long token", "long number", "spaces then x",
                                  "open braces"])
def test_dd_errors_quote_a_short_excerpt_FLT_1(long_lines_read: dict[str, Any],
                                               name: str) -> None:
    kind, message = long_lines_read[name]
    assert kind == "refused", message[:200]
    assert len(message) < 160, message[:200]
    assert re.search(r"\.\.\.", message), message
