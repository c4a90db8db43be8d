"""``exo spec --html DIR``: the static reference site, built with Sphinx and MyST.

Sphinx, because its HTML builder brings a full-text search that runs offline in the
browser, ``sphinx.ext.viewcode`` renders the model's source with an anchor per function,
and a build with warnings as errors fails on any cross-reference that does not resolve;
MyST, because the clauses are Markdown and stay Markdown on their way to the page.

``build`` writes MyST sources into a temporary folder from ``exo.cli.links`` (the clause
texts, signatures, declarative conjuncts, obligations, cells, witness fixtures and broken
kernels of each clause), runs Sphinx in process and then checks every internal link of
the result (``broken_links``): links Sphinx does not see (the raw ones into the rendered
source) are checked too. Nothing is fetched at build or at view time.
"""

from __future__ import annotations

import ast
import html.parser
import importlib
import inspect
import io
import json
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from exo.cli.links import ClauseLinks, ObligationLink

__all__ = ["EXTRA_HINT", "SiteError", "SiteReport", "broken_links", "build"]

EXTRA_HINT = "exo spec --html needs the 'site' extra: pip install 'exo-reference[site]'"

_MARKER = ".exo-site"
"""A file ``build`` leaves in DIR, so a later build may replace the folder."""


class SiteError(Exception):
    """The site could not be built: Sphinx missing, a warning, a broken link, a bad DIR."""


@dataclass(frozen=True)
class SiteReport:
    """What ``build`` wrote."""

    directory: Path
    pages: int  # HTML files, the rendered source included
    clauses: int
    obligations: int
    seconds: float


# --------------------------------------------------------------------------- names


def _slug(text: str) -> str:
    """An HTML id as Sphinx makes it from a label: lower case, runs of anything else ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def obligation_anchor(name: str) -> str:
    """The id of an obligation's entry on obligations.html."""
    return f"obl-{_slug(name)}"


def fixture_anchor(fixture: str) -> str:
    """The id of a witness fixture's entry on fixtures.html."""
    return f"fixture-{_slug(fixture)}"


def _doc(cid: str) -> str:
    return f"/clauses/{cid}"


def _clause_ref(cid: str, known: set[str]) -> str:
    return f"{{doc}}`{cid} <{_doc(cid)}>`" if cid in known else f"`{cid}`"


def _code(text: str) -> str:
    """``text`` as an inline code span, whatever backticks it holds."""
    ticks = max((len(m) for m in re.findall(r"`+", text)), default=0) + 1
    fence = "`" * ticks
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _escape(text: str) -> str:
    """Plain text safe in a Markdown paragraph or a table cell."""
    return re.sub(r"([\\`*_{}\[\]<>|#])", r"\\\1", text).replace("\n", " ")


# --------------------------------------------------------------------------- prose


_LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]*)\)")
_CODE_SPAN = re.compile(r"(`+)(?:.|\n)*?(?<!`)\1(?!`)")


class _Prose:
    """Rewrites spec Markdown for the site: links between spec files go to the site's
    pages, clause ids in the text become links to their pages."""

    def __init__(self, ids: set[str], op_clause: dict[str, str], file_anchor: dict[str, str]):
        self.ids = ids
        self.op_clause = op_clause
        self.file_anchor = file_anchor
        self.id_re = re.compile(r"\b(" + "|".join(sorted(map(re.escape, ids), key=len,
                                                          reverse=True)) + r")\b(?!-)")

    def target(self, url: str) -> str | None:
        """The site's link for a spec-relative ``url``, None if the site has no such page."""
        path, _, frag = url.partition("#")
        name = path.rsplit("/", 1)[-1]
        if name == "signatures.md" and frag.startswith("op-"):
            cid = self.op_clause.get(frag[3:])
            return f"#sig-{_slug(cid)}" if cid else None
        if frag and re.fullmatch(r"[A-Za-z]{2,4}-\d+", frag) and frag.upper() in self.ids:
            return f"{_doc(frag.upper())}.md"
        if name in self.file_anchor and not frag:
            return f"#{self.file_anchor[name]}"
        return None

    def rewrite(self, text: str) -> str:
        out: list[str] = []
        fence: str | None = None
        for line in text.splitlines():
            stripped = line.lstrip()
            if fence is not None:
                out.append(line)
                if stripped.startswith(fence):
                    fence = None
                continue
            m = re.match(r"(```+|~~~+)", stripped)
            if m:
                fence = m.group(1)
                out.append(line)
                continue
            out.append(self._line(line))
        return "\n".join(out)

    def _line(self, line: str) -> str:
        keep: list[str] = []

        def hold(s: str) -> str:
            keep.append(s)
            return f"\x00{len(keep) - 1}\x00"

        def link(m: re.Match[str]) -> str:
            bang, label, url = m.groups()
            if bang or urlsplit(url).scheme or url.startswith("#"):
                return hold(m.group(0))
            where = self.target(url)
            if where is None:  # a file the site does not carry: the text, and the path
                return hold(f"{label} ({_code(url)})")
            return hold(f"[{label}]({where})")

        line = _CODE_SPAN.sub(lambda m: hold(m.group(0)), line)
        line = _LINK.sub(link, line)
        line = self.id_re.sub(lambda m: hold(f"[{m.group(1)}]({_doc(m.group(1))}.md)"), line)
        while "\x00" in line:
            line = re.sub(r"\x00(\d+)\x00", lambda m: keep[int(m.group(1))], line)
        return line


# --------------------------------------------------------------------------- sources


_CONF = '''\
"""Sphinx configuration of the Exo reference site (written by exo.cli.site)."""

project = "Exo reference"
author = "Exo"
copyright = "the Exo authors"
root_doc = "index"
language = "en"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence"]
html_theme = "alabaster"
html_theme_options = {"show_powered_by": False, "github_button": False,
                      "show_relbars": True, "page_width": "1100px",
                      "sidebar_width": "250px"}
html_sidebars = {"**": ["localtoc.html", "relations.html", "searchbox.html"]}
html_title = "Exo reference"
html_copy_source = False
html_show_sourcelink = False
html_favicon = "_static/favicon.svg"
html_static_path = ["_static"]
autodoc_typehints = "none"
autodoc_member_order = "bysource"
viewcode_line_numbers = True
suppress_warnings = ["myst.header"]


def _literal(app, what, name, obj, options, lines):
    """Docstrings are shown as written: a literal block, never parsed as reST."""
    if lines:
        lines[:] = ["::", ""] + ["    " + line for line in lines] + [""]


def setup(app):
    app.connect("autodoc-process-docstring", _literal)
'''

_FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
            '<rect width="16" height="16" rx="3" fill="#2a5b84"/>'
            '<text x="8" y="12" font-size="10" text-anchor="middle" fill="#fff">X</text></svg>\n')

_INTRO = """\
This site is the Exo specification read from the side of its checks. Every numbered
clause of the spec has a page: the clause as the spec states it, then everything in the
repository that states it a second time or checks it. A clause page is built from the
same data as `exo spec CLAUSE --links`, each time the site is built, so it cannot drift
from the code.

**Reading a clause page.** From the top:

- *Clause*: the text of the clause, as written in `spec/`. Clause ids in it link to
  their pages.
- *Signature*: for a clause that defines operations, their rows of the signature table:
  the call, its kind, what it returns on success and its null value on failure.
- *Declarative text*: the conjuncts of the second, declarative statement of the
  operation, each with the sentence of the clause it states, and a link to that text's
  source.
- *Model code*: each function or class of the executable model whose docstring names
  the clause, linked to its rendered source and to its entry in the API pages.
- *Obligations*: the Z3 proof obligations that check the clause, each with the verdict
  the manifest expects; every one links to its entry on the obligations page.
- *Cells*: the behaviours the clause names (status, outcome, requirement, case, branch)
  that the conformance kit counts.
- *Fixtures*: the shipped witness programs that reach those cells, as the fixtures
  `exo fixtures build` writes; each links to its program.
- *Broken kernels*: the deliberately broken kernels of the test catalogues that break
  the clause, and how each breaks it.

The search box (left, and the search page) looks through every page, the rendered
source included.
"""


def _field_table(rows: Iterable[tuple[str, str]], head: tuple[str, str]) -> list[str]:
    out = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    out += [f"| {a} | {b} |" for a, b in rows]
    return out


def _obj_kind(dotted: str) -> tuple[str, str, Any] | None:
    """(module, qualified name, object) of a dotted model name, None when it is not there."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        modname = ".".join(parts[:cut])
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        obj: Any = mod
        try:
            for p in parts[cut:]:
                obj = getattr(obj, p)
        except AttributeError:
            return None
        return modname, ".".join(parts[cut:]), obj
    return None


def _text_spans(modname: str) -> dict[str, tuple[int, int]]:
    """Operation -> (first, last) line of the assignment of its declarative ``Text``."""
    mod = importlib.import_module(modname)
    texts: dict[str, Any] = getattr(mod, "TEXTS", {})
    tree = ast.parse(inspect.getsource(mod))
    spans: dict[str, tuple[int, int]] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            if not isinstance(t, ast.Name):
                continue
            value = getattr(mod, t.id, None)
            for op, text in texts.items():
                if value is text and node.end_lineno is not None:
                    spans[op] = (node.lineno, node.end_lineno)
    return spans


def _links() -> Any:
    """The clause links module, ``exo.cli.links``."""
    return importlib.import_module("exo.cli.links")


class _Writer:
    """Writes the MyST sources of the site into ``src``."""

    def __init__(self, src: Path) -> None:
        from exo.spec.clauses import spec_files

        links = _links()
        self.src = src
        self.links: list[ClauseLinks] = links.all_links()
        self.ids = {c.id for c in self.links}
        self.fields = links.field_clauses()
        titles: dict[str, str] = {}
        for name, text in spec_files():
            first = next((ln for ln in text.splitlines() if ln.startswith("# ")), f"# {name}")
            titles[name] = first[2:].strip()
        self.titles = titles
        self.files: list[str] = list(dict.fromkeys(c.file for c in self.links))
        self.file_anchor = {f: f"spec-{_slug(f.removesuffix('.md'))}" for f in self.files}
        self.prose = _Prose(self.ids, links.op_clauses(), self.file_anchor)
        self.documented: dict[str, list[tuple[str, str, Any]]] = {}  # module -> objects
        self.obligations: dict[str, ObligationLink] = {}
        self.checked_by: dict[str, list[str]] = {}  # obligation -> clause pages listing it
        self.fixture_clauses: dict[str, list[str]] = {}
        self.decl_modules: dict[str, dict[str, tuple[int, int]]] = {}
        self.pages: list[str] = []

    # -- helpers

    def write(self, docname: str, text: str) -> None:
        path = self.src / f"{docname}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.rstrip() + "\n", encoding="utf-8")
        self.pages.append(docname)

    def document(self, dotted: str) -> tuple[str, str] | None:
        """Put ``dotted`` on its module's API page; (module, qualified name) or None."""
        found = _obj_kind(dotted)
        if found is None:
            return None
        modname, qual, obj = found
        if "." in qual or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            return None
        entries = self.documented.setdefault(modname, [])
        if all(q != qual for _, q, _ in entries):
            entries.append((modname, qual, obj))
        return modname, qual

    def source_link(self, modname: str, qual: str, depth: int, label: str = "source") -> str:
        up = "../" * depth
        href = f"{up}_modules/{modname.replace('.', '/')}.html#{qual}"
        return f'<a class="reference internal" href="{href}">{label}</a>'

    # -- pages

    def clause_page(self, c: ClauseLinks) -> None:
        lines = [f"(clause-{_slug(c.id)})=", f"# {c.id} {_escape(c.title)}", "",
                 f"*From* `spec/{c.file}`, line {c.line}: {self.titles.get(c.file, c.file)}. "
                 f"[All clauses](/index.md).", "", "## Clause", ""]
        body = c.text.split("\n", 1)[1] if "\n" in c.text else ""
        lines += [self.prose.rewrite(body.strip("\n")), ""]
        if c.signature:
            lines += [f"(sig-{_slug(c.id)})=", "## Signature", "",
                      self.prose.rewrite(c.signature), ""]
        lines += ["## Declarative text", ""]
        if c.conjuncts:
            for k in c.conjuncts:
                said = "; ".join(self.prose.rewrite(s) for s in k.sentences)
                where = ""
                if k.source and k.op:
                    self.decl_modules.setdefault(k.source, {})
                    where = (f" ([the text of {_code(k.op)}]"
                             f"(#decl-{_slug(k.source)}-{_slug(k.op)}))")
                lines.append(f"- {_code(k.name)}{where}: {said}")
        else:
            lines.append("No conjunct of the declarative text cites this clause.")
        lines += ["", "## Model code", ""]
        for home in c.homes:
            found = self.document(home)
            if found is None:
                lines.append(f"- {_code(home)}")
                continue
            modname, qual = found
            lines.append(f"- {_code(home)}: {self.source_link(modname, qual, 1, 'its source')}, "
                         f"{{py:obj}}`API entry <{home}>`")
        if not c.homes:
            lines.append("No function or class of the model names this clause.")
        lines += ["", f"## Obligations ({len(c.obligations)})", ""]
        for ob in c.obligations:
            self.obligations.setdefault(ob.name, ob)
            self.checked_by.setdefault(ob.name, []).append(c.id)
            lines.append(f"- [{_escape(ob.name)}](#{obligation_anchor(ob.name)}): "
                         f"{ob.kind}, cites {_clause_ref(ob.clause, self.ids)}, "
                         f"expected **{_escape(ob.expect)}**")
        if not c.obligations:
            lines.append("No proof obligation checks this clause.")
        lines += ["", f"## Cells ({len(c.cells)})", ""]
        if c.cells:
            lines += _field_table(((_code(x.id), f"{x.kind}: {_escape(x.text)}")
                                   for x in c.cells), ("cell", "what"))
        else:
            lines.append("The conformance kit counts no cell of this clause.")
        lines += ["", f"## Fixtures ({len(c.witnesses)})", ""]
        for w in c.witnesses:
            self.fixture_clauses.setdefault(w.fixture, []).append(c.id)
            hits = ", ".join(_code(x) for x in w.cells)
            lines.append(f"- [{w.fixture}](#{fixture_anchor(w.fixture)}): "
                         f"{w.steps} calls; reaches {hits}")
        if not c.witnesses:
            lines.append("No shipped witness program reaches a cell of this clause.")
        lines += ["", f"## Broken kernels ({len(c.catalogue)})", ""]
        for e in c.catalogue:
            lines.append(f"- **{_escape(e.name)}** ({_escape(e.layer)}): "
                         f"{self.prose.rewrite(_escape(e.says))}")
        if not c.catalogue:
            lines.append("No broken kernel of the test catalogues is listed against it.")
        self.write(f"clauses/{c.id}", "\n".join(lines))

    def index_page(self, extra: list[str]) -> None:
        lines = ["# The Exo reference", "", _INTRO, "",
                 "```{toctree}", ":maxdepth: 1", ":caption: Pages", "", *extra, "```", ""]
        by_file: dict[str, list[ClauseLinks]] = {}
        for c in self.links:
            by_file.setdefault(c.file, []).append(c)
        for f in self.files:
            lines += [f"({self.file_anchor[f]})=", f"## {_escape(self.titles.get(f, f))}", "",
                      f"From `spec/{f}`.", ""]
            lines += [f"- {{doc}}`{c.id} <{_doc(c.id)}>`: {_escape(c.title)}"
                      for c in by_file[f]]
            lines.append("")
        hidden = [f"clauses/{c.id}" for c in self.links]
        hidden += [f"api/{m}" for m in sorted(self.documented)]
        hidden += [f"declarative/{m}" for m in sorted(self.decl_modules)]
        lines += ["```{toctree}", ":hidden:", ":caption: Clauses", "", *hidden, "```"]
        self.write("index", "\n".join(lines))

    def obligations_page(self) -> None:
        lines = ["# Obligations", "",
                 "Every proof obligation a clause page lists, in name order: its kind, the "
                 "clause it cites, the verdict the manifest (`proofs/manifest.json`) expects "
                 "of it, and the clause pages that list it. The kinds: `init` an invariant "
                 "holds of the initial state; `step` one operation keeps an invariant; "
                 "`post` a postcondition of an operation; `thm` a theorem; `int` an "
                 "environment's action changes only what it has authority over (NI-2); `ni` "
                 "the other noninterference obligations; `flt` a lemma about packet filters. "
                 "`exo prove` discharges them; an operation's clause lists every obligation "
                 "about that operation, whichever clause it cites.", ""]
        lines = [self.prose.rewrite(x) for x in lines]
        for name in sorted(self.obligations):
            ob = self.obligations[name]
            pages = ", ".join(_clause_ref(cid, self.ids) for cid in self.checked_by[name])
            lines += [f"({obligation_anchor(name)})=",
                      f"**{_escape(name)}**: {ob.kind}; cites {_clause_ref(ob.clause, self.ids)};"
                      f" expected **{_escape(ob.expect)}**; listed by {pages}.", ""]
        self.write("obligations", "\n".join(lines))

    def fixtures_page(self) -> None:
        witness_program = _links().witness_program
        lines = ["# Fixtures", "",
                 "The shipped witness programs: together they reach every reachable "
                 "coverage cell. `exo fixtures build DIR` writes each one as the fixture "
                 "named here, with the model's expected results; `exo fixtures run` replays "
                 "them against a kernel. Each program starts from the configuration shown "
                 "and makes the calls listed, arguments as the wire protocol encodes them.",
                 ""]
        index = 0
        while True:
            try:
                cfg, steps = witness_program(index)
            except LookupError:
                break
            fixture = f"witness-{index:02d}"
            clauses = ", ".join(_clause_ref(cid, self.ids)
                                for cid in self.fixture_clauses.get(fixture, []))
            conf = ", ".join(f"{k}={v}" for k, v in cfg.items())
            lines += [f"({fixture_anchor(fixture)})=", f"## {fixture}", "",
                      f"{len(steps)} calls. Configuration: {_code(conf)}.", ""]
            if clauses:
                lines += [f"Reaches cells of {clauses}.", ""]
            lines.append("```text")
            for i, (op, args) in enumerate(steps, start=1):
                shown = ", ".join(json.dumps(a) for a in args)
                lines.append(f"{i:4d}  {op}({shown})")
            lines += ["```", ""]
            index += 1
        self.write("fixtures", "\n".join(lines))

    def state_page(self) -> None:
        state = self.document("exo.model.state.State")
        where = (f" ({self.source_link(state[0], state[1], 0, 'its source')})"
                 if state else "")
        rows = []
        for name, cids in self.fields.items():
            refs = ", ".join(_clause_ref(cid, self.ids) for cid in cids) or "none"
            rows.append((_code(name), refs))
        lines = ["# State fields", "",
                 f"The fields of the model's state, `exo.model.state.State`{where}, and the "
                 "clauses whose operations may change each one (read from the observation "
                 "table of GEN-5). A field no operation changes is fixed by the "
                 "configuration.", ""]
        lines = [*(self.prose.rewrite(x) for x in lines),
                 *_field_table(rows, ("field", "changed by"))]
        self.write("state", "\n".join(lines))

    def api_pages(self) -> None:
        for modname, entries in sorted(self.documented.items()):
            lines = [f"# {modname}", "",
                     f"The parts of `{modname}` the clause pages cite; each has a link to "
                     "its rendered source.", "", "```{py:module} " + modname, "```", "",
                     "```{eval-rst}"]
            for _, qual, obj in entries:
                kind = "autoclass" if inspect.isclass(obj) else "autofunction"
                lines += [f".. {kind}:: {modname}.{qual}", ""]
            lines.append("```")
            self.write(f"api/{modname}", "\n".join(lines))

    def declarative_pages(self) -> None:
        for modname in sorted(self.decl_modules):
            spans = _text_spans(modname)
            source = inspect.getsource(importlib.import_module(modname)).splitlines()
            lines = [f"# Declarative text: {modname}", "",
                     "The declarative text of each operation, as written in the source: the "
                     "conjuncts a clause page lists are its requirements and cases.", ""]
            for op, (a, b) in sorted(spans.items(), key=lambda kv: kv[1]):
                lines += [f"(decl-{_slug(modname)}-{_slug(op)})=", f"## {op}", "",
                          "```{code-block} python", ":linenos:", f":lineno-start: {a}", "",
                          *source[a - 1:b], "```", ""]
            self.decl_modules[modname] = spans
            self.write(f"declarative/{modname}", "\n".join(lines))

    def guide_page(self) -> bool:
        guide = resources.files("exo.kit").joinpath("skeletons", "GUIDE.md")
        if not guide.is_file():
            return False
        self.write("guide", self.prose.rewrite(guide.read_text(encoding="utf-8")))
        return True

    def all(self) -> None:
        (self.src / "_static").mkdir(parents=True, exist_ok=True)
        (self.src / "_static" / "favicon.svg").write_text(_FAVICON, encoding="utf-8")
        (self.src / "conf.py").write_text(_CONF, encoding="utf-8")
        for c in self.links:
            self.clause_page(c)
        self.obligations_page()
        self.fixtures_page()
        self.state_page()
        self.declarative_pages()
        self.api_pages()
        extra = ["obligations", "fixtures", "state"]
        if self.guide_page():
            extra.insert(0, "guide")
        self.index_page(extra)
        self.check_declarative()

    def check_declarative(self) -> None:
        for c in self.links:
            for k in c.conjuncts:
                if k.source and k.op and k.op not in self.decl_modules.get(k.source, {}):
                    raise SiteError(f"{c.id}: no declarative text of {k.op} in {k.source}")


# --------------------------------------------------------------------------- links


class _Scan(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str]] = []  # (tag, href or src)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value is None:
                continue
            if key in ("id", "name") and (key == "id" or tag == "a"):
                self.ids.add(value)
            elif key in ("href", "src") and tag in ("a", "link", "script", "img", "iframe"):
                self.refs.append((tag, value))


def _scan(path: Path) -> _Scan:
    p = _Scan()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    p.close()
    return p


def broken_links(directory: Path) -> list[str]:
    """Every internal href/src of the HTML files under ``directory`` that names a missing
    file, a file outside the site or an id its target does not have; and every resource
    (script, stylesheet, image, frame) fetched from outside the site."""
    root = directory.resolve()
    pages = sorted(root.rglob("*.html"))
    scans = {p: _scan(p) for p in pages}
    out: list[str] = []
    for page, scan in scans.items():
        rel = page.relative_to(root)
        for tag, ref in scan.refs:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith("//"):
                if tag != "a" and (parts.scheme in ("http", "https") or ref.startswith("//")):
                    out.append(f"{rel}: loads {ref} from outside the site")
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(root):
                out.append(f"{rel}: {ref} leaves the site")
                continue
            if not target.is_file():
                out.append(f"{rel}: {ref}: no such file")
                continue
            frag = unquote(parts.fragment)
            if frag and target.suffix == ".html":
                ids = scans[target].ids if target in scans else _scan(target).ids
                if frag not in ids:
                    out.append(f"{rel}: {ref}: no id {frag!r} in {target.relative_to(root)}")
    return out


# --------------------------------------------------------------------------- build


def _prepare(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise SiteError(f"{directory} exists and is not a folder")
    if directory.is_dir() and any(directory.iterdir()):
        if not (directory / _MARKER).is_file():
            raise SiteError(f"{directory} is not empty and holds no earlier site; "
                            "give an empty or new folder")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # marked first: a build that fails half-way leaves a folder the next build may replace
    (directory / _MARKER).write_text("built by exo spec --html\n", encoding="utf-8")


class _Status(io.StringIO):
    """Sphinx's status stream, passed on to ``say`` a line at most every ``every`` seconds
    (its phase and how far it got), so a log shows the build moving."""

    def __init__(self, say: Callable[[str], None], every: float = 5.0) -> None:
        super().__init__()
        self.say = say
        self.every = every
        self.last = time.monotonic()
        self.part = ""

    def write(self, text: str) -> int:
        self.part += text
        *lines, self.part = re.split(r"[\r\n]", self.part)
        for line in lines:
            line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
            if line and time.monotonic() - self.last >= self.every:
                self.last = time.monotonic()
                self.say(f"Sphinx: {line}")
        return len(text)


def build(directory: Path, on_progress: Callable[[str], None] | None = None) -> SiteReport:
    """Build the reference site into ``directory`` (new, empty, or an earlier site, which
    is replaced). Raises SiteError when Sphinx or MyST is missing, on any Sphinx warning
    and on any broken internal link of the result."""
    say = on_progress or (lambda _msg: None)
    started = time.monotonic()
    try:
        import myst_parser  # noqa: F401
        from sphinx.application import Sphinx
        from sphinx.util.docutils import docutils_namespace, patch_docutils
    except ImportError as exc:
        raise SiteError(EXTRA_HINT) from exc
    directory = Path(directory)
    _prepare(directory)
    with tempfile.TemporaryDirectory(prefix="exo-site-") as tmp:
        src = Path(tmp) / "src"
        say("collecting the links of every clause")
        writer = _Writer(src)
        writer.all()
        say(f"wrote {len(writer.pages)} sources; running Sphinx")
        warned = io.StringIO()
        try:
            # docutils' registries restored afterwards, as sphinx-build does: a second build
            # in one process starts clean; Python deprecation noise of the extensions hidden
            with patch_docutils(src), docutils_namespace(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                app = Sphinx(str(src), str(src), str(directory), str(Path(tmp) / "doctrees"),
                             "html", status=_Status(say), warning=warned, freshenv=True,
                             warningiserror=True, keep_going=True)
                app.build(force_all=True)
        except Exception as exc:
            raise SiteError(f"Sphinx failed: {exc}") from exc
        plain = re.sub(r"\x1b\[[0-9;]*m", "", warned.getvalue())
        said = [ln for ln in plain.splitlines() if ln.strip()]
        if app.statuscode or said:
            shown = "; ".join(ln.replace(str(src) + "/", "") for ln in said[:5])
            more = f" (and {len(said) - 5} more)" if len(said) > 5 else ""
            raise SiteError(f"Sphinx warned: {shown or 'exit ' + str(app.statuscode)}{more}")
    for leftover in (".doctrees", "_sources"):  # Sphinx's own; html_copy_source is off
        if (directory / leftover).is_dir():
            shutil.rmtree(directory / leftover)
    say("checking every link")
    bad = broken_links(directory)
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise SiteError(f"broken links: {'; '.join(bad[:3])}{more}")
    pages = sum(1 for _ in directory.rglob("*.html"))
    return SiteReport(directory, pages, len(writer.links), len(writer.obligations),
                      time.monotonic() - started)
