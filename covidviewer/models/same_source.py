"""What a COVID-19 answer carries from its model's same-source check (trainer/same_source_check.py).

The check compares adult normal films with COVID-19 films *of the same collections* (ieee8023, Figure1),
where the hospital cannot give the answer away. Recorded on a card's operating point (``same_source``,
by ``trainer evaluate --split train --record-same-source`` or ``trainer audit-cascade --split train
--record-same-source``), it is the nearest figure we have to how the model treats a normal film from a
hospital none of us trains on. Where it misses issue 12's bars for unseen hospitals, a COVID-19 answer
says so beside the answer: the reader should weigh it as a score that may reflect the film's origin.

A second check (``same_source_pneumonia``, ``--record-same-source pneumonia``, recorded from the validation
films: on its training films a network has learnt each of these few pneumonias by heart) sets the adult
non-COVID pneumonia films of those collections against their COVID-19 films: COVID-19 or another pneumonia,
without the hospital. The same bars apply; where it misses them, a COVID-19 answer says that it may not tell
COVID-19 from another pneumonia. Plain Python on the card's JSON; the trainer's audit takes its bars from here.

A third record (``held_out_sources``, by ``trainer held-out-source --write``, session 27) comes from a network of the
model trained here without one adult source (its GPU recipe, not the shipped network's own history) and scored on that
source's films: a hospital it has not learnt. Where its figures miss the same bars, a COVID-19 answer says that on
such films its COVID-19 answers are often wrong. Since session 29 the record can also hold the same films and the
validation COVID-19 films restyled alike (``--restyled``: a hospital in neither pack brings its own console too); their
share of normals called COVID-19, averaged over the changes of style, is judged by the same bar.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from covidviewer.card_checks import (MIN_NEGATIVES_TO_FLAG, held_out_brief, restyled_mean, same_source_by_patient,
                                     same_source_negative, same_source_negatives)

#: issue 12's bars for hospitals none of us trains on, which the same-source normal films stand in for
UNSEEN_AUC_BAR = 0.85
UNSEEN_NORMAL_CALLED_COVID_BAR = 0.20
UNSEEN_COVID_SENSITIVITY_BAR = 0.80
#: how every caveat begins: it is about a COVID-19 answer, so a check that overrules that answer (the image's
#: date, covidviewer.inference.era_check) takes it away with the answer
CAVEAT_PREFIX = "shortcut audit: "


def misses_bars(check: Mapping[str, Any]) -> bool:
    """True when the check holds enough films of its negative kind and its share of them called COVID-19 at the
    operating threshold or its within-source AUC misses the unseen-hospital bars."""
    if "skipped" in check or same_source_negatives(check) < MIN_NEGATIVES_TO_FLAG:
        return False
    point, negative = check.get("point") or {}, same_source_negative(check)
    share = point.get(f"{negative}_called_covid_at_threshold")
    auc = point.get(f"auc_{negative}_vs_covid")
    return (share is not None and share >= UNSEEN_NORMAL_CALLED_COVID_BAR) or (auc is not None and auc < UNSEEN_AUC_BAR)


def same_source_caveat(check: Mapping[str, Any] | None, class_name: str) -> str:
    """The warning a ``class_name`` answer by the operating threshold carries, or "" when the recorded
    check meets the bars (or there is none). E.g. "shortcut audit: of 13 normal films from the hospitals of
    its COVID-19 films (training films, which it learnt as normal), this model calls 7 COVID-19 at this
    threshold (6 of 8 earlier or later films of COVID-19 patients, 1 of 5 films of other patients; within-source
    AUC 0.81, bar 0.85); its COVID-19 answer may reflect ...". A pneumonia check says the answer may not tell
    COVID-19 from another pneumonia.
    """
    if not check or not misses_bars(check):
        return ""
    point, count, negative = check.get("point") or {}, same_source_negatives(check), same_source_negative(check)
    share = point.get(f"{negative}_called_covid_at_threshold")
    called = f"calls {round(share * count)} {class_name}" if share is not None else f"scores them near its {class_name} films"
    auc = point.get(f"auc_{negative}_vs_covid")
    separation = f"within-source AUC {auc:.2f}, bar {UNSEEN_AUC_BAR:.2f}" if auc is not None else ""
    details = "; ".join(d for d in (same_source_by_patient(check), separation) if d)
    details = f" ({details})" if details else ""
    split, patients = check.get("split", ""), check.get("negative_patients")
    if negative == "pneumonia":
        films = "training films, which it learnt as not COVID-19" if split == "train" else f"{split} films"
        of_patients = f" of {patients} patients" if patients else ""
        return (f"{CAVEAT_PREFIX}of {count} non-COVID pneumonia films{of_patients} (bacterial, viral) from the collections "
                f"of its {class_name} films ({films}), this model {called} at this threshold{details}; its {class_name} "
                "answer may not tell COVID-19 from another pneumonia: read it as 'pneumonia-like', not as the cause")
    films = "training films, which it learnt as normal" if split == "train" else f"{split} films"
    return (f"{CAVEAT_PREFIX}of {count} normal films from the hospitals of its {class_name} films ({films}), this "
            f"model {called} at this threshold{details}; its {class_name} answer may reflect where a film comes "
            "from, not the lungs: read it beside the other models")


def held_out_caveat(check: Mapping[str, Any] | None, class_name: str) -> str:
    """The warning a ``class_name`` answer carries from a leave-one-source-out check whose held-out normal (or
    non-COVID pneumonia) films miss the unseen-hospital bars, or "" (none recorded, too few films, bars met)."""
    return held_out_caveats([check] if check else [], class_name)


def held_out_caveats(checks: Iterable[Mapping[str, Any]], class_name: str) -> str:
    """One warning from every leave-one-source-out check of a card that misses the bars (``held_out_caveat``): a
    card with several held out (RSNA, NIH, NIH with Figure1) says them in one caveat, not one caveat each."""
    # short clauses: a reader beside the film needs the conclusion and a figure each, not the card's every interval
    briefs = [held_out_brief(check, kind) for check in checks for kind in _missed(check)]
    if not briefs:
        return ""
    # "name: evidence; ...; conclusion", as the results panel reads a long warning (covidviewer.analysis.warning_text)
    return (f"{CAVEAT_PREFIX}networks of this model trained without a source called {class_name} at their threshold for "
            f"0.80 sensitivity: {'; '.join(briefs)} (bars: under {UNSEEN_NORMAL_CALLED_COVID_BAR:.0%}, AUC "
            f"{UNSEEN_AUC_BAR:.2f}; Help > About has each figure's interval); on films from a hospital it has not learnt, "
            f"its {class_name} answer is often a false alarm: read it beside the other models")


def _missed(check: Mapping[str, Any]) -> tuple[str, ...]:
    """The kinds of held-out film of ``check`` that miss the unseen-hospital bars (held_out_lines' kinds)."""
    point, n = check.get("point") or {}, check.get("n") or {}
    missed = []
    for kind in ("normal", "pneumonia"):
        share, auc = point.get(f"{kind}_called_covid_at_threshold"), point.get(f"auc_{kind}_vs_covid")
        # restyled as a new hospital's films, on average over the changes (the nearer test, where recorded)
        restyled = restyled_mean(check.get("restyled"), kind)
        if int(n.get(kind, 0)) >= MIN_NEGATIVES_TO_FLAG and any((
                share is not None and share >= UNSEEN_NORMAL_CALLED_COVID_BAR, auc is not None and auc < UNSEEN_AUC_BAR,
                restyled is not None and restyled >= UNSEEN_NORMAL_CALLED_COVID_BAR)):
            missed.append(kind)
    # the held-out COVID-19 films against the held-out normals, both kinds from sources the network never saw: the
    # nearest test here of issue 12's hospitals in neither pack
    neither = (check.get("neither_seen") or {}).get("point") or {}
    auc, share = neither.get("auc_covid_vs_normal"), neither.get("normal_called_covid_at_threshold")
    if int(n.get("normal", 0)) >= MIN_NEGATIVES_TO_FLAG and int(n.get("covid", 0)) >= MIN_NEGATIVES_TO_FLAG and any((
            auc is not None and auc < UNSEEN_AUC_BAR, share is not None and share >= UNSEEN_NORMAL_CALLED_COVID_BAR)):
        # the nearest test says it for the check: its held-out normals against the validation COVID-19 films would
        # repeat what the same source's own check says
        return ("neither",)
    return tuple(missed)
