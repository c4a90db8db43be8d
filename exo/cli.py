"""The ``exo`` command: ``exo verify`` (the main job) and ``exo spec`` (the clause index).

Exit codes: 0 all checks passed, 1 a check failed, 2 bad usage or input (one line on
standard error, never a traceback), 3 ``exo filter overlap``/``equiv``: Z3 did not decide
the question within its budget (FLT-6, FLT-7).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from exo import __version__
from exo.console import console as _console
from exo.console import print_table, progress
from exo.interface import Config

if TYPE_CHECKING:
    from exo.lastfailure import LastFailure

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNDECIDED = 0, 1, 2, 3


@dataclass
class Check:
    """One row of the ``exo verify`` summary."""

    name: str
    passed: bool
    detail: str
    seconds: float


def _check_output(path: Path, option: str) -> None:
    """Refuse an output file that cannot be written, before any work starts."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        _fail_usage(f"{option}: cannot write {path}: it is a folder")
    if not parent.is_dir():
        _fail_usage(f"{option}: cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        _fail_usage(f"{option}: cannot write {path}: permission denied")


def _check_output_dir(path: Path, option: str) -> None:
    """Refuse an output folder that cannot be created or written, before any work starts."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        _fail_usage(f"{option}: cannot write into {path}: {probe} is not a folder")
    if not os.access(probe, os.W_OK):
        _fail_usage(f"{option}: cannot write into {path}: permission denied on {probe}")


class _NeverRaised(Exception):
    """Stands in for click's NoArgsIsHelpError on click versions without it."""


_NO_ARGS: type[Exception] = getattr(click.exceptions, "NoArgsIsHelpError", _NeverRaised)


class _Exo(click.Group):
    """The command group, with usage errors made one line on standard error (exit 2), like
    every other bad input, instead of click's three-line usage message."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            ctx = exc.ctx if isinstance(exc, click.UsageError) else None
            if isinstance(exc, _NO_ARGS) and ctx is not None:  # bare `exo`: its help
                click.echo(ctx.get_help())
                sys.exit(EXIT_OK)
            where = ctx.command_path if ctx is not None else "exo"
            text = exc.format_message().replace("\n", " ")
            click.echo(f"exo: {text} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("exo: interrupted", err=True)
            sys.exit(EXIT_FAIL)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


@click.group(
    cls=_Exo,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  exo verify                 run every check and proof, print the summary, exit 0/1
  exo verify --steps 20000   a longer random walk over the model
  exo spec                   list every spec clause and where the model implements it
  exo spec MEM               only the memory clauses
  exo prove -j 2             prove every obligation for all sizes, compare with the manifest
  exo prove -k step/dealloc  only the obligations whose name contains step/dealloc
  exo replay FILE            replay a saved counterexample on the executable model
  exo filter verify F.bpf    verify a tcpdump -ddd / -dd / raw BPF program
  exo filter equiv A B       prove two filters equal, or show a packet where they differ
                             (exit 3: undecided within the Z3 budget)
""",
)
@click.version_option(__version__, prog_name="exo")
def main() -> None:
    """Exo: a formally checked reference model of the exokernel architecture
    (Engler, Kaashoek, O'Toole, SOSP 1995: Aegis and its library operating systems)."""


# --------------------------------------------------------------------------- exo spec


@main.command("spec")
@click.argument("prefix", required=False, default="")
@click.option("--json", "as_json", is_flag=True, help="Print the index as JSON.")
@click.option("--conjuncts", is_flag=True,
              help="For each clause, the conjuncts of the declarative text that state it "
                   "(spec/declarative.md), with the sentence each one cites.")
def spec_cmd(prefix: str, as_json: bool, conjuncts: bool) -> None:
    """Print the clause index: id, title, spec file, and where it lives in the model.

    \b
    PREFIX keeps only clauses whose id starts with it (e.g. MEM, TLB-1, INV).
    Examples:
      exo spec
      exo spec REV --json
      exo spec ENV-2 --conjuncts
    """
    from exo.spec.clauses import SpecError, index

    try:
        clauses = [c for c in index() if c.id.startswith(prefix.upper())]
    except SpecError as exc:
        _fail_usage(f"spec is malformed: {exc}")
    if not clauses:
        _fail_usage(f"no clause id starts with {prefix!r}; try 'exo spec' for the list")
    if conjuncts:
        _print_conjuncts([c.id for c in clauses], as_json)
        return
    if as_json:
        rows = [{"id": c.id, "title": c.title, "file": f"spec/{c.file}", "line": c.line,
                 "model": c.homes} for c in clauses]
        click.echo(json.dumps(rows, indent=2))
        return
    cells = [[c.id, c.title, f"spec/{c.file}:{c.line}",
             "\n".join(h.removeprefix("exo.") for h in c.homes) or "[red]nowhere[/red]"]
             for c in clauses]
    print_table(_console(), f"Exo spec: {len(clauses)} clauses",
                ("id", "title", "spec", "lives in"), cells)


def _print_conjuncts(ids: list[str], as_json: bool) -> None:
    """``exo spec --conjuncts``: the conjuncts stating each of ``ids``."""
    from exo.proofs.declarative import conjunct_index

    by_clause = conjunct_index()
    if as_json:
        rows = [{"id": i, "conjuncts": [
            {"name": c.name, "op": c.op, "fields": list(c.fields),
             "sentences": [x.sentence for x in c.cites if x.clause == i]}
            for c in by_clause.get(i, [])]} for i in ids]
        click.echo(json.dumps(rows, indent=2))
        return
    cells = []
    for i in ids:
        for c in by_clause.get(i, []):
            said = " / ".join(x.sentence for x in c.cites if x.clause == i)
            cells.append([i, c.name, said if len(said) <= 90 else said[:87] + "..."])
    print_table(_console(), f"Exo spec: {len(cells)} conjuncts of the declarative text",
                ("clause", "conjunct", "sentence"), cells)


# --------------------------------------------------------------------------- exo verify


@main.command("verify")
@click.option("--steps", default=3000, show_default=True, type=click.IntRange(0, 10**7),
              help="Steps of each random walk over the model.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the walks.")
@click.option("--no-proofs", is_flag=True, help="Skip the Z3 proof obligations.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
              help="Processes for the proofs (default: the machine's cores).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the summary as JSON to this file.")
def verify_cmd(steps: int, seed: int, no_proofs: bool, jobs: int | None,
               json_out: Path | None) -> None:
    """Run every check of the model and every proof; print a summary table.

    \b
    The checks:
      spec index     every clause has a home in the model, every cited id exists
      boot state     the initial state satisfies every invariant (INV-0), several sizes
      random walks   invariants after every step, failures leave the state unchanged
      symbolic run   every operation runs on Z3 terms (the proofs' interpretation)
      demux (FLT-8)  the implementation's generated packet demultiplexer, for the
                     bundled tcpdump programs, proved equal to the model's interpreter
      proofs         Z3, for all sizes: invariants hold at boot and are preserved by
                     every operation, postconditions, theorems (same as exo prove)
    Exit code 0 if everything passed, 1 otherwise.
    \b
    Examples:
      exo verify
      exo verify --steps 20000 --seed 7 --json verify.json
    """
    from exo.proofs.runner import default_jobs

    if json_out is not None:
        _check_output(json_out, "--json")
    jobs = jobs or default_jobs()
    console = _console()
    checks: list[Check] = []

    def record(name: str, fn: Callable[[Callable[[int], None]], tuple[bool, str]],
               total: int | None = None) -> None:
        t0 = time.perf_counter()
        with progress(name, total) as task:
            passed, detail = fn(task.update)
        checks.append(Check(name, passed, detail, time.perf_counter() - t0))

    from exo import verification as v

    record("spec index", lambda _: v.check_spec_index())
    record("boot state (INV-0)", lambda _: v.check_boot_states())
    for cfg_name, cfg in v.WALK_CONFIGS.items():
        def walk(on_step: Callable[[int], None], cfg: Config = cfg) -> tuple[bool, str]:
            return v.check_walk(cfg, steps, seed, on_step)

        record(f"random walk, {cfg_name}", walk, steps)
    record("symbolic run", lambda _: v.check_symbolic_run())
    record("generated demux (FLT-8)", lambda _: v.check_demux())
    if not no_proofs:
        from exo.proofs.obligations import obligations

        obs = obligations()
        done = [0]

        def proofs(update: Callable[[int], None]) -> tuple[bool, str]:
            def one(_: object) -> None:
                done[0] += 1
                update(done[0])
            return v.check_proofs(obs, jobs, one)

        record("proofs", proofs, len(obs))

    rows = [[c.name, "[green]passed[/green]" if c.passed else "[red]FAILED[/red]", c.detail,
             f"{c.seconds:.1f}s"] for c in checks]
    print_table(console, "exo verify", ("check", "result", "detail", "time"), rows)
    failed = [c for c in checks if not c.passed]
    if json_out is not None:
        payload: dict[str, Any] = {
            "passed": not failed,
            "checks": [c.__dict__ for c in checks],
        }
        try:
            json_out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        except OSError as exc:
            _fail_usage(f"cannot write {json_out}: {exc.strerror}")
    total = sum(c.seconds for c in checks)
    if failed:
        console.print(f"[red]{len(failed)} of {len(checks)} checks failed[/red] "
                      f"({total:.0f} s)")
        sys.exit(EXIT_FAIL)
    console.print(f"[green]all {len(checks)} checks passed[/green] ({total:.0f} s)")


# --------------------------------------------------------------------------- exo prove


@main.command("prove")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
              help="Processes to run obligations in (default: the machine's cores).")
@click.option("-k", "pattern", default=None, metavar="PATTERN",
              help="Only obligations whose name contains PATTERN (or matches it as a glob).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every result as JSON to this file.")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JUnit XML (one test case per obligation) to this file.")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The manifest to compare with (default: the shipped one).")
@click.option("--update-manifest", is_flag=True,
              help="Write the manifest from this run (all obligations must be selected).")
@click.option("--cex-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("exo-counterexamples"), show_default=True,
              help="Where counterexamples are saved as JSON.")
@click.option("--failures-only", is_flag=True, help="List only obligations not proved.")
def prove_cmd(jobs: int | None, pattern: str | None, json_out: Path | None,
              junit_out: Path | None, manifest_path: Path | None, update_manifest: bool,
              cex_dir: Path, failures_only: bool) -> None:
    """Prove every obligation with Z3, for all sizes; compare with the manifest.

    \b
    Obligations: init/INV-k (boot state), step/OP/INV-k (each operation preserves each
    invariant), post/OP/{failure,frame,effect} (postconditions), thm/THM-n/OP (theorems).
    Each is proved, or fails as counterexample (made concrete, replayed on the model,
    saved under --cex-dir), unknown (budget exhausted: a failure) or vacuous.
    Exit code 0 only if every selected obligation is proved and matches the manifest.
    \b
    Examples:
      exo prove
      exo prove -j 2 -k step/dealloc
      exo prove -k 'thm/*' --junit proofs.xml --json proofs.json
      exo replay exo-counterexamples/step__dealloc__INV-1.json
    """
    from exo.proofs import counterexample as cx
    from exo.proofs import runner

    jobs = jobs or runner.default_jobs()
    selected = runner.select(pattern)
    if not selected:
        _fail_usage(f"no obligation matches {pattern!r}; try 'exo prove -k step/alloc'")
    if update_manifest and pattern:
        _fail_usage("--update-manifest needs every obligation: drop -k")
    path = manifest_path or runner.default_manifest_path()
    for out_path, option in ((json_out, "--json"), (junit_out, "--junit")):
        if out_path is not None:
            _check_output(out_path, option)
    if update_manifest:
        _check_output(path, "--manifest")
    _check_output_dir(cex_dir, "--cex-dir")
    if update_manifest and not path.exists():
        manifest = runner.Manifest()  # a new manifest file: nothing to compare with yet
    else:
        try:
            manifest = runner.load_manifest(path)
        except runner.ManifestError as exc:
            _fail_usage(str(exc))
    console = _console()
    console.print(f"exo prove: {len(selected)} obligations, {jobs} processes")
    with progress("proving", len(selected)) as task:
        results = runner.run_parallel(selected, manifest, jobs, lambda _: task.advance())
    results.sort(key=lambda r: r.obligation.name)
    if update_manifest:
        if not all(r.ok for r in results):
            _fail_usage("not every obligation is proved; refusing to record failures "
                        "in the manifest")
        try:
            runner.write_manifest(path, results)
        except OSError as exc:
            _fail_usage(f"cannot write {path}: {exc.strerror}")
        manifest = runner.load_manifest(path)
        console.print(f"manifest written: {path}")
    mismatches = runner.compare(results, manifest, complete=not pattern)
    saved: dict[str, Path] = {}
    for r in results:
        if cx.replayable(r.counterexample):
            try:
                saved[r.obligation.name] = cx.save(r.counterexample, cex_dir)
            except OSError as exc:
                _fail_usage(f"cannot write {cex_dir}: {exc.strerror}")
    bad_names = {m.name for m in mismatches}
    rows = []
    for r in results:
        if failures_only and r.ok and r.obligation.name not in bad_names:
            continue
        color = "green" if r.ok else "red"
        rows.append([r.obligation.name, f"[{color}]{r.verdict}[/{color}]",
                     f"{r.seconds:.2f}s", f"{r.rlimit:,}"])
    if rows or not failures_only:
        print_table(console, f"exo prove: {len(results)} obligations",
                    ("obligation", "status", "time", "rlimit"), rows)
    for r in results:
        if not r.ok:
            console.print(f"[red]{r.obligation.name}: {r.verdict}[/red] {r.detail}")
            if cx.replayable(r.counterexample):
                for line in cx.render(r.counterexample):
                    console.print("    " + line, markup=False)
                if r.obligation.name in saved:
                    console.print(f"    saved: {saved[r.obligation.name]}  "
                                  f"(exo replay {saved[r.obligation.name]})")
    for m in mismatches:
        console.print(f"[red]manifest: {m.name}: {m.problem}[/red]")
    reports: list[tuple[Path | None, Callable[[], str]]] = [
        (json_out, lambda: json.dumps(runner.results_json(results, mismatches), indent=1)),
        (junit_out, lambda: runner.junit_xml(results, mismatches)),
    ]
    for out_path, text in reports:
        if out_path is None:
            continue
        try:
            out_path.write_text(text(), encoding="utf-8")
        except OSError as exc:
            _fail_usage(f"cannot write {out_path}: {exc.strerror}")
    proved = sum(r.ok for r in results)
    slowest = max(results, key=lambda r: r.seconds)
    console.print(f"{proved}/{len(results)} proved; slowest {slowest.obligation.name} "
                  f"{slowest.seconds:.2f}s; {len(mismatches)} manifest differences")
    if proved != len(results) or mismatches:
        sys.exit(EXIT_FAIL)


# --------------------------------------------------------------------------- exo filter


@main.group("filter")
def filter_group() -> None:
    """Classic BPF packet filters: verify, run, and compare them with Z3.

    \b
    PROG is a file holding `tcpdump -ddd` text, `tcpdump -dd` C text, or raw 8-byte
    little-endian instructions, or '-' for standard input. A bad file gets one line saying
    what and where, and exit code 2.
    Examples (tcpdump -ddd prints the optimized program, tcpdump -O -ddd the unoptimized):
      tcpdump -ddd 'udp dst port 53' > dns.bpf && exo filter verify dns.bpf
      P=ffffffffffff00000000000008004500002600010000401100007f0000017f000001
      exo filter eval dns.bpf --packet ${P}04d200350012000078787878787878787878
        prints 262144: accepted, up to 262144 bytes kept (0 would mean dropped)
      tcpdump -ddd 'tcp port 80' > web.bpf && exo filter overlap dns.bpf web.bpf
      tcpdump -O -ddd 'udp port 53' > unopt.bpf && tcpdump -ddd 'udp port 53' > opt.bpf
      exo filter equiv unopt.bpf opt.bpf
    """


MAX_PROGRAM_FILE = 1 << 20
"""Largest program file read (bytes): a 4,096-instruction program, the longest the verifier
accepts, takes under 200 KB in any of the three formats."""


def _program(path: str) -> Any:
    from exo.model import filters

    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_PROGRAM_FILE + 1)
        else:
            with Path(path).open("rb") as f:
                data = f.read(MAX_PROGRAM_FILE + 1)
    except OSError as exc:
        _fail_usage(f"{path}: cannot read: {exc.strerror or exc}")
    if len(data) > MAX_PROGRAM_FILE:
        _fail_usage(f"{path}: larger than {MAX_PROGRAM_FILE:,} bytes; not a BPF program")
    try:
        return filters.parse_any(data, "<stdin>" if path == "-" else path)
    except filters.FilterSyntaxError as exc:
        _fail_usage(str(exc))


def _verified(path: str) -> Any:
    from exo.model import filters

    prog = _program(path)
    problems = filters.verify(prog)
    if problems:
        _fail_usage(f"{path}: refused by the verifier: {problems[0]}")
    return prog


@filter_group.command("verify")
@click.argument("prog")
def filter_verify(prog: str) -> None:
    """Run the verifier (FLT-2, FLT-3): 'accepted', or every rejection with its instruction
    and rule; exit 1 if refused."""
    from exo.model import filters

    program = _program(prog)
    problems = filters.verify(program)
    if not problems:
        click.echo(f"{prog}: accepted ({len(program)} instructions)")
        return
    for p in problems:
        click.echo(f"{prog}: {p}")
    sys.exit(EXIT_FAIL)


@filter_group.command("eval")
@click.argument("prog")
@click.option("--packet", "packet_hex", required=True, metavar="HEX",
              help="The packet's bytes in hex, two digits a byte; blanks or ':' may "
                   "separate whole bytes.")
def filter_eval(prog: str, packet_hex: str) -> None:
    """Run PROG on a packet (FLT-4, libpcap semantics) and print the return value (0: the
    packet is dropped)."""
    from exo.model import filters

    program = _verified(prog)
    try:
        packet = filters.parse_packet_hex(packet_hex)
    except filters.FilterSyntaxError as exc:
        _fail_usage(str(exc))
    click.echo(str(filters.evaluate(program, packet)))


@filter_group.command("overlap")
@click.argument("a")
@click.argument("b")
def filter_overlap(a: str, b: str) -> None:
    """Is there a packet both A and B accept (FLT-6)? Prints a witness packet in hex,
    replayed on the interpreter, and exits 1; or prints 'disjoint'. If Z3 decides neither
    within its budget (FILTER_RLIMIT, spec/filters.md), prints 'undecided within budget
    (rlimit N)' and exits 3: not 'disjoint'."""
    from exo.model import filters

    found = filters.overlap(_verified(a), [_verified(b)])
    if found is None:
        click.echo("disjoint")
        return
    if isinstance(found, filters.Undecided):
        click.echo(str(found))
        sys.exit(EXIT_UNDECIDED)
    click.echo(f"overlap: both accept {found[1].hex()}")
    sys.exit(EXIT_FAIL)


@filter_group.command("equiv")
@click.argument("a")
@click.argument("b")
def filter_equiv(a: str, b: str) -> None:
    """Do A and B return the same value on every packet (FLT-7)? Prints 'equivalent', or a
    packet on which they differ with both values, and exits 1. If Z3 decides neither
    within its budget (FILTER_RLIMIT, spec/filters.md), prints 'undecided within budget
    (rlimit N)' and exits 3: not 'equivalent'."""
    from exo.model import filters

    pa, pb = _verified(a), _verified(b)
    pkt = filters.difference(pa, pb)
    if pkt is None:
        click.echo("equivalent: proved equal on every packet")
        return
    if isinstance(pkt, filters.Undecided):
        click.echo(str(pkt))
        sys.exit(EXIT_UNDECIDED)
    click.echo(f"differ on {pkt.hex()}: {a} returns {filters.evaluate(pa, pkt)}, "
               f"{b} returns {filters.evaluate(pb, pkt)}")
    sys.exit(EXIT_FAIL)


# --------------------------------------------------------------------------- exo replay


@main.command("replay")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def replay_cmd(file: Path) -> None:
    """Replay a saved counterexample on the executable model and print the trace.

    \b
    Exit code 1 if the violation still happens, 0 if the model now keeps the obligation
    on that step, 2 if the file is unreadable.
    Examples:
      exo replay exo-counterexamples/step__dealloc__INV-1.json
    """
    from exo.proofs import counterexample as cx

    try:
        record, lines = cx.replay_file(file)
    except cx.ReplayError as exc:
        _fail_usage(str(exc))
    for line in lines:
        click.echo(line)
    if record["violations"]:
        sys.exit(EXIT_FAIL)


# --------------------------------------------------------------------------- exo check


@main.command("check")
@click.option("--impl", "impl_spec", default="exo.impl:Kernel", show_default=True,
              metavar="MODULE:FACTORY",
              help="The implementation: a class or function taking a Config.")
@click.option("--impl-cmd", "impl_cmd", default=None, metavar="'CMD ARGS'",
              help="The implementation is a process speaking the wire protocol "
                   "(spec/protocol.md): a kernel in any language.")
@click.option("--step-timeout", default=5.0, show_default=True,
              type=click.FloatRange(0.01, 3600), metavar="SECONDS",
              help="With --impl-cmd: how long one reply may take before the process "
                   "counts as hung.")
@click.option("--steps", default=50, show_default=True, type=click.IntRange(1, 10**6),
              help="Operations per program.")
@click.option("--examples", default=200, show_default=True, type=click.IntRange(1, 10**7),
              help="Programs to run (spread over the kit's configurations).")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=None,
              help="Make the run repeatable: the same seed generates the same programs.")
@click.option("--config", "config_text", default=None, metavar="NAME=N,...",
              help="Check one configuration only, e.g. n_envs=2,tlb_size=1 (others default).")
@click.option("--ops", "ops_text", default=None, metavar="OP,...",
              help="Bring-up: call only these operations (names, clause ids like MEM-1, or "
                   "prefixes like ENV,MEM) and compare only the fields they change.")
@click.option("--workload", type=click.Choice(["exos"]), default=None,
              help="Also run library-OS services (exo.libos: paging, copy-on-write, "
                   "revocation, pipes, LRPC) on fresh environments, every call in lockstep.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the verdict and the coverage table as JSON to this file.")
@click.option("--repro", "repro_out", default=Path("test_exo_failure.py"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Where a failure's standalone pytest reproduction is written.")
@click.option("--replay", is_flag=True,
              help="Run the last failure again (kept in Hypothesis's database, "
                   ".hypothesis/): its calls, or its seeded search.")
def check_cmd(impl_spec: str, impl_cmd: str | None, step_timeout: float, steps: int,
              examples: int, seed: int | None, config_text: str | None,
              ops_text: str | None, workload: str | None, json_out: Path | None,
              repro_out: Path, replay: bool) -> None:
    """Run an implementation in lockstep with the model (Hypothesis, exo.testing).

    \b
    Every operation, hostile arguments included (negative and huge ints, wrong types,
    forged and stale capabilities, real BPF programs and packets), goes to the model and
    the implementation, along with rules that build state as a library OS does (maps and
    accesses, grants, guaranteed mappings, slices run past their end, revocation and
    abort, full rings). After every step results and states must agree; after every
    program the model's invariants must hold. At the end the coverage table says which
    behaviours of the spec (operation/status, operation/outcome, named cases) the run
    reached.
    Every run has a seed (printed; --seed chooses it). A failure is also kept in
    Hypothesis's database (.hypothesis/) for --replay, which runs its calls again (with
    --impl, on another implementation) and says whether it still fails.
    Exit 0: conformant (--replay: the failure is gone). Exit 1: not conformant; the
    shrunk failing program, the same failure replayed as plain calls, and a
    reproduction file (--repro) to run with pytest. Exit 2: an option cannot be used
    (--impl, --config, --ops, an output path; --replay with nothing recorded).
    \b
    Examples:
      exo check                                        the shipped exo.impl:Kernel
      exo check --impl mypkg.kernel:MyKernel --steps 100 --examples 1000 --seed 7
      exo check --config n_envs=2,tlb_size=1,stlb_size=2 --json check.json
      exo check --impl mykernel:Kernel --ops ENV-1,MEM-1,MEM-2,MEM-3   memory first
      exo check --impl exo.testing:ModelImplementation --steps 10 --examples 5
      exo check --replay                               the last failure, after a fix
      exo check --impl-cmd './my-kernel --quiet' --ops ENV,MEM,TLB,CPU,PCT,EXC,REV
      exo check --workload exos --examples 100      programs shaped like a library OS
    """
    from exo import protocol
    from exo.bringup import parse_ops
    from exo.lockstep import write_reproduction
    from exo.testing import CMD_PREFIX, run_check

    if impl_cmd is not None:
        if _given("impl_spec"):
            _fail_usage("give --impl or --impl-cmd, not both")
        impl_spec = f"{CMD_PREFIX} {impl_cmd}"
    protocol.STEP_TIMEOUT = step_timeout

    recorded: LastFailure | None = None
    if replay:
        recorded = _recorded_failure()
        impl_spec = impl_spec if _given("impl_spec") or impl_cmd else recorded.impl
        steps, examples, seed = recorded.steps, recorded.examples, recorded.seed
        config_text = ops_text = None
    cfg = _parse_config(config_text) if config_text is not None else None
    if recorded is not None and recorded.config_given:
        cfg = recorded.cfg
    if seed is None:  # every run can be repeated: the seed is chosen here and printed
        seed = random.SystemRandom().randrange(2**32)
    ops = recorded.ops_set() if recorded is not None else None
    if ops_text is not None:
        try:
            ops = parse_ops(ops_text)
        except ValueError as exc:
            _fail_usage(str(exc))
    if json_out is not None:
        _check_output(json_out, "--json")
    _check_output(repro_out, "--repro")
    factory = _load_factory(impl_spec)
    console = _console()
    if recorded is not None and recorded.calls is not None and recorded.cfg is not None:
        report = _replay_recorded(console, factory, recorded)
    else:
        if recorded is not None:
            console.print("the recorded failure has no plain calls: running its seeded "
                          "search again", markup=False)
        with progress(f"checking {impl_spec}: {examples} examples x {steps} steps, "
                      f"seed {seed}", examples) as task:
            try:
                report = run_check(factory, cfg, steps=steps, examples=examples,
                                   on_progress=task.update, seed=seed, ops=ops,
                                   workload=workload)
            except ValueError as exc:
                _fail_usage(str(exc))
        if workload is not None:
            from exo.kit_exos import RUNS

            console.print("library-OS services: " + ", ".join(
                f"{k} {v}" for k, v in sorted(RUNS.items())), markup=False)
    cov = report.coverage
    if cov is not None:
        hit, total = cov.summary()
        print_table(console, f"behaviour coverage: {hit} of {total} reachable cells hit",
                    ("clause", "cell", "hits"),
                    [(c, cell, n) for c, cell, _, n in cov.rows()])
        gaps = [c.id for c in cov.missing()]
        if gaps:
            console.print(f"missing ({len(gaps)}): {', '.join(gaps)}", markup=False)
    repro: Path | None = None
    if not report.passed and report.trace is not None and report.failure is not None \
            and report.config is not None:
        try:
            repro = write_reproduction(repro_out, impl_spec, report.config, report.trace,
                                       report.failure, seed, report.fields)
        except (ValueError, OSError) as exc:
            console.print(f"(no reproduction file: {exc})", markup=False)
    if json_out is not None:
        out = {"conformant": report.passed, "examples": examples, "steps": steps,
               "seed": seed, "error": report.error, "program": report.program,
               "reproduction": str(repro) if repro else None,
               "coverage": cov.as_json() if cov is not None else None}
        json_out.write_text(json.dumps(out, indent=2) + "\n")
    if report.passed:
        if recorded is not None:
            console.print(f"[green]the recorded failure is gone: {recorded.error}[/green]")
            return
        console.print(f"[green]conformant: {examples} examples x {steps} steps "
                      f"(seed {seed})[/green]")
        return
    console.print(f"[red]not conformant: {report.error}[/red]", markup=True)
    console.print(report.text().split("\n\n", 1)[1], markup=False)
    if repro is not None:
        console.print(f"reproduction: {repro}  (run: python -m pytest {repro})", markup=False)
    _record_failure(console, impl_spec, report, seed, steps, examples, cfg is not None, ops)
    console.print(f"seed {seed}; run it again after a fix: exo check --replay", markup=False)
    sys.exit(EXIT_FAIL)


@main.group("fixtures")
def fixtures_group() -> None:
    """A conformance suite as files, for kernels in any language (spec/fixtures.md).

    \b
    Examples:
      exo fixtures build fixtures/
      exo fixtures run fixtures/ --impl-cmd './my-kernel' -k witness --junit fx.xml
    """


@fixtures_group.command("build")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Seed of the random programs: the same seed writes the same bytes.")
@click.option("--random", "extra", default=20, show_default=True,
              type=click.IntRange(0, 10_000), help="Random programs added to the witnesses.")
@click.option("--ops", "ops_text", default=None, metavar="OP,...",
              help="For a kernel that implements only these operations (names, clause ids "
                   "or prefixes, e.g. ENV,MEM,TLB): every program keeps only their calls.")
def fixtures_build_cmd(directory: Path, seed: int, extra: int, ops_text: str | None) -> None:
    """Write the suite: the kit's witness programs (every reachable coverage cell) and
    seeded random programs, each with the model's results and final state.

    \b
    Examples:
      exo fixtures build fixtures/
      exo fixtures build fixtures/ --seed 7 --random 100
      exo fixtures build fixtures/ --ops ENV,MEM,TLB,CPU,PCT,EXC,REV
    """
    from exo import fixtures
    from exo.bringup import parse_ops
    from exo.witnesses import shipped

    ops = None
    if ops_text is not None:
        try:
            ops = parse_ops(ops_text)
        except ValueError as exc:
            _fail_usage(str(exc))

    if directory.exists() and not directory.is_dir():
        _fail_usage(f"{directory} is not a directory")
    total = len(shipped()) + extra
    try:
        with progress(f"building {total} fixtures in {directory}", total) as task:
            index = fixtures.build(directory, seed, extra, on_progress=task.update, ops=ops)
    except OSError as exc:
        _fail_usage(f"cannot write {directory}: {exc.strerror or exc}")
    rows = [[c, str(n)] for c, n in index["fixtures_per_clause"].items()]
    print_table(_console(), f"{len(index['fixtures'])} fixtures, {len(index['cells'])} "
                f"coverage cells, in {directory}", ("clause", "fixtures"), rows)


@fixtures_group.command("run")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--impl", "impl_spec", default="exo.impl:Kernel", show_default=True,
              metavar="MODULE:FACTORY", help="A Python implementation.")
@click.option("--impl-cmd", "impl_cmd", default=None, metavar="'CMD ARGS'",
              help="A kernel process speaking the wire protocol (spec/protocol.md).")
@click.option("-k", "keyword", default=None, help="Only fixtures whose name contains this.")
@click.option("--junit", "junit_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the verdicts as JUnit XML.")
def fixtures_run_cmd(directory: Path, impl_spec: str, impl_cmd: str | None,
                     keyword: str | None, junit_out: Path | None) -> None:
    """Run the suite on an implementation: a pass/fail table; exit 0 if every fixture
    passed, 1 if one failed, 2 for a usage error.

    \b
    Examples:
      exo fixtures run fixtures/
      exo fixtures run fixtures/ --impl-cmd 'examples/c-kernel/exo-c-kernel' -k witness
    """
    from exo import fixtures
    from exo.testing import CMD_PREFIX

    if impl_cmd is not None:
        if _given("impl_spec"):
            _fail_usage("give --impl or --impl-cmd, not both")
        impl_spec = f"{CMD_PREFIX} {impl_cmd}"
    if not directory.is_dir():
        _fail_usage(f"{directory}: no such directory (build it with exo fixtures build)")
    if junit_out is not None:
        _check_output(junit_out, "--junit")
    factory = _load_factory(impl_spec)
    try:
        count = sum(1 for p in directory.glob("*.json") if p.name != fixtures.INDEX)
        with progress(f"running fixtures of {directory} on {impl_spec}", count) as task:
            outcomes = fixtures.run(directory, factory, keyword, on_progress=task.update)
    except ValueError as exc:  # FixtureError included
        _fail_usage(str(exc))
    if not outcomes:
        _fail_usage(f"no fixture name contains {keyword!r}")
    rows = [[o.name, "passed" if o.passed else "FAILED", str(o.steps), f"{o.seconds:.2f}s",
             o.detail] for o in outcomes]
    failed = sum(not o.passed for o in outcomes)
    print_table(_console(), f"fixtures: {len(outcomes) - failed} of {len(outcomes)} passed",
                ("fixture", "result", "steps", "time", "detail"), rows)
    if junit_out is not None:
        junit_out.write_text(fixtures.junit(outcomes) + "\n")
    if failed:
        sys.exit(EXIT_FAIL)


@main.command("serve")
@click.option("--impl", "impl_spec", default="exo.impl:Kernel", show_default=True,
              metavar="MODULE:FACTORY",
              help="The Python implementation to serve (exo.testing:ModelImplementation "
                   "serves the model itself).")
def serve_cmd(impl_spec: str) -> None:
    """Serve a Python implementation over the wire protocol (spec/protocol.md).

    
    Reads requests on standard input and writes one reply line per request on standard
    output, until goodbye or the end of input: the reference peer for a kernel written
    in another language (compare transcripts), and a way to check the protocol client
    itself.
    
    Examples:
      exo serve
      printf '%s\n' '{"exo":1,"type":"reset","config":{...}}' | exo serve
      exo check --impl-cmd 'exo serve --impl exo.testing:ModelImplementation'
    """
    from exo.protocol import serve

    factory = _load_factory(impl_spec)

    def write(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    sys.exit(serve(factory, iter(sys.stdin.readline, ""), write))


def _load_factory(impl_spec: str) -> Any:
    """The implementation ``--impl``/``--impl-cmd`` names; a usage error (exit 2) if it
    cannot be loaded. Like ``python -m``, the current folder comes first, so ``--impl
    mykernel:Kernel`` finds ./mykernel.py without PYTHONPATH."""
    from exo.testing import load_factory

    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return load_factory(impl_spec)
    except ValueError as exc:
        _fail_usage(str(exc))


def _given(param: str) -> bool:
    """The option was given on the command line (not its default)."""
    source = click.get_current_context().get_parameter_source(param)
    return source is not None and source is not click.core.ParameterSource.DEFAULT


def _recorded_failure() -> LastFailure:
    """The failure ``--replay`` runs; a usage error if there is none or options clash."""
    from exo import lastfailure

    clash = [f"--{p.replace('_text', '')}" for p in
             ("steps", "examples", "seed", "config_text", "ops_text") if _given(p)]
    if clash:
        _fail_usage(f"--replay runs the recorded failure as it was; drop {', '.join(clash)}")
    try:
        recorded = lastfailure.load()
    except (ValueError, OSError) as exc:
        _fail_usage(f"--replay: {exc}")
    if recorded is None:
        _fail_usage("--replay: no failure of exo check is recorded here "
                    "(.hypothesis/); run exo check first")
    return recorded


def _replay_recorded(console: Any, factory: Any, recorded: LastFailure) -> Any:
    """Run the recorded calls in lockstep once; a ``CheckReport`` of what happened."""
    from exo.bringup import fields_for
    from exo.lockstep import minimize, replay
    from exo.testing import CheckReport

    assert recorded.calls is not None and recorded.cfg is not None
    ops = recorded.ops_set()
    fields = fields_for(ops) if ops is not None else None
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recorded.when))
    console.print(f"replaying the failure recorded {when}: {len(recorded.calls)} calls, "
                  f"{recorded.cfg!r}\n  it was: {recorded.error}", markup=False)
    report = CheckReport(passed=True, examples=1, steps=len(recorded.calls),
                         config=recorded.cfg, fields=fields)
    try:
        failure = replay(factory, recorded.cfg, list(recorded.calls), fields)
        if failure is not None:
            report.trace, report.failure = minimize(factory, recorded.cfg,
                                                    list(recorded.calls), failure,
                                                    fields=fields)
    except ValueError as exc:
        _fail_usage(f"--replay: {exc}")
    if report.failure is not None:
        report.passed = False
        report.error = report.failure.message.splitlines()[0]
        report.program = f"(the recorded calls, {len(recorded.calls)}, replayed)"
    return report


def _record_failure(console: Any, impl_spec: str, report: Any, seed: int | None,
                    steps: int, examples: int, config_given: bool,
                    ops: frozenset[str] | None) -> None:
    """Keep the failure for ``exo check --replay`` (a note if the database is not
    writable: the reproduction file still holds it)."""
    from exo import lastfailure

    record = lastfailure.LastFailure(
        impl=impl_spec, cfg=report.config, seed=seed, steps=steps, examples=examples,
        ops=tuple(sorted(ops)) if ops is not None else None, error=report.error,
        calls=tuple(report.trace) if report.trace is not None else None,
        config_given=config_given, when=time.time())
    try:
        lastfailure.save(record)
    except (OSError, ValueError) as exc:
        console.print(f"(the failure is not kept for --replay: {exc})", markup=False)


def _parse_config(text: str) -> Config:
    """``n_envs=2,tlb_size=1`` as a Config (the other sizes default); a usage error names
    what is wrong."""
    fields = {f.name for f in dataclasses.fields(Config)}
    values: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, eq, raw = part.partition("=")
        name = name.strip()
        if not eq or name not in fields:
            _fail_usage(f"--config: {part!r} is not NAME=N with NAME one of "
                        f"{', '.join(sorted(fields))}")
        if not raw.strip().isdigit():
            _fail_usage(f"--config: {name} must be a decimal integer, got {raw.strip()!r}")
        values[name] = int(raw)
    cfg = Config(**values)
    problem = cfg.problem()
    if problem is not None:
        _fail_usage(f"--config: {problem}")
    return cfg


# --------------------------------------------------------------------------- exo bench


@main.command("bench")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the rows as JSON to this file.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the demux cost curve (10/100/1000 filters) as a PNG "
                   "(needs matplotlib: pip install 'exo-reference[bench]').")
@click.option("--quick", is_flag=True, help="Fewer repeats, packets and steps (seconds).")
@click.option("--repeat", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Runs per measurement (the median is reported); --quick uses 1.")
@click.option("--c-kernel", "c_kernel", metavar="PATH",
              help="Also measure this kernel behind the wire protocol (a built "
                   "examples/c-kernel/exo-c-kernel): lockstep steps/s over the wire, "
                   "and its own per-operation cost (PATH --bench) against exo.impl.")
def bench_cmd(json_out: Path | None, plot_out: Path | None, quick: bool, repeat: int,
              c_kernel: str | None) -> None:
    """Benchmark the optimized kernel (exo.impl) against the model; print the table.

    \b
    Rows (measured ratio, target, met): demux with 1,000 port filters model/impl, impl
    demux 1,000/10 filters, impl demux/dict lookup, STLB refill load model/impl, impl
    dealloc with STLB 10^5/10^3 entries, lockstep run_check steps per second; then the
    seconds the FLT-8 check of a generated demux takes for 10/100/1,000 filters.
    With --c-kernel PATH four more: lockstep steps/s over the wire protocol, and
    exo.impl / C kernel for a TLB hit load, an STLB refill load and a Dealloc with 8
    bindings.
    Every figure is a median of --repeat runs measured side by side in this run.
    Targets are reported, not enforced: the exit code is 0 unless the usage is wrong
    (a --c-kernel that cannot be run, or is not conformant, is exit 2).
    A full run takes a few minutes on 2 cores; --quick takes well under one.
    \b
    Examples:
      exo bench --quick
      exo bench --json bench.json
      pip install 'exo-reference[bench]' && exo bench --plot demux.png
      make -C examples/c-kernel && exo bench --c-kernel examples/c-kernel/exo-c-kernel
    """
    from exo.bench import STAGES, plot, plot_available, run
    from exo.bench_wire import STAGES as C_STAGES

    if plot_out is not None and plot_available() is not None:
        _fail_usage(str(plot_available()))
    if json_out is not None:
        _check_output(json_out, "--json")
    if plot_out is not None:
        _check_output(plot_out, "--plot")
    stages = STAGES + (C_STAGES if c_kernel is not None else ())
    with progress("exo bench", len(stages)) as task:
        def stage(name: str) -> None:
            task.update(stages.index(name))
            task.stage(f"exo bench: {name}")

        try:
            rows = run(repeat=1 if quick else repeat, quick=quick, echo=False,
                       on_stage=stage, c_kernel=c_kernel)
        except ValueError as exc:
            if c_kernel is None:  # only the --c-kernel rows report usage as ValueError
                raise
            _fail_usage(f"--c-kernel: {exc}")
    from exo.bench import table

    click.echo(table(rows, 1 if quick else repeat, quick))
    if json_out is not None:
        try:
            json_out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            _fail_usage(f"cannot write {json_out}: {exc.strerror}")
        click.echo(f"rows written to {json_out}")
    if plot_out is not None:
        click.echo(plot(rows, plot_out))


def _fail_usage(message: str) -> NoReturn:
    click.echo(f"exo: {message}", err=True)
    sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
