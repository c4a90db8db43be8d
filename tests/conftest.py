"""Fixtures shared by several test files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from exo.kit import lastfailure

settings.register_profile("exo-tests", deadline=None)
settings.load_profile("exo-tests")
"""No test is judged by the clock: Hypothesis's default deadline (200 ms an example) failed
tests/test_logic.py on a machine at load 7, where every example was correct. Tests that
set their own settings keep them; the deadline stays off unless one sets it."""


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DirectoryBasedExampleDatabase:
    """``exo check``'s record of the last failure in a store of the test's own, with the
    test's folder as the current one (the reproduction file and the record go there)."""
    store = DirectoryBasedExampleDatabase(str(tmp_path / "examples"))
    monkeypatch.setattr(lastfailure, "database", lambda: store)
    monkeypatch.chdir(tmp_path)
    return store
