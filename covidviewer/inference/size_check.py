"""A radiograph far larger than any film the models learnt from: its answer carries what the model's style
stress test measured at that size.

Every film in the training packs is 157-501 px; a hospital's DICOM or full-size export is 1,500-3,000 px. The
style stress test (trainer/style_stress.py) re-scores the adult validation films at 3x their size. The cascade called
36% of adult normals COVID-19 there (8% at their own size) until session 25 gave both stages the shrink of such films
and the rounding to 8-bit grey levels (imaging/preprocess.py): 18%, and 57% of adult non-COVID pneumonias (26%).
Since session 26 its stage 2 was retrained on films of every size, and in session 27 whole on a GPU: 9% of normals at
3x (5% as sent), but 54% of pneumonias (35%), so its COVID-19 answers on large films still warn, naming the
pneumonias. DPN-SENet (3% as sent and at 3x) and VGG-16-GA (8% at every size) do not (README, "The shortcut"). The
films' size tells their source here (every adult normal is 224 px), and a network reads it through the resize to its
grid.

On a film at least ``LARGE_FILM_SIDE`` px, a COVID-19 answer says so when the model's recorded test at that size
called more adult normals COVID-19 by more than the test's flag or reached the unseen-hospital bar, or more adult
non-COVID pneumonias by more than the flag; a non-COVID answer says so when COVID-19 sensitivity fell by more than
the flag. The answer itself does not change: the figure is a warning, not a correction. The record is read from the
card of the weights that ran (the cascade's from its operating point on stage 2's card, made with both stages'
weights), so a retrained set brings its own.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from covidviewer.inference.era_check import COVID
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.inference.stress_record import call_terms, covid_calls_moved, sensitivity_fell, stress_points

#: the stress test's change of grid size (trainer.style_stress.SHIFTS)
SIZE_SHIFT = "size_3x"
#: the smallest film of that change: a 224 px validation film at 3x. Larger films are in the regime it measured
LARGE_FILM_SIDE = 672
SIZE_PREFIX = "style stress test: "


def _sizes(stress: Mapping[str, Any], film_side: int) -> str:
    """E.g. " (672-1,230 px; this film is 1,955 px)": the tested films' longer sides at 3x, where recorded."""
    sides = stress.get("film_sides")
    if isinstance(sides, Mapping) and isinstance(sides.get("min"), int) and isinstance(sides.get("max"), int):
        return f" ({3 * sides['min']:,}-{3 * sides['max']:,} px; this film is {film_side:,} px)"
    return f" (this film is {film_side:,} px)"


def size_warning(stress: Mapping[str, Any] | None, film_side: int, answer: str) -> str:
    """The warning an ``answer`` on a film of ``film_side`` px (its longer side) carries, or ""."""
    if not stress or film_side < LARGE_FILM_SIDE:
        return ""
    points = stress_points(stress, SIZE_SHIFT)
    if points is None:
        return ""
    base, size = points
    suffix, how = call_terms(stress)
    film = f"on its adult validation films enlarged 3x{_sizes(stress, film_side)}"
    if answer == COVID:
        moved = covid_calls_moved(base, size, suffix, how)
        if not moved:
            return ""
        return (f"{SIZE_PREFIX}{film}, this model called {' and '.join(moved)}; its COVID-19 answer on a film this "
                "large may reflect the film's size, not the lungs: read it beside the other models")
    fell = sensitivity_fell(base, size, suffix)
    if fell is None:
        return ""
    return (f"{SIZE_PREFIX}{film}, this model found {fell[1]:.0%} of the COVID-19 films {how}, against {fell[0]:.0%} "
            f"at their own size; on a film this large its {answer} answer does not rule COVID-19 out")


def warn_on_large_film(result: ModelResult, film_side: int, modality: str, stress: Mapping[str, Any] | None) -> ModelResult:
    """``result``, or a copy with the size warning (a cached result is never changed)."""
    if result.status != STATUS_OK or modality != "CXR" or COVID not in result.probabilities:
        return result
    warning = size_warning(stress, film_side, result.answer)
    return result if not warning else replace(result, warnings=[*result.warnings, warning])
