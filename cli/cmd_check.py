"""``exo check``: an implementation in lockstep with the model (the conformance kit),
with the last failure kept for ``--replay``."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from exo.cli.common import (
    EXIT_FAIL,
    EXIT_INCOMPLETE,
    check_output,
    fail_usage,
    given,
    load_implementation,
    parse_config,
    parse_ops_option,
)
from exo.cli.console import console as _console
from exo.cli.console import outside, print_table, progress, visible
from exo.interface import Config

if TYPE_CHECKING:
    from exo.cli.campaign import Campaign
    from exo.kit.lastfailure import LastFailure


@click.command("check")
@click.option("--impl", "impl_spec", default="exo.impl:Kernel", show_default=True,
              metavar="MODULE:FACTORY",
              help="The implementation: a class or function taking a Config.")
@click.option("--impl-cmd", "impl_cmd", default=None, metavar="'CMD ARGS'",
              help="The implementation is a process speaking the wire protocol "
                   "(spec/protocol.md): a kernel in any language. Split as a POSIX shell "
                   "splits words; leading NAME=VALUE words are added to its environment "
                   "('EXO_BUG=1 python3 k.py'); no pipes or expansions (use sh -c).")
@click.option("--step-timeout", default=5.0, show_default=True,
              type=click.FloatRange(0.01, 3600), metavar="SECONDS",
              help="With --impl-cmd: the step timeout. The process counts as hung when, "
                   "waiting for one reply, it used this much processor time, or none at "
                   "all for this long, or the reply took 12 times this long (WIRE-1); a "
                   "busy kernel on a loaded machine is slow, not hung.")
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
                   "prefixes like ENV,MEM; 'trap' adds the trap layer, GEN-6) and compare "
                   "only the fields they change.")
@click.option("--filters", "filters", type=click.Choice(["solver", "declarative"]),
              default="solver", show_default=True,
              help="The filter profile (NET-1): 'declarative' for a kernel without a "
                   "solver: only programs FLT-9 recognizes (or the verifier refuses) are "
                   "installed, and UNDECIDED is outside the run.")
@click.option("--workload", type=click.Choice(["exos"]), default=None,
              help="Also run library-OS services (exo.libos: paging, copy-on-write, "
                   "revocation, pipes, LRPC) on fresh environments, every call in lockstep.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the verdict, what was run (mode: generated, replay or "
                   "replay-search; the budget or the calls replayed; the operations "
                   "included and excluded; the filter profile; the sizes) and the coverage "
                   "table as JSON to this file.")
@click.option("--repro", "repro_out", default=Path("test_exo_failure.py"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Where a failure's standalone pytest reproduction is written.")
@click.option("--replay", is_flag=True,
              help="Run the last failure again (kept in Hypothesis's database, "
                   ".hypothesis/): its calls, or its seeded search.")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 1024),
              help="Worker processes. Above 1 the run is a campaign: split into shards "
                   "(the witness sweep, then seeded runs of --shard-size programs), run "
                   "in parallel, their coverage merged into one table.")
@click.option("--programs", type=click.IntRange(1, 10**9), default=None,
              help="A campaign of this many generated programs in all (instead of "
                   "--examples).")
@click.option("--campaign", "duration_text", default=None, metavar="DURATION",
              help="A campaign that takes shards until this much time has passed "
                   "(90s, 15m, 8h); running shards finish. With --programs: whichever "
                   "comes first.")
@click.option("--shard-size", default=None, type=click.IntRange(1, 10**6),
              help="Programs per generated shard of a campaign [default: 10].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run the campaign's shards on the Dask cluster whose scheduler is "
                   "at ADDRESS (tcp://host:8786; the 'cluster' extra). Each worker builds "
                   "the implementation itself: --impl must import there, --impl-cmd "
                   "must run there.")
@click.option("--exhaustive", "depth", type=click.IntRange(1, 8), default=None,
              metavar="DEPTH",
              help="Instead of generated programs: every program of up to DEPTH calls over "
                   "small argument domains (exo.kit.exhaustive), at a tiny configuration "
                   "(--config changes it), states seen before pruned, symmetric ones "
                   "merged; in --jobs shards.")
def check_cmd(impl_spec: str, impl_cmd: str | None, step_timeout: float, steps: int,
              examples: int, seed: int | None, config_text: str | None,
              ops_text: str | None, filters: str, workload: str | None,
              json_out: Path | None, repro_out: Path, replay: bool, jobs: int,
              programs: int | None, duration_text: str | None, shard_size: int | None,
              scheduler: str | None, depth: int | None) -> None:
    """Run an implementation in lockstep with the model (Hypothesis, exo.kit).

    \b
    Every operation, hostile arguments included (negative and huge ints, wrong types,
    forged and stale capabilities, real BPF programs and packets), goes to the model and
    the implementation, along with rules that build state as a library OS does (maps and
    accesses, grants, guaranteed mappings, slices run past their end, revocation and
    abort, full rings). After every step results and states must agree; after every
    program the model's invariants must hold. At the end the coverage table says, per
    clause, how many of the spec's behaviours the run reached: operation/status and
    operation/outcome pairs, named cases, and every requirement, case and branch side of
    the declarative text (a sentence's "if ... otherwise ...").
    Every run has a seed (printed; --seed chooses it). A failure is also kept in
    Hypothesis's database (.hypothesis/) for --replay, which runs its calls again (with
    --impl, on another implementation) and says whether it still fails.
    Exit 0: conformant, every reachable cell of the run's scope exercised (--replay:
    the recorded failure no longer reproduces, which is no conformance verdict: only the
    recorded calls, or the recorded search, ran again). Exit 1: not conformant (--replay:
    the recorded failure still reproduces); the shrunk failing program, the same
    failure replayed as plain calls, and a reproduction file (--repro) to run with
    pytest. Exit 2: an option cannot be used (--impl, --config, --ops, an output path;
    --replay with nothing recorded). Exit 4: incomplete: no difference found, but a
    reachable cell of the run's scope (its operations, its sizes) was never exercised;
    the cells are listed, and it is not a conformance verdict.

    \b
    Examples:
      exo check                                        the shipped exo.impl:Kernel
      exo check --impl mypkg.kernel:MyKernel --steps 100 --examples 1000 --seed 7
      exo check --config n_envs=2,tlb_size=1,stlb_size=2 --json check.json
      exo check --impl mykernel:Kernel --ops ENV-1,MEM-1,MEM-2,MEM-3   memory first
      exo check --impl exo.kit:ModelImplementation --steps 10 --examples 5
      exo check --replay                               the last failure, after a fix
      exo check --impl-cmd './my-kernel --quiet' --ops ENV,MEM,TLB,CPU,PCT,EXC,REV
      exo check --impl-cmd examples/c-kernel/exo-c-kernel --filters declarative
      exo check --workload exos --examples 100      programs shaped like a library OS
      exo check --jobs 2                               the same budget on two cores
      exo check --impl-cmd ./k --campaign 8h --jobs 16 --json night.json   a night
      exo check --programs 100000 --scheduler tcp://10.0.0.1:8786   on a Dask cluster
      exo check --exhaustive 3 --jobs 2                 every program of up to 3 calls

    \b
    A campaign (--jobs above 1, --programs, --campaign or --scheduler) splits the run
    into shards: shard 0 runs the witness programs, every other shard is a seeded run
    of --shard-size programs at one configuration, its seed derived from the campaign's
    (--seed) and its number, so it generates the same programs on whichever worker
    runs it. The first shard to fail stops the others; its shrunk failure is reported as
    above, with the command that runs that shard alone, and kept for --replay. Progress
    (programs, steps/s, cells hit, elapsed) goes to a bar on a terminal, or a line every
    few seconds to a log.
    """
    from exo.kit.check import probe_factory, run_check
    from exo.kit.reproduction import write_reproduction
    from exo.wire import client
    from exo.wire.loader import CMD_PREFIX

    if impl_cmd is not None:
        if given("impl_spec"):
            fail_usage("give --impl or --impl-cmd, not both")
        impl_spec = f"{CMD_PREFIX} {impl_cmd}"
    previous_timeout = client.STEP_TIMEOUT
    client.STEP_TIMEOUT = step_timeout  # for this command only (main() may run again)
    click.get_current_context().call_on_close(
        lambda: setattr(client, "STEP_TIMEOUT", previous_timeout))

    if depth is not None:
        _exhaustive(depth, impl_spec, impl_cmd, step_timeout, config_text, ops_text, filters,
                    json_out, repro_out, jobs, scheduler)
        return
    campaign = (jobs > 1 or programs is not None or duration_text is not None
                or scheduler is not None)
    if shard_size is not None and not campaign:
        fail_usage("--shard-size is for a campaign (--jobs above 1, --programs, "
                   "--campaign or --scheduler)")
    duration: float | None = None
    if campaign:
        duration = _campaign_usage(replay, programs, duration_text, scheduler)
    recorded: LastFailure | None = None
    if replay:
        recorded = _recorded_failure()
        impl_spec = impl_spec if given("impl_spec") or impl_cmd else recorded.impl
        steps, examples, seed = recorded.steps, recorded.examples, recorded.seed
        filters = recorded.filters
        config_text = ops_text = None
    cfg = parse_config(config_text) if config_text is not None else None
    if recorded is not None and recorded.config_given:
        cfg = recorded.cfg
    if seed is None:  # every run can be repeated: the seed is chosen here and printed
        seed = random.SystemRandom().randrange(2**32)
    ops = recorded.ops_set() if recorded is not None else None
    if ops_text is not None:
        ops = parse_ops_option(ops_text)
    if json_out is not None:
        check_output(json_out, "--json")
    check_output(repro_out, "--repro")
    factory = load_implementation(impl_spec)
    console = _console()
    camp: Campaign | None = None
    if recorded is not None and recorded.calls is not None and recorded.cfg is not None:
        report = _replay_recorded(console, factory, recorded)
    else:
        if recorded is not None:
            console.print("the recorded failure has no plain calls: running its seeded "
                          "search again", markup=False)
        try:  # before the progress line: a usage error is the one line on stderr
            probe_factory(factory, cfg)
        except ValueError as exc:
            fail_usage(str(exc))
        if campaign:
            budget = programs if programs is not None else (
                None if duration is not None else examples)
            camp = _campaign(impl_spec, cfg, steps, budget, duration, jobs, shard_size,
                             seed, ops, filters, workload, scheduler,
                             step_timeout if given("step_timeout") else None)
            report = camp.report
            console.print(camp.summary(), markup=False)
        else:
            with progress(f"checking {impl_spec}: {examples} examples x {steps} steps, "
                          f"seed {seed}", examples) as task:
                try:
                    report = run_check(factory, cfg, steps=steps, examples=examples,
                                       on_progress=task.update, seed=seed, ops=ops,
                                       workload=workload, filters=filters, probed=True)
                except ValueError as exc:
                    fail_usage(str(exc))
        if recorded is not None:
            report.mode = "replay-search"
        if workload is not None and not campaign:
            from exo.kit.exos import RUNS

            console.print("library-OS services: " + ", ".join(
                f"{k} {v}" for k, v in sorted(RUNS.items())), markup=False)
    cov = report.coverage
    if cov is not None and report.passed and report.missing and cfg is not None:
        proved = _unreachable_at(cfg, report.missing)
        cov.unreachable |= proved
        report.missing = [c.id for c in cov.missing()]
    if cov is not None:
        hit, total = cov.summary()
        excluded = sum(x for *_, x in cov.clauses())
        print_table(console, f"behaviour coverage: {hit} of {total} reachable cells hit"
                    + (f" ({excluded} excluded by --ops or --filters)" if excluded else ""),
                    ("clause", "hit", "reachable", "unreachable (proved)", "excluded"),
                    [(k, str(h), str(r), str(u), str(x)) for k, h, r, u, x in cov.clauses()])
        if cov.beyond:
            console.print(f"beyond --ops ({len(cov.beyond)} cells of these operations that "
                          "the witness programs cut to them do not reach: setting them up "
                          f"needs another operation; not tested): {', '.join(sorted(cov.beyond))}",
                          markup=False)
        if cov.outside:
            console.print(f"outside --filters {cov.profile} ({len(cov.outside)} cells only a "
                          f"solver's budget reaches; not tested): {', '.join(sorted(cov.outside))}",
                          markup=False)
        gaps = [c.id for c in cov.missing()]
        if gaps:
            console.print(f"missing ({len(gaps)}): {', '.join(gaps)}", markup=False)
    if camp is not None and camp.failed is not None:  # the failing shard is the run now
        shard = camp.failed.shard
        seed, steps, examples = shard.seed, shard.steps, max(shard.examples, 1)
        cfg = shard.configs[0] if len(shard.configs) == 1 else report.config
    repro: Path | None = None
    if not report.passed and report.trace is not None and report.failure is not None \
            and report.config is not None:
        try:
            repro = write_reproduction(
                repro_out, impl_spec, report.config, report.trace, report.failure, seed,
                report.fields,
                step_timeout=step_timeout if impl_spec.startswith(CMD_PREFIX) else None)
        except (ValueError, OSError) as exc:
            console.print(f"(no reproduction file: {visible(str(exc))})", markup=False)
    if json_out is not None:
        _write_json(json_out, report, recorded, repro, camp)
    scope = f"; {report.scope()}" if report.scope() else ""
    if report.passed and not report.complete and recorded is None:
        console.print(f"[yellow]incomplete: no difference found in {report.budget()}{scope}, "
                      f"but {len(report.missing)} reachable cells of the run's scope were "
                      "never exercised (listed above): not a conformance verdict[/yellow]")
        sys.exit(EXIT_INCOMPLETE)
    if report.passed:
        if recorded is not None:
            ran = (f"replayed {report.replayed} recorded calls" if report.mode == "replay"
                   else f"ran the recorded seeded search again ({report.budget()})")
            console.print(f"[green]the recorded failure no longer reproduces: {ran}{scope}, "
                          "no difference[/green]")
            console.print("not a conformance verdict: a replay runs one recorded failure "
                          "again (run exo check without --replay for one)", markup=False)
            return
        console.print(f"[green]conformant: {report.budget()}{scope}[/green]")
        return
    if recorded is not None:
        console.print(f"[red]the recorded failure still reproduces: {outside(report.error)}"
                      "[/red]")
    else:
        finder = "the witness sweep" if report.found_by == "sweep" else "the seeded search"
        console.print(f"[red]not conformant (found by {finder}): {outside(report.error)}"
                      "[/red]")
        if camp is not None and camp.failed is not None:
            from exo.cli.campaign import impl_words, rerun_line

            words = impl_words(impl_spec, impl_cmd, given("impl_spec"),
                               step_timeout if given("step_timeout") else None)
            console.print(visible(rerun_line(camp.failed.shard, words)), markup=False)
    console.print(visible(report.text().split("\n\n", 1)[1], block=True), markup=False)
    if repro is not None:
        shown = visible(str(repro))
        console.print(f"reproduction: {shown}  (run: python -m pytest {shown})", markup=False)
    _record_failure(console, impl_spec, report, seed, steps, examples, cfg is not None, ops,
                    filters)
    console.print(f"seed {seed}; run it again after a fix: exo check --replay", markup=False)
    sys.exit(EXIT_FAIL)




def _recorded_failure() -> LastFailure:
    """The failure ``--replay`` runs; a usage error if there is none or options clash."""
    from exo.kit import lastfailure

    clash = [f"--{p.replace('_text', '')}" for p in
             ("steps", "examples", "seed", "config_text", "ops_text") if given(p)]
    if clash:
        fail_usage(f"--replay runs the recorded failure as it was; drop {', '.join(clash)}")
    try:
        recorded = lastfailure.load()
    except (ValueError, OSError) as exc:
        fail_usage(f"--replay: {exc}")
    if recorded is None:
        fail_usage("--replay: no failure of exo check is recorded here "
                    "(.hypothesis/); run exo check first")
    return recorded


def _replay_recorded(console: Any, factory: Any, recorded: LastFailure) -> Any:
    """Run the recorded calls in lockstep once; a ``CheckReport`` of what happened."""
    from exo.kit.bringup import fields_for
    from exo.kit.check import CheckReport
    from exo.kit.replay import minimize, replay

    assert recorded.calls is not None and recorded.cfg is not None
    ops = recorded.ops_set()
    fields = fields_for(ops) if ops is not None else None
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recorded.when))
    console.print(f"replaying the failure recorded {when}: {len(recorded.calls)} calls, "
                  f"{recorded.cfg!r}\n  it was: {visible(recorded.error)}", markup=False)
    report = CheckReport(passed=True, examples=0, steps=0, config=recorded.cfg,
                         fields=fields, mode="replay", replayed=len(recorded.calls),
                         ops=ops, filters=recorded.filters, configs=[recorded.cfg])
    try:
        failure = replay(factory, recorded.cfg, list(recorded.calls), fields)
        if failure is not None:
            report.trace, report.failure = minimize(factory, recorded.cfg,
                                                    list(recorded.calls), failure,
                                                    fields=fields)
    except ValueError as exc:
        fail_usage(f"--replay: {exc}")
    if report.failure is not None:
        report.passed = False
        report.error = report.failure.message.splitlines()[0]
        report.program = f"(the recorded calls, {len(recorded.calls)}, replayed)"
    return report


def _record_failure(console: Any, impl_spec: str, report: Any, seed: int | None,
                    steps: int, examples: int, config_given: bool,
                    ops: frozenset[str] | None, filters: str) -> None:
    """Keep the failure for ``exo check --replay`` (a note if the database is not
    writable: the reproduction file still holds it)."""
    from exo.kit import lastfailure

    record = lastfailure.LastFailure(
        impl=impl_spec, cfg=report.config, seed=seed, steps=steps, examples=examples,
        ops=tuple(sorted(ops)) if ops is not None else None, error=report.error,
        calls=tuple(report.trace) if report.trace is not None else None,
        config_given=config_given, when=time.time(), filters=filters)
    try:
        lastfailure.save(record)
    except (OSError, ValueError) as exc:
        console.print(f"(the failure is not kept for --replay: {visible(str(exc))})",
                      markup=False)


def _write_json(path: Path, report: Any, recorded: LastFailure | None,
                repro: Path | None, camp: Campaign | None = None) -> None:
    """``--json``: the report (``CheckReport.as_json``: the mode, the budget or the calls
    replayed, the scope), the recorded failure a replay ran, and the reproduction file.
    Text from outside is written as it is shown (``visible``)."""
    out = report.as_json()
    out["error"] = visible(report.error)
    out["program"] = visible(report.program, block=True)
    if recorded is not None:
        out["recorded"] = {"impl": visible(recorded.impl), "error": visible(recorded.error),
                           "when": recorded.when, "calls": len(recorded.calls or ()),
                           "examples": recorded.examples, "steps": recorded.steps,
                           "seed": recorded.seed}
    out["reproduction"] = visible(str(repro)) if repro else None
    out["campaign"] = camp.as_json() if camp is not None else None
    try:
        path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        fail_usage(f"--json: cannot write {path}: {exc.strerror or exc}")


def _unreachable_at(cfg: Config, cells: list[str]) -> frozenset[str]:
    """Of ``cells`` (missing from a run of the one configuration ``cfg``), those Z3 proves
    no state of these sizes can produce (``exo.proofs.coverage``); a cell it cannot
    decide stays missing."""
    from exo.kit.coverage import all_cells
    from exo.proofs.coverage import decide_at

    by_id = {c.id: c for c in all_cells()}
    return frozenset(cid for cid in cells
                     if cid in by_id and decide_at(by_id[cid], cfg).verdict == "unreachable")


def _campaign_usage(replay: bool, programs: int | None, duration_text: str | None,
                    scheduler: str | None) -> float | None:
    """A campaign's options that cannot be used (a usage error); its duration if given."""
    from exo.kit.campaign import parse_duration

    if replay:
        fail_usage("--replay runs the recorded failure as it was; drop --jobs, --programs, "
                   "--campaign and --scheduler (a campaign's failure is recorded as its "
                   "shard's)")
    if programs is not None and given("examples"):
        fail_usage("give --programs or --examples, not both (--programs is a campaign's "
                   "budget)")
    _scheduler_usage(scheduler, "")
    if duration_text is None:
        return None
    try:
        return parse_duration(duration_text)
    except ValueError as exc:
        fail_usage(str(exc))


def _campaign(impl_spec: str, cfg: Config | None, steps: int, programs: int | None,
              duration: float | None, jobs: int, shard_size: int | None, seed: int,
              ops: frozenset[str] | None, filters: str, workload: str | None,
              scheduler: str | None, step_timeout: float | None) -> Campaign:
    """Run the campaign with a progress bar (or log lines); usage problems exit 2."""
    from exo.cli.campaign import run_campaign
    from exo.kit.campaign import SHARD_PROGRAMS

    size = shard_size if shard_size is not None else SHARD_PROGRAMS
    what = (f"{programs} programs" if programs is not None else "")
    if duration is not None:
        what = f"{what}{' or ' if what else ''}{duration:g} s"
    where = f"the cluster at {scheduler}" if scheduler is not None else (
        f"{jobs} process{'es' if jobs != 1 else ''}")
    with progress(f"campaign of {impl_spec}: {what} x {steps} steps, shards of {size}, "
                  f"seed {seed}, on {where}", programs) as task:
        try:
            return run_campaign(task, impl_spec, cfg, steps, programs, duration, jobs, size,
                                seed, ops, filters, workload, scheduler, step_timeout)
        except ValueError as exc:
            fail_usage(str(exc))
        except RuntimeError as exc:
            fail_usage(f"the campaign could not run: {exc}")


def _exhaustive(depth: int, impl_spec: str, impl_cmd: str | None, step_timeout: float,
                config_text: str | None, ops_text: str | None, filters: str,
                json_out: Path | None, repro_out: Path, jobs: int,
                scheduler: str | None) -> None:
    """``exo check --exhaustive DEPTH`` (``exo.cli.exhaustive``)."""
    from exo.cli.exhaustive import report_exhaustive, run_exhaustive
    from exo.kit.check import probe_factory
    from exo.kit.exhaustive import TINY
    from exo.kit.profiles import problem as profile_problem
    from exo.wire.loader import CMD_PREFIX

    clash = [f"--{p.replace('_text', '').replace('_', '-')}" for p in (
        "steps", "examples", "seed", "workload", "replay", "programs", "duration_text",
        "shard_size") if given(p)]
    if clash:
        fail_usage(f"--exhaustive runs every program up to its depth; drop "
                   f"{', '.join(clash).replace('--duration', '--campaign')}")
    if impl_cmd is not None:
        if given("impl_spec"):
            fail_usage("give --impl or --impl-cmd, not both")
        impl_spec = f"{CMD_PREFIX} {impl_cmd}"
    _scheduler_usage(scheduler, " (one per worker thread)")
    cfg = parse_config(config_text) if config_text is not None else TINY
    ops = parse_ops_option(ops_text)
    why = profile_problem(filters)
    if why is not None:
        fail_usage(why)
    if json_out is not None:
        check_output(json_out, "--json")
    check_output(repro_out, "--repro")
    factory = load_implementation(impl_spec)
    try:
        probe_factory(factory, cfg)
    except ValueError as exc:
        fail_usage(str(exc))
    timeout = step_timeout if given("step_timeout") else None
    console = _console()
    where = f"the cluster at {scheduler}" if scheduler else f"{jobs} process" + (
        "es" if jobs != 1 else "")
    with progress(f"exhaustive search of {impl_spec} to depth {depth} on {where}",
                  None) as task:
        try:
            report, seconds, ran_on = run_exhaustive(task, impl_spec, cfg, depth, jobs, ops,
                                                     filters, scheduler, timeout)
        except ValueError as exc:
            fail_usage(str(exc))
        except RuntimeError as exc:
            fail_usage(f"the exhaustive search could not run: {exc}")
    report_exhaustive(console, report, seconds, ran_on, impl_spec, json_out, repro_out, ops,
                      filters, timeout)


def _scheduler_usage(scheduler: str | None, how: str) -> None:
    """``--scheduler`` needs the 'cluster' extra and takes no ``--jobs`` (usage errors)."""
    if scheduler is None:
        return
    from exo.kit.cluster import missing_extra

    why = missing_extra()
    if why is not None:
        fail_usage(why)
    if given("jobs"):
        fail_usage("--jobs is for local processes; with --scheduler the cluster's "
                   f"workers run the shards{how}")
