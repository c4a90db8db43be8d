"""Hostile fixture folders (issue 24, item 4): the fixture loader checks files as
``exo replay`` does (spec/fixtures.md, "Reading a fixture").

Every case is refused with one ``FixtureError`` line naming the file (and, for a value of
the wrong shape, its JSON path) by the library, and with exit 2 and exactly one line
``exo: ...`` on standard error by ``exo fixtures run``. The cases that could read
unbounded input (a device, a pipe, a huge or deep file) run in child processes under
``RLIMIT_AS`` = 500 MB, so a loader that read them whole would fail instead of eating
the machine's memory; a pipe that were opened is fed by a thread of the test, so such a
loader fails rather than hangs. No case measures time. Built fixtures still load and
pass.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exo.cli import main
from exo.impl import Kernel
from exo.interface import OUTCOME_OPS, Config
from exo.model.state import SCALARS, layout
from exo.wire import fixtures
from exo.wire.codec import INT64_MAX

ROOT = Path(__file__).resolve().parent.parent
MEMORY = 500 << 20
"""The address space of every child process (``RLIMIT_AS``)."""

Data = dict[str, Any]

DEFAULT_ENTRIES = 354
"""The map entries of a state of the default configuration (and the most of the kit's)."""


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _child(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m exo.cli ARGS`` in a child limited to ``MEMORY``."""
    return subprocess.run([sys.executable, "-m", "exo.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, preexec_fn=_limited, check=False)


def _one_exo_line(stderr: str) -> str:
    """The single line of an ``exo:`` usage error (fails on anything else)."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("exo: "), stderr
    return lines[0]


# --------------------------------------------------------------------------- a base


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small suite, written by the CLI as a user would."""
    d = tmp_path_factory.mktemp("built") / "fx"
    proc = _child("fixtures", "build", str(d), "--random", "2", "--generated", "2")
    assert proc.returncode == 0, proc.stderr
    return d


def _first(built: Path, want: Callable[[Data], bool]) -> Data:
    for path in fixtures.fixture_files(built):
        data: Data = json.loads(path.read_text(encoding="utf-8"))
        if want(data):
            return data
    raise AssertionError("no built fixture has it")


def _step(data: Data, want: Callable[[Data], bool]) -> int:
    return next(i for i, st in enumerate(data["steps"]) if want(st))


def _has_args(st: Data) -> bool:
    return bool(st["args"])


def _witness(st: Data) -> bool:
    return st["op"] == "filter_install" and "any_witness" in st["expect"]


@pytest.fixture(scope="module")
def base(built: Path) -> Data:
    """A built fixture of the default configuration with a call of an outcome operation
    and of a plain one."""
    return _first(built, lambda d: Config(**d["config"]) == Config()
                  and any(st["op"] in OUTCOME_OPS for st in d["steps"])
                  and any(st["op"] not in OUTCOME_OPS and st["args"] for st in d["steps"]))


@pytest.fixture(scope="module")
def filtered(built: Path) -> Data:
    """A built fixture that installs a filter, with a packet in a ring at the end, and a
    step whose overlap any witness answers."""
    return _first(built, lambda d: bool(d["state"]["filter_code"])
                  and bool(d["state"]["rx_pkt"]) and any(map(_witness, d["steps"])))


# --------------------------------------------------------------------------- shapes


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Data], None]:
    def edit(d: Data) -> None:
        *outer, last = path
        for k in outer:
            d = d[k]
        d[last] = value
    return edit


def _drop(path: tuple[Any, ...]) -> Callable[[Data], None]:
    def edit(d: Data) -> None:
        *outer, last = path
        for k in outer:
            d = d[k]
        del d[last]
    return edit


def _in_step(want: Callable[[Data], bool], edit: Callable[[Data], None]
             ) -> Callable[[Data], int]:
    """Apply ``edit`` to the first step ``want`` picks; return its index."""
    def at(d: Data) -> int:
        i = _step(d, want)
        edit(d["steps"][i])
        return i
    return at


SHAPES: list[tuple[str, str, Callable[[Data], Any], str]] = [
    # (case, which base, edit, the JSON path and words the message must start with)
    ("format unknown", "base", _set(("format",), "exo-fixture/3"), "format: expected"),
    ("format missing", "base", _drop(("format",)), "format: expected"),
    ("unknown key", "base", _set(("extra",), 1), "extra: unknown key"),
    ("state missing", "base", _drop(("state",)), "state: missing"),
    ("name a number", "base", _set(("name",), 3), "name: expected a name"),
    ("name with a newline", "base", _set(("name",), "a\nb"), "name: expected a name"),
    ("name empty", "base", _set(("name",), ""), "name: expected a name"),
    ("config a list", "base", _set(("config",), [1]), "config: expected an object"),
    ("config bool for an int", "base", _set(("config", "n_pages"), True),
     "config.n_pages: expected an integer, found true (a bool)"),
    ("config fraction", "base", _set(("config", "n_envs"), 2.0),
     "config.n_envs: expected an integer, found 2.0 (a fraction)"),
    ("config string", "base", _set(("config", "n_envs"), "2"),
     "config.n_envs: expected an integer"),
    ("config zero size", "base", _set(("config", "tlb_size"), 0),
     "config.tlb_size: 0 is outside 1..4096"),
    ("config size over MAX_SIZE", "base", _set(("config", "n_regs"), 4097),
     "config.n_regs: 4097 is outside 1..4096"),
    ("config negative limit", "base", _set(("config", "excess_limit"), -1),
     "config.excess_limit: -1 is outside 0.."),
    ("config limit over MAX_LIMIT", "base", _set(("config", "addr_limit"), 2**64 + 1),
     "config.addr_limit: 18446744073709551617 is outside 1..18446744073709551616"),
    ("config field missing", "base", _drop(("config", "ring_size")),
     "config.ring_size: missing"),
    ("config field unknown", "base", _set(("config", "n_cpus"), 1),
     "config.n_cpus: unknown key"),
    ("config state too large", "base", lambda d: d["config"].update(n_pages=4096,
                                                                   page_words=4096),
     "config: sizes too large"),
    ("clauses not strings", "base", _set(("clauses",), ["MEM-1", 2]),
     "clauses[1]: expected a string, found 2 (an integer)"),
    ("cells not a list", "base", _set(("cells",), "ENV"), "cells: expected a list"),
    ("steps an object", "base", _set(("steps",), {}), "steps: expected a list"),
    ("too many steps to observe", "base",
     lambda d: d.update(steps=[{}] * (fixtures.MAX_FIXTURE_WORK // DEFAULT_ENTRIES)),
     "steps: 23,696 steps on a state of 354 entries: 8,388,738 entries to observe, at "
     "most 8,388,608"),
    ("step a list", "base", lambda d: d["steps"].__setitem__(1, []),
     "steps[1]: expected an object"),
    ("step without expect", "base", _in_step(_has_args, _drop(("expect",))),
     "steps[{i}].expect: missing"),
    ("step with an unknown key", "base", _in_step(_has_args, _set(("bogus",), 1)),
     "steps[{i}].bogus: unknown key"),
    ("op unknown", "base", _in_step(_has_args, _set(("op",), "fork")),
     "steps[{i}].op: expected an operation name, found 'fork'"),
    ("op a number", "base", _in_step(_has_args, _set(("op",), 7)),
     "steps[{i}].op: expected an operation name"),
    ("args an object", "base", _in_step(_has_args, _set(("args",), {})),
     "steps[{i}].args: expected a list"),
    ("arg a list", "base", _in_step(_has_args, _set(("args", 0), [1, 2])),
     "steps[{i}].args[0]: expected a WIRE-6 value"),
    ("arg a fraction", "base", _in_step(_has_args, _set(("args", 0), 1.5)),
     "steps[{i}].args[0]: expected a WIRE-6 value"),
    ("arg null", "base", _in_step(_has_args, _set(("args", 0), None)),
     "steps[{i}].args[0]: expected a WIRE-6 value"),
    ("arg outside 64 bits as a number", "base",
     _in_step(_has_args, _set(("args", 0), INT64_MAX + 1)),
     "steps[{i}].args[0]: expected a WIRE-6 value"),
    ("arg int that fits in 64 bits", "base",
     _in_step(_has_args, _set(("args", 0), {"int": "12"})),
     "steps[{i}].args[0]: expected a WIRE-6 value"),
    ("arg int of 5,000 digits", "base",
     _in_step(_has_args, _set(("args", 0), {"int": "9" * 5000})),
     "steps[{i}].args[0]: expected a WIRE-6 value"),
    ("arg cap of two fields", "base",
     _in_step(_has_args, _set(("args", 0), {"cap": [1, 2]})),
     "steps[{i}].args[0]: expected a WIRE-6 value"),
    ("arg upper-case hex", "base",
     _in_step(_has_args, _set(("args", 0), {"hex": "AB"})),
     "steps[{i}].args[0]: expected a WIRE-6 value"),
    ("expect a list", "base", _in_step(_has_args, _set(("expect",), [])),
     "steps[{i}].expect: expected an object"),
    ("status unknown", "base",
     _in_step(_has_args, _set(("expect", "status"), "FINE")),
     "steps[{i}].expect.status: expected a status name, found 'FINE'"),
    ("status a number", "base",
     _in_step(_has_args, _set(("expect", "status"), 0)),
     "steps[{i}].expect.status: expected a status name, found 0 (an integer)"),
    ("outcome value a number", "base",
     _in_step(lambda st: st["op"] in OUTCOME_OPS, _set(("expect", "value"), 0)),
     "steps[{i}].expect.value: expected an outcome name"),
    ("value not WIRE-6", "base",
     _in_step(lambda st: st["op"] not in OUTCOME_OPS,
                        _set(("expect", "value"), {"bogus": 1})),
     "steps[{i}].expect.value: expected a WIRE-6 value"),
    ("any_witness on another operation", "base",
     _in_step(lambda st: st["op"] != "filter_install",
                        _set(("expect", "any_witness"), True)),
     "steps[{i}].expect.any_witness: unknown key"),
    ("any_witness false", "filtered",
     _in_step(_witness, _set(("expect", "any_witness"), False)),
     "steps[{i}].expect.any_witness: expected true, found false (a bool)"),
    ("changed missing", "base", _in_step(_has_args, _drop(("changed",))),
     "steps[{i}].changed: missing"),
    ("changed in format 1", "base",
     lambda d: (d.pop("boot"), d.update(format="exo-fixture/1")),
     "steps[0].changed: unknown key"),
    ("boot in format 1", "base", _set(("format",), "exo-fixture/1"),
     "boot: unknown key"),
    ("changed an unknown field", "base",
     _in_step(_has_args, _set(("changed", "owners"), [])),
     "steps[{i}].changed.owners: no such field"),
    ("step cells not strings", "base",
     _in_step(_has_args, _set(("cells",), [None])),
     "steps[{i}].cells[0]: expected a string, found null"),
    ("boot field missing", "base", _drop(("boot", "owner")), "boot.owner: missing"),
    ("boot field not rows", "base", _set(("boot", "owner"), {}),
     "boot.owner: expected a list"),
    ("boot row too short", "base", _set(("boot", "owner"), [[0]]),
     "boot.owner[0]: expected a row of 1 key(s) and a value"),
    ("boot row of two keys short", "base", _set(("boot", "rights"), [[0, 0]]),
     "boot.rights[0]: expected a row of 2 key(s) and a value"),
    ("boot key outside its domain", "base", _set(("boot", "owner"), [[8, -1]]),
     "boot.owner[0][0]: expected a key in 0..7, found 8 (an integer)"),
    ("boot key a bool", "base", _set(("boot", "owner"), [[True, -1]]),
     "boot.owner[0][0]: expected a key in 0..7, found true (a bool)"),
    ("boot key negative", "base", _set(("boot", "rights"), [[0, -1, 0]]),
     "boot.rights[0][1]: expected a key in 0..7, found -1 (an integer)"),
    ("boot key twice", "base", _set(("boot", "owner"), [[1, -1], [2, -1], [1, 0]]),
     "boot.owner[2]: key [1] given twice"),
    ("boot int for a bool", "base", _set(("boot", "env_alive"), [[0, 1]]),
     "boot.env_alive[0][1]: expected true or false, found 1 (an integer)"),
    ("boot bool for an int", "base", _set(("boot", "owner"), [[0, False]]),
     "boot.owner[0][1]: expected a WIRE-6 integer"),
    ("boot scalar a string", "base", _set(("boot", "now"), "0"),
     "boot.now: expected a WIRE-6 integer"),
    ("boot scalar a bool", "base", _set(("boot", "pc"), True),
     "boot.pc: expected a WIRE-6 integer"),
    ("state field unknown", "base", _set(("state", "owners"), []),
     "state.owners: no such field"),
    ("state filter code not a program", "filtered",
     lambda d: d["state"]["filter_code"][0].__setitem__(1, {"hex": "00"}),
     'state.filter_code[0][1]: expected a program {"program": HEX}'),
    ("state filter code odd hex", "filtered",
     lambda d: d["state"]["filter_code"][0].__setitem__(1, {"program": "abc"}),
     "state.filter_code[0][1]: expected a WIRE-6 value"),
    ("state packet not hex", "filtered",
     lambda d: d["state"]["rx_pkt"][0].__setitem__(2, 5),
     'state.rx_pkt[0][2]: expected a packet {"hex": HEX}'),
]


def _damaged(case: str, which: str, edit: Callable[[Data], Any], want: str,
             bases: dict[str, Data]) -> tuple[Data, str]:
    data = copy.deepcopy(bases[which])
    got = edit(data)
    if type(got) is int:  # the index of the step edited
        want = want.format(i=got)
    return data, want


@pytest.mark.parametrize(("case", "which", "edit", "want"), SHAPES, ids=[s[0] for s in SHAPES])
def test_a_value_of_the_wrong_shape_is_named_by_its_json_path(
        case: str, which: str, edit: Callable[[Data], Any], want: str, base: Data,
        filtered: Data, tmp_path: Path) -> None:
    """The library refuses it with one line, ``FILE: JSON-PATH: what``; ``run_one`` on
    the same data refuses it before the implementation is made; the CLI exits 2 with one
    ``exo:`` line."""
    data, want = _damaged(case, which, edit, want, {"base": base, "filtered": filtered})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(fixtures.FixtureError) as info:
        fixtures.load(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: {want}"), message

    made: list[Config] = []

    def factory(cfg: Config) -> Kernel:
        made.append(cfg)
        return Kernel(cfg)

    with pytest.raises(fixtures.FixtureError) as info:
        fixtures.run_one(data, factory)
    assert f": {want}" in str(info.value) and "\n" not in str(info.value)
    assert not made

    res = CliRunner().invoke(main, ["fixtures", "run", str(tmp_path), "--impl",
                                    "exo.impl:Kernel"])
    assert res.exit_code == 2, res.output
    assert _one_exo_line(res.stderr) == f"exo: {message}"


def test_the_shape_cases_are_built_from_valid_fixtures(base: Data, filtered: Data,
                                                       tmp_path: Path) -> None:
    """The bases of the cases above pass as they are (so each case fails for its own
    edit), in both formats."""
    for data in (base, filtered):
        path = tmp_path / f"{data['name']}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        assert fixtures.load(path) == data
        assert fixtures.run_one(data, Kernel).passed
    old = {k: v for k, v in base.items() if k != "boot"}
    old["format"] = "exo-fixture/1"
    old["steps"] = [{k: v for k, v in st.items() if k != "changed"} for st in base["steps"]]
    fixtures.check(old)
    assert fixtures.run_one(old, Kernel).passed
    assert sum(len(rows) for rows in base["boot"].values() if type(rows) is list) > 10
    assert set(SCALARS) <= set(base["boot"])


# --------------------------------------------------------------------------- files


def _deep(d: Path) -> None:
    (d / "x.json").write_text("[" * 100_000 + "]" * 100_000)


def _small_lists(d: Path) -> None:
    """``MAX_FIXTURE_BYTES`` of ``[0],``: the JSON that costs the most memory per byte
    parsed (about 27 bytes a byte)."""
    n = (fixtures.MAX_FIXTURE_BYTES - 20) // 4
    (d / "x.json").write_text('{"clauses": [' + ",".join(["[0]"] * n) + "]}")


FILES: list[tuple[str, Callable[[Path], object], str]] = [
    ("a list at the top level", lambda d: (d / "x.json").write_text("[]"),
     "x.json: expected an object, found a list of 0"),
    ("symlink to /dev/zero", lambda d: (d / "x.json").symlink_to("/dev/zero"),
     "x.json: not a regular file"),
    ("a folder named x.json", lambda d: (d / "x.json").mkdir(), "x.json: is a folder"),
    ("100 MB file", lambda d: os.truncate(_touch(d / "x.json"), 100 << 20),
     "x.json: 104,857,600 bytes, larger than the 4,194,304 bytes"),
    ("a valid-looking fixture one byte too large",
     lambda d: (d / "x.json").write_text("{}" + " " * (fixtures.MAX_FIXTURE_BYTES - 1)),
     "x.json: 4,194,305 bytes, larger than"),
    ("the most memory a fixture may take to parse", _small_lists,
     "x.json: format: expected"),
    ("nesting 100,000 deep", _deep, "x.json: unreadable fixture, JSON nested too deeply"),
    ("invalid UTF-8", lambda d: (d / "x.json").write_bytes(b'{"name": "\xff"}'),
     "x.json: not UTF-8 text"),
    ("duplicate keys", lambda d: (d / "x.json").write_text('{"name": "a", "name": "b"}'),
     "x.json: unreadable fixture, not usable JSON (duplicate key 'name')"),
    ("NaN", lambda d: (d / "x.json").write_text('{"format": NaN}'),
     "x.json: unreadable fixture, not usable JSON (NaN is not a JSON number)"),
    ("Infinity", lambda d: (d / "x.json").write_text('[-Infinity]'),
     "x.json: unreadable fixture, not usable JSON"),
    ("two values", lambda d: (d / "x.json").write_text('{} {}'),
     "x.json:1:4: unreadable fixture, not JSON"),
    ("empty", lambda d: (d / "x.json").write_text(""), "x.json: empty file"),
    ("truncated", lambda d: (d / "x.json").write_text('{"format": "exo-fixture/2", "na'),
     "x.json:1:"),
    ("dangling symlink", lambda d: (d / "x.json").symlink_to(d / "nowhere"),
     "cannot read fixture"),
    ("a number of 5,000 digits", lambda d: (d / "x.json").write_text("9" * 5000),
     "x.json: unreadable fixture, not usable JSON"),
    ("no fixture files", lambda d: (d / "notes.txt").write_text("{}"),
     "no fixture files"),
]


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="module")
def file_cases(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path, str]]:
    """One folder per case; the valid fixture ``a.json`` sorts before the bad file, so a
    loader that ran each fixture as it read it would start running."""
    root = tmp_path_factory.mktemp("files")
    good = fixtures.fixture("a", Config(n_envs=2, n_pages=2),
                            [("env_create", (0, 0)), ("alloc", (0, 1))])
    out = []
    for i, (case, make, want) in enumerate(FILES):
        d = root / f"case{i:02d}"
        d.mkdir()
        if case != "no fixture files":
            (d / "a.json").write_text(json.dumps(good), encoding="utf-8")
        make(d)
        out.append((case, d, want))
    return out


LIBRARY = """
import json, sys
from pathlib import Path
from exo.impl import Kernel
from exo.wire import fixtures
made = []
def factory(cfg):
    made.append(cfg)
    return Kernel(cfg)
for d in sys.argv[1:]:
    try:
        fixtures.run(Path(d), factory)
        print(json.dumps(["ran", len(made)]))
    except fixtures.FixtureError as exc:
        print(json.dumps([str(exc), len(made)]))
"""


def test_hostile_files_are_refused_by_the_library(file_cases: list[tuple[str, Path, str]]
                                                  ) -> None:
    """In one child under ``RLIMIT_AS``: ``fixtures.run`` raises ``FixtureError`` (one
    line, naming the file) for every case, and no implementation is made (the good
    fixture before the bad file does not run)."""
    proc = subprocess.run([sys.executable, "-c", LIBRARY, *(str(d) for _, d, _ in file_cases)],
                          capture_output=True, text=True, cwd=ROOT, preexec_fn=_limited,
                          check=False)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr[-2000:]
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == len(file_cases)
    for (case, d, want), (message, made) in zip(file_cases, answers, strict=True):
        assert want in message and "\n" not in message, (case, message)
        assert str(d) in message, (case, message)
        assert made == 0, case


@pytest.mark.parametrize("index", range(len(FILES)), ids=[f[0] for f in FILES])
def test_hostile_files_are_a_usage_error_of_the_cli(
        index: int, file_cases: list[tuple[str, Path, str]]) -> None:
    """``exo fixtures run DIR --impl exo.impl:Kernel`` in a child under ``RLIMIT_AS``: exit
    2, exactly one ``exo:`` line on standard error naming the problem, nothing else."""
    case, d, want = file_cases[index]
    proc = _child("fixtures", "run", str(d), "--impl", "exo.impl:Kernel")
    assert proc.returncode == 2, (case, proc.returncode, proc.stderr[-2000:])
    assert want in _one_exo_line(proc.stderr), case
    assert "passed" not in proc.stdout, case


@pytest.fixture
def fed_fifo(tmp_path: Path) -> Iterator[tuple[Path, threading.Thread]]:
    """A folder with a valid fixture and a FIFO ``x.json`` that a thread waits to feed
    1 MiB of ``[`` (a loader that opened it would read that and fail, not hang). After
    the test, the thread is let go by opening the FIFO here."""
    (tmp_path / "a.json").write_text(json.dumps(fixtures.fixture(
        "a", Config(), [("env_create", (0, 0))])), encoding="utf-8")
    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)

    def feed() -> None:
        try:
            with fifo.open("wb") as f:  # blocks until someone opens the FIFO to read
                f.write(b"[" * (1 << 20))
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    yield tmp_path, writer
    # let the writer go: a reader is held open (so its open succeeds whenever it gets
    # there: on a loaded machine it may not have reached it yet) and drained until it ends
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while writer.is_alive():
            with contextlib.suppress(BlockingIOError):
                os.read(fd, 1 << 16)
            writer.join(0.01)
    finally:
        os.close(fd)


def test_a_fifo_is_never_opened_by_the_library(fed_fifo: tuple[Path, threading.Thread]
                                               ) -> None:
    d, writer = fed_fifo
    with pytest.raises(fixtures.FixtureError, match=r"x\.json: not a regular file"):
        fixtures.run(d, Kernel)
    assert writer.is_alive()  # still waiting for a reader: nothing opened the FIFO


def test_a_fifo_is_never_opened_by_the_cli(fed_fifo: tuple[Path, threading.Thread]) -> None:
    d, writer = fed_fifo
    proc = _child("fixtures", "run", str(d), "--impl", "exo.impl:Kernel")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "x.json: not a regular file" in _one_exo_line(proc.stderr)
    assert writer.is_alive()


# --------------------------------------------------------------------------- valid files


def test_built_fixtures_load_and_pass_also_through_a_symlink(built: Path, tmp_path: Path
                                                            ) -> None:
    """Every fixture ``exo fixtures build`` wrote loads; a folder of symbolic links to
    some of them runs and passes in the CLI, under the same memory limit."""
    paths = fixtures.fixture_files(built)
    assert len(paths) > 10
    names = [fixtures.load(p)["name"] for p in paths]
    assert names == [p.stem for p in paths]
    for p in paths:
        if p.name.startswith(("random-", "generated-")):
            (tmp_path / p.name).symlink_to(p)
    assert len(fixtures.fixture_files(tmp_path)) == 4
    proc = _child("fixtures", "run", str(tmp_path), "--impl", "exo.impl:Kernel")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "4 of 4 passed" in proc.stdout
    assert fixtures.check_files(built, "random-") == [built / "random-0-00.json",
                                                      built / "random-0-01.json"]


def _entries(cfg: Config) -> int:
    return sum(math.prod(dom) for dom, _, _ in layout(cfg).values())


def test_the_built_fixtures_are_well_within_the_limits(built: Path) -> None:
    """``MAX_FIXTURE_BYTES``, ``MAX_STATE_ENTRIES`` and ``MAX_FIXTURE_WORK`` hold every
    built fixture eight times over (the default build's largest is about 350 KB, 354
    entries and 440,000 entries to observe)."""
    paths = fixtures.fixture_files(built)
    assert 8 * max(p.stat().st_size for p in paths) < fixtures.MAX_FIXTURE_BYTES
    sizes = [(_entries(Config(**d["config"])), len(d["steps"]))
             for d in (fixtures.load(p) for p in paths)]
    assert max(e for e, _ in sizes) == DEFAULT_ENTRIES
    assert 8 * DEFAULT_ENTRIES < fixtures.MAX_STATE_ENTRIES
    assert 8 * max(e * (n + 1) for e, n in sizes) < fixtures.MAX_FIXTURE_WORK


def test_the_work_limit_is_inclusive(base: Data) -> None:
    """``(steps + 1) x entries`` equal to ``MAX_FIXTURE_WORK`` passes that check (the next
    check then fails: ``boot`` is of another configuration); one step more does not. A
    configuration of one page of four words has 256 entries, which divides the limit."""
    data = copy.deepcopy(base)
    data["config"].update(n_pages=1, page_words=4)
    assert _entries(Config(**data["config"])) == 256
    data["steps"] = [{}] * (fixtures.MAX_FIXTURE_WORK // 256 - 1)
    with pytest.raises(fixtures.FixtureError) as info:
        fixtures.check(data)
    assert "entries to observe" not in str(info.value) and "boot" in str(info.value)
    data["steps"].append({})
    with pytest.raises(fixtures.FixtureError, match=r": steps: 32,768 steps on a state of "
                       r"256 entries: 8,388,864 entries to observe, at most 8,388,608$"):
        fixtures.check(data)
