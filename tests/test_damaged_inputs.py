"""Damaged inputs: every one is exit 2 and one line on standard error, refused before the work.

The CLI contract (README): exit 0 passed, 1 a real failure, 2 bad usage or input — one
line on standard error starting ``exo: ``, never a traceback. Here a corpus of damaged
files goes to ``exo replay`` (binary, truncated, wrong shapes at every level of the
record, huge and negative sizes, values of the wrong type, keys outside their domain,
steps that disagree with their obligation), to ``exo filter verify/eval/overlap/equiv``
(binary garbage, truncated raw programs, typos whose line and token the message must
name, empty and oversized files) and to ``exo prove --manifest`` (refused before any
proving). Real counterexamples, made by Z3 from deliberately broken operations, must pass
the same checks and replay. Records with huge sizes are replayed in a child process under
``RLIMIT_AS`` = 500 MB.

Refused "before the work" is shown by the work itself, never by the clock (the machine
may be loaded): while a damaged input is refused, the functions that do the work (building
and replaying a state, evaluating a filter, asking Z3, proving) fail the test if called
(``refuse_work``). The child processes run under ``RLIMIT_CPU``, which counts their own
CPU time only, as a guard against a hang.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import random
import re
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner, Result

import exo.model.env as env_mod
import exo.model.memory as memory_mod
import exo.model.net as net_mod
from exo import logic
from exo.cli import main
from exo.interface import Cap, Status
from exo.kit.bpf_samples import SAMPLES
from exo.model import REGISTRY, filters, initial
from exo.proofs import counterexample as cx
from exo.proofs import record as rec
from exo.proofs import runner as proof_runner
from exo.proofs.discharge import discharge
from exo.proofs.obligations import BY_NAME, bounded_config

MEMORY = 500 << 20
CPU_SECONDS = 60
"""A hang guard for the child processes: RLIMIT_CPU counts the child's own CPU time, not
the machine's load; each child here needs a few seconds of it at most."""
WAIT_SECONDS = 900
"""The last guard, for a child blocked without using CPU (never reached by a working run,
however loaded the machine)."""

WORK: list[tuple[Any, str]] = [
    (cx, "state_from_json"), (cx, "replay_record"),  # exo replay: build and run the step
    (filters, "evaluate"), (filters.Question, "__init__"),  # exo filter: run, ask Z3
    (proof_runner, "run_parallel"),  # exo prove: prove
]
"""The functions that do the work a damaged input must be refused before."""


def _cli() -> CliRunner:
    """A runner that keeps standard error apart (click 8.2+ always does; 8.1 needs
    ``mix_stderr=False``)."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


def run(args: list[str]) -> Result:
    return _cli().invoke(main, args)


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError(f"{what} ran before the input was refused")
    return refuse


def refused(args: list[str]) -> Result:
    """``exo ARGS`` with every function of ``WORK`` failing the test if called: the
    input must be refused before any of the work starts (a call shows up as an
    ``AssertionError`` in ``Result.exception``, which ``assert_usage_error`` reports)."""
    with ExitStack() as stack:
        for owner, name in WORK:
            stack.enter_context(mock.patch.object(owner, name, _refuse(name)))
        return run(args)


def assert_usage_error(res: Result, *expected: str) -> str:
    """Exit 2, nothing on standard output, exactly one line on standard error starting
    ``exo: ``, no traceback, no exception (nor a call to the work of ``refused``); the
    line contains every ``expected``."""
    err = res.stderr
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 2, (res.exit_code, res.stdout, err)
    assert res.stdout == "", res.stdout
    assert err.startswith("exo: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, (text, err)
    return err


# --------------------------------------------------------------------------- records


def base_record() -> dict[str, Any]:
    """A replayable record as ``exo prove`` saves it: dealloc of a page that a TLB entry
    maps (on today's model the TLB entry goes, so the obligation holds)."""
    cfg = bounded_config(2)
    s = initial(cfg)
    for name, args in (("env_create", (0, 0)), ("alloc", (0, 1)), ("env_create", (1, 1))):
        s, res = REGISTRY[name](s, *args)
        assert res.status == Status.OK
    s = s.replace(tlb_valid=s.tlb_valid.set(0, True), tlb_cid=s.tlb_cid.set(0, 0),
                  tlb_page=s.tlb_page.set(0, 1), tlb_write=s.tlb_write.set(0, True))
    record = cx.replay_record("step/dealloc/INV-1", cfg, s, [0, Cap(1, 0, 2)])
    data: dict[str, Any] = json.loads(json.dumps(record))
    return data


BASE = base_record()


def init_record() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(
        cx.replay_record("init/INV-1", bounded_config(2), None, [])))
    return data


def edit(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        d.update(changes)
    return apply


def at(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set the value at a dotted path (``pre_state.maps.owner``)."""
    def apply(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        d[last] = value
    return apply


def drop(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        del d[last]
    return apply


def _replace(d: dict[str, Any], new: dict[str, Any]) -> None:
    d.clear()
    d.update(new)


def maps(**rows: Any) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        d["pre_state"]["maps"].update(rows)
    return apply


# name -> (change to BASE, texts the message must hold)
RECORDS: dict[str, tuple[Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    # top level
    "unknown top-level key": (edit(extra=1), ("extra: unknown key",)),
    "format missing": (drop("format"), ("format:", "not an Exo counterexample")),
    "format other": (edit(format="exo-counterexample/2"), ("format:",)),
    "obligation missing": (drop("obligation"), ("obligation: expected a string",)),
    "obligation unknown": (edit(obligation="step/nosuch/INV-1"), ("no such obligation",)),
    "obligation not a string": (edit(obligation=7), ("obligation: expected a string",)),
    "obligation a filter lemma": (edit(obligation="flt/FLT-5/termination"),
                                  ("not a model step",)),
    "kind init on a step record": (edit(kind="init"), ("kind: 'init' does not match",)),
    "kind not a string": (edit(kind=["step"]), ("kind: expected a string",)),
    "clause disagrees": (edit(clause="INV-2"), ("clause: 'INV-2' does not match",)),
    "invariant disagrees (obligation of another invariant)": (
        edit(obligation="step/dealloc/INV-2"), ("clause: 'INV-1' does not match",)),
    "op disagrees": (edit(op="alloc"), ("op: 'alloc' does not match",)),
    "op missing": (drop("op"), ("op: expected a string",)),
    "op of an opaque operation": (edit(obligation="step/filter_install/INV-1",
                                       op="filter_install"), ("not replayable",)),
    "init record with a step key": (lambda d: _replace(d, {**init_record(), "op": "x"}),
                                    ("op: unknown key for an init obligation",)),
    # config
    "config missing": (drop("config"), ("config: expected an object",)),
    "config a list": (edit(config=[1, 2]), ("config: expected an object",)),
    "config field missing": (drop("config.n_pages"), ("config.n_pages: missing",)),
    "config unknown field": (at("config.n_disks", 2), ("config.n_disks: unknown",)),
    "config bool for int": (at("config.n_pages", True), ("config.n_pages", "bool")),
    "config string for int": (at("config.n_envs", "2"), ("config.n_envs", "string")),
    "config float for int": (at("config.tlb_size", 2.0), ("config.tlb_size", "fraction")),
    "config null": (at("config.ring_size", None), ("config.ring_size", "null")),
    "n_pages 10**9": (at("config.n_pages", 10**9), ("config.n_pages", "1..4096")),
    "n_pages 10**7": (at("config.n_pages", 10**7), ("config.n_pages", "1..4096")),
    "n_pages 10**100": (at("config.n_pages", 10**100), ("config.n_pages", "101-digit")),
    "n_envs negative": (at("config.n_envs", -3), ("config.n_envs: -3 is outside",)),
    "n_cids zero": (at("config.n_cids", 0), ("config.n_cids: 0 is outside",)),
    "excess_limit negative": (at("config.excess_limit", -1), ("config.excess_limit",)),
    "addr_limit 2**65": (at("config.addr_limit", 2**65), ("config.addr_limit",)),
    "sizes whose product is too large": (
        lambda d: d["config"].update(n_envs=4096, n_pages=4096),
        ("config: sizes too large", "MAX_STATE_WORK")),
    "filter slots whose pairs are too many": (at("config.n_filters", 200),
                                              ("config: sizes too large",)),
    # arguments
    "args not a list": (edit(args={"env": 0}), ("args: expected a list",)),
    "args too few": (edit(args=[0]), ("args: dealloc(env, cap) takes 2 arguments, found 1",)),
    "args too many": (edit(args=[0, {"cap": [1, 0, 2]}, 3]), ("takes 2 arguments, found 3",)),
    "args bool for int": (edit(args=[True, {"cap": [1, 0, 2]}]), ("args[0]", "bool")),
    "args float": (edit(args=[0.0, {"cap": [1, 0, 2]}]), ("args[0]", "fraction")),
    "cap as a list": (edit(args=[0, [1, 0, 2]]), ("args[1]: expected a capability",)),
    "cap short": (edit(args=[0, {"cap": [1, 0]}]), ("args[1].cap: expected [page, gen",)),
    "cap extra key": (edit(args=[0, {"cap": [1, 0, 2], "x": 1}]),
                      ("args[1]: expected a capability",)),
    "cap field a string": (edit(args=[0, {"cap": [1, "0", 2]}]), ("args[1].cap[1]",)),
    "bool argument given 1": (
        edit(obligation="step/tlbwr/INV-1", op="tlbwr", args=[0, 0, {"cap": [1, 0, 2]}, 1]),
        ("args[3]: expected true or false",)),
    # pre-state
    "pre_state a list": (edit(pre_state=[]), ("pre_state: expected an object",)),
    "pre_state missing": (drop("pre_state"), ("pre_state: expected an object",)),
    "pre_state unknown key": (at("pre_state.regs", {}), ("pre_state.regs: unknown key",)),
    "scalars a list": (at("pre_state.scalars", []), ("pre_state.scalars: expected an obj",)),
    "unknown scalar": (at("pre_state.scalars", {"clock": 1}), ("pre_state.scalars.clock",)),
    "scalar bool": (at("pre_state.scalars", {"now": False}), ("pre_state.scalars.now",)),
    "maps a list": (at("pre_state.maps", []), ("pre_state.maps: expected an object",)),
    "unknown map name": (maps(pages=[[0, 1]]), ("pre_state.maps.pages: no such map",)),
    "opaque map": (maps(filter_code=[[0, 1]]), ("pre_state.maps.filter_code",)),
    "rows not a list": (maps(owner={"0": 1}), ("pre_state.maps.owner: expected a list",)),
    "row of one": (maps(owner=[[0]]), ("pre_state.maps.owner[0]: expected [key, value] pair",)),
    "row too long": (maps(owner=[[0, 1, 2]]), ("pre_state.maps.owner[0]: expected",)),
    "row of a 2-d map too short": (maps(rights=[[0, 2]]),
                                   ("pre_state.maps.rights[0]: expected [key1, key2, value]",)),
    "row not a list": (maps(owner=[5]), ("pre_state.maps.owner[0]: expected",)),
    "key out of domain": (maps(owner=[[5, 0]]), ("owner[0][0]: key 5 is outside the domain 0..1",)),
    "key negative": (maps(gen=[[-1, 0]]), ("pre_state.maps.gen[0][0]: key -1",)),
    "key huge": (maps(gen=[[10**100, 0]]), ("pre_state.maps.gen[0][0]", "101-digit")),
    "key bool": (maps(owner=[[True, 0]]), ("pre_state.maps.owner[0][0]", "bool")),
    "key string": (maps(owner=[["0", 0]]), ("pre_state.maps.owner[0][0]", "string")),
    "key given twice": (maps(owner=[[0, 0], [0, 1]]), ("owner[1]: key 0 given twice",)),
    "bool map given an int": (maps(env_alive=[[0, 1]]), ("env_alive[0][1]: expected true",)),
    "int map given a bool": (maps(owner=[[0, True]]), ("owner[0][1]", "bool")),
    "int map given a string": (maps(gen=[[0, "1"]]), ("gen[0][1]", "string")),
    "int map given null": (maps(gen=[[0, None]]), ("gen[0][1]", "null")),
    "installed filter": (maps(filter_valid=[[0, True]]), ("filter_valid[0][1]",
                                                          "not replayable")),
    # recorded outcome
    "replayed not a bool": (edit(replayed="yes"), ("replayed: expected true or false",)),
    "violations not a list": (edit(violations="slot=0"), ("violations: expected a list",)),
    "violations entry not a string": (edit(violations=[1]), ("violations[0]: expected a str",)),
    "summary not a string": (edit(summary=5), ("summary: expected a string",)),
    "post_changes entry null": (edit(post_changes=[None]), ("post_changes[0]",)),
    "pre_invariants_hold an int": (edit(pre_invariants_hold=1), ("pre_invariants_hold",)),
    "result status unknown": (at("result.status", "FINE"), ("result.status: no such status",)),
    "result value a string": (at("result.value", "0"), ("result.value",)),
    "result extra key": (at("result.why", "x"), ("result.why: unknown key",)),
}


def write_record(tmp_path: Path, data: Any, name: str = "bad.json") -> Path:
    f = tmp_path / name
    f.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return f


@pytest.mark.parametrize("case", sorted(RECORDS), ids=str)
def test_damaged_record_is_one_line_exit_2(tmp_path: Path, case: str) -> None:
    change, expected = RECORDS[case]
    data = copy.deepcopy(BASE)
    change(data)
    f = write_record(tmp_path, data)
    assert_usage_error(refused(["replay", str(f)]), f"exo: {f}: ", *expected)


def test_the_base_record_itself_replays(tmp_path: Path) -> None:
    """The corpus above damages a record that is fine as it stands."""
    res = run(["replay", str(write_record(tmp_path, BASE))])
    assert res.exit_code == 0 and "holds" in res.stdout, res.stdout + res.stderr


def _fifo(tmp_path: Path) -> Path:
    f = tmp_path / "fifo.json"
    os.mkfifo(f)
    return f


def _sparse(tmp_path: Path, size: int) -> Path:
    f = tmp_path / "huge.json"
    with f.open("wb") as out:
        out.truncate(size)
    return f


TEXT = json.dumps(BASE, indent=2)

# name -> (make the file, texts the message must hold)
FILES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "binary": (lambda d: _bytes(d, random.Random(0).randbytes(4096)), ("not UTF-8",)),
    "truncated JSON": (lambda d: _bytes(d, TEXT[: len(TEXT) // 2].encode()),
                       ("unreadable counterexample, not JSON",)),
    "truncated to one byte": (lambda d: _bytes(d, b"{"), ("not JSON",)),
    "empty file": (lambda d: _bytes(d, b""), ("empty file",)),
    "blank file": (lambda d: _bytes(d, b" \n\n"), ("empty file",)),
    "UTF-8 BOM": (lambda d: _bytes(d, b"\xef\xbb\xbf" + TEXT.encode()), ("not JSON",)),
    "two JSON values": (lambda d: _bytes(d, (TEXT + TEXT).encode()), ("Extra data",)),
    "top-level list": (lambda d: _bytes(d, b"[1, 2]"), ("at the top level",)),
    "top-level string": (lambda d: _bytes(d, b'"exo"'), ("at the top level",)),
    "top-level null": (lambda d: _bytes(d, b"null"), ("at the top level",)),
    "NaN": (lambda d: _bytes(d, TEXT.replace('"n_pages": 2', '"n_pages": NaN').encode()),
            ("NaN is not a JSON number",)),
    "duplicate key": (lambda d: _bytes(d, TEXT.replace('"n_pages": 2',
                                                       '"n_pages": 2, "n_pages": 3').encode()),
                      ("duplicate key 'n_pages'",)),
    "number of 5,000 digits": (
        lambda d: _bytes(d, TEXT.replace('"n_pages": 2', '"n_pages": ' + "9" * 5000).encode()),
        ("not usable JSON",)),
    "nested 100,000 deep": (lambda d: _bytes(d, b"[" * 100_000 + b"]" * 100_000),
                            ("nested too deeply",)),
    "60 MB file": (lambda d: _sparse(d, 60 << 20), ("larger than the 8,388,608 bytes",)),
    "missing file": (lambda d: d / "nosuch.json", ("cannot read", "nosuch.json")),
    "named pipe": (_fifo, ("not a regular file",)),
    "directory": (lambda d: d, ("is a directory",)),  # click refuses it (dir_okay=False)
}


def _bytes(d: Path, data: bytes) -> Path:
    f = d / "bad.json"
    f.write_bytes(data)
    return f


@pytest.mark.parametrize("case", sorted(FILES), ids=str)
def test_damaged_file_is_one_line_exit_2(tmp_path: Path, case: str) -> None:
    make, expected = FILES[case]
    f = make(tmp_path)
    assert_usage_error(refused(["replay", str(f)]), *expected)


def test_reader_refuses_folders_itself(tmp_path: Path) -> None:
    """The CLI's click.Path refuses a folder first; the reader does too, for other callers."""
    with pytest.raises(cx.ReplayError, match="is a folder"):
        cx.load(tmp_path)


def test_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    f = write_record(tmp_path, BASE)
    f.chmod(0)
    assert_usage_error(refused(["replay", str(f)]), "cannot read", "Permission denied")


# --------------------------------------------------------------------------- memory


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def replay_in_child(f: Path) -> subprocess.CompletedProcess[str]:
    """``exo replay f`` in a child process limited to ``MEMORY`` of address space and
    ``CPU_SECONDS`` of CPU time (past it the child is killed, and the caller's check of
    its exit status fails)."""
    return subprocess.run([sys.executable, "-m", "exo.cli", "replay", str(f)],
                          capture_output=True, text=True, timeout=WAIT_SECONDS,
                          preexec_fn=_limited)


@pytest.mark.parametrize("size", [10**9, 10**7, 10**100, 4097],
                         ids=["10**9", "10**7", "10**100", "4097"])
def test_huge_sizes_are_refused_within_limits(tmp_path: Path, size: int) -> None:
    data = copy.deepcopy(BASE)
    data["config"]["n_pages"] = size
    proc = replay_in_child(write_record(tmp_path, data))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("exo: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "config.n_pages" in proc.stderr and proc.stdout == ""


def test_worst_json_of_the_largest_allowed_file_parses_within_limits(tmp_path: Path) -> None:
    """Small lists cost the most memory per byte of JSON: 8 MiB of them, the most a file
    may hold, still parse within the limits before being refused."""
    f = tmp_path / "lists.json"
    n = (rec.MAX_FILE_BYTES - 2) // 4
    f.write_text("[" + ",".join(["[0]"] * n) + "]")
    assert f.stat().st_size <= rec.MAX_FILE_BYTES
    proc = replay_in_child(f)
    assert proc.returncode == 2 and "at the top level" in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1


def largest_record(sizes: dict[str, int], obligation: str, args: list[Any]) -> dict[str, Any]:
    """A record on a configuration near ``MAX_STATE_WORK``, every entry of its biggest
    maps differing from boot."""
    cfg = dataclasses.replace(bounded_config(1), **sizes)
    assert rec.state_work(cfg) <= rec.MAX_STATE_WORK < 2 * rec.state_work(cfg)
    s = initial(cfg)
    s, res = REGISTRY["env_create"](s, 0, 0)
    assert res.status == Status.OK
    s = s.replace(gen=s.gen.update((p, 1) for p in range(cfg.n_pages)),
                  word=s.word.update(((p, w), 7) for p in range(cfg.n_pages)
                                     for w in range(cfg.page_words)))
    data: dict[str, Any] = json.loads(json.dumps(cx.replay_record(obligation, cfg, s, args)))
    return data


@pytest.mark.parametrize(("sizes", "obligation", "args"), [
    ({"n_envs": 8, "n_pages": 850}, "post/env_destroy/frame", [0]),
    ({"n_pages": 8, "page_words": 4000}, "thm/THM-1/store", [0, 0, 0]),
    ({"n_filters": 175}, "post/acall/frame", [0]),
], ids=["pages", "words", "filters"])
def test_largest_allowed_state_replays_within_limits(tmp_path: Path, sizes: dict[str, int],
                                                     obligation: str, args: list[Any]) -> None:
    f = write_record(tmp_path, largest_record(sizes, obligation, args))
    assert f.stat().st_size <= rec.MAX_FILE_BYTES
    proc = replay_in_child(f)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert proc.stderr == "" and f"obligation {obligation}" in proc.stdout


# --------------------------------------------------------------------------- real records


def _without(status: Status) -> Callable[..., Any]:
    def broken(checks: list[tuple[Any, int]], ok: int) -> Any:
        return logic.first_failure([c for c in checks if c[1] != status], ok)
    return broken


# obligation -> (module patched, name in it, broken replacement)
BROKEN: dict[str, tuple[Any, str, Any]] = {
    "step/dealloc/INV-1": (memory_mod, "revalidate", lambda s: s),
    "thm/THM-4/alloc": (memory_mod, "first_failure", _without(Status.IN_USE)),
    "post/env_create/effect": (env_mod, "first_failure", _without(Status.ENV_EXISTS)),
    "step/filter_install/INV-12": (net_mod, "first_failure", _without(Status.BAD_PROGRAM)),
}


@pytest.fixture(scope="module")
def real_records(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Counterexamples Z3 finds for broken operations, saved as ``exo prove`` saves them
    (``step/filter_install``: a Z3 model over packet filters, saved as not replayable)."""
    out = tmp_path_factory.mktemp("cex")
    saved: dict[str, Path] = {}
    for name, (module, attr, broken) in BROKEN.items():
        with mock.patch.object(module, attr, broken):
            res = discharge(BY_NAME[name])
        assert res.verdict == "counterexample", (name, res.detail)
        saved[name] = cx.save(res.counterexample, out)
    yield saved


@pytest.mark.parametrize("name", [n for n in BROKEN if "filter" not in n], ids=str)
def test_real_counterexamples_pass_the_check_and_replay(real_records: dict[str, Path],
                                                        name: str) -> None:
    """What exo prove writes validates; replayed on the broken model the violation happens
    (exit 1), on today's model it is gone (exit 0)."""
    f = real_records[name]
    data = json.loads(f.read_text())
    assert data["replayed"] is True
    rec.check_record(data)
    module, attr, broken = BROKEN[name]
    with mock.patch.object(module, attr, broken):
        res = run(["replay", str(f)])
    assert res.exit_code == 1 and "VIOLATED" in res.stdout, res.stdout + res.stderr
    res = run(["replay", str(f)])
    assert res.exit_code == 0 and "holds" in res.stdout, res.stdout + res.stderr


def test_a_record_saved_as_not_replayed_still_replays(real_records: dict[str, Path],
                                                      tmp_path: Path) -> None:
    """A record whose violation did not replay (``"replayed": false``, with a pre-state)
    is checked and replayed like any other."""
    record, _ = cx.replay_file(real_records["step/dealloc/INV-1"])
    assert record["replayed"] is False
    f = cx.save(record, tmp_path)
    res = run(["replay", str(f)])
    assert res.exit_code == 0 and "holds" in res.stdout, res.stdout + res.stderr


def test_a_record_saved_as_not_replayable_is_reported_as_such(
        real_records: dict[str, Path]) -> None:
    """A Z3 model over packet filters (no pre-state, ``"replayed": false``) passes the
    check and is reported, in one line, as not replayable."""
    f = real_records["step/filter_install/INV-12"]
    data = json.loads(f.read_text())
    assert data["replayed"] is False and "pre_state" not in data
    rec.check_record(data)
    assert_usage_error(refused(["replay", str(f)]), "saved as not replayable")


def test_an_init_record_replays(tmp_path: Path) -> None:
    res = run(["replay", str(write_record(tmp_path, init_record()))])
    assert res.exit_code == 0 and "holds" in res.stdout, res.stdout + res.stderr


# --------------------------------------------------------------------------- filters


DDD = filters.to_ddd(SAMPLES["tcp_port_80"])
RAW = filters.to_raw(SAMPLES["tcp_port_80"])
DD = "\n".join(f"{{ {c:#x}, {jt}, {jf}, {k:#010x} }}," for c, jt, jf, k in
               SAMPLES["tcp_port_80"])


def _typo(text: str, line: int, old: str, new: str) -> bytes:
    """``text`` with ``old`` replaced on one line; never a multiple of 8 bytes long (such
    a file with a stray byte would be read as raw instructions, and refused by the
    verifier instead)."""
    lines = text.split("\n")
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    data = "\n".join(lines).encode()
    return data + b"\n" if len(data) % 8 == 0 else data


# name -> (file content, texts the message must hold)
PROGRAMS: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "binary garbage": (random.Random(1).randbytes(1001), ("1001 bytes", "instruction 125")),
    "truncated raw program": (RAW[:-3], ("instruction 19 is cut short (5 of 8 bytes)",)),
    "empty file": (b"", ("empty",)),
    "blank file": (b"\n \n", ("empty",)),
    "typo in -ddd code (4O)": (_typo(DDD, 2, "40", "4O"), (":2: code '4O'",)),
    "typo in -ddd count": (_typo(DDD, 1, "20", "2O"), (":1: instruction count '2O'",)),
    "typo in -ddd k": (_typo(DDD, 7, "80", "8o"), (":7: k '8o'",)),
    "five fields in -ddd": (_typo(DDD, 4, "48 0 0 20", "48 0 0 20 1"),
                            (":4: expected 4 fields",)),
    "-ddd count disagrees": (_typo(DDD, 1, "20", "21"), (":1: count says 21",)),
    "-ddd field out of range": (_typo(DDD, 5, "21 0 15 6", "21 0 300 6"),
                                (":5: jf 300 out of range",)),
    "control character in -ddd text": (_typo(DDD, 6, "40 0 0 54", "40 0\x07 0 54"),
                                       (":6: character '\\x07'",)),
    "non-ASCII minus in -ddd text": (_typo(DDD, 10, "21 0 10 2048", "21 0 10 \u22122048"),
                                     (":10: character '\u2212'",)),
    "typo in -dd field": (_typo(DD, 2, "0x15", "0xl5"), (":2: code '0xl5'",)),
    "missing field in -dd": (_typo(DD, 1, ", 0, 0,", ", 0,"), (":1: expected '{ code",)),
    "plain English": (b"tcp port 80\n", (":1: instruction count 'tcp'",)),
    "huge file": (b"1\n6 0 0 1\n" + b" " * (2 << 20), ("larger than",)),
}


@pytest.fixture
def good_prog(tmp_path: Path) -> Path:
    f = tmp_path / "good.bpf"
    f.write_text(DDD)
    return f


@pytest.mark.parametrize("case", sorted(PROGRAMS), ids=str)
@pytest.mark.parametrize("command", ["verify", "eval", "overlap", "equiv", "overlap-second"])
def test_damaged_program_is_one_line_exit_2(tmp_path: Path, good_prog: Path, case: str,
                                            command: str) -> None:
    content, expected = PROGRAMS[case]
    f = tmp_path / "bad.bpf"
    f.write_bytes(content)
    args = {"verify": ["verify", str(f)], "eval": ["eval", str(f), "--packet", "00"],
            "overlap": ["overlap", str(f), str(good_prog)],
            "equiv": ["equiv", str(f), str(good_prog)],
            "overlap-second": ["overlap", str(good_prog), str(f)]}[command]
    assert_usage_error(refused(["filter", *args]), f"exo: {f}", *expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("abc", "odd number of hex digits (3)"),
    ("0011zz", "character 'z' at position 5 is not a hex digit"),
    ("00 1 22", "the group '1' at position 4"),
    ("0x0", "odd number of hex digits (1)"),
    ("00" * 65536, "longer than the 65,535"),
])
def test_packet_hex_messages(text: str, expected: str) -> None:
    with pytest.raises(filters.FilterSyntaxError, match=None) as info:
        filters.parse_packet_hex(text)
    assert expected in str(info.value) and str(info.value).startswith("--packet: ")


@pytest.mark.parametrize(("text", "packet"), [
    ("", b""), ("00ff", b"\x00\xff"), ("00:1B:21", b"\x00\x1b\x21"),
    ("4500 003c\n0001", bytes.fromhex("4500003c0001")), ("0xABcd", b"\xab\xcd"),
])
def test_packet_hex_accepts_separators(text: str, packet: bytes) -> None:
    assert filters.parse_packet_hex(text) == packet


@pytest.mark.parametrize(("packet", "expected"), [
    ("abc", "--packet: odd number of hex digits (3)"),
    ("00zz", "--packet: character 'z' at position 3 is not a hex digit"),
    ("00 1 22", "the group '1' at position 4 splits a byte"),
])
def test_eval_bad_packet_hex_says_what_is_wrong(good_prog: Path, packet: str,
                                                expected: str) -> None:
    assert_usage_error(refused(["filter", "eval", str(good_prog), "--packet", packet]),
                       expected)


# --------------------------------------------------------------------------- manifests


MANIFESTS: dict[str, tuple[bytes | None, tuple[str, ...]]] = {
    "missing": (None, ("cannot read manifest", "No such file")),
    "binary": (random.Random(2).randbytes(2048), ("not UTF-8",)),
    "empty": (b"", ("empty file",)),
    "non-JSON": (b"{not json", ("unreadable manifest",)),
    "truncated JSON": (b'{"obligations": {"init/INV-1": {"expect": "pro', ("not JSON",)),
    "a list": (b"[]", ("expected a JSON object",)),
    "no obligations": (b'{"comment": "x"}', ("obligations: expected an object",)),
    "obligations a list": (b'{"obligations": []}', ("obligations: expected an object",)),
    "entry a number": (b'{"obligations": {"init/INV-1": 5}}', ("needs exactly",)),
    "entry without rlimit": (b'{"obligations": {"init/INV-1": {"expect": "proved"}}}',
                             ("needs exactly 'expect' and 'rlimit'",)),
    "entry with an extra key": (
        b'{"obligations": {"init/INV-1": {"expect": "proved", "rlimit": 5, "x": 1}}}',
        ("needs exactly",)),
    "unknown verdict": (b'{"obligations": {"init/INV-1": {"expect": "ok", "rlimit": 5}}}',
                        ("expect: expected one of proved",)),
    "rlimit a bool": (b'{"obligations": {"init/INV-1": {"expect": "proved", "rlimit": true}}}',
                      ("rlimit: expected an integer", "found bool")),
    "rlimit zero": (b'{"obligations": {"init/INV-1": {"expect": "proved", "rlimit": 0}}}',
                    ("rlimit: expected an integer",)),
    "rlimit 2**40": (b'{"obligations": {"init/INV-1": {"expect": "proved", "rlimit": '
                     + str(2**40).encode() + b"}}}", ("rlimit: expected an integer",)),
    "rlimit a string": (b'{"obligations": {"init/INV-1": {"expect": "proved", "rlimit": "5"}}}',
                        ("found str",)),
    "unknown top-level key": (b'{"obligations": {}, "budget": 1}', ("unknown key 'budget'",)),
    "comment not a string": (b'{"obligations": {}, "comment": 1}', ("comment: expected",)),
    "duplicate key": (b'{"obligations": {}, "obligations": {}}', ("duplicate key",)),
}


@pytest.fixture
def no_proving(monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest is loaded before anything is proved: proving fails the test."""
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("proving started before the manifest was checked")
    monkeypatch.setattr(proof_runner, "run_parallel", refuse)


@pytest.mark.parametrize("case", sorted(MANIFESTS), ids=str)
def test_damaged_manifest_is_refused_before_proving(tmp_path: Path, no_proving: None,
                                                    case: str) -> None:
    content, expected = MANIFESTS[case]
    f = tmp_path / "m.json"
    if content is not None:
        f.write_bytes(content)
    assert_usage_error(refused(["prove", "-j", "1", "-k", "init/INV-1", "--manifest", str(f)]),
                       str(f), *expected)


def test_manifest_directory_and_oversized_file(tmp_path: Path, no_proving: None) -> None:
    assert_usage_error(refused(["prove", "-k", "init/INV-1", "--manifest", str(tmp_path)]),
                       "is a directory")
    huge = _sparse(tmp_path, 60 << 20)
    assert_usage_error(refused(["prove", "-k", "init/INV-1", "--manifest", str(huge)]),
                       "larger than the 4,194,304 bytes")


def test_load_manifest_names_the_path(tmp_path: Path) -> None:
    for path in (tmp_path / "nosuch.json", tmp_path):
        with pytest.raises(proof_runner.ManifestError, match=re.escape(str(path))):
            proof_runner.load_manifest(path)
    shipped = proof_runner.load_manifest(proof_runner.default_manifest_path())
    assert len(shipped.entries) == len(BY_NAME)
