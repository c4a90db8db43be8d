"""README.md tested against the tools (issue 26): its samples, excerpts and figures are
what ``scripts/readme_samples.py`` makes of the tools now; every ``exo`` command line it
shows parses; its counterexample recipe, followed literally, gives a counterexample; and
the examples of ``exo --help`` and of every command's ``--help`` run or are named here as
too slow to run. ``exo prove --help`` names every kind of obligation ``exo prove``
proves."""

from __future__ import annotations

import inspect
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from exo.cli import main
from exo.model import REGISTRY
from exo.proofs.obligations import obligations

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # scripts/ is a folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from scripts import readme_samples as rs  # noqa: E402

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def runs() -> dict[str, str]:
    """The samples' cheap runs, once for every test here."""
    return rs.cheap_runs()


def test_readme_samples_and_figures_are_the_tools_output(runs: dict[str, str]) -> None:
    now, problems = rs.render(README, write=False, runs=runs)
    assert not problems, problems
    assert now == README, ("README.md differs from the tools; run python "
                           "scripts/readme_samples.py\n" + rs.diff(README, now))


def test_every_sample_and_excerpt_marker_is_known() -> None:
    """A marker the script does not know is a problem, not a block silently skipped."""
    samples = re.findall(r"<!-- sample: ([^>]*?) -->", README)
    assert sorted(samples) == sorted(rs.SAMPLES)
    assert len(rs.SAMPLE_RE.findall(README)) == len(samples)  # each closed, fenced as text
    assert set(re.findall(r"<!-- excerpt: ([^>]*?) -->", README)) <= set(rs.EXCERPTS)


def _changed(old: str, new: str, text: str = README) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize(("old", "new"), [
    ("`exo prove` discharges 760", "`exo prove` discharges 761"),
    ("holds 45 broken kernels", "holds 44 broken kernels"),
    ("proved unreachable (seven cells", "proved unreachable (six cells"),
    ("| 406 |", "| 405 |"),
    ("Five broken variants", "Four broken variants"),
], ids=["obligations", "catalogue", "words", "table", "capital"])
def test_a_drifted_figure_is_found_and_rewritten(runs: dict[str, str], old: str, new: str
                                                 ) -> None:
    stale = _changed(old, new)
    now, problems = rs.render(stale, write=False, runs=runs)
    assert not problems
    assert now == README  # the script writes the number back


def test_a_drifted_sample_is_found(runs: dict[str, str]) -> None:
    for old, new in (("3000 steps, 979 succeeded", "3000 steps, 978 succeeded"),
                     ("760 obligations proved", "662 obligations proved"),
                     ("all 7 checks passed", "all 6 checks passed"),
                     ("REV-5  Guaranteed pages are never repossessed",
                      "REV-5  Guaranteed pages are never taken     ")):
        now, _ = rs.render(_changed(old, new), write=False, runs=runs)
        assert now != _changed(old, new), old
    # what a run measures is not drift: seconds and the slowest obligation are kept as
    # written
    for old, new in (("(slowest ni/store/respect, 1.92s)", "(slowest ni/load/output, 2.5s)"),
                     ("all 7 checks passed (29 s)", "all 7 checks passed (31 s)")):
        same = _changed(old, new)
        assert rs.render(same, write=False, runs=runs)[0] == same


def test_a_drifted_excerpt_or_reworded_figure_is_a_problem(runs: dict[str, str]) -> None:
    _, problems = rs.render(_changed("trap alloc(1) -> OK:Cap(p1, g0, r2)  ",
                                     "trap alloc(2) -> OK:Cap(p1, g0, r2)  "),
                            write=False, runs=runs)
    assert any("trap alloc(2)" in p for p in problems), problems
    _, problems = rs.render(_changed("holds 45 broken kernels", "keeps 45 broken kernels"),
                            write=False, runs=runs)
    assert any("holds {} broken kernels" in p for p in problems), problems


# --- every exo command line of the README parses -------------------------------------------

def _fenced_blocks(text: str) -> Iterator[str]:
    for m in re.finditer(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S):
        yield m[1]


def readme_commands() -> list[list[str]]:
    """Every ``exo ...`` command of README.md's code blocks, as argument lists (the
    descriptions after two spaces, comments, pipes and ``&&`` chains cut off)."""
    found: list[list[str]] = []
    for block in _fenced_blocks(README):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = re.split(r"\s#|\||\s{2,}", part.strip())[0]
                if part.startswith("exo "):
                    found.append(shlex.split(part)[1:])
    return found


def _parses(args: list[str]) -> tuple[int, str]:
    """``exo ARGS --help``: click reads every option (an unknown one, or one missing its
    value, is exit 2) before the help stops the command."""
    result = CliRunner().invoke(main, [*args, "--help"])
    return result.exit_code, result.output


def test_readme_shows_commands() -> None:
    commands = [" ".join(c) for c in readme_commands()]
    assert "verify" in commands and "check --impl mykernel:Kernel --replay" in commands
    assert len(commands) > 30


@pytest.mark.parametrize("args", readme_commands(), ids=" ".join)
def test_every_readme_command_line_parses(args: list[str]) -> None:
    code, out = _parses(args)
    assert code == 0, out
    assert out.startswith("Usage: ")


def test_a_wrong_option_does_not_parse() -> None:
    assert _parses(["check", "--no-such-option"])[0] == 2
    assert _parses(["prove", "-k"])[0] == 2


# --- the examples of every --help ------------------------------------------------------------

def _commands(group: click.Group = main, path: tuple[str, ...] = ()
              ) -> Iterator[tuple[str, ...]]:
    """The path of every command and group under ``group`` (``()``: ``exo`` itself)."""
    yield path
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name)


def help_examples() -> list[str]:
    """Every example line of ``exo --help`` and of each command's ``--help``: the lines
    after ``Examples:`` that start with ``exo``, up to two spaces (the description)."""
    found: list[str] = []
    for path in _commands():
        text = CliRunner().invoke(main, [*path, "--help"]).output
        if "Examples:" not in text:
            continue
        for line in text.split("Examples:", 1)[1].splitlines()[1:]:
            if not line.startswith("  ") or not line.strip():
                break
            example = re.split(r"\s{2,}", line.strip())[0]
            if example.startswith("exo "):
                found.append(example)
    return sorted(set(found))


RUN = {
    "exo spec", "exo spec MEM", "exo spec MEM-2", "exo spec MEM-2 --links",
    "exo spec REV --json", "exo spec ENV-2 --conjuncts",
    "exo check --impl exo.kit:ModelImplementation --steps 10 --examples 5",
    "exo check --exhaustive 3 --jobs 2",
}
"""Examples run here (each exits 0, in an empty folder)."""

NOT_RUN = {
    "exo verify": "every proof (about 30 s on 2 cores)",
    "exo verify --steps 20000": "every proof and long walks",
    "exo verify --steps 20000 --seed 7 --json verify.json": "every proof and long walks",
    "exo prove": "every proof",
    "exo prove -j 2": "every proof",
    "exo prove -j 2 -k step/dealloc": "35 obligations",
    "exo prove -k step/dealloc": "35 obligations",
    "exo prove -k 'thm/*' --junit proofs.xml --json proofs.json": "94 obligations",
    "exo prove -j 2 -k 'ni/*'": "75 obligations",
    "exo replay FILE": "a file name to fill in",
    "exo replay exo-counterexamples/step__dealloc__INV-1.json":
        "needs a saved counterexample: test_the_counterexample_recipe_works makes and runs it",
    "exo filter verify F.bpf": "a file name to fill in",
    "exo filter equiv A B": "file names to fill in",
    "exo check": "the default budget (about 20 s)",
    "exo check --replay": "needs a recorded failure: tests/test_check_replay.py",
    "exo check --jobs 2": "the default budget as a campaign (tests/test_campaign.py runs "
                          "smaller ones)",
    "exo check --programs 100000 --scheduler tcp://10.0.0.1:8786":
        "needs a Dask cluster at that address: tests/test_cluster.py starts a local one",
    "exo prove --scheduler tcp://10.0.0.1:8786": "needs a Dask cluster at that address: "
                                                  "tests/test_cluster.py starts a local one",
    "exo bench": "a benchmark (60 s)",
    "exo bench --quick": "a benchmark",
    "exo serve": "serves until its input ends",
    "exo spec --html site/": "writes the spec as a site (its own tests)",
    "exo new-kernel mykernel": "writes a kernel to start from (tests/test_new_kernel.py)",
    "exo new-kernel ckernel --lang c": "writes a kernel to start from "
                                       "(tests/test_new_kernel.py)",
}
"""Examples named but not run here, each with the reason. An example in neither set fails
``test_every_help_example_is_run_or_named``: a new example must be sorted into one."""


def test_every_help_example_is_run_or_named() -> None:
    examples = help_examples()
    assert "exo spec MEM" in examples and "exo verify" in examples
    unsorted = [e for e in examples if e not in RUN and not _not_run(e)]
    assert not unsorted, f"sort these --help examples into RUN or NOT_RUN: {unsorted}"
    assert RUN <= set(examples), sorted(RUN - set(examples))


def _not_run(example: str) -> bool:
    """In NOT_RUN, or one of the commands that need a kernel, files or a budget to fill in
    (their options are still checked by test_every_help_example_parses)."""
    return example in NOT_RUN or example.startswith((
        "exo check --impl mykernel:", "exo check --impl mypkg.", "exo check --impl-cmd ",
        "exo check --config ", "exo check --workload ", "exo fixtures ", "exo bench "))


@pytest.mark.parametrize("example", help_examples())
def test_every_help_example_parses(example: str) -> None:
    code, out = _parses(shlex.split(example)[1:])
    assert code == 0, out


@pytest.mark.parametrize("example", sorted(RUN))
def test_cheap_help_examples_run(example: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, shlex.split(example)[1:])
    assert result.exit_code == 0, result.output
    assert result.output.strip()


# --- exo prove --help names every kind of obligation -----------------------------------------

def shape(name: str) -> str:
    """An obligation's name with its operation as OP, its invariant as INV-k and its
    theorem as THM-n; one about no operation but the boot state's (a filter lemma, THM-1
    of the translation function) keeps its name."""
    parts = name.split("/")
    if parts[0] != "init" and not any(p in REGISTRY for p in parts):
        return name
    return "/".join("OP" if p in REGISTRY else
                    re.sub(r"^INV-\d+$", "INV-k", re.sub(r"^THM-\d+$", "THM-n", p))
                    for p in name.split("/"))


def prove_help_kinds() -> dict[str, str]:
    """The obligation names ``exo prove --help`` lists, with what it says each proves."""
    text = CliRunner().invoke(main, ["prove", "--help"]).output
    listed = text.split("Obligations, by name", 1)[1].split("Each is proved", 1)[0]
    return {m[1]: m[2] for m in re.finditer(r"^ {4}(\S+/\S*) +(\S.*)$", listed, re.M)}


def test_prove_help_names_every_kind_of_obligation() -> None:
    shapes = {shape(ob.name) for ob in obligations()}
    kinds = {ob.kind for ob in obligations()}
    assert kinds == {"init", "step", "post", "thm", "flt", "int", "ni"}  # what is below
    listed = prove_help_kinds()
    assert shapes == set(listed), (f"missing from exo prove --help: {shapes - set(listed)}; "
                                   f"listed but no obligation: {set(listed) - shapes}")
    assert {s.split("/", 1)[0] for s in listed} == kinds
    assert all(len(what.split()) >= 3 for what in listed.values()), listed


def test_a_new_kind_without_help_would_fail() -> None:
    listed = prove_help_kinds()
    assert shape("new/dealloc/INV-3") == "new/OP/INV-k" and "new/OP/INV-k" not in listed
    assert shape("thm/THM-7/timer_tick") == "thm/THM-n/OP"
    assert shape("flt/FLT-5/termination") == "flt/FLT-5/termination"


# --- the counterexample recipe, followed as a user would -------------------------------------

RECIPE = re.compile(
    r"in `(?P<file>model/\w+\.py)`, make\s+`(?P<fn>\w+)`[^`]*(?:`\w+`[^`]*)?end with "
    r"`(?P<new>[^`]+)` instead of\s+`(?P<old>[^`]+)`", re.S)


def test_the_counterexample_recipe_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    """README's "Getting a counterexample": the edit it names, made in the function it
    names (here as a patch of that function's own source, the file untouched), then its
    two commands: exit 1 with a counterexample saved, exit 1 again on replay; undone, the
    same replay exits 0 and prints "holds"."""
    section = README.split("### Getting a counterexample", 1)[1].split("\n## ", 1)[0]
    recipe = RECIPE.search(section)
    assert recipe is not None, "the recipe's sentence changed: update RECIPE"
    module_name = "exo." + recipe["file"][:-3].replace("/", ".")
    module = sys.modules.get(module_name) or __import__(module_name, fromlist=["_"])
    source = inspect.getsource(getattr(module, recipe["fn"]))
    assert source.rstrip().endswith(recipe["old"]), (
        f"{recipe['fn']} in {recipe['file']} does not end with {recipe['old']}")
    broken_source = source.rstrip()[:-len(recipe["old"])] + recipe["new"] + "\n"
    namespace = dict(vars(module))
    exec(compile(broken_source, recipe["file"], "exec"), namespace)
    commands = [shlex.split(line.split("#")[0]) for block in _fenced_blocks(section)
                for line in block.splitlines() if line.startswith("exo ")]
    assert [c[:2] for c in commands] == [["exo", "prove"], ["exo", "replay"]], commands
    prove, replay = commands
    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(module, recipe["fn"], namespace[recipe["fn"]])
        # -j 1: in this process, where the edit is (a worker process would import the file)
        proved = CliRunner().invoke(main, [*prove[1:], "-j", "1"])
        assert proved.exit_code == 1, proved.output
        assert "counterexample" in proved.output
        assert Path(replay[2]).is_file(), proved.output
        assert f"saved: {replay[2]}" in proved.output
        again = CliRunner().invoke(main, replay[1:])
        assert again.exit_code == 1, again.output
        assert "VIOLATED" in again.output
    undone = CliRunner().invoke(main, replay[1:])
    assert undone.exit_code == 0, undone.output
    assert "holds" in undone.output


# --- exo filter eval's sample --------------------------------------------------------------

@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
def test_the_filter_eval_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The packet filter section's commands, run: `exo filter eval` prints 262144 for the
    DNS packet, and 0 with the port changed to 80, as the README says."""
    section = README.split("## Packet filters", 1)[1]
    expression = re.search(r"tcpdump -ddd '([^']+)' > dns\.bpf", section)
    packet = re.search(r"^P=([0-9a-f]+)$", section, re.M)
    evaluated = re.search(r"exo filter eval dns\.bpf --packet \$\{P\}([0-9a-f]+)", section)
    claim = re.search(r"It prints `(\d+)`.*?with the port\s+bytes\s+`(\w+)` changed to\s+`(\w+)`"
                      r" \(port 80\) it prints `(\d+)`", section, re.S)
    assert expression and packet and evaluated and claim
    monkeypatch.chdir(tmp_path)
    program = subprocess.run(["tcpdump", "-ddd", expression[1]], capture_output=True,
                             text=True, check=True).stdout
    Path("dns.bpf").write_text(program)
    head, tail = packet[1], evaluated[1]  # the port bytes are in the tail, once
    assert tail.count(claim[2]) == 1
    for hex_packet, printed in ((head + tail, claim[1]),
                                (head + tail.replace(claim[2], claim[3]), claim[4])):
        result = CliRunner().invoke(main, ["filter", "eval", "dns.bpf", "--packet", hex_packet])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == printed


def test_the_replay_verdicts_the_readme_quotes_are_the_tools() -> None:
    """README's quotes of exo check --replay's verdicts (tests/test_check_replay.py checks
    that the tool prints them)."""
    section = README.split("**A failure.**", 1)[1].split("- **A seed.**", 1)[0]
    quoted = re.findall(r'"([^"]*reproduces)"', " ".join(section.split()))
    assert quoted == ["the recorded failure no longer reproduces", "still reproduces"]
    source = (ROOT / "cli" / "cmd_check.py").read_text(encoding="utf-8")
    assert all(q in source for q in quoted)
