"""``exo fixtures``: build fixture files from the model, and run a kernel on them."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from exo.cli.common import (
    EXIT_FAIL,
    check_output,
    fail_usage,
    given,
    load_implementation,
    parse_ops_option,
)
from exo.cli.console import console as _console
from exo.cli.console import outside, print_table, progress, visible


@click.group("fixtures")
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
@click.option("--generated", default=200, show_default=True, type=click.IntRange(0, 100_000),
              help="Programs of the kit's own generation (what exo check runs), made on "
                   "the model with --seed.")
@click.option("--ops", "ops_text", default=None, metavar="OP,...",
              help="For a kernel that implements only these operations (names, clause ids "
                   "or prefixes, e.g. ENV,MEM,TLB): every program keeps only their calls.")
@click.option("--filters", "filters", type=click.Choice(["solver", "declarative"]),
              default="solver", show_default=True,
              help="The filter profile (NET-1): 'declarative' for a kernel without a "
                   "solver: no program installs a verified filter FLT-9 does not recognize.")
def fixtures_build_cmd(directory: Path, seed: int, extra: int, generated: int,
                       ops_text: str | None, filters: str) -> None:
    """Write the suite: the kit's witness programs (every reachable coverage cell),
    seeded random programs and the kit's generated programs, each with the model's
    result and state after every call.

    \b
    Examples:
      exo fixtures build fixtures/
      exo fixtures build fixtures/ --seed 7 --random 100 --generated 1000
      exo fixtures build fixtures/ --ops ENV,MEM,TLB,CPU,PCT,EXC,REV
      exo fixtures build fixtures/ --filters declarative
    """
    from exo.kit.witnesses import shipped
    from exo.wire import fixtures

    ops = parse_ops_option(ops_text)

    if directory.exists() and not directory.is_dir():
        fail_usage(f"{directory} is not a directory")
    total = len(shipped()) + extra + generated
    try:
        with progress(f"building fixtures of {total} programs in {directory}", total) as task:
            index = fixtures.build(directory, seed, extra, on_progress=task.advance, ops=ops,
                                   generated=generated, filters=filters)
    except OSError as exc:
        fail_usage(f"cannot write {directory}: {exc.strerror or exc}")
    rows = [[c, str(n)] for c, n in index["fixtures_per_clause"].items()]
    print_table(_console(), f"{len(index['fixtures'])} fixtures, {len(index['cells'])} "
                f"coverage cells, in {outside(str(directory))}", ("clause", "fixtures"), rows)
    if index["left_out"]:
        _console().print(f"{index['left_out']} programs made no call of the chosen "
                         "operations and were left out", markup=False)
    if index["beyond_ops"]:
        _console().print(f"beyond --ops ({len(index['beyond_ops'])} cells of the chosen "
                         "operations that need another operation to set up): "
                         f"{', '.join(index['beyond_ops'])}", markup=False)
    if index["outside_filters"]:
        _console().print(f"outside --filters {filters} ({len(index['outside_filters'])} "
                         "cells only a solver's budget reaches): "
                         f"{', '.join(index['outside_filters'])}", markup=False)
    if index["unreached"]:
        _console().print(f"not reached by the suite ({len(index['unreached'])} reachable "
                         f"cells of its operations): {', '.join(index['unreached'])}",
                         markup=False)


@fixtures_group.command("run")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--impl", "impl_spec", default="exo.impl:Kernel", show_default=True,
              metavar="MODULE:FACTORY", help="A Python implementation.")
@click.option("--impl-cmd", "impl_cmd", default=None, metavar="'CMD ARGS'",
              help="The implementation is a process speaking the wire protocol "
                   "(spec/protocol.md): a kernel in any language. Split as a POSIX shell "
                   "splits words; leading NAME=VALUE words are added to its environment "
                   "('EXO_BUG=1 python3 k.py'); no pipes or expansions (use sh -c).")
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
    from exo.wire import fixtures
    from exo.wire.loader import CMD_PREFIX

    if impl_cmd is not None:
        if given("impl_spec"):
            fail_usage("give --impl or --impl-cmd, not both")
        impl_spec = f"{CMD_PREFIX} {impl_cmd}"
    if not directory.is_dir():
        fail_usage(f"{directory}: no such directory (build it with exo fixtures build)")
    if junit_out is not None:
        check_output(junit_out, "--junit")
    try:  # every file read and checked before anything is shown or run
        paths = fixtures.check_files(directory, keyword)
    except ValueError as exc:  # FixtureError included
        fail_usage(str(exc))
    if not paths:
        fail_usage(f"no fixture name contains {keyword!r}")
    factory = load_implementation(impl_spec)
    if impl_cmd is not None:
        _can_start(factory)
    try:
        with progress(f"running fixtures of {directory} on {impl_spec}", len(paths)) as task:
            outcomes = fixtures.run_files(paths, factory, on_progress=task.advance)
    except ValueError as exc:  # a file changed since it was checked
        fail_usage(str(exc))
    # a fixture's name and a kernel's words are text from outside: the table and the
    # JUnit file show them the same way, control characters as escapes (XML 1.0 allows
    # none but tab and newline, so the file always parses)
    shown = [dataclasses.replace(o, name=visible(o.name), detail=visible(o.detail))
             for o in outcomes]
    rows = [[outside(o.name), "passed" if o.passed else "FAILED", str(o.steps),
             f"{o.seconds:.2f}s", outside(o.detail)] for o in shown]
    failed = sum(not o.passed for o in outcomes)
    print_table(_console(), f"fixtures: {len(outcomes) - failed} of {len(outcomes)} passed",
                ("fixture", "result", "steps", "time", "detail"), rows)
    if junit_out is not None:
        try:
            junit_out.write_text(fixtures.junit(shown) + "\n", encoding="utf-8")
        except OSError as exc:
            fail_usage(f"cannot write {junit_out}: {exc.strerror or exc}")
    if failed:
        sys.exit(EXIT_FAIL)


def _can_start(factory: Any) -> None:
    """A kernel command that cannot start is a usage error (exit 2), as for exo check,
    not a failure of every fixture. Anything else the first start meets is left to the
    fixtures to report."""
    from exo.interface import Config
    from exo.wire.codec import WireError

    try:
        factory(Config())
    except WireError as exc:
        if str(exc).startswith("cannot start"):
            fail_usage(str(exc))
    except Exception:  # reported by the fixture that meets it
        pass
