"""README.md's samples and figures, from the tools: rewrite them, or check them.

    python scripts/readme_samples.py            rewrite what is stale in README.md (a stale
                                                `exo verify` sample runs the real one: about
                                                30 s on 2 cores)
    python scripts/readme_samples.py --check    exit 1, with the differences, if README.md
                                                is stale (cheap: no proof is run)

``tests/test_readme.py`` runs the check, so a README that drifts from the tools fails CI.
Three things in README.md come from here:

* A **sample**: what a command prints, as a whole, between two markers::

      <!-- sample: exo spec REV -->
      ```text
      ...the command's standard output...
      ```
      <!-- /sample -->

  The marker's text is the command line, a key of ``SAMPLES``. The command runs in this
  process as a pipe or a CI log shows it (plain tables, never cut; progress lines go to
  standard error and are left out). A sample that holds measured seconds (``exo verify``)
  is written with the seconds of the run that wrote it, and checked with every number of
  seconds masked, on a cheap run (``Sample.check``): there ``exo verify --no-proofs``,
  with the proofs row's count taken from ``len(obligations())``, the list it proves. A
  sample that still matches is never rewritten, so its seconds stay those of the run
  that wrote it.
* An **excerpt**: calls a command prints, with the README's notes beside them::

      <!-- excerpt: python -m exo.libos.demo -->
      ```
      set_reg(0, 42) -> OK:0                          the note, after two spaces or more
      ```

  Every line, up to its first run of two spaces, is a line the command prints, and in the
  same order (other lines may come between). Excerpts are checked, never written.
* A **figure**: a number in the prose that a source defines (``FIGURES``): the README's
  own sentence, with ``{}`` where the number stands (line breaks and runs of spaces in
  the README match any white space), and the function that gives the number now. Each
  template must match exactly once. Numbers of 1,000 and more are written with commas
  (``form="plain"``: as the code writes a constant; ``form="words"``: one to twelve as
  words, "seven cells", capitalized where the README's word is).

Measurements (seconds, speed ratios, detection rates, dates) are none of these: they are
left as written, each next to the command that measured it.
"""

from __future__ import annotations

import argparse
import difflib
import io
import re
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

SAMPLE_RE = re.compile(
    r"(?P<open><!-- sample: (?P<command>[^>]*?) -->\n```text\n)(?P<body>.*?)"
    r"(?P<close>```\n<!-- /sample -->)", re.S)
EXCERPT_RE = re.compile(r"<!-- excerpt: (?P<command>[^>]*?) -->\n```[a-z]*\n(?P<body>.*?)```",
                        re.S)
SECONDS_RE = re.compile(r"\b\d+(?:\.\d+)? ?s\b")
"""A number of seconds, as the tools print one (``1.6s``, ``29 s``)."""


def exo(*args: str) -> str:
    """``exo ARGS``, run in this process; its standard output (an exit code other than 0
    is an error: a sample is what a passing command prints)."""
    from click.testing import CliRunner

    from exo.cli import main

    result = CliRunner().invoke(main, list(args))
    if result.exit_code != 0:
        raise RuntimeError(f"exo {' '.join(args)}: exit {result.exit_code}\n{result.output}")
    return result.stdout


def python_module(module: str, *args: str) -> str:
    """``python -m MODULE ARGS`` in this process; its standard output."""
    import runpy

    out = io.StringIO()
    saved = sys.argv
    sys.argv = [module, *args]
    try:
        with redirect_stdout(out):
            try:
                runpy.run_module(module, run_name="__main__", alter_sys=False)
            except SystemExit as exc:
                if exc.code not in (0, None):
                    raise RuntimeError(f"python -m {module}: exit {exc.code}") from exc
    finally:
        sys.argv = saved
    return out.getvalue()


@dataclass(frozen=True)
class Sample:
    """How one sample is written (``write``: what the command prints) and checked
    (``check``: the same text from a cheap run, both passed through ``normalize``)."""

    write: Callable[[], str]
    check: Callable[[], str]
    normalize: Callable[[str], str]


def _same(text: str) -> str:
    return text


def _verify_rows(text: str) -> str:
    """``exo verify``'s output with what a run measures masked: every number of seconds,
    the slowest obligation, and the table's column widths (they follow the widest
    detail)."""
    lines = []
    for line in text.strip("\n").splitlines():
        if set(line) <= {"-", " "}:
            continue  # the rule under the header: its widths follow the cells
        cells = re.split(r" {2,}", line.strip())
        cells = [SECONDS_RE.sub("<s>", re.sub(r"\(slowest [^)]*\)", "(slowest <o>)", c))
                 for c in cells]
        lines.append(" | ".join(cells))
    return "\n".join(lines) + "\n"


def _verify_cheap() -> str:
    """``exo verify`` without running a proof: ``--no-proofs``, then the proofs row as the
    real run prints it, with its count from the list of obligations it proves."""
    from exo.proofs.obligations import obligations

    out = exo("verify", "--no-proofs").strip("\n").splitlines()
    *table, total = out
    passed = re.fullmatch(r"all (\d+) checks passed \(.*\)", total)
    if passed is None:
        raise RuntimeError(f"exo verify --no-proofs: unexpected last line {total!r}")
    checks = int(passed[1])
    table.append(f"proofs  passed  {len(obligations())} obligations proved for all sizes, "
                 "manifest matched (slowest <o>)  <s>")
    return "\n".join([*table, f"all {checks + 1} checks passed (<s>)"]) + "\n"


def _verify_real() -> str:
    """The real ``exo verify`` (every proof), in its own process as a user runs it."""
    done = subprocess.run([sys.executable, "-m", "exo.cli", "verify"], capture_output=True,
                          text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"exo verify: exit {done.returncode}\n{done.stdout}{done.stderr}")
    return done.stdout


SAMPLES: dict[str, Sample] = {
    "exo spec REV": Sample(lambda: exo("spec", "REV"), lambda: exo("spec", "REV"), _same),
    "exo verify": Sample(_verify_real, _verify_cheap, _verify_rows),
}
"""Every sample README.md may hold, by its command line."""


@cache
def demo_output() -> str:
    """What ``python -m exo.libos.demo`` prints (the excerpts and a figure quote it)."""
    return python_module("exo.libos.demo")


EXCERPTS: dict[str, Callable[[], str]] = {
    "python -m exo.libos.demo": demo_output,
}
"""Every command an excerpt may quote."""


# --- figures: the sources -------------------------------------------------------------

def _obligations(kind: str | None = None, *last: str) -> Callable[[], int]:
    """How many obligations ``exo prove`` proves (of ``kind``, ending in one of ``last``)."""
    def count() -> int:
        from exo.proofs.obligations import obligations

        return sum(1 for ob in obligations() if (kind is None or ob.kind == kind)
                   and (not last or ob.name.rsplit("/", 1)[1] in last))
    return count


def _operations() -> int:
    from exo.model import REGISTRY

    return len(REGISTRY)


def _invariants() -> int:
    from exo.spec.invariants import INVARIANTS

    return len(INVARIANTS)


def _witness_programs() -> int:
    from exo.kit.witnesses import shipped

    return len(shipped())


def _witness_calls() -> int:
    from exo.kit.witnesses import shipped

    return sum(len(w.steps) for w in shipped())


def _named_cases() -> int:
    from exo.kit.coverage import CASES

    return len(CASES)


def _unreachable() -> int:
    from exo.kit.coverage import UNREACHABLE

    return len(UNREACHABLE)


def _catalogue() -> int:
    """The broken kernels of tests/catalogue.py itself (its CATALOGUE also takes in the
    optimizer's, tests/catalogue_optimizer.py)."""
    sys.path.insert(0, str(ROOT))
    from tests.catalogue import CATALOGUE
    from tests.catalogue_optimizer import OPTIMIZER

    return len(CATALOGUE) - len(OPTIMIZER)


def _optimizer() -> int:
    sys.path.insert(0, str(ROOT))
    from tests.catalogue_optimizer import OPTIMIZER

    return len(OPTIMIZER)


def _corpus_expressions() -> int:
    import json

    return len(json.loads((ROOT / "tests" / "data" / "bpf_corpus.json").read_text()))


def _constant(module: str, name: str) -> Callable[[], int]:
    def value() -> int:
        import importlib

        got = getattr(importlib.import_module(module), name)
        if not isinstance(got, int | float) or int(got) != got:
            raise TypeError(f"{module}.{name} is {got!r}, not a whole number")
        return int(got)
    return value


def _mib(module: str, name: str) -> Callable[[], int]:
    return lambda: _constant(module, name)() // (1 << 20)


def _test_list(module: str, name: str) -> Callable[[], int]:
    """How many entries a test module's list has (the kernels or variants it runs)."""
    def count() -> int:
        import importlib

        sys.path.insert(0, str(ROOT))
        return len(getattr(importlib.import_module(module), name))
    return count


def _demo_ticks() -> int:
    """The run of clock ticks before B's socket's system call (the datagram scene)."""
    scene = demo_output().split("== datagram sockets", 1)[1]
    found = re.search(r"timer_tick\(\) -> OK:TICK  \((\d+) times\)", scene)
    if found is None:
        raise ValueError("the demo's datagram scene has no run of timer ticks")
    return int(found[1])


WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve")


@dataclass(frozen=True)
class Figure:
    """A number in README.md's prose: ``text`` is the README's sentence with ``{}`` where
    the number stands; ``value`` gives it now."""

    text: str
    value: Callable[[], int]
    form: str = "grouped"
    """``grouped``: 1,000 and more with commas; ``plain``: digits only (a constant as the
    code writes it); ``words``: one to twelve as words."""

    def pattern(self) -> re.Pattern[str]:
        before, after = self.text.split("{}")
        def loose(part: str) -> str:
            return r"\s+".join(re.escape(w) for w in part.split())
        gap_before = r"\s+" if before[-1:].isspace() else ""
        gap_after = r"\s+" if after[:1].isspace() else ""
        return re.compile(loose(before) + gap_before + r"(?P<n>[0-9][0-9,]*|[A-Za-z]+)"
                          + gap_after + loose(after))

    def render(self, n: int) -> str:
        if self.form == "words" and 1 <= n <= 12:
            return WORDS[n - 1]
        return f"{n:,}" if self.form == "grouped" else str(n)


FIGURES: tuple[Figure, ...] = (
    Figure("`exo prove` discharges {} obligations", _obligations()),
    Figure("the boot state satisfies each invariant (INV-0) | {} |", _obligations("init")),
    Figure("each of the {} operations preserves", _operations),
    Figure("preserves each of the {} invariants", _invariants),
    Figure("invariants | {} |", _obligations("step")),
    Figure("what its clause says (values, statuses, effects) | {} |",
           _obligations("post", "failure", "frame", "effect")),
    Figure("the value and every field at every index | {} |",
           _obligations("post", "sound", "complete")),
    Figure("refuse with `NO_TIME`) | {} |", _obligations("thm")),
    Figure("reads inside the packet (absolute and indirect) | {} |", _obligations("flt")),
    Figure("each event the running environment causes | {} |", _obligations("int")),
    Figure("what it and the actor saw (for the kernel's events and decisions, whose actor is "
           "the kernel, the last only) | {} |", _obligations("ni")),
    Figure("For every one of the {} operations it also keeps", _operations),
    Figure("**Witness sweep.** {} short programs", _witness_programs),
    Figure("(`kit/witnesses.json`, {} calls", _witness_calls),
    Figure("the kit's {} witness programs (every reachable coverage cell)", _witness_programs),
    Figure("a clause names, {} named cases", _named_cases),
    Figure("those proved unreachable ({} cells Z3 shows", _unreachable, form="words"),
    Figure("for at most {} programs, replayed as plain calls",
           _constant("exo.kit.check", "SHRINK_EXAMPLES")),
    Figure("single steps and pairs (at most {} replayed calls)",
           _constant("exo.kit.replay", "MINIMIZE_CALLS")),
    Figure("`tests/catalogue.py` holds {} broken kernels", _catalogue),
    Figure("`tests/catalogue_optimizer.py` adds {} bugs", _optimizer),
    Figure("a corpus of {} tcpdump expressions", _corpus_expressions),
    Figure("as hex of at most `MAX_PACKET` ({}) bytes", _constant("exo.interface", "MAX_PACKET"),
           form="plain"),
    Figure("modules of at most {} syntax nodes",
           _constant("exo.proofs.demux", "MAX_SOURCE_NODES")),
    Figure("syntax nodes and Z3 `rlimit` {} (1,000 port filters",
           _constant("exo.proofs.demux", "CHECK_RLIMIT")),
    Figure("heavier than `PAIR_WEIGHT` ({}) is", _constant("exo.model.dfilter", "PAIR_WEIGHT")),
    Figure("within `PAIR_RLIMIT` ({} steps;", _constant("exo.model.dfilter", "PAIR_RLIMIT")),
    Figure("the step timeout ({} s by default)", _constant("exo.wire.client", "STEP_TIMEOUT")),
    Figure("or the reply took {} times that long", _constant("exo.wire.client", "WALL_FACTOR")),
    Figure("lines of at most {} MiB", _mib("exo.limits", "MAX_LINE_BYTES")),
    Figure("JSON nested at most {} levels", _constant("exo.limits", "MAX_DEPTH")),
    Figure("`reset` sizes up to {} each", _constant("exo.limits", "MAX_SIZE")),
    Figure("each and {} state entries", _constant("exo.wire.server", "MAX_STATE_ENTRIES")),
    Figure("`--generated N` programs of the kit's own generation ({} by default",
           _constant("exo.wire.fixtures", "GENERATED")),
    Figure("Every {}th call the client checks", _constant("exo.wire.client", "FULL_EVERY")),
    Figure("(`timer_tick() -> OK:TICK  ({} times)`)", _demo_ticks),
    Figure("{} broken variants — a switch that keeps a register",
           _test_list("tests.test_noninterference", "VARIANTS"), form="words"),
    Figure("from boot, catches {} of the catalogue's broken",
           _test_list("tests.test_kit_exos", "CAUGHT"), form="words"),
    Figure("The same checker catches {} leaky kernels",
           _test_list("tests.test_libos_views", "LEAKY"), form="words"),
)
"""Every figure of README.md's prose that a source defines."""


# --- rewriting and checking --------------------------------------------------------------

def cheap_runs() -> dict[str, str]:
    """Every sample's cheap run (``Sample.check``), by its command line."""
    return {command: spec.check() for command, spec in SAMPLES.items()}


def render(text: str, *, write: bool, runs: dict[str, str] | None = None
           ) -> tuple[str, list[str]]:
    """README text with its samples and figures as the tools give them now, and the
    problems that cannot be rewritten (an excerpt the command does not print, a figure's
    sentence not found). A sample that matches its cheap run (``Sample.check``, both
    normalized) is kept as written; one that does not is written from its real command
    (``Sample.write``) if ``write``, else from the cheap run (to show the difference).
    ``runs``: the cheap runs already made (``cheap_runs``), to check several texts."""
    problems: list[str] = []

    def sample(m: re.Match[str]) -> str:
        command = m["command"]
        if command not in SAMPLES:
            problems.append(f"sample '{command}': no such sample in scripts/readme_samples.py")
            return m[0]
        spec = SAMPLES[command]
        now = runs[command] if runs is not None else spec.check()
        if spec.normalize(now) == spec.normalize(m["body"]):
            return m[0]  # as written: its measured seconds stay
        body = spec.write() if write else now
        return m["open"] + body.rstrip("\n") + "\n" + m["close"]

    out = SAMPLE_RE.sub(sample, text)
    for m in EXCERPT_RE.finditer(out):
        command = m["command"]
        if command not in EXCERPTS:
            problems.append(f"excerpt '{command}': no such command in scripts/readme_samples.py")
            continue
        printed = iter(line.strip() for line in EXCERPTS[command]().splitlines())
        for line in m["body"].splitlines():
            call = re.split(r" {2,}", line.strip(), maxsplit=1)[0]
            if call and not any(p == call or p.startswith(call + "  ") for p in printed):
                problems.append(f"excerpt '{command}': '{call}' is not printed "
                                "(or not in this order)")
                break
    for fig in FIGURES:
        found = list(fig.pattern().finditer(out))
        if len(found) != 1:
            problems.append(f"figure '{fig.text}': found {len(found)} times in README.md, "
                            "not once (reworded? update FIGURES)")
            continue
        m = found[0]
        number = fig.render(fig.value())
        if m["n"][:1].isupper():  # a word that starts a sentence
            number = number[:1].upper() + number[1:]
        out = out[:m.start("n")] + number + out[m.end("n"):]
    return out, problems


def diff(old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True),
                                        "README.md", "README.md (from the tools)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare (cheap); exit 1 with the differences if stale")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new, problems = render(text, write=not args.check)
    for problem in problems:
        print(f"README.md: {problem}", file=sys.stderr)
    if args.check:
        if new != text:
            sys.stdout.write(diff(text, new))
            print("README.md is stale: run python scripts/readme_samples.py", file=sys.stderr)
        return 1 if new != text or problems else 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print("README.md rewritten")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
