"""The wire protocol (spec/protocol.md, WIRE-1..WIRE-6): encoding, the schema, the client
against the reference server, and every way a process can break the protocol reported as
a failure with a shrunk program."""

from __future__ import annotations

import json
import random
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from exo.interface import NULL_CAP, OPERATIONS, Cap, Config, Outcome, Result, Status
from exo.kit.check import run_check
from exo.kit.conformance import abstract
from exo.model.kernel import ModelImplementation
from exo.wire.client import FULL_EVERY, WireKernel
from exo.wire.codec import (
    Foreign,
    WireError,
    config_json,
    decode,
    decode_int,
    decode_program,
    decode_result,
    decode_state,
    encode,
    encode_result,
    encode_state,
    request,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "spec" / "protocol.schema.json").read_text())
SERVE = [sys.executable, "-c", "from exo.cli import main; main()", "serve"]
FAULTS = [sys.executable, str(ROOT / "tests" / "wire_faults.py")]
STEP_GUARD = 60.0
"""The step timeout of the tests whose kernels do real work (WIRE-1: processor seconds
of the kernel's session, ``WALL_FACTOR`` times that of wall-clock time). A step's work is
bounded without it (a filter install's Z3 questions by ``PAIR_WEIGHT`` and
``PAIR_RLIMIT``, about 0.15 s of processor time a pair; every other step by the size of
the state), so this is only a guard against a hang, far from any step on any machine:
the tests do not depend on the machine's speed or load. The hang test alone keeps a
short one: its kernel sleeps."""
SMALL = Config(n_envs=2, n_pages=3, page_words=2, tlb_size=2, stlb_size=2, n_cids=3,
               n_slices=2, n_guaranteed=1, n_regs=2, slice_ticks=2, excess_limit=1,
               addr_limit=16, n_filters=2, ring_size=2)


@pytest.mark.parametrize("value", [0, -1, 2**70, True, False, Cap(1, 2, 3), b"", b"\x00\xff",
                                   ((6, 0, 0, 65535),), ((0x28, 1, 2, 12), (6, 0, 0, 0)),
                                   ()])
def test_values_round_trip(value: Any) -> None:
    """WIRE-6: every kind the interface has goes and comes back as itself."""
    wire = encode(value)
    json.dumps(wire)
    back = decode(json.loads(json.dumps(wire)))
    assert back == value and type(back) is type(value)
    jsonschema.validate(wire, {**SCHEMA, "$ref": "#/$defs/value", "oneOf": None} | {
        "oneOf": SCHEMA["$defs"]["value"]["oneOf"]})


@pytest.mark.parametrize("value", [1.0, "1", None, [1], {"a": 1}, ((1, 2, 3),),
                                   ((0x10000, 0, 0, 0),), ((6, 0, 0, 2**32),),
                                   ((6, True, 0, 0),)])
def test_values_of_no_kind_go_as_foreign(value: Any) -> None:
    """WIRE-6: anything that is not exactly of a kind goes as ``foreign`` (GEN-1 refuses
    it), programs with a field out of range included."""
    wire = encode(value)
    assert set(wire) == {"foreign"}
    assert isinstance(decode(wire), Foreign)


INT_SCHEMA = {**SCHEMA, "oneOf": None} | {"oneOf": SCHEMA["$defs"]["integer"]["oneOf"]}


@pytest.mark.parametrize(("value", "wire"), [
    (2**63 - 1, 2**63 - 1), (-(2**63), -(2**63)), (0, 0),
    (2**63, {"int": "9223372036854775808"}), (-(2**63) - 1, {"int": "-9223372036854775809"}),
    (2**70, {"int": "1180591620717411303424"}), (-(2**70), {"int": "-1180591620717411303424"}),
])
def test_integers_beyond_64_bits_go_as_text(value: int, wire: Any) -> None:
    """WIRE-6: an integer is a JSON number inside 64 bits and {"int": DIGITS} outside,
    alone or as a field of a capability; both come back as the same int."""
    assert encode(value) == wire
    assert decode(json.loads(json.dumps(wire))) == value
    jsonschema.validate(wire, INT_SCHEMA)
    cap = encode(Cap(1, value, 2))
    assert cap == {"cap": [1, wire, 2]}
    assert decode(cap) == Cap(1, value, 2)


@pytest.mark.parametrize("wire", [
    {"int": "5"}, {"int": "9223372036854775807"}, {"int": "+9223372036854775808"},
    {"int": "09223372036854775808"}, {"int": "-0"}, {"int": 2**70}, {"int": "12e30"},
    {"int": "99999999999999999999", "x": 1}, 2**64, -(2**63) - 1, {"cap": [1, 2**64, 2]},
    {"int": "+1"}, {"int": "007"}, {"int": "0070000000000000000000"}, {"int": 5},
    {"int": "-9223372036854775808"}, {"int": "1_000_000_000_000_000_000_000"},
    {"int": " 99999999999999999999"}, {"int": "99999999999999999999\n"},
    {"int": "\uff11" * 20}, {"int": None}, {"int": True}, -(2**64),
    {"cap": [1, {"int": "5"}, 2]}, {"cap": [{"int": "+99999999999999999999"}, 0, 0]},
])
def test_an_integer_has_one_encoding(wire: Any) -> None:
    """WIRE-6: a number outside 64 bits, and {"int": ...} inside them or not in the
    digit form, are refused."""
    with pytest.raises(ValueError):
        decode(wire)


def test_the_schema_refuses_short_int_texts() -> None:
    """The schema's pattern refuses {"int": ...} texts of fewer than 19 digits (the exact
    64-bit boundary: test_the_schema_and_decode_int_agree_on_the_64_bit_boundary)."""
    jsonschema.validate({"int": "99999999999999999999"}, INT_SCHEMA)
    for bad in ({"int": "12"}, {"int": "0012345678901234567890"}, 2**64):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, INT_SCHEMA)


def test_the_reference_server_holds_a_register_beyond_64_bits() -> None:
    """CPU-6 over the wire: ``exo serve`` takes ±2**70 as {"int": ...} and reports the
    register and the stored word in the same form."""
    cfg = config_json(Config(n_envs=1, n_slices=1))
    replies = transcript([
        request("reset", config=cfg),
        request("apply", op="env_create", args=[0, 0]),
        request("apply", op="set_interrupt_context", args=[0, 0, 256]),
        request("apply", op="slice_alloc", args=[0, 0]),
        request("apply", op="timer_tick", args=[]),
        request("apply", op="set_reg", args=[1, encode(2**70)]),
        request("apply", op="set_reg", args=[2, {"int": "7"}]),
        request("observe"),
    ])
    assert [r.get("status") for r in replies[1:7]] == [
        "OK", "OK", "OK", "OK", "OK", "INVALID_ARGUMENT"]
    fields = replies[-1]["fields"]
    jsonschema.validate(replies[-1], SCHEMA)
    assert [1, {"int": str(2**70)}] in fields["regs"]



_INT_VALIDATOR = jsonschema.Draft202012Validator(INT_SCHEMA)
"""Built once: ``jsonschema.validate`` builds a validator of the whole schema per call."""


def _int_schema_accepts(wire: Any) -> bool:
    return bool(_INT_VALIDATOR.is_valid(wire))


def _decode_int_accepts(wire: Any) -> bool:
    try:
        decode_int(wire)
    except ValueError:
        return False
    return True


def test_the_schema_and_decode_int_agree_on_the_64_bit_boundary() -> None:
    """The schema's {"int": ...} pattern compares digit by digit, so it takes exactly the
    texts decode_int takes: every integer around ±2**63, around powers of ten and at
    random, as a bare number and as text, plus texts of other forms."""
    rng = random.Random(6)
    values = [b + k for b in (2**63, -(2**63), 2**63 - 1, -(2**63) - 1, 10**18, -(10**18),
                              10**19, -(10**19), 10**20, 2**64, 2**70)
              for k in range(-40, 41)]
    values += [sign * rng.randrange(10**rng.randint(1, 25)) for sign in (1, -1)
               for _ in range(2000)]
    values += [sign * (2**63 + rng.randrange(-(10**d), 10**d)) for sign in (1, -1)
               for d in range(1, 19) for _ in range(40)]
    texts = ["+9223372036854775808", "09223372036854775808", "-0", "0", "",
             "9223372036854775808 ", "-09223372036854775809"]
    cases: list[Any] = [*values, *({"int": str(v)} for v in values),
                        *({"int": s} for s in texts)]
    wrong = [w for w in cases if _int_schema_accepts(w) != _decode_int_accepts(w)]
    assert not wrong, wrong[:5]
    assert _int_schema_accepts({"int": "9223372036854775808"})
    assert not _int_schema_accepts({"int": "9223372036854775807"})


def test_encode_takes_int_enums_as_plain_integers() -> None:
    """WIRE-6: an IntEnum member is its integer, alone or in a capability's field."""
    assert encode(Outcome.TICK) == int(Outcome.TICK)
    assert type(encode(Outcome.TICK)) is int
    assert encode(Cap(Status.BUSY, 2**64, 1)) == {
        "cap": [int(Status.BUSY), {"int": str(2**64)}, 1]}
    assert encode_result("timer_tick", Result(Status.OK, Outcome.TICK))["value"] == "TICK"


def test_results_and_states_carry_integers_beyond_64_bits() -> None:
    """WIRE-3/WIRE-4: a result value, a scalar and a row value beyond 64 bits go as
    {"int": ...} and come back; a bare number beyond 64 bits, or {"int": ...} inside
    them, in a reply is a reply out of shape."""
    big = {"int": str(-(2**70))}
    wire = encode_result("set_reg", Result(Status.OK, -(2**70)))
    assert wire == {"type": "result", "status": "OK", "value": big}
    assert decode_result("set_reg", json.loads(json.dumps(wire))).value == -(2**70)
    for bad in (-(2**70), {"int": "-5"}):
        with pytest.raises(ValueError):
            decode_result("set_reg", {"type": "result", "status": "OK", "value": bad})
    fields = encode_state({"now": 2**64, "regs": {0: 1, 1: 2**70},
                           "word": {(0, 1): -(2**63) - 1}})
    assert fields == {"now": {"int": str(2**64)}, "regs": [[0, 1], [1, {"int": str(2**70)}]],
                      "word": [[0, 1, {"int": str(-(2**63) - 1)}]]}
    state = decode_state(SMALL, json.loads(json.dumps({"type": "state", "fields": fields})))
    assert state == {"now": 2**64, "regs": {0: 1, 1: 2**70}, "word": {(0, 1): -(2**63) - 1}}
    for bad_fields in ({"now": 2**64}, {"regs": [[1, 2**70]]}, {"regs": [[1, {"int": "1"}]]}):
        with pytest.raises(ValueError):
            decode_state(SMALL, {"type": "state", "fields": bad_fields})


def test_the_schema_takes_big_integers_in_one_form_only() -> None:
    """spec/protocol.schema.json: a state reply with a register beyond 64 bits validates;
    with {"int": "12"} or {"int": ...} of a 64-bit value it does not, nor with a bare
    number beyond 64 bits. The same in an apply's arguments, a capability's fields and a
    result; a reset's config takes plain integers only."""
    def state(v: Any) -> dict[str, Any]:
        return {"type": "state", "fields": {"now": 3, "regs": [[0, 0], [1, v]]}}

    def apply(v: Any) -> dict[str, Any]:
        return request("apply", op="grant", args=[0, 1, {"cap": [0, v, 2]}, 1])

    def result(v: Any) -> dict[str, Any]:
        return {"type": "result", "status": "OK", "value": v}

    big, neg = {"int": str(2**70)}, {"int": str(-(2**70))}
    for make in (state, apply, result):
        for good in (big, neg, 2**63 - 1, -(2**63)):
            jsonschema.validate(make(good), SCHEMA)
        for bad in ({"int": "12"}, {"int": str(2**63 - 1)}, {"int": str(-(2**63))}, 2**64,
                    {"int": "+" + str(2**70)}, {"int": 2**70}):
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(make(bad), SCHEMA)
    cfg = config_json(SMALL)
    jsonschema.validate(request("reset", config=cfg), SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(request("reset", config={**cfg, "addr_limit": {"int": str(2**70)}}),
                            SCHEMA)


_STORE_BIG = [
    request("apply", op="env_create", args=[0, 0]),
    request("apply", op="set_interrupt_context", args=[0, 0, 256]),
    request("apply", op="slice_alloc", args=[0, 0]),
    request("apply", op="timer_tick", args=[]),
    request("apply", op="set_reg", args=[1, {"int": str(2**70)}]),
    request("apply", op="set_reg", args=[2, {"int": str(-(2**70))}]),
    request("apply", op="alloc", args=[0, 0]),
    request("apply", op="tlbwr", args=[0, 0, {"cap": [0, 0, 2]}, True]),
    request("apply", op="store", args=[0, 1, 1]),
]


def test_exo_serve_answers_set_reg_of_2_to_the_70_in_observe() -> None:
    """``exo serve`` (the bundled kernel): set_reg of 2**70, then observe, answers the
    register as {"int": "1180591620717411303424"}; -(2**70) and the word a store of it
    fills too, and the state reply validates against the schema."""
    cfg = config_json(Config(n_envs=1, n_slices=1))
    replies = transcript([request("reset", config=cfg), *_STORE_BIG, request("observe"),
                          request("goodbye")])
    assert [r.get("status") for r in replies[1:-2]] == ["OK"] * len(_STORE_BIG)
    fields = replies[-2]["fields"]
    assert [1, {"int": "1180591620717411303424"}] in fields["regs"]
    assert [2, {"int": "-1180591620717411303424"}] in fields["regs"]
    assert [0, 1, {"int": "1180591620717411303424"}] in fields["word"]
    jsonschema.validate(replies[-2], SCHEMA)
    assert replies[-1] == {"type": "bye"}


def test_the_client_round_trips_2_to_the_70_through_exo_serve() -> None:
    """WireKernel against ``exo serve``: the register and the stored word come back as
    the ints themselves, equal to what the bundled kernel observes in-process."""
    from exo.impl import Kernel

    cfg = Config(n_envs=1, n_slices=1)
    local = Kernel(cfg)
    remote = WireKernel.factory(SERVE)(cfg)
    try:
        for msg in _STORE_BIG:
            args = [decode(a) for a in msg["args"]]
            want = local.apply(msg["op"], *args)
            got = remote.apply(msg["op"], *args)
            assert (got.status, got.value) == (want.status, want.value), msg
        seen = remote.observe()
    finally:
        WireKernel.close_all()
    assert seen["regs"][1] == 2**70 and seen["regs"][2] == -(2**70)
    assert seen["word"][(0, 1)] == 2**70
    assert seen["regs"] == local.observe()["regs"]


def test_programs_are_the_bpf_binary_layout_big_endian() -> None:
    assert encode(((0x28, 1, 2, 0x0C0D0E0F),)) == {"program": "002801020c0d0e0f"}
    assert decode_program("002801020c0d0e0f") == ((0x28, 1, 2, 0x0C0D0E0F),)
    with pytest.raises(ValueError):
        decode_program("0028")


def test_results_go_by_name_and_come_back() -> None:
    """WIRE-3/WIRE-6: statuses and outcomes by name; a failed outcome operation says
    NONE; a failed capability operation the null capability; a witness as hex."""
    cases = [("load", Result(Status.OK, int(Outcome.REFILL_STLB))),
             ("load", Result(Status.NOT_RUNNING, 0)),
             ("alloc", Result(Status.OK, Cap(1, 0, 2))),
             ("alloc", Result(Status.IN_USE, NULL_CAP)),
             ("packet_take", Result(Status.OK, b"\x01\x02")),
             ("filter_install", Result(Status.OVERLAP, "0a0b")),
             ("filter_install", Result(Status.OK, 1))]
    for op, res in cases:
        wire = encode_result(op, res)
        jsonschema.validate(wire, SCHEMA)
        back = decode_result(op, json.loads(json.dumps(wire)))
        assert back.status == res.status and back.value == res.value, (op, wire)
    assert encode_result("load", cases[1][1])["value"] == "NONE"


@pytest.mark.parametrize("reply", [
    {"type": "result", "status": "FINE", "value": 0},
    {"type": "result", "status": "OK"},
    {"type": "result", "status": "OK", "value": 7},  # load's value must be an outcome name
    {"type": "error", "message": "no"},
    {"type": "state", "fields": {}},
    [1, 2],
])
def test_replies_out_of_shape_are_refused(reply: Any) -> None:
    with pytest.raises(ValueError):
        decode_result("load", reply)


def transcript(lines: list[dict[str, Any]]) -> list[Any]:
    """The reference server's replies to ``lines``."""
    proc = subprocess.run(SERVE, input="".join(json.dumps(m) + "\n" for m in lines),
                          capture_output=True, text=True, timeout=120, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_a_transcript_of_the_reference_server_matches_the_schema() -> None:
    """Every request and reply of a session with ``exo serve`` validates against
    spec/protocol.schema.json, and each request gets exactly one reply in order."""
    cfg = json.loads(json.dumps(config_json(SMALL)))
    requests = [
        request("reset", config=cfg),
        request("apply", op="env_create", args=[0, 0]),
        request("apply", op="alloc", args=[0, 1]),
        request("apply", op="alloc", args=[True, 1]),
        request("apply", op="alloc", args=[{"foreign": "float"}, 1]),
        request("apply", op="load", args=[0, 0, 0]),
        request("apply", op="filter_install", args=[0, encode(((6, 0, 0, 65535),))]),
        request("apply", op="packet_arrive", args=[encode(b"\x00" * 20)]),
        request("observe"),
        {"exo": 2, "type": "observe"},
        request("goodbye"),
    ]
    replies = transcript(requests)
    assert len(replies) == len(requests)
    for message in [*requests[:-2], requests[-1], *replies]:
        jsonschema.validate(message, SCHEMA)
    assert replies[3]["status"] == "INVALID_ARGUMENT" == replies[4]["status"]
    assert replies[5] == {"type": "result", "status": "NOT_RUNNING", "value": "NONE"}
    assert replies[-2]["type"] == "error" and replies[-1] == {"type": "bye"}


def test_the_client_is_conformant_against_the_reference_server() -> None:
    """``exo check --impl-cmd`` on ``exo serve`` (the bundled kernel behind the wire)
    passes, witness sweep included: the client and the encoding lose nothing."""
    factory = WireKernel.factory(SERVE, timeout=STEP_GUARD)
    report = run_check(factory, SMALL, steps=15, examples=8, seed=3)
    assert report.passed, report.text()
    WireKernel.close_all()


def test_a_wrong_kernel_behind_the_wire_is_caught() -> None:
    """A catalogue kernel served over the wire fails on its witness program exactly as it
    does in-process: the wire carries the difference to the kit."""
    from exo.kit.replay import replay
    from tests.catalogue import AllocSkipsOwned

    factory = WireKernel.factory([*SERVE, "--impl", "tests.catalogue:AllocSkipsOwned"],
                                 timeout=STEP_GUARD)
    failure = replay(factory, Config(), list(AllocSkipsOwned.WITNESS))
    WireKernel.close_all()
    assert failure is not None and failure.kind == "state", failure
    assert replay(WireKernel.factory(SERVE, timeout=STEP_GUARD), Config(),
                  list(AllocSkipsOwned.WITNESS)) is None
    WireKernel.close_all()


@pytest.mark.parametrize(("mode", "words"), [
    ("crash", "exited with status 3"),
    ("hang", "no reply within"),
    ("garbage", "is not JSON"),
    ("shape", "not a status name"),
])
def test_a_process_that_breaks_the_protocol_is_a_reported_failure(mode: str, words: str
                                                                   ) -> None:
    """WIRE-1: a crash, a hang past the step timeout, a reply that is not JSON or not of
    the expected shape: each a failure of kind ``raised`` naming what happened, with the
    program shrunk; the process is started afresh for the next program."""
    factory = WireKernel.factory([*FAULTS, mode, "3"],
                                 timeout=1.0 if mode == "hang" else STEP_GUARD)
    report = run_check(factory, SMALL, steps=10, examples=5, seed=2, shrink_examples=20)
    WireKernel.close_all()
    assert not report.passed
    assert words in (report.error or ""), report.error
    assert report.trace is not None and len(report.trace) <= 4, report.trace
    if mode == "crash":
        assert "crashing now" in (report.error or "")


def test_the_state_comes_with_the_result_only_when_the_process_offers_it() -> None:
    """WIRE-2, WIRE-3: ``exo serve`` lists the ``observe`` feature and the client then
    asks for the state with each ``apply``; a process that lists no feature is never
    asked (``wire_faults.py plain`` exits if it is) and still passes, with separate
    ``observe`` requests."""
    plain = WireKernel.factory([*FAULTS, "plain", "0"], timeout=STEP_GUARD)
    report = run_check(plain, SMALL, steps=10, examples=5, seed=2)
    kernel = plain(SMALL)
    assert not kernel.with_state
    WireKernel.close_all()
    assert report.passed, report.error
    served = WireKernel.factory(SERVE)(SMALL)
    assert served.with_state
    assert served.apply("env_create", 0, 0).status == Status.OK
    assert served.observe()["env_alive"][0] is True
    WireKernel.close_all()


def _changing_calls() -> list[tuple[str, tuple[Any, ...]]]:
    """Calls, on the default configuration, each of which changes the state."""
    from exo.kit.explore import two_running_envs
    from exo.model import REGISTRY, initial

    calls = [(name, tuple(args)) for name, args in two_running_envs()]
    calls += [("set_reg", (k % 2, k + 1)) for k in range(24)]
    state, out = initial(Config()), []
    for name, args in calls:  # the ones that change the model's state
        new, _ = REGISTRY[name](state, *args)
        if new != state:
            out.append((name, args))
        state = new
    assert len(out) > 24
    return out


def test_changed_fields_put_together_are_the_complete_state() -> None:
    """WIRE-3's ``changed``: ``exo serve`` offers it; the state the client puts together
    from the changed fields equals, after every call, the complete state a separate
    ``observe`` returns; the fields it names as changed are exactly those that moved,
    the others are the same objects as before; the first observation names none
    (anything may have changed)."""
    served = WireKernel.factory(SERVE)(Config())
    assert served.changed_only
    fields, changed = served.observe_changes()
    assert changed is None
    named = 0
    for name, args in _changing_calls():
        served.apply(name, *args)
        before = fields
        fields, changed = served.observe_changes()
        complete = decode_state(Config(), served.wire.ask(request("observe")))
        served._current = False  # that observe was the test's, not the client's
        assert abstract(Config(), fields) == abstract(Config(), complete), (name, args)
        if changed is not None:
            assert changed, (name, args)
            named += len(changed)
            assert all(fields[f] is before[f] for f in fields.keys() - changed)
            assert all(f not in before or fields[f] != before[f] for f in changed)
    assert named > 40
    WireKernel.close_all()


def test_a_kernel_that_leaves_out_a_change_is_caught() -> None:
    """WIRE-3: a kernel whose ``changed`` replies leave out a field that changed
    (``wire_faults.py stale``) is a protocol failure, named by field, once the client
    compares with the complete state (after the 16th apply); run by the kit, a
    reported failure."""
    kernel = WireKernel.factory([*FAULTS, "stale", "1"])(Config())
    assert kernel.changed_only
    with pytest.raises(WireError, match="left out a field that changed") as caught:
        for name, args in _changing_calls()[:FULL_EVERY]:
            kernel.apply(name, *args)
    assert "differs from the complete state in " in str(caught.value)
    WireKernel.close_all()
    report = run_check(WireKernel.factory([*FAULTS, "stale", "1"], timeout=STEP_GUARD),
                       SMALL, steps=10,
                       examples=5, seed=2)
    WireKernel.close_all()
    assert not report.passed


def test_a_command_that_cannot_start_is_a_usage_error() -> None:
    """A command that does not start is the user's mistake, not the kernel's: a
    ``ValueError`` from ``run_check``, exit 2 with one line from the CLI."""
    from click.testing import CliRunner

    from exo.cli import main

    with pytest.raises(ValueError, match="cannot start"):
        run_check(WireKernel.factory(["/nonexistent/kernel"]), SMALL, steps=5, examples=2,
                  seed=1)
    res = CliRunner().invoke(main, ["check", "--impl-cmd", "/nonexistent/kernel"])
    assert res.exit_code == 2 and "cannot start" in res.output
    assert "Traceback" not in res.output


def test_the_cli_takes_impl_cmd_and_writes_a_reproduction(tmp_path: Path) -> None:
    """``exo check --impl-cmd``: exit 1 with the failure and a reproduction file that
    replays it against the same command; ``--impl`` with it is a usage error."""
    from click.testing import CliRunner

    from exo.cli import main

    cmd = " ".join([sys.executable, str(ROOT / "tests" / "wire_faults.py"), "garbage", "2"])
    repro = tmp_path / "test_repro.py"
    res = CliRunner().invoke(main, ["check", "--impl-cmd", cmd, "--steps", "5",
                                    "--examples", "3", "--seed", "1",
                                    "--config", "n_envs=2,n_pages=2",
                                    "--repro", str(repro),
                                    "--step-timeout", str(STEP_GUARD)])
    assert res.exit_code == 1, res.output
    assert "is not JSON" in res.output
    assert repro.exists() and "cmd:" in repro.read_text()
    res = CliRunner().invoke(main, ["check", "--impl", "exo.impl:Kernel", "--impl-cmd", cmd])
    assert res.exit_code == 2 and "not both" in res.output


def test_operations_of_the_schema_are_the_interface() -> None:
    assert set(SCHEMA["$defs"]["apply"]["properties"]["op"]["enum"]) == set(OPERATIONS)


def test_model_implementation_over_the_wire_agrees() -> None:
    """The model itself behind the wire (``exo serve --impl
    exo.kit:ModelImplementation``) is conformant: the encoding of every observed
    field, programs and packets included, loses nothing."""
    assert ModelImplementation is not None
    factory = WireKernel.factory([*SERVE, "--impl", "exo.kit:ModelImplementation"],
                                 timeout=STEP_GUARD)
    report = run_check(factory, SMALL, steps=10, examples=4, seed=5)
    WireKernel.close_all()
    assert report.passed, report.text()


def test_wire_error_is_an_exception_type() -> None:
    assert issubclass(WireError, Exception)


def test_replay_runs_a_wire_failure_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """``exo check --replay`` after an ``--impl-cmd`` failure runs the shrunk program
    against the recorded command (still failing), or against another one given with
    ``--impl-cmd`` (gone)."""
    from click.testing import CliRunner

    from exo.cli import main

    monkeypatch.chdir(tmp_path)
    cmd = " ".join([sys.executable, str(ROOT / "tests" / "wire_faults.py"), "garbage", "2"])
    guard = ["--step-timeout", str(STEP_GUARD)]
    res = CliRunner().invoke(main, ["check", "--impl-cmd", cmd, "--steps", "5",
                                    "--examples", "3", "--seed", "1", *guard])
    assert res.exit_code == 1, res.output
    res = CliRunner().invoke(main, ["check", "--replay", *guard])
    assert res.exit_code == 1 and "is not JSON" in res.output, res.output
    res = CliRunner().invoke(main, ["check", "--replay", "--impl-cmd", shlex.join(SERVE),
                                    *guard])
    assert res.exit_code == 0 and "no longer reproduces" in res.output, res.output
