"""Long warnings read conclusion first (covidviewer.analysis.warning_text); every word is kept."""
from __future__ import annotations

import pytest

from covidviewer.analysis.warning_text import grouped_warnings, split_warning

DETAIL = ("detail check: this film's finest detail (0.041) is stronger than in 97.5% of the adult normal films this model "
          "learnt from (up to 0.035), as after edge enhancement or noise; on its adult validation films edge-enhanced, "
          "this model called 18% of adult normal films COVID-19 at its threshold, against 3% unchanged; its COVID-19 "
          "answer may reflect how the film was processed, not the lungs: read it beside the other models")


def test_a_long_warning_is_named_concluded_and_keeps_its_evidence() -> None:
    text = split_warning(DETAIL)
    assert text.split and text.name == "detail check"
    assert text.conclusion == "its COVID-19 answer may reflect how the film was processed, not the lungs: read it beside the other models"
    assert text.evidence.startswith("this film's finest detail (0.041)") and text.evidence.endswith("against 3% unchanged")
    assert f"{text.name}: {text.evidence}; {text.conclusion}" == DETAIL  # nothing lost


@pytest.mark.parametrize("warning", [
    "out of memory on cuda; this result was computed on the CPU",  # short: whole
    "LIME not restricted to the lungs: " + "no lung mask " * 20,  # no '; ': whole
    "the loader found that " + "slices were missing, " * 12 + "so the series may be incomplete; read it with care",  # no name
])
def test_other_warnings_are_shown_whole(warning: str) -> None:
    text = split_warning(warning)
    assert not text.split and text.conclusion == warning and text.name == ""


def test_warnings_of_one_name_and_conclusion_are_read_together_in_order() -> None:
    other = DETAIL.replace("(0.041)", "(0.050)")
    size = DETAIL.replace("detail check", "style stress test")
    short = "out of memory on cuda; this result was computed on the CPU"
    assert grouped_warnings([DETAIL, short, size, other, short]) == [[DETAIL, other], [short], [size], [short]]
    assert grouped_warnings([]) == []
