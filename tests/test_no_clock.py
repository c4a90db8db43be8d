"""No test is judged by the clock (tests/conftest.py): Hypothesis's deadline is off for
every test, and no test turns it back on with a time."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import settings

TESTS = Path(__file__).resolve().parent


def test_hypothesis_has_no_deadline() -> None:
    current = settings.default
    assert current is not None and current.deadline is None


def test_no_test_sets_a_deadline() -> None:
    timed = re.compile(r"deadline\s*=\s*(?!None\b)")
    found = [f"{path.name}:{n}" for path in sorted(TESTS.glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if timed.search(line) and "settings" in line]
    assert found == []
