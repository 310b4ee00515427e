"""What a COVID-19 answer carries from its model's same-source check (trainer/same_source_check.py).

The check compares adult normal films with COVID-19 films *of the same collections* (ieee8023, Figure1),
where the hospital cannot give the answer away. Recorded on a card's operating point (``same_source``,
by ``trainer evaluate --split train --record-same-source`` or ``trainer audit-cascade --split train
--record-same-source``), it is the nearest figure we have to how the model treats a normal film from a
hospital none of us trains on. Where it misses issue 12's bars for unseen hospitals, a COVID-19 answer
says so beside the answer: the reader should weigh it as a score that may reflect the film's origin.
Plain Python on the card's JSON; the trainer's audit takes its bars from here.
"""
from __future__ import annotations

from typing import Any, Mapping

from covidviewer.model_cards import same_source_by_patient, same_source_negatives

#: issue 12's bars for hospitals none of us trains on, which the same-source normal films stand in for
UNSEEN_AUC_BAR = 0.85
UNSEEN_NORMAL_CALLED_COVID_BAR = 0.20
#: fewer normal films than this and one film moves a share by 10 points or more: reported, not flagged
MIN_NORMALS_TO_FLAG = 10


def misses_bars(check: Mapping[str, Any]) -> bool:
    """True when the check holds enough normal films and its share of them called COVID-19 at the
    operating threshold or its within-source AUC misses the unseen-hospital bars."""
    if "skipped" in check or same_source_negatives(check) < MIN_NORMALS_TO_FLAG:
        return False
    point = check.get("point") or {}
    share = point.get("normal_called_covid_at_threshold")
    auc = point.get("auc_normal_vs_covid")
    return (share is not None and share >= UNSEEN_NORMAL_CALLED_COVID_BAR) or (auc is not None and auc < UNSEEN_AUC_BAR)


def same_source_caveat(check: Mapping[str, Any] | None, class_name: str) -> str:
    """The warning a ``class_name`` answer by the operating threshold carries, or "" when the recorded
    check meets the bars (or there is none). E.g. "shortcut audit: of 13 normal films from the hospitals of
    its COVID-19 films (training films, which it learnt as normal), this model calls 7 COVID-19 at this
    threshold (6 of 8 earlier or later films of COVID-19 patients, 1 of 5 films of other patients; within-source
    AUC 0.81, bar 0.85); its COVID-19 answer may reflect ...".
    """
    if not check or not misses_bars(check):
        return ""
    point, normals = check.get("point") or {}, same_source_negatives(check)
    share = point.get("normal_called_covid_at_threshold")
    called = f"calls {round(share * normals)} {class_name}" if share is not None else f"scores them near its {class_name} films"
    auc = point.get("auc_normal_vs_covid")
    separation = f"within-source AUC {auc:.2f}, bar {UNSEEN_AUC_BAR:.2f}" if auc is not None else ""
    details = "; ".join(d for d in (same_source_by_patient(check), separation) if d)
    details = f" ({details})" if details else ""
    films = "training films, which it learnt as normal" if check.get("split") == "train" else f"{check.get('split', '')} films"
    return (f"shortcut audit: of {normals} normal films from the hospitals of its {class_name} films ({films}), this "
            f"model {called} at this threshold{details}; its {class_name} answer may reflect where a film comes "
            "from, not the lungs: read it beside the other models")
