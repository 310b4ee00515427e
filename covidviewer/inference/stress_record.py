"""Reading a model's recorded style stress test (trainer/style_stress.py, ``metrics.style_stress`` on its card; the
cascade's on its operating point on stage 2's card): the figures on the unchanged adult validation films and under one
change of style, and which of them moved by more than the test's flag. Shared by the warnings that cite the test for
the film that ran: a film far larger than the training films (size_check) and one whose finest detail lies beyond
theirs (detail_check).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from covidviewer.inference.calibrated import installed_card
from covidviewer.inference.network_result import cascade_card_entry
from covidviewer.model_cards import STYLE_SHIFT_FLAG, STYLE_STRESS_KEY
from covidviewer.models.same_source import UNSEEN_NORMAL_CALLED_COVID_BAR

if TYPE_CHECKING:
    from covidviewer.models.spec import ModelSpec


def recorded_style_stress(spec: "ModelSpec", weights_sha256: str) -> Mapping[str, Any] | None:
    """The style stress test recorded for the weights that ran (``weights_sha256``), or None."""
    if spec.task == "cascade":
        entry = cascade_card_entry(spec, weights_sha256)
        stress = (entry or {}).get(STYLE_STRESS_KEY)
    else:
        card = installed_card(spec, weights_sha256)
        stress = ((card or {}).get("metrics") or {}).get(STYLE_STRESS_KEY)
    return stress if isinstance(stress, Mapping) else None


def stress_points(stress: Mapping[str, Any], shift: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(figures on the unchanged films, figures under the change ``shift``), None without a record of it."""
    changed = (stress.get("shifts") or {}).get(shift)
    base = stress.get("baseline")
    if not isinstance(changed, Mapping) or not isinstance(base, Mapping):
        return None
    return dict(base.get("point") or {}), dict(changed.get("point") or {})


def call_terms(stress: Mapping[str, Any]) -> tuple[str, str]:
    """(the figures' key suffix, words): the test's calls were at the card's threshold, or by argmax without one."""
    if stress.get("threshold") is not None:
        return "_at_threshold", "at its threshold"
    return "", "by its highest probability"


#: the adult films whose share called COVID-19 a COVID-19 answer is judged by: (key, words, unseen-hospital bar or None)
CALLED_COVID_GROUPS = (("normal", "adult normal films", UNSEEN_NORMAL_CALLED_COVID_BAR),
                       ("pneumonia", "adult non-COVID pneumonia films", None))


def covid_calls_moved(base: Mapping[str, Any], changed: Mapping[str, Any], suffix: str, how: str,
                      unchanged: str = "at their own size") -> list[str]:
    """E.g. ["57% of adult non-COVID pneumonia films COVID-19 at its threshold, against 26% at their own size"]: each
    group whose share called COVID-19 rose by more than the stress test's flag under a change, or reached its bar."""
    moved = []
    for group, words, bar in CALLED_COVID_GROUPS:
        before, after = base.get(f"{group}_called_covid{suffix}"), changed.get(f"{group}_called_covid{suffix}")
        if not isinstance(before, (int, float)) or not isinstance(after, (int, float)):
            continue
        if after - before > STYLE_SHIFT_FLAG or (bar is not None and after >= bar):
            moved.append(f"{after:.0%} of {words} COVID-19 {how}, against {before:.0%} {unchanged}")
    return moved


def sensitivity_fell(base: Mapping[str, Any], changed: Mapping[str, Any], suffix: str) -> tuple[float, float] | None:
    """(COVID-19 sensitivity unchanged, under the change) when it fell by more than the stress test's flag, else None."""
    before, after = base.get(f"covid_sensitivity{suffix}"), changed.get(f"covid_sensitivity{suffix}")
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)) or before - after <= STYLE_SHIFT_FLAG:
        return None
    return float(before), float(after)
