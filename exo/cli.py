"""The ``exo`` command: ``exo verify`` (the main job) and ``exo spec`` (the clause index).

Exit codes: 0 all checks passed, 1 a check failed, 2 bad usage or input (one line on
standard error, never a traceback).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from exo import __version__
from exo.interface import Config

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


@dataclass
class Check:
    """One row of the ``exo verify`` summary."""

    name: str
    passed: bool
    detail: str
    seconds: float


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  exo verify                 run every check and proof, print the summary, exit 0/1
  exo verify --steps 20000   a longer random walk over the model
  exo spec                   list every spec clause and where the model implements it
  exo spec MEM               only the memory clauses
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
def spec_cmd(prefix: str, as_json: bool) -> None:
    """Print the clause index: id, title, spec file, and where it lives in the model.

    \b
    PREFIX keeps only clauses whose id starts with it (e.g. MEM, TLB-1, INV).
    Examples:
      exo spec
      exo spec REV --json
    """
    from exo.spec.clauses import SpecError, index

    try:
        clauses = [c for c in index() if c.id.startswith(prefix.upper())]
    except SpecError as exc:
        _fail_usage(f"spec is malformed: {exc}")
    if not clauses:
        _fail_usage(f"no clause id starts with {prefix!r}; try 'exo spec' for the list")
    if as_json:
        rows = [{"id": c.id, "title": c.title, "file": f"spec/{c.file}", "line": c.line,
                 "model": c.homes} for c in clauses]
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Exo spec: {len(clauses)} clauses", show_lines=False)
    for col in ("id", "title", "spec", "lives in"):
        table.add_column(col, overflow="fold")
    for c in clauses:
        where = "\n".join(h.removeprefix("exo.") for h in c.homes) or "[red]nowhere[/red]"
        table.add_row(c.id, c.title, f"spec/{c.file}:{c.line}", where)
    _console().print(table)


# --------------------------------------------------------------------------- exo verify


@main.command("verify")
@click.option("--steps", default=3000, show_default=True, type=click.IntRange(0, 10**7),
              help="Steps of each random walk over the model.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the walks.")
@click.option("--no-proofs", is_flag=True, help="Skip the Z3 proof obligations.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the summary as JSON to this file.")
def verify_cmd(steps: int, seed: int, no_proofs: bool, json_out: Path | None) -> None:
    """Run every check of the model and every proof; print a summary table.

    \b
    The checks:
      spec index     every clause has a home in the model, every cited id exists
      boot state     the initial state satisfies every invariant (INV-0), several sizes
      random walks   invariants after every step, failures leave the state unchanged
      symbolic run   every operation runs on Z3 terms (the proofs' interpretation)
      proofs         Z3: every invariant holds initially and is preserved by every
                     operation, for all sizes
    Exit code 0 if everything passed, 1 otherwise.
    \b
    Examples:
      exo verify
      exo verify --steps 20000 --seed 7 --json verify.json
    """
    console = _console()
    checks: list[Check] = []

    def record(name: str, fn: Callable[[], tuple[bool, str]]) -> None:
        t0 = time.perf_counter()
        passed, detail = fn()
        checks.append(Check(name, passed, detail, time.perf_counter() - t0))
        mark = "[green]ok[/green]" if passed else "[red]FAILED[/red]"
        console.print(f"{mark:>20} {name}: {detail}")

    from exo import verification as v

    record("spec index", v.check_spec_index)
    record("boot state (INV-0)", v.check_boot_states)
    for cfg_name, cfg in v.WALK_CONFIGS.items():
        with _progress(console) as prog:
            task = prog.add_task(f"random walk, {cfg_name}", total=steps)

            def walk(cfg: Config = cfg, task: TaskID = task, prog: Progress = prog
                     ) -> tuple[bool, str]:
                return v.check_walk(cfg, steps, seed, lambda n: prog.update(task, completed=n))

            record(f"random walk, {cfg_name}", walk)
    record("symbolic run", v.check_symbolic_run)
    if not no_proofs:
        from exo.proofs.obligations import obligations

        obs = obligations()
        with _progress(console) as prog:
            task = prog.add_task("proof obligations", total=len(obs))
            record("proofs", lambda: v.check_proofs(
                obs, lambda _: prog.advance(task)))

    table = Table(title="exo verify")
    for col in ("check", "result", "detail", "time"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(c.name, "[green]passed[/green]" if c.passed else "[red]FAILED[/red]",
                      c.detail, f"{c.seconds:.1f}s")
    console.print(table)
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
    if failed:
        console.print(f"[red]{len(failed)} of {len(checks)} checks failed[/red]")
        sys.exit(EXIT_FAIL)
    console.print(f"[green]all {len(checks)} checks passed[/green]")


def _fail_usage(message: str) -> NoReturn:
    click.echo(f"exo: {message}", err=True)
    sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
