"""The audit's adult figures per view (PA, AP): does a network read a portable film's look as COVID-19?

An AP film is the portable film of a patient too ill to stand; half the COVID-19 films here are AP, and left out of
training NIH's AP normal films were called COVID-19 four times as often as its PA ones (docs/SHORTCUT_HISTORY.md,
session 30). The figures are the adult check's (``trainer.audit.adult_covid_check``) on the films of one view; films of unknown view
(RSNA's, most packs' "frontal") are in neither. Views come from ``trainer.data.views``.
"""
from __future__ import annotations

from typing import Any, Callable

from trainer.data.views import AP, PA

VIEWS = (PA, AP)
#: how much more often AP than PA normal films may be called COVID-19 before the audit flags it
VIEW_GAP_FLAG = 0.10


def _called(point: dict[str, Any], what: str) -> tuple[float | None, str]:
    """The share of ``what`` films called COVID-19 at the threshold where there is one, else by argmax."""
    at = point.get(f"{what}_called_covid_at_threshold")
    return (at, "at threshold") if at is not None else (point.get(f"{what}_called_covid"), "by argmax")


def view_flags(by_view: dict[str, Any]) -> list[str]:
    """A flag when AP normal (or non-COVID pneumonia) films are called COVID-19 clearly more often than PA ones."""
    flags = []
    if not all("point" in by_view.get(v, {}) for v in VIEWS):
        return flags
    for what, words in (("normal", "adult normal films"), ("pneumonia", "adult non-COVID pneumonia films")):
        (ap, how), (pa, _) = _called(by_view[AP]["point"], what), _called(by_view[PA]["point"], what)
        if ap is not None and pa is not None and ap - pa > VIEW_GAP_FLAG:
            flags.append(f"AP {words} are called COVID-19 {ap:.0%} of the time {how}, PA ones {pa:.0%}: the model may read "
                         "the view (a portable film's look), not only the lungs.")
    return flags


def view_lines(by_view: dict[str, Any], fmt: Callable[[dict, dict, str], str]) -> list[str]:
    """Console lines of the per-view figures; ``fmt(point, ci, key)`` as the audit's."""
    if not by_view:
        return ["per view: no film of a known view (give --views, e.g. NIH's Data_Entry_2017 table)"]
    lines = ["per view (adult films whose view is known; the same threshold):"]
    for view, check in by_view.items():
        if "skipped" in check:
            lines.append(f"  {view}: skipped ({check['skipped']})")
            continue
        point, ci = check["point"], check["ci95"]
        counts = ", ".join(f"{k} {v['images']}" for k, v in check["counts"].items() if v["images"])
        suffix = "_at_threshold" if "normal_called_covid_at_threshold" in point else ""
        lines.append(f"  {view} ({counts}): called COVID-19: normal {fmt(point, ci, 'normal_called_covid' + suffix)}, "
                     f"pneumonia {fmt(point, ci, 'pneumonia_called_covid' + suffix)}; "
                     f"COVID-19 sensitivity {fmt(point, ci, 'covid_sensitivity' + suffix)}")
    return lines


def record_on_card(folder: Any, by_view: dict[str, Any]) -> Any:
    """Keep the validation audit's per-view figures on the exported card in ``folder`` (``metrics.audit.by_view``, as
    an export with view tables writes it; Help > About gives COVID-19 sensitivity by view from it): for a card exported
    before views were read, measured again on the same weights (``evaluate --split val --views ...
    --record-by-view``)."""
    from pathlib import Path

    from trainer.card_edit import edited_card

    path = Path(folder) / "model.json"
    with edited_card(path) as card:
        audit = card.setdefault("metrics", {}).setdefault("audit", {})
        before = view_flags(audit.get("by_view") or {})  # the flags the figures replaced leave with them
        audit["flags"] = [flag for flag in audit.get("flags") or [] if flag not in before] + view_flags(by_view)
        audit["by_view"] = by_view
    return path
