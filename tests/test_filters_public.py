"""The public home of the packet-filter tools (``exo.filters``): the very objects the model
runs, and its documented example works (issue 11, FLT-2..FLT-8)."""

from __future__ import annotations

import doctest

import exo.filters
import exo.model.dfilter as dfilter
import exo.model.filters as model_filters
import exo.proofs.demux as demux


def test_every_public_name_is_the_models_own_object() -> None:
    for name in exo.filters.__all__:
        ours = getattr(exo.filters, name)
        theirs = getattr(model_filters, name, None)
        if theirs is None:
            theirs = getattr(dfilter, DFILTER_NAMES.get(name, name), None)
        if theirs is None:
            theirs = getattr(demux, name)
        assert ours is theirs, name


DFILTER_NAMES = {"dfilter_overlap": "overlap"}
"""Names ``exo.filters`` gives FLT-9's functions where FLT-6 has one of the same name."""


def test_the_documented_example_runs() -> None:
    result = doctest.testmod(exo.filters)
    assert result.attempted >= 5
    assert result.failed == 0
