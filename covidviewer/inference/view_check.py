"""An AP film: a COVID-19 answer says how often this model called a never-seen hospital's AP normal films COVID-19.

An AP film (front to back) is most often the portable film of a patient too ill to stand: a larger-looking heart,
scapulae over the lungs, lines and electrodes. Half the COVID-19 films the models learnt from are AP. Left out of
training, NIH's films showed what a network makes of that (docs/SHORTCUT_HISTORY.md, session 30; ``trainer
held-out-source --views``): ``small_cnn`` called 42% of NIH's AP normal films COVID-19 at its threshold and 6% of the
PA ones (45% and 6% as the ensemble of three starts it ships as since session 31), while VGG-16-GA's GPU network
called 33% and 28%. The gap is the model's own, so only the model's own record speaks (and the consensus's, for its
answer): a COVID-19 answer on a film whose header says ViewPosition AP carries the held-out records (on the card of
the weights that ran) where AP normal films were called COVID-19 more than ``VIEW_GAP`` more often than PA ones.

The other way round, a PA film is most often an outpatient's, and every model finds fewer of the PA COVID-19 films
than of the AP ones (0.68-0.77 of 22 PA adult validation films at its threshold, 0.91 of 22 AP; the audit's figures
per view on the card, Help > About): a non-COVID answer on a film whose header says PA carries the model's own
figures where its PA sensitivity is under the unseen-hospital bar (0.80) and more than ``VIEW_GAP`` under its AP one.
The answer is kept. A model without such a record says nothing here.

A PNG or JPEG film tells no view, nor does a DICOM without ViewPosition; the reader sees it at a glance and the model
cannot (session 41: a view model read NIH's own cues, not the anatomy, and fell to chance on other hospitals). So on
such a film the same answers carry the same figures, conditioned: "if this is an AP film, its COVID-19 answer may
reflect the view", "if this is a PA film, its normal answer rules COVID-19 out less" (session 47).
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Mapping

from covidviewer.card_checks import HELD_OUT_KEY, MIN_NEGATIVES_TO_FLAG, held_out_view_share, held_out_where
from covidviewer.inference.calibrated import installed_card
from covidviewer.inference.era_check import COVID, before_covid
from covidviewer.inference.network_result import cascade_card_entry
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.io.view_position import AP, PA, normalised_view
from covidviewer.models.calibration import CARD_KEY
from covidviewer.models.same_source import UNSEEN_COVID_SENSITIVITY_BAR

if TYPE_CHECKING:
    from covidviewer.models.spec import ModelSpec

#: how much more often AP than PA held-out normal films must have been called COVID-19 for an AP film's answer to say so
VIEW_GAP = 0.10
VIEW_PREFIX = "view check: "
#: what a film that names no view says first (the view is "")
UNKNOWN_VIEW = "the file does not say which way the film was taken (a PNG or JPEG never does)"


def film_view(meta: Mapping[str, Any]) -> str:
    """"AP", "PA", "lateral" or "" from the header's ViewPosition (a PNG or JPEG has none)."""
    return normalised_view(meta.get("view_position"))


def recorded_held_out(spec: "ModelSpec", weights_sha256: str) -> Mapping[str, Mapping[str, Any]]:
    """The leave-one-source-out records on the card of the weights that ran ({} without; the cascade has none)."""
    if spec.task == "cascade":
        return {}
    point = (((installed_card(spec, weights_sha256) or {}).get(CARD_KEY) or {}).get("operating_point")) or {}
    records = point.get(HELD_OUT_KEY) or {}
    return records if isinstance(records, Mapping) else {}


def view_warning(records: Mapping[str, Mapping[str, Any]], who: str = "another network of this model", view: str = AP) -> str:
    """The warning a COVID-19 answer on an AP film carries, from the records whose AP normals fared worse, or "".
    who: what the records measured (the consensus's are its members' networks averaged); view: the film's, AP or ""
    (unknown: the warning says what holds if it is an AP film)."""
    found = []
    for record in records.values():
        ap, pa = (held_out_view_share(record.get("by_view"), side) for side in (AP, PA))
        if ap is None or pa is None or ap[0] - pa[0] <= VIEW_GAP:
            continue
        found.append(f"{who}, trained without {held_out_where(record)}, called {ap[0]:.0%} of that source's {ap[1]} AP "
                     f"normal films COVID-19 at its threshold, against {pa[0]:.0%} of its {pa[1]} PA ones")
    if not found:
        return ""
    if view == AP:
        opening = "the file says this is an AP film (most often the portable film of a patient too ill to stand)"
        conclusion = "its COVID-19 answer may reflect the view"
    else:
        opening = f"{UNKNOWN_VIEW}; AP films are most often the portable films of patients too ill to stand"
        conclusion = "if this is an AP film, its COVID-19 answer may reflect the view"
    return (f"{VIEW_PREFIX}{opening}; " + "; ".join(found) + f"; {conclusion}, not the lungs: read it beside the other "
            "models and an earlier film of this patient")


def warn_on_ap_film(result: ModelResult, spec: "ModelSpec", meta: Mapping[str, Any], modality: str) -> ModelResult:
    """``result``, or a copy with the view warning when a radiograph model called an AP film, or a film of unknown view,
    COVID-19 (a cached result is never changed)."""
    view = film_view(meta)
    if result.status != STATUS_OK or modality != "CXR" or result.answer != COVID or view not in (AP, ""):
        return result
    warning = view_warning(recorded_held_out(spec, result.weights_sha256), view=view)
    return result if not warning else replace(result, warnings=[*result.warnings, warning])


def recorded_by_view(spec: "ModelSpec", weights_sha256: str) -> Mapping[str, Any]:
    """The audit's adult validation figures per view recorded for the weights that ran (the card's
    ``metrics.audit.by_view``; the cascade's on its operating point on stage 2's card), {} without."""
    if spec.task == "cascade":
        by_view = (cascade_card_entry(spec, weights_sha256) or {}).get("by_view")
    else:
        by_view = (((installed_card(spec, weights_sha256) or {}).get("metrics") or {}).get("audit") or {}).get("by_view")
    return by_view if isinstance(by_view, Mapping) else {}


def _sensitivity(by_view: Mapping[str, Any], view: str) -> tuple[float, int] | None:
    """(COVID-19 sensitivity at the operating threshold, films) of one view's validation COVID-19 films, or None
    with fewer than ``MIN_NEGATIVES_TO_FLAG`` of them (one film would move it by 10 points)."""
    entry = by_view.get(view) or {}
    value = (entry.get("point") or {}).get("covid_sensitivity_at_threshold")
    films = (((entry.get("counts") or {}).get(COVID)) or {}).get("images", 0)
    return (float(value), int(films)) if isinstance(value, (int, float)) and films >= MIN_NEGATIVES_TO_FLAG else None


def pa_warning(by_view: Mapping[str, Any], answer: str, who: str = "this model", p_covid: float | None = None,
               view: str = PA) -> str:
    """The warning a non-COVID answer on a PA film carries, or "" where the model finds PA COVID-19 films about as
    often as AP ones, or at the bar. who: whose figures they are (the consensus has its own). p_covid: the film's
    p(COVID-19); where the record keeps its PA COVID-19 films' scores, the warning says how many scored as low, and
    says nothing when none did (the answer is then as firm as the validation films can tell). view: the film's, PA or
    "" (unknown: the warning says what holds if it is a PA film)."""
    pa, ap = _sensitivity(by_view, PA), _sensitivity(by_view, AP)
    if pa is None or ap is None or pa[0] >= UNSEEN_COVID_SENSITIVITY_BAR or ap[0] - pa[0] <= VIEW_GAP:
        return ""
    scores = (by_view.get(PA) or {}).get("covid_scores")
    as_low = ""
    if p_covid is not None and isinstance(scores, list) and len(scores) == pa[1]:
        low = sum(1 for score in scores if score <= p_covid)
        if not low:
            return ""
        as_low = f", and {low} of those {pa[1]} scored no higher than this film (p(COVID-19) {p_covid:.2f})"
    if view == PA:
        opening = "the file says this is a PA film (most often an outpatient's)"
        conclusion = f"its {answer} answer rules COVID-19 out less on a PA film"
    else:
        opening = f"{UNKNOWN_VIEW}; PA films are most often outpatients'"
        conclusion = f"if this is a PA film, its {answer} answer rules COVID-19 out less"
    return (f"{VIEW_PREFIX}{opening}; at its threshold {who} found {pa[0]:.2f} of {pa[1]} PA adult validation COVID-19 "
            f"films, against {ap[0]:.2f} of {ap[1]} AP ones{as_low}; {conclusion} than its pooled sensitivity says")


def warn_on_pa_film(result: ModelResult, spec: "ModelSpec", meta: Mapping[str, Any], modality: str,
                    date_check: bool = True) -> ModelResult:
    """``result``, or a copy with the PA warning when a radiograph model gave a non-COVID answer on a PA film, or a film
    of unknown view, made since COVID-19 exists (with ``date_check``, a film dated before cannot show it; a cached
    result is never changed)."""
    answer, view = result.answer, film_view(meta)
    if (result.status != STATUS_OK or modality != "CXR" or not answer or answer == COVID or view not in (PA, "")
            or (date_check and before_covid(meta) is not None)):
        return result
    warning = pa_warning(recorded_by_view(spec, result.weights_sha256), answer, p_covid=result.probabilities.get(COVID),
                         view=view)
    return result if not warning else replace(result, warnings=[*result.warnings, warning])
