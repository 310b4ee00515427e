"""A radiograph whose finest detail is stronger or weaker than the training films': its answer carries what the
model's style stress test measured under the change that makes a film so.

A hospital's console sharpens, smooths or leaves noise in a film, and the networks here read that strength of detail
(session 28: trained without style augmentation, a small CNN called every adult normal COVID-19 once the film was
noisier or edge-enhanced; the style stress test shows the shipped networks move too: DPN-SENet from 3% to 18% of adult
normals called COVID-19 when edge-enhanced, every chest X-ray model losing 0.17-0.29 of its COVID-19 sensitivity on
smoothed films). ``trainer detail-range`` records the finest-detail strength of each model's view of its adult training
films (covidviewer.inference.inputs.plane_detail) on its card; here the same measure of the film that ran is compared
with it:

* a COVID-19 answer on a film whose finest detail is stronger than ``UPPER`` of the adult normal films the model learnt
  from carries the stress test's figures for edge enhancement or noise when they moved the shares of adult films called
  COVID-19 by more than the test's flag (or to the unseen-hospital bar);
* another answer on a film whose finest detail is weaker than ``LOWER`` of the adult COVID-19 films carries its
  figures for smoothing or a coarser detector when COVID-19 sensitivity fell by more than the flag.

The answer itself does not change: the figure is a warning, not a correction. The record is read from the card of the
weights that ran (the cascade's from stage 2's card, with the cascade's own stress test), so a retrained set brings its
own.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Mapping

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.inference.calibrated import installed_card
from covidviewer.inference.era_check import COVID
from covidviewer.inference.network_result import cascade_card_entry, installed_weights_sha
from covidviewer.inference.inputs import plane_detail, reading_window
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.inference.stress_record import call_terms, covid_calls_moved, recorded_style_stress, sensitivity_fell, stress_points
from covidviewer.model_cards import DETAIL_RANGE_KEY

if TYPE_CHECKING:
    import numpy as np

    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import ModelSpec

#: the training films' percentiles a film's finest detail is judged against (keys of the card's record)
UPPER, LOWER = "p97.5", "p2.5"
#: the csv labels of the adult training films each side is judged against
NORMAL_LABEL, COVID_LABEL = "normal", "covid"
#: the style stress test's changes (trainer.style_stress.SHIFTS) that make a film's finest detail stronger / weaker
STRONGER = (("sharpen_1.0", "edge-enhanced"), ("noise_0.03", "noisier"))
WEAKER = (("blur_1.5", "smoothed"), ("resample_0.4", "from a coarser detector"))
DETAIL_PREFIX = "detail check: "


def recorded_detail_range(spec: "ModelSpec", weights_sha256: str) -> tuple[Mapping[str, Any], "Preprocess"] | None:
    """(the training films' finest-detail record, the view it was measured on) from the card of the weights that ran
    (``weights_sha256``; the cascade's from stage 2's card), or None. The view is the card's own preprocessing: the
    installed weights' spec, which wins over the registered one."""
    if spec.task == "cascade":
        if cascade_card_entry(spec, weights_sha256) is None:  # not the installed pair of stages
            return None
        from covidviewer.models import get_spec

        stage2 = get_spec(spec.parts["stage2"])
        card = installed_card(stage2, installed_weights_sha(stage2))
    else:
        card = installed_card(spec, weights_sha256)
    record = ((card or {}).get("metrics") or {}).get(DETAIL_RANGE_KEY)
    view = ((card or {}).get("spec") or {}).get("preprocess")
    if not isinstance(record, Mapping) or not isinstance(view, Mapping):
        return None
    try:
        return record, Preprocess.from_dict(dict(view))
    except (TypeError, ValueError):  # a card of another format: no warning rather than a wrong one
        return None


def _bound(record: Mapping[str, Any], label: str, key: str) -> float | None:
    value = ((record.get("labels") or {}).get(label) or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def detail_warning(detail: float, record: Mapping[str, Any] | None, stress: Mapping[str, Any] | None, answer: str) -> str:
    """The warning an ``answer`` on a film whose finest detail is ``detail`` carries, or ""."""
    if not record or not stress:
        return ""
    if answer == COVID:
        return _stronger_than_the_normals(detail, record, stress)
    return _weaker_than_the_covid_films(detail, record, stress, answer)


def _stronger_than_the_normals(detail: float, record: Mapping[str, Any], stress: Mapping[str, Any]) -> str:
    upper = _bound(record, NORMAL_LABEL, UPPER)
    if upper is None or detail <= upper:
        return ""
    suffix, how = call_terms(stress)
    for shift, words in STRONGER:
        points = stress_points(stress, shift)
        moved = covid_calls_moved(*points, suffix, how, unchanged="unchanged") if points else []
        if moved:
            return (f"{DETAIL_PREFIX}this film's finest detail ({detail:.3f}) is stronger than in {UPPER[1:]}% of the "
                    f"adult normal films this model learnt from (up to {upper:.3f}), as after edge enhancement or "
                    f"noise; on its adult validation films {words}, this model called {' and '.join(moved)}; its "
                    "COVID-19 answer may reflect how the film was processed, not the lungs: read it beside the other models")
    return ""


def _weaker_than_the_covid_films(detail: float, record: Mapping[str, Any], stress: Mapping[str, Any], answer: str) -> str:
    lower = _bound(record, COVID_LABEL, LOWER)
    if lower is None or detail >= lower:
        return ""
    suffix, how = call_terms(stress)
    for shift, words in WEAKER:
        points = stress_points(stress, shift)
        fell = sensitivity_fell(*points, suffix) if points else None
        if fell is not None:
            return (f"{DETAIL_PREFIX}this film's finest detail ({detail:.3f}) is weaker than in {100 - float(LOWER[1:]):g}% "
                    f"of the adult COVID-19 films this model learnt from (down to {lower:.3f}), as after smoothing or a "
                    f"coarser detector; on its adult validation films {words}, this model found {fell[1]:.0%} of the "
                    f"COVID-19 films {how}, against {fell[0]:.0%} unchanged; its {answer} answer does not rule COVID-19 out")
    return ""


def warn_on_detail(result: ModelResult, detail: float | None, modality: str, record: Mapping[str, Any] | None,
                   stress: Mapping[str, Any] | None) -> ModelResult:
    """``result``, or a copy with the detail warning (a cached result is never changed)."""
    if detail is None or result.status != STATUS_OK or modality != "CXR" or COVID not in result.probabilities:
        return result
    warning = detail_warning(detail, record, stress, result.answer)
    return result if not warning else replace(result, warnings=[*result.warnings, warning])


def warn_on_film_detail(result: ModelResult, spec: "ModelSpec", volume: "Volume", lung_mask: "np.ndarray | None") -> ModelResult:
    """``result`` of ``spec`` on a radiograph, with the detail warning where the film's finest detail, measured on the
    model's view (``lung_mask``: the one the model ran with), calls for it."""
    if result.status != STATUS_OK or spec.modality != "CXR" or not volume.is_2d or volume.is_rgb:
        return result
    recorded = recorded_detail_range(spec, result.weights_sha256)
    if recorded is None or (recorded[1].lung_crop and lung_mask is None):
        return result
    record, pp = recorded
    detail = plane_detail(volume.pixels[0], pp, reading_window(volume, False), lung_mask)
    return warn_on_detail(result, detail, spec.modality, record, recorded_style_stress(spec, result.weights_sha256))
