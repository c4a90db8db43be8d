"""``exo spec``: the clause index, and the declarative conjuncts."""

from __future__ import annotations

import json

import click

from exo.cli.common import (
    fail_usage,
)
from exo.cli.console import console as _console
from exo.cli.console import outside, print_table, visible


@click.command("spec")
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
        fail_usage(f"spec is malformed: {exc}")
    if not clauses:
        fail_usage(f"no clause id starts with {prefix!r}; try 'exo spec' for the list")
    if conjuncts:
        _print_conjuncts([c.id for c in clauses], as_json)
        return
    if as_json:
        rows = [{"id": visible(c.id), "title": visible(c.title), "file": f"spec/{c.file}",
                 "line": c.line, "model": c.homes} for c in clauses]
        click.echo(json.dumps(rows, indent=2))
        return
    # the spec's files are text the model reads: shown as written, never as markup
    cells = [[outside(c.id), outside(c.title), outside(f"spec/{c.file}:{c.line}"),
             outside("\n".join(h.removeprefix("exo.") for h in c.homes), block=True)
             or "[red]nowhere[/red]"] for c in clauses]
    print_table(_console(), f"Exo spec: {len(clauses)} clauses",
                ("id", "title", "spec", "lives in"), cells)


def _print_conjuncts(ids: list[str], as_json: bool) -> None:
    """``exo spec --conjuncts``: the conjuncts stating each of ``ids``."""
    from exo.proofs.declarative import conjunct_index

    by_clause = conjunct_index()
    if as_json:
        rows = [{"id": i, "conjuncts": [
            {"name": c.name, "op": c.op, "fields": list(c.fields),
             "sentences": [visible(x.sentence) for x in c.cites if x.clause == i]}
            for c in by_clause.get(i, [])]} for i in ids]
        click.echo(json.dumps(rows, indent=2))
        return
    cells = []
    for i in ids:
        for c in by_clause.get(i, []):
            said = " / ".join(x.sentence for x in c.cites if x.clause == i)
            said = said if len(said) <= 90 else said[:87] + "..."
            cells.append([outside(i), outside(c.name), outside(said)])
    print_table(_console(), f"Exo spec: {len(cells)} conjuncts of the declarative text",
                ("clause", "conjunct", "sentence"), cells)
