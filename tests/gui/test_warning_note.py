"""A long warning under an answer shows its name and conclusion; "why?" shows its figures, "less" hides them again,
and the tooltip always holds the whole text. A short one is shown whole. Several of one name and conclusion show it once."""
from __future__ import annotations

import pytest

from covidviewer.ui.analysis.warning_note import LESS, MORE, WarningNote

pytestmark = pytest.mark.gui
DETAIL = ("detail check: this film's finest detail (0.041) is stronger than in 97.5% of the adult normal films this model "
          "learnt from (up to 0.035), as after edge enhancement or noise; on its adult validation films edge-enhanced, "
          "this model called 18% of adult normal films COVID-19 at its threshold, against 3% unchanged; its COVID-19 "
          "answer may reflect how the film was processed, not the lungs: read it beside the other models")


def test_a_long_warning_opens_on_demand(qtbot) -> None:  # type: ignore[no-untyped-def]
    note = WarningNote([DETAIL])
    qtbot.addWidget(note)
    assert note.toolTip() == DETAIL and not note.expanded
    assert "<b>detail check</b>: its COVID-19 answer may reflect how the film was processed" in note.text()
    assert "18% of adult normal films" not in note.text() and f"href='{MORE}'" in note.text()
    note.linkActivated.emit(MORE)
    assert note.expanded and "18% of adult normal films" in note.text() and f"href='{LESS}'" in note.text()
    note.linkActivated.emit(LESS)
    assert not note.expanded and "18% of adult normal films" not in note.text()


def test_a_short_warning_is_shown_whole_and_escaped(qtbot) -> None:  # type: ignore[no-untyped-def]
    note = WarningNote(["out of memory on cuda; this result was computed on the CPU <fallback>"])
    qtbot.addWidget(note)
    assert note.text() == "\u26a0 out of memory on cuda; this result was computed on the CPU &lt;fallback&gt;"
    assert note.toolTip() == "" and "href" not in note.text()


def test_several_records_of_one_conclusion_show_it_once_and_open_all_their_figures(qtbot) -> None:  # type: ignore[no-untyped-def]
    records = [f"shortcut audit: another network of this model, trained without {source}: {share}% of its adult normal "
               "films called COVID-19 at that network's threshold for 0.80 sensitivity, and more figures to make it long; "
               "on films from a hospital it has not learnt, its COVID-19 answer is often a false alarm: read it beside "
               "the other models" for source, share in (("RSNA", 18), ("NIH", 29))]
    note = WarningNote(records)
    qtbot.addWidget(note)
    assert "<b>shortcut audit</b> (2 records): on films from a hospital it has not learnt" in note.text()
    assert "RSNA" not in note.text() and note.toolTip() == "\n\n".join(records)
    note.linkActivated.emit(MORE)
    assert "trained without RSNA: 18%" in note.text() and "trained without NIH: 29%" in note.text()
