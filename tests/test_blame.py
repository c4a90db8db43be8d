"""A difference names what it contradicts (``exo.kit.blame``): the clause of the call and
the sentence of its declarative text the implementation's value makes false — in
``Lockstep``'s messages (``exo check``, ``exo.kit.replay``, ``minimize``), in ``exo
fixtures run`` and in ``exo replay``. The planted bugs are the catalogue's broken kernels
(tests/catalogue.py); a sentence counts as the clause's own when it is quoted under that
clause and three quarters of its words occur in the clause's section of spec/*.md (the
measure of tests/test_declarative.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from exo.impl import Kernel
from exo.interface import FREE, Cap, Config, Result, Status
from exo.kit.blame import Blame, blame_calls, blame_result, blame_state
from exo.kit.lockstep import Lockstep
from exo.kit.replay import minimize, replay
from exo.model import REGISTRY, State, initial
from exo.proofs import counterexample as cx
from exo.spec.clauses import sections
from exo.wire.fixtures import fixture, run_one
from tests.catalogue import CAP0, CATALOGUE, RW
from tests.catalogue_views import CATALOGUE as VIEWS

QUOTED = re.compile(r'(?P<clause>[A-Z]+-\d+)(?: (?P<name>[a-z_]+/[\w/=-]+))?: "(?P<sentence>.*?)"'
                    r'(?=; |$| \(and )')
"""A quoted sentence of a message: its clause, its conjunct (if any) and the sentence."""

VERIFIED = {
    # a dealloc: the grantee keeps its rights on the freed page (state)
    "GrantSkipsHolders": "MEM-2",
    # the TLB: tlbvadelete forgets the STLB (state); a second binding is not written
    "TlbvadeleteKeepsStlb": "TLB-2",
    "TlbwrSkipsSameBinding": "TLB-1",
    # the network: a drop not counted (state); the ring rewound (state)
    "RingFullNotCounted": "NET-3",
    "RingRewindsOnDrain": "NET-4",
    # results and statuses: a requirement skipped, a wrong outcome, a wrong slot
    "GrantTooLargeRights": "MEM-3",
    "PacketTakeEmptyOk": "NET-4",
    "AbortAtDeadline": "REV-3",
    "KillOneTickEarly": "CPU-4",
    "FilterHighestSlot": "NET-1",
}
"""Catalogue entries whose witness's failure quotes a sentence of the entry's own CLAUSE."""

SWEEP_AT_LEAST = 58
"""How many catalogue entries' witness failures name their own CLAUSE (of 73 when this
was written; the others fail at another operation than the one the bug is in, or break a
sentence the text cites under another clause: see ``test_catalogue_sweep``)."""


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[`*]", "", text)).strip().lower()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", _norm(text))


def said_by(clause: str, sentence: str) -> bool:
    """Is ``sentence`` one of ``clause``'s own (most of its words in its section)?"""
    there = set(_words(sections()[clause]))
    words = _words(sentence)
    return bool(words) and sum(w in there for w in words) >= 0.75 * len(words)


def quoted(message: str) -> list[tuple[str, str, str]]:
    """The (clause, conjunct, sentence) quoted after ``contradicts`` in ``message``."""
    assert "contradicts " in message, message
    tail = message[message.index("contradicts "):]
    return [(m["clause"], m["name"] or "", m["sentence"]) for m in QUOTED.finditer(tail)]


def names_clause_and_sentence(message: str, clause: str) -> bool:
    return any(c == clause and said_by(clause, s) for c, _, s in quoted(message))


def _cfg(cls: type) -> Config:
    return Config(**getattr(cls, "CONFIG", {}))


@pytest.mark.parametrize("name", sorted(VERIFIED))
def test_a_planted_bug_names_its_clause_and_sentence(name: str) -> None:
    cls = CATALOGUE[name]
    assert cls.CLAUSE == VERIFIED[name]
    assert replay(Kernel, _cfg(cls), cls.WITNESS) is None  # the unbroken kernel: nothing
    found = replay(cls, _cfg(cls), cls.WITNESS)
    assert found is not None and found.kind in ("state", "result"), found
    # the old message is kept as it was, the blame after it
    assert ("state differs: " in found.message) == (found.kind == "state"), found
    assert names_clause_and_sentence(found.message, cls.CLAUSE), found.message


def test_a_message_names_the_operation_s_clause_and_the_conjunct() -> None:
    cls = CATALOGUE["GrantSkipsHolders"]
    found = replay(cls, _cfg(cls), cls.WITNESS)
    assert found is not None
    assert "contradicts MEM-2 (dealloc): MEM-2 dealloc/deallocated/rights: \"" in found.message
    result = replay(CATALOGUE["GrantTooLargeRights"], Config(), CATALOGUE[
        "GrantTooLargeRights"].WITNESS)
    assert result is not None and result.kind == "result"
    assert ("(statuses and values must match exactly); contradicts MEM-3 (grant): MEM-3 "
            "grant/requires/rights-within: ") in result.message


def test_catalogue_sweep() -> None:
    """Every catalogue entry's witness failure names what it contradicts; count those
    naming the entry's own CLAUSE. The rest name the clause of the operation where the
    difference shows (a stale index left by ``abort`` shows at a later ``env_destroy``,
    ENV-2; a stale demux at ``packet_arrive``, NET-3) or a sentence the text cites under
    another clause (REV-4's repossession vector is stated in ``abort``'s REV-3 text;
    registers kept across a PCT, PCT-3, are ``scall``'s GEN-2 frame)."""
    own: list[str] = []
    other: list[str] = []
    for name in sorted(CATALOGUE):
        cls = CATALOGUE[name]
        found = replay(cls, _cfg(cls), cls.WITNESS)
        assert found is not None and found.kind in ("state", "result"), (name, found)
        tail = found.message[found.message.index("contradicts "):]
        assert quoted(found.message), (name, tail)  # at least one sentence, always
        (own if re.search(rf"\b{cls.CLAUSE}\b", tail) else other).append(name)
    print(f"{len(own)} of {len(CATALOGUE)} catalogue failures name their own clause; "
          f"others: {', '.join(other)}")
    assert set(VERIFIED) <= set(own)
    assert len(own) >= SWEEP_AT_LEAST, other


@pytest.mark.parametrize("name", sorted(n for n in VIEWS if VIEWS[n].CLAUSE == "GEN-6"))
def test_a_broken_trap_layer_names_the_check_of_gen_6(name: str) -> None:
    cls = VIEWS[name]
    found = replay(cls, _cfg(cls), cls.WITNESS)
    assert found is not None and found.kind == "result", found
    assert names_clause_and_sentence(found.message, "GEN-6"), found.message


def test_a_trap_step_is_blamed_as_the_system_call_it_runs() -> None:
    """A trap step that reaches its system call is read with the running environment as
    its caller (``as_called``): DeallocKeepsStlb's bug through the trap layer."""
    cls = CATALOGUE["DeallocKeepsStlb"]
    boot = (("env_create", (0, 0)), ("set_interrupt_context", (0, 0, 0x2000)),
            ("slice_alloc", (0, 1)), ("timer_tick", ()))
    steps = (*boot, ("trap", ("alloc", 0)), ("trap", ("tlbwr", 0, CAP0, True)),
             ("trap", ("dealloc", CAP0)))
    assert replay(Kernel, Config(), steps) is None
    found = replay(cls, Config(), steps)
    assert found is not None and found.kind == "state", found
    assert "contradicts MEM-2 (dealloc): " in found.message, found.message
    assert names_clause_and_sentence(found.message, "TLB-9"), found.message


def test_several_calls_since_the_last_comparison_name_their_clauses() -> None:
    cls = CATALOGUE["DeallocKeepsStlb"]
    ls = Lockstep(cls, Config())
    assert ls.conforms() is None
    for name, args in cls.WITNESS:
        assert ls.call(name, args) is None
    found = ls.conforms()
    assert found is not None and found.kind == "state"
    assert found.message.endswith("contradicts one of ENV-1 (env_create), MEM-1 (alloc), "
                                  "TLB-1 (tlbwr), MEM-2 (dealloc)"), found.message


def test_minimize_keeps_the_blame() -> None:
    """``minimize``'s trials leave the blame out; the program it keeps names it again."""
    cls = CATALOGUE["RingFullNotCounted"]
    noise = [("env_create", (3, 3)), ("alloc", (3, 5)), ("set_reg", (0, 1))]
    steps = [*noise, *cls.WITNESS]
    found = replay(cls, _cfg(cls), steps)
    assert found is not None
    short, failure = minimize(cls, _cfg(cls), steps, found)
    assert len(short) < len(steps)
    assert names_clause_and_sentence(failure.message, "NET-3"), failure.message
    quiet = replay(cls, _cfg(cls), short, blame=False)
    assert quiet is not None and "contradicts" not in quiet.message


# --------------------------------------------------------------------------- never raises


class _Weird:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparing me")

    def __repr__(self) -> str:  # a stable test id: xdist's workers must collect the same
        return "_Weird()"

    __hash__ = None  # type: ignore[assignment]


GARBAGE: list[Any] = [None, "OK", 3.5, _Weird(), Result("OK", 0), Result(Status.OK, _Weird()),
                      Result(0, Cap(0, 0, 2)), Result(Status.OK, [1, 2]), Result(10**100, -1),
                      Result(True, 0), Result(int(Status.OK), b"\x00")]


def _pre() -> State:
    s = initial(Config())
    for name, args in (("env_create", (0, 0)), ("alloc", (0, 0))):
        s = REGISTRY[name](s, *args)[0]
    return s


@pytest.mark.parametrize("got", GARBAGE, ids=repr)
def test_blame_of_a_result_never_raises(got: Any) -> None:
    pre = _pre()
    calls: list[tuple[str, tuple[Any, ...]]] = [
        ("dealloc", (0, CAP0)), ("grant", (0, CAP0, 1, RW)), ("load", (0, 0, 0)),
        ("alloc", ("zero", 0)), ("dealloc", (0,)), ("trap", ()), ("trap", (5,)),
        ("trap", ("nothing",)), ("trap", ("alloc", 1)), ("trap", ("timer_tick",)),
        ("no_such_op", (1, 2))]
    for name, args in calls:
        expected = REGISTRY[name](pre, *args)[1] if name in REGISTRY else Result(0, 0)
        blame = blame_result(pre, name, args, expected, got)
        assert isinstance(blame, Blame) and str(blame).startswith("contradicts "), blame


def test_blame_of_a_state_never_raises() -> None:
    pre = _pre()
    post, res = REGISTRY["dealloc"](pre, 0, CAP0)
    owner = post.owner
    seen = [post.replace(cur_env="x"), post.replace(owner=owner.set(0, _Weird())),
            post.replace(owner=owner.set(1, None)), post.replace(tlb_valid=42),
            initial(Config(n_envs=1)), post.replace(slice_left=_Weird())]
    for s in seen:
        blame = blame_state(pre, "dealloc", (0, CAP0), res, post, s)
        assert str(blame).startswith("contradicts MEM-2 (dealloc)"), blame
    odd: list[Any] = [("trap", 5), (3, ()), ("dealloc", ()), 7, ("trap", ("alloc", 1), 2)]
    assert str(blame_calls(odd)) == "contradicts one of GEN-6 (trap), MEM-2 (dealloc)"


def test_the_clause_alone_where_no_sentence_fails() -> None:
    pre = _pre()
    post, res = REGISTRY["dealloc"](pre, 0, CAP0)
    assert str(blame_state(pre, "dealloc", (0, CAP0), res, post, post)) == \
        "contradicts MEM-2 (dealloc)"
    # an answer the text allows (same_outcome may still refuse it): the clause alone
    assert str(blame_result(pre, "dealloc", (0, CAP0), res, res)) == "contradicts MEM-2 (dealloc)"


def test_refusals_before_any_operation_name_gen_1_and_gen_6() -> None:
    pre = _pre()
    kinds = blame_result(pre, "alloc", ("zero", 0), Result(Status.INVALID_ARGUMENT, 0),
                         Result(Status.OK, CAP0))
    assert kinds.clause == "MEM-1"
    assert names_clause_and_sentence(str(kinds), "GEN-1"), kinds
    idle = blame_result(pre, "trap", ("alloc", 1), Result(Status.NOT_RUNNING, 0),
                        Result(Status.OK, CAP0))
    assert pre.cur_env == FREE and idle.clause == "GEN-6"
    assert "not `FREE`" in str(idle) and names_clause_and_sentence(str(idle), "GEN-6")
    after = blame_state(pre, "trap", ("alloc", 1), Result(Status.NOT_RUNNING, 0), pre,
                        pre.replace(cur_env=0))
    assert names_clause_and_sentence(str(after), "GEN-2"), after  # a failure changes nothing


# --------------------------------------------------------------------------- fixtures run


@pytest.mark.parametrize(("name", "what"), [("RingFullNotCounted", "state after it: "),
                                            ("GrantTooLargeRights", "got OK ")])
def test_a_fixture_difference_names_clause_and_sentence(name: str, what: str) -> None:
    cls = CATALOGUE[name]
    data = fixture("planted", _cfg(cls), cls.WITNESS)
    assert run_one(data, Kernel).passed
    out = run_one(data, cls)
    assert not out.passed and what in out.detail, out.detail
    assert out.detail.startswith(f"step {len(cls.WITNESS) - 1} "), out.detail
    assert names_clause_and_sentence(out.detail, cls.CLAUSE), out.detail


def test_a_format_1_fixture_names_the_clauses_of_its_calls() -> None:
    cls = CATALOGUE["RingFullNotCounted"]
    data = fixture("planted", _cfg(cls), cls.WITNESS)
    old = {k: v for k, v in data.items() if k != "boot"}
    old["format"] = "exo-fixture/1"
    old["steps"] = [{k: v for k, v in st.items() if k != "changed"} for st in data["steps"]]
    out = run_one(old, cls)
    assert out.detail.startswith("state at the end: rx_drops[0]"), out.detail
    assert "contradicts one of " in out.detail and "NET-3 (packet_arrive)" in out.detail


# --------------------------------------------------------------------------- exo replay


def test_exo_replay_names_the_sentence_a_planted_model_bug_breaks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model whose dealloc forgets the TLB: the saved counterexample of INV-1, replayed
    by ``exo replay``'s ``replay_file``, names TLB-9's sentence the step contradicts."""
    real = REGISTRY["dealloc"]

    def forgetful(pre: State, *args: Any) -> tuple[State, Result]:
        post, res = real(pre, *args)
        return post.replace(tlb_valid=pre.tlb_valid, stlb_valid=pre.stlb_valid), res

    cfg = Config()
    pre = _pre()
    pre = REGISTRY["tlbwr"](pre, 0, 3, CAP0, True)[0]
    record = cx.replay_record("step/dealloc/INV-1", cfg, pre, [0, CAP0], forgetful)
    path = cx.save(record, tmp_path)
    monkeypatch.setitem(REGISTRY, "dealloc", forgetful)
    again, lines = cx.replay_file(path)
    assert again["violations"]
    verdict = lines[-1] if lines[-1].startswith("VIOLATED") else lines[-2]
    assert verdict.startswith("VIOLATED: ") and "INV-1 violated" in verdict, lines
    assert "the step contradicts dealloc/deallocated/tlb_valid (TLB-9: " in verdict, verdict
    sentence = verdict.split("(TLB-9: ", 1)[1].split(")", 1)[0]
    assert said_by("TLB-9", sentence), sentence
    post = cx.replay_record("post/dealloc/effect", cfg, pre, [0, CAP0], forgetful)
    assert "post/dealloc/effect fails (MEM-2); the step contradicts " in post["summary"]


def test_a_fixture_trap_step_refused_by_the_layer_names_gen_6() -> None:
    cls = VIEWS["TrapTakesCallerFromArgument"]
    data = fixture("planted-trap", _cfg(cls), cls.WITNESS)
    assert run_one(data, Kernel).passed
    out = run_one(data, cls)
    assert not out.passed and " trap alloc(1, 5): " in out.detail, out.detail
    assert names_clause_and_sentence(out.detail, "GEN-6"), out.detail
