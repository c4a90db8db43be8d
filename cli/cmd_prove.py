"""``exo prove``: the Z3 obligations against the manifest; ``exo replay``: a saved
counterexample on the executable model."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from exo.cli.common import (
    EXIT_FAIL,
    check_output,
    check_output_dir,
    fail_usage,
)
from exo.cli.console import console as _console
from exo.cli.console import outside, print_table, progress, visible


@click.command("prove")
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
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Discharge the obligations on the Dask cluster whose scheduler is at "
                   "ADDRESS (tcp://host:8786; the 'cluster' extra), a group per operation "
                   "per task; exo must be installed on the workers.")
def prove_cmd(jobs: int | None, pattern: str | None, json_out: Path | None,
              junit_out: Path | None, manifest_path: Path | None, update_manifest: bool,
              cex_dir: Path, failures_only: bool, scheduler: str | None) -> None:
    """Prove every obligation with Z3, for all sizes; compare with the manifest.

    \b
    Obligations, by name (OP an operation, INV-k an invariant, THM-n a theorem):
      init/INV-k             the boot state satisfies INV-k (INV-0)
      step/OP/INV-k          OP preserves INV-k
      post/OP/failure        a failure of OP changes nothing
      post/OP/frame          a success of OP changes only the fields it may (MODIFIES)
      post/OP/effect         OP does what its clause says (values, statuses, effects)
      post/OP/sound          the declarative text: OP's transition satisfies every conjunct
      post/OP/complete       the declarative text determines OP's status, value, fields
      thm/THM-n/OP           OP keeps theorem THM-n (THM-1 memory isolation, THM-2 no
                             binding of a lost page, THM-3 protected transfers, THM-4
                             conservation, THM-5 packets, THM-6 no state seen by the
                             next environment, THM-7 each pays for its time)
      thm/THM-1/translate    THM-1 for the model's address translation
      flt/FLT-5/termination  a verified cBPF program of any length terminates
      flt/FLT-4/bounds-abs   every absolute load let through reads inside the packet
      flt/FLT-4/bounds-ind   every indirect load let through reads inside the packet
      int/OP                 integrity (NI-2): OP changes only what its actor may change
      ni/OP/output           NI-3: the actor's result depends only on what it sees
      ni/OP/respect          NI-4: who OP may not affect sees the same after it
      ni/OP/consistency      NI-5: what anyone sees after OP depends only on what it and
                             the actor saw
    Each is proved, or fails as counterexample (made concrete, replayed on the model,
    saved under --cex-dir), unknown (budget exhausted: a failure) or vacuous.
    Exit code 0 only if every selected obligation is proved and matches the manifest.

    \b
    Examples:
      exo prove
      exo prove -j 2 -k step/dealloc
      exo prove -k 'thm/*' --junit proofs.xml --json proofs.json
      exo prove -j 2 -k 'ni/*'
      exo prove --scheduler tcp://10.0.0.1:8786      on a Dask cluster
      exo replay exo-counterexamples/step__dealloc__INV-1.json
    """
    from exo.proofs import counterexample as cx
    from exo.proofs import runner

    if scheduler is not None:
        from exo.kit.cluster import missing_extra

        why = missing_extra()
        if why is not None:
            fail_usage(why)
        if jobs is not None:
            fail_usage("--jobs is for local processes; with --scheduler the cluster's "
                       "workers discharge the obligations")
    jobs = jobs or runner.default_jobs()
    selected = runner.select(pattern)
    if not selected:
        fail_usage(f"no obligation matches {pattern!r}; try 'exo prove -k step/alloc'")
    if update_manifest and pattern:
        fail_usage("--update-manifest needs every obligation: drop -k")
    path = manifest_path or runner.default_manifest_path()
    for out_path, option in ((json_out, "--json"), (junit_out, "--junit")):
        if out_path is not None:
            check_output(out_path, option)
    if update_manifest:
        check_output(path, "--manifest")
    check_output_dir(cex_dir, "--cex-dir")
    if update_manifest and not path.exists():
        manifest = runner.Manifest()  # a new manifest file: nothing to compare with yet
    else:
        try:
            manifest = runner.load_manifest(path)
        except runner.ManifestError as exc:
            fail_usage(str(exc))
    console = _console()
    where = f"the Dask cluster at {scheduler}" if scheduler else f"{jobs} processes"
    console.print(f"exo prove: {len(selected)} obligations, {visible(where)}", markup=False)
    with progress("proving", len(selected)) as task:
        if scheduler is not None:
            results = _on_cluster(scheduler, runner.groups(selected, manifest), task)
        else:
            results = runner.run_parallel(selected, manifest, jobs,
                                          lambda _: task.advance())
    results.sort(key=lambda r: r.obligation.name)
    if update_manifest:
        if not all(r.ok for r in results):
            fail_usage("not every obligation is proved; refusing to record failures "
                        "in the manifest")
        try:
            runner.write_manifest(path, results)
        except OSError as exc:
            fail_usage(f"cannot write {path}: {exc.strerror}")
        manifest = runner.load_manifest(path)
        console.print(f"manifest written: {outside(str(path))}")
    # a manifest's names and a prover's messages are text from outside: the table, the
    # lines below, --json and --junit show them the same way, control characters as
    # escapes (XML 1.0 allows none but tab and newline, so the JUnit file always parses)
    mismatches = [runner.Mismatch(visible(m.name), visible(m.problem))
                  for m in runner.compare(results, manifest, complete=not pattern)]
    results = [dataclasses.replace(r, detail=visible(r.detail)) for r in results]
    saved: dict[str, Path] = {}
    for r in results:
        if cx.replayable(r.counterexample) or "traces" in r.counterexample:
            try:
                saved[r.obligation.name] = (
                    cx.save(r.counterexample, cex_dir) if cx.replayable(r.counterexample)
                    else _save_traces(r.counterexample, cex_dir))
            except OSError as exc:
                fail_usage(f"cannot write {cex_dir}: {exc.strerror}")
    bad_names = {m.name for m in mismatches}
    rows = []
    for r in results:
        if failures_only and r.ok and r.obligation.name not in bad_names:
            continue
        color = "green" if r.ok else "red"
        rows.append([outside(r.obligation.name), f"[{color}]{r.verdict}[/{color}]",
                     f"{r.seconds:.2f}s", f"{r.rlimit:,}"])
    if rows or not failures_only:
        print_table(console, f"exo prove: {len(results)} obligations",
                    ("obligation", "status", "time", "rlimit"), rows)
    for r in results:
        if not r.ok:
            console.print(f"[red]{outside(r.obligation.name)}: {r.verdict}[/red] "
                          f"{outside(r.detail)}")
            if cx.replayable(r.counterexample):
                for line in cx.render(r.counterexample):
                    console.print("    " + visible(line), markup=False)
                if r.obligation.name in saved:
                    where = visible(str(saved[r.obligation.name]))
                    console.print(f"    saved: {where}  (exo replay {where})", markup=False)
            elif "traces" in r.counterexample:  # NI-2..NI-5: two traces (ni.render)
                from exo.proofs.noninterference import render as render_ni

                for line in render_ni(r.counterexample):
                    console.print("    " + visible(line), markup=False)
                if r.obligation.name in saved:
                    where = visible(str(saved[r.obligation.name]))
                    console.print(f"    saved: {where}", markup=False)
    for m in mismatches:
        console.print(f"[red]manifest: {outside(m.name)}: {outside(m.problem)}[/red]")
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
            fail_usage(f"cannot write {out_path}: {exc.strerror}")
    proved = sum(r.ok for r in results)
    slowest = max(results, key=lambda r: r.seconds)
    console.print(f"{proved}/{len(results)} proved; slowest {slowest.obligation.name} "
                  f"{slowest.seconds:.2f}s; {len(mismatches)} manifest differences")
    if proved != len(results) or mismatches:
        sys.exit(EXIT_FAIL)





@click.command("replay")
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
        fail_usage(str(exc))
    for line in lines:  # the file's text included: control characters as escapes
        click.echo(visible(line, block=True))
    if record["violations"]:
        sys.exit(EXIT_FAIL)


def _save_traces(record: dict[str, Any], directory: Path) -> Path:
    """A noninterference or integrity counterexample (two traces) as JSON in
    ``directory``, named after its obligation."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (str(record["obligation"]).replace("/", "__") + ".json")
    path.write_text(json.dumps(record, indent=1, default=repr) + "\n", encoding="utf-8")
    return path


def _on_cluster(scheduler: str, groups: list[list[tuple[str, int]]], task: Any) -> list[Any]:
    """``exo prove --scheduler``: every group of obligations a task on the cluster; a
    scheduler that cannot be reached, or a group that cannot run there, is a usage
    error (exit 2, one line)."""
    from exo.kit.cluster import map_unordered
    from exo.proofs.runner import work_group

    results: list[Any] = []

    def arrived(batch: list[Any]) -> bool:
        results.extend(batch)
        task.advance(len(batch))
        return True

    try:
        map_unordered(scheduler, work_group, groups, arrived,
                      label=lambda g: f"the obligations of {g[0][0]}")
    except ValueError as exc:
        fail_usage(str(exc))
    except RuntimeError as exc:
        fail_usage(f"the proofs could not run: {exc}")
    return results
