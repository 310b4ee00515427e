"""The upright check's verdict as a reader sees it: a film the image-kind model takes for frontal as stored, but the
upright check finds upside down, is read turned back, and the note and summary name the check that found it."""
from __future__ import annotations

from covidviewer.imaging.hanging import Hanging
from covidviewer.inference.film_hanging import FilmReading, TurnedFilm
from covidviewer.inference.gate import FRONTAL, OTHER_KIND, ImageKind


def _turned(p_upside_down: float | None) -> TurnedFilm:
    as_stored = ImageKind(FRONTAL, 0.92, {FRONTAL: 0.92, OTHER_KIND: 0.08})
    return TurnedFilm(Hanging(quarter_turns=2), as_stored, p_read_back=1.0, p_upside_down=p_upside_down)


def test_a_film_found_upside_down_by_the_upright_check_says_so() -> None:
    reading = FilmReading(turned=_turned(0.995))
    assert reading.hanging.quarter_turns == 2
    assert reading.summary() == "stored upside down (turned 180\u00b0): read back (upright check 0.99)"
    (note,) = reading.notes()
    assert note.startswith("hanging check: the film looks stored upside down (turned 180\u00b0): the upright check is "
                           "sure of it (0.99), though the image-kind model takes it for a frontal chest radiograph as "
                           "stored too (0.92)")
    assert reading.to_json()["p_upside_down"] == 0.995


def test_a_film_the_image_kind_model_turned_back_names_that_model() -> None:
    reading = FilmReading(turned=_turned(None))
    assert reading.summary() == "stored upside down (turned 180\u00b0): read back (image-kind model 1.00)"
    assert "as stored the image-kind model calls it frontal chest radiograph (0.92)" in reading.notes()[0]
    assert reading.to_json()["p_upside_down"] is None
