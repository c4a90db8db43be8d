"""The wire protocol (spec/protocol.md, WIRE-1..WIRE-6): encoding, the schema, the client
against the reference server, and every way a process can break the protocol reported as
a failure with a shrunk program."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from exo.interface import NULL_CAP, OPERATIONS, Cap, Config, Outcome, Result, Status
from exo.protocol import (
    Foreign,
    WireError,
    WireKernel,
    decode,
    decode_program,
    decode_result,
    encode,
    encode_result,
    request,
)
from exo.testing import ModelImplementation, run_check

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "spec" / "protocol.schema.json").read_text())
SERVE = [sys.executable, "-c", "from exo.cli import main; main()", "serve"]
FAULTS = [sys.executable, str(ROOT / "tests" / "wire_faults.py")]
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
])
def test_an_integer_has_one_encoding(wire: Any) -> None:
    """WIRE-6: a number outside 64 bits, and {"int": ...} inside them or not in the
    digit form, are refused."""
    with pytest.raises(ValueError):
        decode(wire)


def test_the_schema_refuses_short_int_texts() -> None:
    """The schema's pattern refuses {"int": ...} texts of fewer than 19 digits (the exact
    64-bit boundary is decode_int's; a pattern cannot compare numbers)."""
    jsonschema.validate({"int": "99999999999999999999"}, INT_SCHEMA)
    for bad in ({"int": "12"}, {"int": "0012345678901234567890"}, 2**64):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, INT_SCHEMA)


def test_the_reference_server_holds_a_register_beyond_64_bits() -> None:
    """CPU-6 over the wire: ``exo serve`` takes ±2**70 as {"int": ...} and reports the
    register and the stored word in the same form."""
    from exo.protocol import config_json

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
    cfg = json.loads(json.dumps(__import__("exo.protocol").protocol.config_json(SMALL)))
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
    factory = WireKernel.factory(SERVE)
    report = run_check(factory, SMALL, steps=15, examples=8, seed=3)
    assert report.passed, report.text()
    WireKernel.close_all()


def test_a_wrong_kernel_behind_the_wire_is_caught() -> None:
    """A catalogue kernel served over the wire fails on its witness program exactly as it
    does in-process: the wire carries the difference to the kit."""
    from exo.lockstep import replay
    from tests.catalogue import AllocSkipsOwned

    factory = WireKernel.factory([*SERVE, "--impl", "tests.catalogue:AllocSkipsOwned"])
    failure = replay(factory, Config(), list(AllocSkipsOwned.WITNESS))
    WireKernel.close_all()
    assert failure is not None and failure.kind == "state", failure
    assert replay(WireKernel.factory(SERVE), Config(), list(AllocSkipsOwned.WITNESS)) is None
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
    factory = WireKernel.factory([*FAULTS, mode, "3"], timeout=1.0)
    report = run_check(factory, SMALL, steps=10, examples=5, seed=2, shrink_seconds=2)
    WireKernel.close_all()
    assert not report.passed
    assert words in (report.error or ""), report.error
    assert report.trace is not None and len(report.trace) <= 4, report.trace
    if mode == "crash":
        assert "crashing now" in (report.error or "")


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
                                    "--repro", str(repro), "--step-timeout", "2"])
    assert res.exit_code == 1, res.output
    assert "is not JSON" in res.output
    assert repro.exists() and "cmd:" in repro.read_text()
    res = CliRunner().invoke(main, ["check", "--impl", "exo.impl:Kernel", "--impl-cmd", cmd])
    assert res.exit_code == 2 and "not both" in res.output


def test_operations_of_the_schema_are_the_interface() -> None:
    assert set(SCHEMA["$defs"]["apply"]["properties"]["op"]["enum"]) == set(OPERATIONS)


def test_model_implementation_over_the_wire_agrees() -> None:
    """The model itself behind the wire (``exo serve --impl
    exo.testing:ModelImplementation``) is conformant: the encoding of every observed
    field, programs and packets included, loses nothing."""
    assert ModelImplementation is not None
    factory = WireKernel.factory([*SERVE, "--impl", "exo.testing:ModelImplementation"])
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
    res = CliRunner().invoke(main, ["check", "--impl-cmd", cmd, "--steps", "5",
                                    "--examples", "3", "--seed", "1"])
    assert res.exit_code == 1, res.output
    res = CliRunner().invoke(main, ["check", "--replay"])
    assert res.exit_code == 1 and "is not JSON" in res.output, res.output
    res = CliRunner().invoke(main, ["check", "--replay", "--impl-cmd", shlex.join(SERVE)])
    assert res.exit_code == 0 and "gone" in res.output, res.output
