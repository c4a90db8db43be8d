"""Measure every ``exo`` command on a corpus of hostile inputs; nothing is asserted here.

Each case is one child process (``python -m exo.cli ...``, or a shell line for ``exo
serve`` fed hostile standard input) in a session of its own (``start_new_session``) under
``RLIMIT_AS`` = 500 MB. The inputs are made in a temporary folder: missing files,
folders, FIFOs, symlinks to ``/dev/zero``, 200 MB of ``[``, invalid UTF-8, JSON of the
wrong shape, 10^6 nested arrays, 100 MB files, markup (``[/x]``) and terminal escapes,
and hostile kernels for ``exo check --impl-cmd`` (one that exits at once, prints garbage,
a 100 MB line, nested JSON, hangs, leaves a child behind, writes escapes to stderr).

Per case it records: the exit code (and the one the CLI contract of README.md expects:
0 passed, 1 a check failed, 2 bad usage or input with one line on standard error, 4
``exo check`` incomplete), the lines on standard error, whether "Traceback" appears on
standard output or error, how many processes are left behind after the child exited
(its session, found in ``/proc/*/stat``, plus any process still carrying the case's
marker in its environment: a kernel runs in a session of its own), the wall time and
the peak resident memory of the child and its waited-for descendants (``os.wait4``). That
peak is an upper bound: Linux counts in it the resident size of this script at the fork
(66-90 MB here; far more inside a long pytest worker), recorded as ``fork_mb`` (this
process's own peak just after the fork), so a figure at or near ``fork_mb`` says the case
used less; ``RLIMIT_AS`` is the limit actually enforced.
Left-behind processes are killed after they are counted. A wall-clock guard
(``--guard``, 120 s) kills a case only so that the script cannot hang; times are for
reading, not for verdicts (tests/test_hostile_corpus.py asserts the contract, never a
time).

Run as ``python scripts/hostile_corpus.py [--only SUBSTRING] [--json FILE]`` from any
folder (Linux: reads /proc). Cases marked ``slow`` take more than ~10 s by design (a hung
kernel is only declared hung after WIRE-1's start grace) and are left out of the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.hostile_wire import _stream  # a line of N bytes, sent in blocks

MEMORY_LIMIT = 500 << 20
"""RLIMIT_AS of every case: 500 MB of address space."""
GUARD_SECONDS = 120.0
"""The wall-clock guard of the script: only so that it cannot hang."""
LEFTOVER_GRACE = 15.0
"""Seconds after the child's exit a process of the case may still be seen exiting: a guard
against a loaded machine (a process on its way out is gone long before), so only one that
stays is counted as left behind. Only a case that does leave one waits it out."""
MARKER = "EXO_HOSTILE_CORPUS"
"""The environment variable every case's processes inherit (value: a fresh id)."""

EXO: tuple[str, ...] = (sys.executable, "-m", "exo.cli")
"""How ``exo`` is started: ``python -m exo.cli`` works (cli/__main__.py)."""
PY = shlex.quote(sys.executable)
REPO = Path(__file__).resolve().parent.parent

NESTED_JSON = 10**6
BRACKETS_BYTES = 200 << 20
BIG_BYTES = 100 << 20


# --- inputs -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Input:
    """A hostile input, made on demand in the workspace: ``Input("fifo")``."""

    kind: str


Arg = str | Input


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _fill(path: Path, byte: bytes, total: int) -> Path:
    block = byte * (1 << 20)
    with path.open("wb") as f:
        left = total
        while left > 0:
            f.write(block[:min(left, len(block))])
            left -= len(block)
    return path


def _nested(path: Path, depth: int) -> Path:
    return _write(path, b"[" * depth + b"]" * depth)


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _mkfifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _devzero(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


DAMAGED: dict[str, Callable[[Path], Path]] = {
    "missing": lambda p: p,
    "directory": _mkdir,
    "fifo": _mkfifo,
    "devzero": _devzero,
    "brackets-200MB": lambda p: _fill(p, b"[", BRACKETS_BYTES),
    "invalid-utf8": lambda p: _write(p, b'{"obligation": "\xff\xfe\xc3\x28"}\n\xff\xff'),
    "json-list": lambda p: _write(p, b"[1, 2, 3]\n"),
    "json-number": lambda p: _write(p, b"42\n"),
    "json-wrong-keys": lambda p: _write(p, b'{"foo": 1, "bar": [null]}\n'),
    "nested-1e6": lambda p: _nested(p, NESTED_JSON),
    "garbage": lambda p: _write(p, bytes(range(256)) * 64 + b"\x00\x01\x02"),
    "raw-garbage": lambda p: _write(p, bytes(range(256)) * 64),
    "big-100MB": lambda p: _fill(p, b"6 0 0 262144\n", BIG_BYTES // 13),
    "markup": lambda p: _write(p, b"[/x] [bold red]x[/] [link=file:///etc]y\n"),
    "escapes": lambda p: _write(p, b"\x1b]0;title\x07\x1b[2J\x1b[31mred\r\n\n"),
}
"""Damaged files by kind: each maker creates its kind at the path it is given. The
sizes of "garbage", "invalid-utf8" and "escapes" are not multiples of 8, so that ``exo
filter`` cannot read them as raw BPF (8-byte instructions); "raw-garbage" is one."""

FILE_KINDS = ("missing", "directory", "fifo", "devzero", "brackets-200MB", "invalid-utf8",
              "json-list", "json-number", "json-wrong-keys", "nested-1e6")
PROGRAM_KINDS = ("missing", "directory", "fifo", "devzero", "garbage", "raw-garbage",
                 "big-100MB", "invalid-utf8", "markup", "escapes", "nested-1e6")


def _hang_after(lines: int) -> str:
    """A kernel that serves ``lines`` requests (``exo serve``), then hangs silently."""
    return ("#!/bin/sh\ni=0\nwhile [ $i -lt " + str(lines) + " ] && IFS= read -r line; do "
            "printf '%s\\n' \"$line\"; i=$((i+1)); done | " + PY + " -m exo.cli serve\n"
            "exec sleep 1000\n")


KERNELS: dict[str, str] = {
    "k-exit0.sh": "#!/bin/sh\nexit 0\n",
    "k-garbage.sh": "#!/bin/sh\necho 'garbage {not json'\necho '[/x]'\nexec sleep 1000\n",
    "k-bigline.sh": "#!/bin/sh\nhead -c 104857600 /dev/zero | tr '\\000' x\nexec sleep 1000\n",
    "k-nested.sh": ("#!/bin/sh\n" + PY + " -c 'import sys; sys.stdout.write(\"[\" * 100000"
                    " + \"]\" * 100000 + \"\\n\"); sys.stdout.flush()'\nexec sleep 1000\n"),
    "k-stderr.sh": ("#!/bin/sh\nprintf '[/x] [bold]b[/bold] \\033]0;title\\007 \\033[2J"
                    "\\033[31mred\\n' >&2\nexit 3\n"),
    "k-serve-orphan.sh": f"#!/bin/sh\nsleep 1000 &\nexec {PY} -m exo.cli serve\n",
    "k-hang-after-1.sh": _hang_after(1),
    "k-hang-after-3.sh": _hang_after(3),
    "k-hang-after-30.sh": _hang_after(30),
}
"""Hostile kernels for ``exo check --impl-cmd``: shell scripts, no Python traceback of
their own (a traceback in a kernel's stderr would be quoted by exo and counted here)."""

VALID_BPF = b"1\n6 0 0 262144\n"  # tcpdump -ddd of `ret #262144`: accept every packet
TINY_FIXTURE_CALLS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("env_create", (0, 0)), ("env_create", (1, 1)),
    ("set_exception_context", (0, 0, 4096)), ("set_exception_context", (0, 1, 4097)),
    ("set_exception_context", (0, 2, 4098)), ("set_exception_context", (0, 3, 4099)))


def _tiny_fixture(folder: Path, **sizes: int) -> Path:
    """A fixtures folder with one fixture of six calls, made on the model; ``sizes``
    then overwrite its configuration (a hostile one)."""
    from exo.interface import Config
    from exo.wire import fixtures
    data = fixtures.fixture("tiny", Config(), TINY_FIXTURE_CALLS)
    data["config"].update(sizes)
    folder.mkdir()
    (folder / "tiny.json").write_text(fixtures.dumps(data))
    return folder


class Workspace:
    """The temporary folder where the inputs of the cases are made, each once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, Path] = {}
        self._lock = threading.Lock()

    def path(self, item: Input) -> Path:
        with self._lock:
            if item.kind not in self._made:
                self._made[item.kind] = self._make(item.kind)
            return self._made[item.kind]

    def _make(self, kind: str) -> Path:
        head, _, rest = kind.partition(":")
        if head == "file":  # file:KIND, a damaged file
            return DAMAGED[rest](self.root / f"file-{rest}.json")
        if head == "folder":  # folder:KIND, a fixtures folder holding x.json of KIND
            folder = self.root / f"fixtures-{rest}"
            if rest == "missing":
                return folder
            if rest == "tiny":
                return _tiny_fixture(folder)
            if rest == "tiny-huge":
                return _tiny_fixture(folder, n_pages=10**8, n_envs=4096)
            folder.mkdir()
            if rest != "empty":
                DAMAGED[rest](folder / "x.json")
            return folder
        if head == "valid-bpf":
            return _write(self.root / "valid.bpf", VALID_BPF)
        if head == "kernel":
            return _script(self.root / rest, KERNELS[rest])
        raise KeyError(kind)

    def argv(self, args: Sequence[Arg]) -> list[str]:
        return [str(self.path(a)) if isinstance(a, Input) else a for a in args]


# --- cases --------------------------------------------------------------------------------

Feed = Callable[[IO[bytes]], None]

KNOWN_KINDS = ("exit", "traceback", "stderr-lines", "left-behind", "hang", "escapes")
"""The contract items a case can break (``Case.known``, ``violations``)."""


@dataclass(frozen=True)
class Case:
    """One hostile case: ``exo ARGS`` (or ``command`` as given), its standard input, and
    the exit code the CLI contract expects."""

    name: str
    args: tuple[Arg, ...]
    expected: int
    stdin: Feed | None = None
    slow: bool = False
    """Takes more than ~10 s here (by design, or because it hangs): script only."""
    guard: float | None = None
    """A shorter wall-clock guard than the default (a case known to hang)."""
    known: tuple[str, ...] = ()
    """Contract items (``KNOWN_KINDS``) this case is known to break: product findings."""
    note: str = ""


def _lines(*lines: bytes) -> Feed:
    def feed(out: IO[bytes]) -> None:
        for line in lines:
            out.write(line)
    return feed


def _reset(**sizes: int) -> bytes:
    from exo.interface import Config
    from exo.wire.codec import config_json, request
    message = request("reset", config={**config_json(Config()), **sizes})
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def _serve_reset_huge(out: IO[bytes]) -> None:
    out.write(_reset(n_pages=10**8))
    out.write(_reset(n_envs=4096, n_pages=4096))


NOTE_NO_START = ("cannot be built (it does not start, or fails its first reset): exit 2, "
                 "the one 'exo:' line, before any progress line")


def _check(kernel: str, expected: int = 2, *, slow: bool = False,
           known: tuple[str, ...] = (), note: str = NOTE_NO_START) -> Case:
    impl: Arg = Input(f"kernel:{kernel}") if kernel.startswith("k-") else kernel
    name = kernel.removeprefix("k-").removesuffix(".sh")
    return Case(f"check --impl-cmd {name}",
                ("check", "--impl-cmd", impl, "--steps", "3", "--examples", "2",
                 "--seed", "1", "--step-timeout", "0.5", "--repro", "/dev/null"),
                expected, slow=slow, known=known, note=note)


def cases() -> list[Case]:
    """The corpus, in the order it is run."""
    out: list[Case] = []
    for kind in (*FILE_KINDS, "garbage", "markup", "escapes"):
        out.append(Case(f"replay {kind}", ("replay", Input(f"file:{kind}")), 2))
    for kind in (*FILE_KINDS, "empty", "tiny-huge"):
        out.append(Case(f"fixtures run {kind}", ("fixtures", "run", Input(f"folder:{kind}")),
                        2))
    out.append(Case("fixtures run tiny", ("fixtures", "run", Input("folder:tiny")), 0))
    out.append(Case("fixtures run fifo --impl-cmd exit0",
                    ("fixtures", "run", Input("folder:fifo"),
                     "--impl-cmd", Input("kernel:k-exit0.sh")), 2))
    for kernel, expected in (("k-exit0.sh", 1), ("k-garbage.sh", 1), ("k-nested.sh", 1),
                             ("k-bigline.sh", 1), ("k-stderr.sh", 1)):
        out.append(Case(f"fixtures run tiny --impl-cmd {kernel[2:-3]}",
                        ("fixtures", "run", Input("folder:tiny"),
                         "--impl-cmd", Input(f"kernel:{kernel}")), expected))
    for kind in FILE_KINDS:
        out.append(Case(f"prove --manifest {kind}",
                        ("prove", "--manifest", Input(f"file:{kind}"), "-j", "1"), 2))
    for kind in PROGRAM_KINDS:
        prog = Input(f"file:{kind}")
        made = [Case(f"filter verify {kind}", ("filter", "verify", prog),
                     1 if kind == "raw-garbage" else 2),
                Case(f"filter eval {kind}", ("filter", "eval", prog, "--packet", "00112233"),
                     2),
                Case(f"filter equiv valid {kind}",
                     ("filter", "equiv", Input("valid-bpf"), prog), 2)]
        out += made
    out.append(Case("filter overlap valid devzero",
                    ("filter", "overlap", Input("valid-bpf"), Input("file:devzero")), 2))
    out.append(Case("filter eval --packet markup",
                    ("filter", "eval", Input("valid-bpf"), "--packet", "[/x]\x1b]0;t\x07"), 2))
    out.append(Case("filter run (no such command)", ("filter", "run", Input("valid-bpf")), 2))
    out += [
        _check("k-exit0.sh"),
        _check("k-garbage.sh"),
        _check("k-bigline.sh"),
        _check("k-nested.sh"),
        _check("k-stderr.sh"),
        _check("/nonexistent/kernel"),
        _check("'unbalanced", note="refused before the kernel is started"),
        _check("sh -c 'sleep 1000'", slow=True,
               note="hangs before its first reply: WIRE-1 gives it a 30 s start grace"),
        _check("k-hang-after-1.sh", expected=1,
               note="answers the first reset (it starts), hangs at the next one: the run "
                    "reports the factory's failure, not conformant"),
        _check("k-hang-after-3.sh", expected=1,
               note="answers 3 requests, then hangs at a later reset: not conformant"),
        _check("k-hang-after-30.sh", expected=1,
               note="answers 30 requests, hangs at an apply: not conformant, the report "
                    "quotes the wire client's message (no traceback of exo's own frames)"),
        _check("k-serve-orphan.sh", expected=0, slow=True,
               note="a conformant kernel leaving `sleep 1000 &` in its session"),
    ]
    serve = ("serve",)
    out += [
        Case("serve op a list", serve, 0, _lines(
            b'{"exo":1,"type":"apply","op":["alloc"],"args":[]}\n')),
        Case("serve nested 100000", serve, 0,
             _lines(b"[" * 100_000 + b"]" * 100_000 + b"\n")),
        Case("serve invalid utf-8", serve, 0, _lines(b'{"exo":1,"type":"\xff"}\n\xff\xfe\n')),
        Case("serve 20 MB line", serve, 0, _stream(20 << 20)),
        Case("serve reset n_pages=10**8", serve, 0, _serve_reset_huge),
        Case("serve markup and escapes", serve, 0, _lines(
            b'{"exo":1,"type":"[/x]\x1b]0;title\x07"}\n', b"[/x]\x1b[2J\n")),
    ]
    out += [
        Case("spec bogus clause", ("spec", "BOGUS-99"), 2),
        Case("spec markup clause", ("spec", "[/x]\x1b]0;title\x07"), 2),
        Case("bench --bogus-option", ("bench", "--bogus-option"), 2),
        Case("verify --steps -5", ("verify", "--steps", "-5"), 2),
        Case("verify --steps notanumber", ("verify", "--steps", "notanumber"), 2),
        Case("verify --json into a missing folder",
             ("verify", "--no-proofs", "--steps", "1", "--json", "/nonexistent/dir/v.json"), 2),
        Case("bogus command", ("bogus-command",), 2),
    ]
    return out


# --- the harness --------------------------------------------------------------------------

@dataclass
class Result:
    """What one case did."""

    name: str
    command: str
    exit: int
    expected: int
    stderr_lines: int
    """Non-empty lines on standard error."""
    stderr_first: str
    stderr_last: str
    traceback: bool
    raw_escapes: bool
    """ESC or BEL bytes on standard output or error (terminal control from the input)."""
    left_behind: int
    seconds: float
    peak_mb: float
    guard_killed: bool
    fork_mb: float = 0.0
    """This process's own peak resident size just after it forked the case: ``peak_mb``
    counts the copy made at the fork (plus the few pages the child touches before its
    exec), so it says nothing about the case at or near this figure."""
    slow: bool = False
    left_pids: list[int] = field(default_factory=list)


def violations(r: Result, expected: int | None = None) -> dict[str, str]:
    """The contract items ``r`` breaks (``KNOWN_KINDS``), each with what was seen."""
    want = r.expected if expected is None else expected
    found: dict[str, str] = {}
    if r.guard_killed:
        found["hang"] = "killed by the wall-clock guard"
    elif r.exit != want:
        found["exit"] = f"exit {r.exit}, expected {want}"
    if r.traceback:
        found["traceback"] = "'Traceback' on stdout or stderr"
    if r.exit == 2 and r.stderr_lines != 1:
        found["stderr-lines"] = f"exit 2 with {r.stderr_lines} non-empty lines on stderr"
    if r.left_behind:
        found["left-behind"] = f"{r.left_behind} processes left behind: {r.left_pids}"
    if r.raw_escapes:
        found["escapes"] = "raw ESC/BEL bytes on stdout or stderr"
    return found


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def session_of(pid: int) -> int | None:
    """The session of a live process (None: gone, or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2:].split()
    return int(fields[3]) if len(fields) > 3 and fields[0] != b"Z" else None


def _carries(pid: int, mark: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return mark in f.read().split(b"\0")
    except OSError:
        return False


def leftovers(session: int, token: str) -> list[int]:
    """Live processes (not zombies) in ``session``, or carrying the case's marker
    ``token`` in their environment (a kernel runs in a session of its own)."""
    mark = f"{MARKER}={token}".encode()
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        sid = session_of(pid)
        if sid is not None and (sid == session or _carries(pid, mark)):
            found.append(pid)
    return sorted(found)


def kill_all(pids: Sequence[int], group: int | None = None) -> None:
    """SIGKILL a process group and the given processes (left behind by a case)."""
    if group is not None:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _scan(path: Path) -> tuple[int, bool, bool, str, str]:
    """Non-empty lines, "Traceback" seen, ESC/BEL seen, first and last non-empty line
    (the first 64 MiB are read whole; beyond, only the markers are looked for)."""
    head = b""
    tb = esc = False
    lines = 0
    tail = b""
    with path.open("rb") as f:
        head = f.read(64 << 20)
        tb, esc = b"Traceback" in head, b"\x1b" in head or b"\x07" in head
        rows = [row for row in head.splitlines() if row.strip()]
        lines = len(rows)
        prev = head[-16:]
        while block := f.read(1 << 20):
            tb = tb or b"Traceback" in prev + block
            esc = esc or b"\x1b" in block or b"\x07" in block
            lines += block.count(b"\n")
            prev = block[-16:]
            tail = block
    first = rows[0] if rows else b""
    last = (tail.splitlines() or [b""])[-1] if tail else (rows[-1] if rows else b"")
    return (lines, tb, esc, first.decode(errors="replace")[:300],
            last.decode(errors="replace")[:300])


def run_command(argv: Sequence[str], *, stdin: Feed | None = None,
                guard: float = GUARD_SECONDS, name: str = "", expected: int = 0) -> Result:
    """Run ``argv`` as one case: a session of its own, RLIMIT_AS, its output in files,
    the wall-clock guard; then count what it left behind (and kill that)."""
    token = uuid.uuid4().hex
    env = {**os.environ, MARKER: token, "COLUMNS": "100"}
    with tempfile.TemporaryDirectory(prefix="exo-hostile-out-") as tmp:
        out_path, err_path = Path(tmp, "out"), Path(tmp, "err")
        with out_path.open("wb") as out, err_path.open("wb") as err:
            start = time.monotonic()
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=out, stderr=err, start_new_session=True, preexec_fn=_limit_memory,
                env=env, cwd=tmp)
            # Popen returns once the child has exec'd: this peak bounds the copy it made
            fork_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            done = threading.Event()
            killed = threading.Event()

            def watch() -> None:
                if not done.wait(guard):
                    killed.set()
                    kill_all(leftovers(proc.pid, token), proc.pid)

            threading.Thread(target=watch, daemon=True).start()
            feeder: threading.Thread | None = None
            if stdin is not None:
                pipe = proc.stdin
                assert pipe is not None

                def feed() -> None:
                    try:
                        stdin(pipe)
                        pipe.close()
                    except OSError:  # the child stopped reading: its own business
                        pass
                feeder = threading.Thread(target=feed, daemon=True)
                feeder.start()
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.monotonic() - start
            done.set()
            proc.returncode = os.waitstatus_to_exitcode(status)
            if feeder is not None:
                feeder.join(5)
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            left = leftovers(proc.pid, token)
            deadline = time.monotonic() + LEFTOVER_GRACE
            while left and time.monotonic() < deadline:
                time.sleep(0.1)
                left = leftovers(proc.pid, token)
            kill_all(left)
        lines, err_tb, err_esc, first, last = _scan(err_path)
        _, out_tb, out_esc, _, _ = _scan(out_path)
    return Result(name=name, command=shlex.join(argv), exit=proc.returncode,
                  expected=expected, stderr_lines=lines, stderr_first=first,
                  stderr_last=last, traceback=err_tb or out_tb,
                  raw_escapes=err_esc or out_esc, left_behind=len(left), left_pids=left,
                  seconds=seconds, peak_mb=usage.ru_maxrss / 1024, fork_mb=fork_mb,
                  guard_killed=killed.is_set())


def argv_of(case: Case, ws: Workspace) -> list[str]:
    return [*EXO, *ws.argv(case.args)]


def run_case(case: Case, ws: Workspace, guard: float = GUARD_SECONDS) -> Result:
    result = run_command(argv_of(case, ws), stdin=case.stdin,
                         guard=min(guard, case.guard or guard), name=case.name,
                         expected=case.expected)
    result.slow = case.slow
    return result


def short(command: str, root: Path | None = None) -> str:
    """The command line as ``exo ...``, the workspace's folder shown as ``$TMP``."""
    text = command.replace(shlex.join(EXO), "exo", 1)
    return text.replace(str(root), "$TMP") if root is not None else text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default=None, help="Only cases whose name contains this.")
    parser.add_argument("--json", default=None, help="Also write the results to this file.")
    parser.add_argument("--guard", type=float, default=GUARD_SECONDS,
                        help="Wall-clock seconds after which a case is killed.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="Also print each case's command and last line of stderr.")
    args = parser.parse_args(argv)
    selected = [c for c in cases() if args.only is None or args.only in c.name]
    results: list[dict[str, object]] = []
    print(f"{'case':42} {'exit':>4} {'exp':>3} {'lines':>5} {'tb':>3} {'left':>4} "
          f"{'s':>6} {'MB':>5}  off the contract", flush=True)
    with tempfile.TemporaryDirectory(prefix="exo-hostile-") as tmp:
        ws = Workspace(Path(tmp))
        for case in selected:
            r = run_case(case, ws, args.guard)
            off = violations(r)
            flags = ", ".join(off) + (" (slow)" if case.slow else "")
            print(f"{case.name[:42]:42} {r.exit:4} {r.expected:3} {r.stderr_lines:5} "
                  f"{'yes' if r.traceback else 'no':>3} {r.left_behind:4} "
                  f"{r.seconds:6.1f} {r.peak_mb:5.0f}  {flags}", flush=True)
            if args.verbose:
                print(f"    $ {short(r.command, ws.root)}\n    stderr: {r.stderr_last!r}")
            results.append({**asdict(r), "command": short(r.command, ws.root),
                            "violations": off, "known": list(case.known), "note": case.note})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    bad = sum(bool(r["violations"]) for r in results)
    print(f"{len(results)} cases, {bad} off the contract; the peak memory limit is "
          f"{MEMORY_LIMIT >> 20} MB (RLIMIT_AS)")
    return 0


if __name__ == "__main__":
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    sys.exit(main())
