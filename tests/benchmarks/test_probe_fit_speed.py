"""The fit-speed table says per row how busy the machine was: measured load, else the note kept, else so."""

from __future__ import annotations

from benchmarks.probe_fit_speed import _load_cell


def test_each_row_says_under_which_load_it_was_measured():
    assert _load_cell({"load": [0.12, 1.5]}) == "0.12 -> 1.50"
    assert _load_cell({"load_note": "busy machine"}) == "busy machine"
    assert _load_cell({}) == "not recorded"
