"""A radiograph far larger than any film the models learnt from: its answer carries what the model's style
stress test measured at that size.

Every film in the training packs is 157-501 px; a hospital's DICOM or full-size export is 1,500-3,000 px. The
style stress test (trainer/style_stress.py) re-scores the adult validation films at 3x their size: the cascade
then calls 36% of adult normals COVID-19 (8% at their own size); DPN-SENet called 20% (3%) until session 24 gave it
a first shrink of such films to 224 px (8%); VGG-16-GA does not move (README, "The shortcut"). The films' size tells
their source here (every adult normal is 224 px), and a network reads it through the resize to its grid.

On a film at least ``LARGE_FILM_SIDE`` px, a COVID-19 answer says so when the model's recorded test at that size
called more adult normals COVID-19 by more than the test's flag or reached the unseen-hospital bar; a non-COVID
answer says so when COVID-19 sensitivity fell by more than the flag. The answer itself does not change: the
figure is a warning, not a correction. The record is read from the card of the weights that ran (the cascade's
from its operating point on stage 2's card, made with both stages' weights), so a retrained set brings its own.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Mapping

from covidviewer.inference.calibrated import installed_card
from covidviewer.inference.era_check import COVID
from covidviewer.inference.network_result import cascade_card_entry
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.model_cards import STYLE_SHIFT_FLAG, STYLE_STRESS_KEY
from covidviewer.models.same_source import UNSEEN_NORMAL_CALLED_COVID_BAR

if TYPE_CHECKING:
    from covidviewer.models.spec import ModelSpec

#: the stress test's change of grid size (trainer.style_stress.SHIFTS)
SIZE_SHIFT = "size_3x"
#: the smallest film of that change: a 224 px validation film at 3x. Larger films are in the regime it measured
LARGE_FILM_SIDE = 672
SIZE_PREFIX = "style stress test: "


def recorded_style_stress(spec: "ModelSpec", weights_sha256: str) -> Mapping[str, Any] | None:
    """The style stress test recorded for the weights that ran (``weights_sha256``), or None."""
    if spec.task == "cascade":
        entry = cascade_card_entry(spec, weights_sha256)
        stress = (entry or {}).get(STYLE_STRESS_KEY)
    else:
        card = installed_card(spec, weights_sha256)
        stress = ((card or {}).get("metrics") or {}).get(STYLE_STRESS_KEY)
    return stress if isinstance(stress, Mapping) else None


def _points(stress: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(figures as sent, figures at 3x), None without a size record."""
    size = (stress.get("shifts") or {}).get(SIZE_SHIFT)
    base = stress.get("baseline")
    if not isinstance(size, Mapping) or not isinstance(base, Mapping):
        return None
    return dict(base.get("point") or {}), dict(size.get("point") or {})


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
    points = _points(stress)
    if points is None:
        return ""
    base, size = points
    at_threshold = stress.get("threshold") is not None  # else the calls were by argmax
    suffix, how = ("_at_threshold", "at its threshold") if at_threshold else ("", "by its highest probability")
    film = f"on its adult validation films enlarged 3x{_sizes(stress, film_side)}"
    if answer == COVID:
        before, after = base.get(f"normal_called_covid{suffix}"), size.get(f"normal_called_covid{suffix}")
        if not isinstance(before, (int, float)) or not isinstance(after, (int, float)):
            return ""
        if after - before <= STYLE_SHIFT_FLAG and after < UNSEEN_NORMAL_CALLED_COVID_BAR:
            return ""
        return (f"{SIZE_PREFIX}{film}, this model called {after:.0%} of adult normal films COVID-19 {how}, against "
                f"{before:.0%} at their own size; its COVID-19 answer on a film this large may reflect the film's size, "
                "not the lungs: read it beside the other models")
    before, after = base.get(f"covid_sensitivity{suffix}"), size.get(f"covid_sensitivity{suffix}")
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)) or before - after <= STYLE_SHIFT_FLAG:
        return ""
    return (f"{SIZE_PREFIX}{film}, this model found {after:.0%} of the COVID-19 films {how}, against {before:.0%} "
            f"at their own size; on a film this large its {answer} answer does not rule COVID-19 out")


def warn_on_large_film(result: ModelResult, film_side: int, modality: str, stress: Mapping[str, Any] | None) -> ModelResult:
    """``result``, or a copy with the size warning (a cached result is never changed)."""
    if result.status != STATUS_OK or modality != "CXR" or COVID not in result.probabilities:
        return result
    warning = size_warning(stress, film_side, result.answer)
    return result if not warning else replace(result, warnings=[*result.warnings, warning])
