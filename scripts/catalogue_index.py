"""Write kit/catalogue.json: an index of the broken kernels of the test catalogues
(tests/catalogue.py, tests/catalogue_optimizer.py, tests/catalogue_views.py), so that
``exo spec CLAUSE --links`` and the reference site name them from an installed package,
which has no tests/. Each entry: the class name, its catalogue, the clause its ``CLAUSE``
names (and any other its docstring starts with) and the first paragraph of its docstring
(the mistake it makes).

Run from the repository root: ``python scripts/catalogue_index.py`` (``--check`` exits 1
when the file differs from what it would write; tests/test_links.py runs that check).
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "kit" / "catalogue.json"
LAYERS = {
    "tests.catalogue": "impl",
    "tests.catalogue_optimizer": "optimizer",
    "tests.catalogue_views": "trap-view",
}


_IDS = re.compile(r"^([A-Z]{2,4}-\d+(?:\s*/\s*[A-Z]{2,4}-\d+)*):\s*")


def _says(cls: type) -> tuple[list[str], str]:
    """The clause ids the docstring's first paragraph starts with, and the rest of it."""
    doc = inspect.getdoc(cls) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    m = _IDS.match(first)
    if m is None:
        return [], first
    return re.split(r"\s*/\s*", m.group(1)), first[m.end():]


def entries() -> list[dict[str, str]]:
    """Every catalogue entry, in catalogue order."""
    sys.path.insert(0, str(ROOT))
    from tests.catalogue import CATALOGUE
    from tests.catalogue_views import CATALOGUE as VIEWS

    out = []
    for name, cls in [*CATALOGUE.items(), *VIEWS.items()]:
        layer = LAYERS.get(cls.__module__)
        if layer is None:
            raise SystemExit(f"{name}: defined in {cls.__module__}, not a known catalogue")
        clause = str(getattr(cls, "CLAUSE", ""))
        if not clause:
            raise SystemExit(f"{name} ({cls.__module__}) names no CLAUSE")
        ids, says = _says(cls)
        clauses = list(dict.fromkeys([clause, *ids]))
        out.append({"name": name, "layer": layer, "clauses": clauses, "says": says})
    return out


def text() -> str:
    """The file's text."""
    doc = {"comment": "Broken kernels of tests/catalogue*.py by the clause each breaks. "
                      "Regenerate with: python scripts/catalogue_index.py",
           "entries": entries()}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    want = text()
    if argv[1:] == ["--check"]:
        have = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if have != want:
            print(f"{OUT.relative_to(ROOT)} is stale: run python scripts/catalogue_index.py")
            return 1
        return 0
    OUT.write_text(want, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(json.loads(want)['entries'])} entries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
