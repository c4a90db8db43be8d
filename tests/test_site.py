"""The reference site (``exo spec --html DIR``, exo.cli.site): built once for the module,
checked for its pages and links, then driven in a real headless browser (Debian's
chromium through Playwright): a clause page, its model code, an obligation, a fixture and
the search box."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import http.server
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sphinx", reason="the site extra (sphinx) is not installed")
pytest.importorskip("myst_parser", reason="the site extra (myst-parser) is not installed")

from exo.cli.links import clause_links, witness_program
from exo.cli.site import (
    EXTRA_HINT,
    SiteError,
    broken_links,
    build,
    fixture_anchor,
    obligation_anchor,
)
from exo.spec.clauses import index

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once per run: under pytest-xdist the workers share one build (the
    first to take the lock builds, the others wait and read it)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "exo-site-html"
    with open(shared / "exo-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "index.html").is_file():
            said: list[str] = []
            report = build(out, said.append)
            assert said and report.clauses == len(index())
            assert report.pages > report.clauses and report.obligations > 0
    return out


# --------------------------------------------------------------------------- structure


def test_every_clause_invariant_and_theorem_has_a_page(site: Path) -> None:
    ids = [c.id for c in index()]
    assert any(i.startswith("INV-") for i in ids) and any(i.startswith("THM-") for i in ids)
    missing = [i for i in ids if not (site / "clauses" / f"{i}.html").is_file()]
    assert missing == []
    home = (site / "index.html").read_text(encoding="utf-8")
    assert all(f'href="clauses/{i}.html"' in home for i in ids)
    for extra in ("obligations", "fixtures", "state", "search", "genindex"):
        assert (site / f"{extra}.html").is_file(), extra


def test_no_broken_link_and_nothing_fetched_from_outside(site: Path) -> None:
    assert broken_links(site) == []


def test_clause_page_reaches_model_code_obligation_and_fixture(site: Path) -> None:
    links = clause_links("MEM-2")
    page = (site / "clauses" / "MEM-2.html").read_text(encoding="utf-8")
    assert 'href="../_modules/exo/model/memory.html#dealloc"' in page
    source = (site / "_modules" / "exo" / "model" / "memory.html").read_text(encoding="utf-8")
    assert 'id="dealloc"' in source and "dealloc" in source
    ob = links.obligations[0]
    assert f'href="../obligations.html#{obligation_anchor(ob.name)}"' in page
    w = links.witnesses[0]
    assert f'href="../fixtures.html#{fixture_anchor(w.fixture)}"' in page
    fixtures = (site / "fixtures.html").read_text(encoding="utf-8")
    assert f'id="{fixture_anchor(w.fixture)}"' in fixtures
    # the clause's own prose: its relative link to the signature table points at the
    # signature section of this page, clause ids link to their pages
    assert 'href="#sig-mem-2"' in page and 'href="REV-2.html"' in page
    state = (site / "state.html").read_text(encoding="utf-8")
    assert "owner" in state and 'href="clauses/MEM-2.html"' in state


def test_the_link_checker_reports_what_is_broken(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.html").write_text('<p id="here">b</p>', encoding="utf-8")
    (tmp_path / "sub" / "a.html").write_text(
        '<a href="../b.html#here">fine</a> <a href="#top" id="top">fine</a>'
        ' <a href="https://example.org/">a link out is fine</a>'
        ' <a href="../missing.html">broken</a> <a href="../b.html#nowhere">broken</a>'
        ' <a href="../../outside.html">broken</a>'
        ' <script src="https://cdn.example.org/x.js"></script>', encoding="utf-8")
    found = broken_links(tmp_path)
    assert len(found) == 4, found
    assert any("missing.html: no such file" in f for f in found)
    assert any("no id 'nowhere'" in f for f in found)
    assert any("leaves the site" in f for f in found)
    assert any("from outside the site" in f for f in found)


def test_a_broken_cross_reference_fails_the_build(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Sphinx runs with warnings as errors: a clause text citing a page the site does not
    have stops the build (here a site of MEM-2 alone, its text given a dangling link)."""
    import exo.cli.links

    mem2 = clause_links("MEM-2")
    broken = dataclasses.replace(mem2, text=mem2.text + "\n\nSee {doc}`/clauses/NOPE-9`.")
    monkeypatch.setattr(exo.cli.links, "all_links", lambda: [broken])
    with pytest.raises(SiteError, match=r"Sphinx warned: .*NOPE-9"):
        build(tmp_path / "out")


def test_a_folder_that_is_no_site_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SiteError, match="not empty"):
        build(tmp_path)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_without_the_extra_the_error_names_it(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "myst_parser", None)
    with pytest.raises(SiteError) as info:
        build(tmp_path / "out")
    assert str(info.value) == EXTRA_HINT


# --------------------------------------------------------------------------- browser


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def _browser(profile: Path) -> Iterator[tuple[Any, list[str]]]:
    """A page of Debian's chromium, headless, on a fresh profile; and the list its console
    errors and warnings, page errors and failed requests are written to."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is missing (the test extra)")
    assert not profile.exists()
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = ctx.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            yield page, problems
        finally:
            ctx.close()


def test_in_a_headless_browser(site: Path, tmp_path: Path) -> None:
    links = clause_links("MEM-2")
    ob = links.obligations[0]
    w = links.witnesses[0]
    first_call = witness_program(w.index)[1][0][0]
    with _serve(site) as served, _browser(tmp_path / "profile") as (page, problems):
        page.goto(f"{served}/clauses/MEM-2.html")
        assert "MEM-2" in page.title()

        # the model code: viewcode's rendered source, at dealloc
        page.click('a[href="../_modules/exo/model/memory.html#dealloc"]')
        page.wait_for_url("**/_modules/exo/model/memory.html#dealloc")
        block = page.locator("#dealloc")
        assert block.is_visible()
        assert re.search(r"def\s+dealloc\(", block.inner_text())
        page.go_back()
        page.wait_for_url("**/clauses/MEM-2.html")

        # an obligation: its entry on the obligations page
        anchor = obligation_anchor(ob.name)
        page.click(f'a[href="../obligations.html#{anchor}"]')
        page.wait_for_url(f"**/obligations.html#{anchor}")
        entry = page.locator(f"#{anchor}")
        assert entry.is_visible() and ob.name in entry.inner_text()
        assert ob.expect in entry.inner_text()
        assert page.evaluate("window.scrollY") > 0  # the browser went to the entry
        page.go_back()
        page.wait_for_url("**/clauses/MEM-2.html")

        # a fixture: the witness program's calls
        anchor = fixture_anchor(w.fixture)
        page.click(f'a[href="../fixtures.html#{anchor}"]')
        page.wait_for_url(f"**/fixtures.html#{anchor}")
        section = page.locator(f"#{anchor}")
        assert section.is_visible()
        steps = section.locator("pre").first.inner_text()
        assert f"{first_call}(" in steps and len(steps.splitlines()) == w.steps
        page.go_back()
        page.wait_for_url("**/clauses/MEM-2.html")

        # the search box: Sphinx's search runs in the page, on searchindex.js
        box = page.locator('#searchbox input[name="q"]')
        box.fill("Dealloc")
        box.press("Enter")
        page.wait_for_url("**/search.html?q=Dealloc*")
        hit = page.locator('#search-results ul.search li a[href*="clauses/MEM-2.html"]')
        hit.first.wait_for(timeout=30_000)
        assert hit.count() >= 1
        assert problems == []


def test_the_browser_sees_a_script_error_and_a_missing_file(site: Path, tmp_path: Path) -> None:
    """What the browser test reports is not empty by construction: a copy of the site
    whose MEM-2 page throws and loads a missing script is caught twice."""
    copy = tmp_path / "copy"
    shutil.copytree(site, copy)
    page_file = copy / "clauses" / "MEM-2.html"
    text = page_file.read_text(encoding="utf-8")
    page_file.write_text(text.replace(
        "</body>", '<script>throw new Error("boom");</script>'
                   '<script src="../_static/gone.js"></script></body>'), encoding="utf-8")
    with _serve(copy) as served, _browser(tmp_path / "profile") as (page, problems):
        page.goto(f"{served}/clauses/MEM-2.html")
        page.wait_for_load_state("load")
    assert any("page error" in p and "boom" in p for p in problems), problems
    assert any("404" in p or "gone.js" in p for p in problems), problems


def test_sphinx_progress_reaches_the_log_at_a_bounded_rate() -> None:
    """Sphinx's status lines go on to the progress callback, colours stripped, at most one
    per period (here 0: every line; then a long period: none after the first)."""
    from exo.cli.site import _Status

    said: list[str] = []
    every = _Status(said.append, every=0.0)
    every.write("reading sources... [ 50%] \x1b[01mclauses/MEM-2\x1b[39;49;00m\rwriting")
    every.write(" output... [100%] index\n\n")
    assert said == ["Sphinx: reading sources... [ 50%] clauses/MEM-2",
                    "Sphinx: writing output... [100%] index"]
    said.clear()
    rare = _Status(said.append, every=3600.0)
    rare.write("one\ntwo\nthree\n")
    assert said == []
