"""NET-1, FLT-6, FLT-9 *Deciding two programs*: what one environment's filters can make
another environment's ``filter_install`` pay is bounded per pair: a pair whose
``solver_weight`` is over ``PAIR_WEIGHT`` is ``UNDECIDED`` without a Z3 question, and a
pair under it is asked within ``PAIR_RLIMIT``. Work is bounded by counting questions and
Z3's steps, never by reading a clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from exo.cli.bench import port_filter
from exo.impl import Kernel
from exo.interface import Config, Status
from exo.kit.bpf_samples import SAMPLES
from exo.model import REGISTRY, dfilter, filters, initial
from exo.model.dfilter import PAIR_RLIMIT, PAIR_WEIGHT, program_overlap, recognized
from exo.model.filters import (
    ALU,
    DIV,
    FILTER_RLIMIT,
    IND,
    MOD,
    MUL,
    SOLVER_WEIGHTS,
    VALID_CODES,
    Program,
    Undecided,
    X,
    solver_weight,
    verify,
)

ACCEPT_ALL: Program = ((0x06, 0, 0, 1),)


def divisions(k: int, first: int = 0, op: int = 0x3C) -> Program:
    """``ldb [first]; tax; ldb [first+1]``, then ``k`` times ``op`` (division by X unless
    told), then ``ret a``: outside FLT-9's class."""
    return ((0x30, 0, 0, first), (0x07, 0, 0, 0), (0x30, 0, 0, first + 1),
            *((op, 0, 0, 0),) * k, (0x16, 0, 0, 0))


def indirect_loads(k: int) -> Program:
    """``ldx [0]``, then ``k`` times ``ldb [x+1]; tax``, then ``ret a``."""
    body = ((0x50, 0, 0, 1), (0x07, 0, 0, 0)) * k
    return ((0xB1, 0, 0, 0), *body, (0x87, 0, 0, 0), (0x16, 0, 0, 0))


class Asked:
    """Every Z3 question built while it is installed, with its budget and the steps its
    checks used."""

    def __init__(self) -> None:
        self.questions: list[filters.Question] = []


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Asked]:
    record = Asked()
    real = filters.Question

    class Counted(real):  # type: ignore[misc, valid-type]
        def __init__(self, constraints: list[Any], rlimit: int) -> None:
            super().__init__(constraints, rlimit)
            record.questions.append(self)

    monkeypatch.setattr(filters, "Question", Counted)
    filters._overlap.cache_clear()
    dfilter._program_overlap.cache_clear()
    yield record
    filters._overlap.cache_clear()
    dfilter._program_overlap.cache_clear()


def test_the_weight_is_the_table_of_flt6() -> None:
    """Each weighed instruction adds its weight; every other valid code adds 0."""
    heavy = {ALU | DIV | X: 4, ALU | MOD | X: 4, ALU | MUL | X: 2,
             0x40: 1, 0x48: 1, 0x50: 1}
    assert heavy == SOLVER_WEIGHTS
    assert all(code & 0xE0 == IND for code in heavy if code & 0x07 == 0)
    for code in sorted(VALID_CODES):
        assert solver_weight(((code, 0, 0, 0),)) == heavy.get(code, 0), hex(code)
    assert solver_weight(divisions(16)) == 64
    assert solver_weight(divisions(3, op=0x2C)) == 6
    assert solver_weight(indirect_loads(5)) == 5


def test_a_heavy_pair_is_undecided_without_a_question(asked: Asked) -> None:
    """570 chained divisions (the attack: 38 CPU s per victim call before) weigh 2,280: the
    pair with any program outside FLT-9 is UNDECIDED with its weight, and Z3 is not
    asked. Removing the weight check asks a question (and spends seconds)."""
    heavy = divisions(570)
    assert not verify(heavy) and recognized(heavy) is None
    found = program_overlap(SAMPLES["tcp_port_80"], heavy)
    assert isinstance(found, Undecided)
    assert found.weight == solver_weight(heavy) + solver_weight(SAMPLES["tcp_port_80"])
    assert found.rlimit == PAIR_RLIMIT
    assert f"solver weight {2280 + solver_weight(SAMPLES['tcp_port_80'])} " in str(found)
    assert asked.questions == []


def test_the_limit_is_inclusive(asked: Asked) -> None:
    """A pair of weight exactly PAIR_WEIGHT is asked, within PAIR_RLIMIT; one more unit is
    not asked."""
    at_limit = divisions(PAIR_WEIGHT // 4)
    assert solver_weight(at_limit) == PAIR_WEIGHT
    found = program_overlap(ACCEPT_ALL, at_limit)
    assert len(asked.questions) >= 1
    assert asked.questions[0].rlimit == PAIR_RLIMIT
    assert asked.questions[0].steps() <= PAIR_RLIMIT
    assert all(q.rlimit == PAIR_RLIMIT for q in asked.questions)
    if isinstance(found, Undecided):
        assert found.weight is None and found.rlimit == PAIR_RLIMIT
    over = (*divisions(PAIR_WEIGHT // 4)[:-1], (0x50, 0, 0, 0), (0x16, 0, 0, 0))
    assert not verify(over) and solver_weight(over) == PAIR_WEIGHT + 1
    n = len(asked.questions)
    assert isinstance(program_overlap(ACCEPT_ALL, over), Undecided)
    assert len(asked.questions) == n


def test_a_pair_that_fills_the_budget_is_undecided_within_it(asked: Asked) -> None:
    """16 chained divisions against a port filter: Z3 decides neither way within
    PAIR_RLIMIT (the budget-filling filter of benchmarks/filter_cost.py); the question
    used exactly its budget."""
    assert solver_weight(port_filter(40_000)) == 0
    found = program_overlap(port_filter(40_000), divisions(16))
    assert isinstance(found, Undecided) and found.weight is None
    assert [q.steps() for q in asked.questions] == [PAIR_RLIMIT]


def test_every_sample_pair_is_decided_within_the_pair_budget(asked: Asked) -> None:
    """The bundled tcpdump samples outside FLT-9, each against every sample: no pair is
    UNDECIDED, and none used more than half of PAIR_RLIMIT (the budget is not tuned to
    the edge of real filters)."""
    outside = [p for p in SAMPLES.values() if recognized(p) is None]
    assert outside
    for a in outside:
        for b in SAMPLES.values():
            assert not isinstance(program_overlap(a, b), Undecided), (a[:2], b[:2])
    assert asked.questions
    assert max(q.steps() for q in asked.questions) <= PAIR_RLIMIT // 2


def test_flt6_overlap_keeps_its_own_budget(asked: Asked) -> None:
    """FLT-6's ``overlap`` (the public one-query check) still asks within FILTER_RLIMIT:
    only NET-1's pairs use PAIR_RLIMIT."""
    filters.overlap(divisions(4), [ACCEPT_ALL])
    assert asked.questions and asked.questions[0].rlimit == FILTER_RLIMIT


@pytest.mark.parametrize("side", ["model", "impl"])
def test_a_victims_install_asks_nothing_of_heavy_filters(asked: Asked, side: str) -> None:
    """Environment 0 installs two filters of 17 chained divisions (weight 68 each; nothing
    else installed: no pair to decide). Environment 1's port filter is then refused
    UNDECIDED by the model and by exo.impl, and neither asks Z3 a question on the victim's
    call."""
    heavy = [divisions(17, 0), divisions(17, 2)]
    assert all(solver_weight(p) > PAIR_WEIGHT for p in heavy)
    victim = SAMPLES["tcp_port_80"]
    cfg = Config(n_envs=2, n_filters=4)
    if side == "model":
        s = initial(cfg)
        for e in (0, 1):
            s, _ = REGISTRY["env_create"](s, e, e)
        for prog in heavy:
            s, res = REGISTRY["filter_install"](s, 0, prog)
            assert res.status == Status.OK
        before = len(asked.questions)
        _, res = REGISTRY["filter_install"](s, 1, victim)
    else:
        k = Kernel(cfg)
        for e in (0, 1):
            assert k.apply("env_create", e, e).status == Status.OK
        for prog in heavy:
            assert k.apply("filter_install", 0, prog).status == Status.OK
        before = len(asked.questions)
        res = k.apply("filter_install", 1, victim)
    assert res.status == Status.UNDECIDED
    assert len(asked.questions) == before
