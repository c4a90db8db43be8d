"""``exo spec``: the clause index, one clause's text and what checks it, the declarative
conjuncts, and the reference site."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from exo.cli.common import (
    fail_usage,
)
from exo.cli.console import console as _console
from exo.cli.console import outside, print_table, visible


@click.command("spec")
@click.argument("prefix", required=False, default="")
@click.option("--json", "as_json", is_flag=True, help="Print the index (or the clause) as JSON.")
@click.option("--conjuncts", is_flag=True,
              help="For each clause, the conjuncts of the declarative text that state it "
                   "(spec/declarative.md), with the sentence each one cites.")
@click.option("--links", is_flag=True,
              help="With a clause id: what states and checks it: its conjuncts, its proof "
                   "obligations with the manifest's verdict, its coverage cells, the witness "
                   "programs and fixtures that hit them, and the catalogue's broken kernels "
                   "that break it.")
@click.option("--html", "html", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Build the reference site into DIR (a page per clause, cross-linked to "
                   "the model's code, obligations, cells and fixtures; search). Needs the "
                   "'site' extra: pip install 'exo-reference[site]'.")
def spec_cmd(prefix: str, as_json: bool, conjuncts: bool, links: bool,
             html: Path | None) -> None:
    """Print the clause index, or one clause: its text and what checks it.

    \b
    PREFIX keeps only clauses whose id starts with it (e.g. MEM, TLB-1, INV). A whole
    clause id (MEM-2) prints that clause's text as spec/ has it, with its signature;
    --links adds everything that states or checks it. The text comes from the installed
    package, so it reads the same outside a checkout.
    Examples:
      exo spec
      exo spec REV --json
      exo spec MEM-2
      exo spec MEM-2 --links
      exo spec ENV-2 --conjuncts
      exo spec --html site/   then open site/index.html, or serve it:
                              python -m http.server -d site/
    """
    from exo.spec.clauses import SpecError, index

    if html is not None:
        if prefix or as_json or conjuncts or links:
            fail_usage("--html builds the whole site: give it no clause and no other option")
        _build_site(html)
        return
    try:
        clauses = [c for c in index() if c.id.startswith(prefix.upper())]
    except SpecError as exc:
        fail_usage(f"spec is malformed: {exc}")
    if not clauses:
        fail_usage(f"no clause id starts with {prefix!r}; try 'exo spec' for the list")
    one = [c for c in clauses if c.id == prefix.upper()]
    if links and not one:
        fail_usage(f"--links needs one clause id, like MEM-2, not {prefix!r}")
    if conjuncts:
        _print_conjuncts([c.id for c in clauses], as_json)
        return
    if one:
        _print_clause(one[0].id, as_json, links)
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
    click.echo("One clause's text: exo spec ID (e.g. exo spec MEM-2); what checks it: "
               "exo spec ID --links")


def _build_site(directory: Path) -> None:
    """``exo spec --html DIR``: the reference site (``exo.cli.site``)."""
    from exo.cli.common import check_output_dir

    check_output_dir(directory, "--html")
    from exo.cli.site import SiteError, build  # Sphinx itself is imported by build

    try:
        report = build(directory, on_progress=lambda line: click.echo(line, err=True))
    except SiteError as exc:
        fail_usage(str(exc))
    click.echo(f"wrote the reference site to {directory}: {report.pages} pages, "
               f"{report.clauses} clauses, {report.obligations} obligations; open "
               f"{directory / 'index.html'} or serve it: python -m http.server -d {directory}")


def _signature_lines(signature: str) -> list[str]:
    """The clause's rows of spec/signatures.md, one operation per line."""
    rows = [line for line in signature.splitlines() if line.startswith("| <a")]
    out = []
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) < 6:
            out.append(row)
            continue
        call = cells[3].strip("`")
        out.append(f"  {call}    [{cells[2]}]  success: {cells[4]}  failure: {cells[5]}")
    return out


def _links_json(cid: str) -> dict[str, Any]:
    from dataclasses import asdict

    from exo.cli.links import clause_links

    return asdict(clause_links(cid))


def _print_clause(cid: str, as_json: bool, links: bool) -> None:
    """``exo spec ID``: the clause's text and signature; with ``links``, what checks it."""
    from exo.cli.links import clause_links, clause_text

    if as_json:
        data: dict[str, Any] = _links_json(cid) if links else {}
        if not links:
            from exo.spec.clauses import index

            found = next(x for x in index() if x.id == cid)
            data = {"id": found.id, "title": found.title, "file": f"spec/{found.file}",
                    "line": found.line, "homes": found.homes, "text": clause_text(cid)}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    c = clause_links(cid)
    click.echo(visible(c.text, block=True))
    click.echo("")
    if c.signature is not None:
        click.echo("Signature (spec/signatures.md):")
        for line in _signature_lines(c.signature):
            click.echo(visible(line))
    click.echo(f"Source: spec/{c.file}:{c.line} (installed as exo/spec/{c.file}); "
               f"model: {', '.join(c.homes) or 'nowhere'}")
    if not links:
        click.echo(f"What states and checks it: exo spec {cid} --links")
        return
    _print_links(c)


def _print_links(c: Any) -> None:
    """The ``--links`` sections of one clause."""
    def head(title: str, n: int, extra: str = "") -> None:
        click.echo("")
        click.echo(f"{title}: {n}{extra}" if n else f"{title}: none")

    where = sorted({x.source for x in c.conjuncts if x.source})
    head("Conjuncts of the declarative text", len(c.conjuncts),
         f", in {', '.join(where)}" if where else "")
    for x in c.conjuncts:
        click.echo(visible(f"  {x.name}: {' / '.join(x.sentences)}"))
    verdicts: dict[str, int] = {}
    for ob in c.obligations:
        verdicts[ob.expect] = verdicts.get(ob.expect, 0) + 1
    head("Proof obligations, each run by exo prove -k NAME", len(c.obligations),
         "; the manifest expects " + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
         if verdicts else "")
    for ob in c.obligations:
        cites = "" if ob.clause == c.id else f"  (cites {ob.clause})"
        click.echo(f"  {ob.name}  {ob.expect}{cites}")
    head("Coverage cells (exo check's table)", len(c.cells))
    for cell in c.cells:
        click.echo(visible(f"  {cell.id}  [{cell.kind}]  {cell.text}"))
    head("Witness programs and their fixtures (exo fixtures build)", len(c.witnesses))
    for w in c.witnesses:
        shown = ", ".join(w.cells[:4]) + (f", +{len(w.cells) - 4}" if len(w.cells) > 4 else "")
        click.echo(f"  {w.fixture}  {w.steps} calls; hits {shown}")
    head("Broken kernels of the test catalogues that break it", len(c.catalogue))
    for e in c.catalogue:
        click.echo(visible(f"  {e.name} ({e.layer}): {e.says}"))


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
