"""The same-source check: adult normal vs COVID-19 films *from the same source*.

Every other adult figure of the audit compares normal films from one hospital system (NIH, RSNA) with
COVID-19 films from others, so a model that reads the hospital passes it. The few sources that hold
both (ieee8023 and Figure1 here: normal films next to the COVID-19 films of the same collections) are
the only place where the hospital cannot give the answer away, and their normal films are the nearest
thing we have to a normal film from a hospital whose other films are not normal: what a hospital none
of us trains on looks like to a model that learnt "NIH look = normal".

Pairs are only ever formed within a source (the AUC is the share of same-source (normal, COVID-19)
pairs ordered right), so pooling sources cannot bring the hospital back in.

Many of those normal films are earlier or later films of a COVID-19 patient (a film before the illness, a
follow-up after it, often panels of the one figure of a paper beside that patient's COVID-19 films). There
only the lungs differ, not the hospital, the patient, the device or the figure's processing, but a film
before or after the illness may still show some of it. They are counted apart (``by_patient``), so a
reader can tell "calls the patient's other films COVID-19" from "calls other patients' normals COVID-19".

The same check with the adult non-COVID pneumonia films of those collections (``negative="pneumonia"``;
ieee8023 holds bacterial and viral pneumonias beside its COVID-19 films) asks the clinical question, COVID-19
or another pneumonia, where the hospital cannot answer it. Issue 12's bars for unseen hospitals (set for
normal films) are applied to it as well: the audit flags it by them, and the app warns by them.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from covidviewer.card_checks import (SAME_SOURCE_KEYS, SAME_SOURCE_WORDS, same_source_by_patient, same_source_negative,
                                     same_source_negatives)
from covidviewer.models.same_source import MIN_NEGATIVES_TO_FLAG, UNSEEN_AUC_BAR, UNSEEN_NORMAL_CALLED_COVID_BAR
from trainer.card_edit import edited_card
from trainer.metrics import covid_class, point_and_intervals, roc_auc


def share_of(mask: np.ndarray, hit: np.ndarray) -> float:
    """Share of the ``mask`` rows that ``hit``; nan when there are none (a bootstrap resample may hold none)."""
    return float(hit[mask].mean()) if mask.any() else math.nan


def within_source_auc(is_covid: np.ndarray, score: np.ndarray, sources: np.ndarray) -> float:
    """Share of (normal, COVID-19) pairs from one source that the score orders right (ties 1/2); nan if none."""
    total = weight = 0.0
    for name in set(sources):
        here = sources == name
        pairs = float(is_covid[here].sum()) * float((~is_covid[here]).sum())
        if pairs:
            total += roc_auc(is_covid[here], score[here]) * pairs
            weight += pairs
    return total / weight if weight else math.nan


def _negative_rows(allowed: np.ndarray, c: int, normal: int | None, negative: str) -> np.ndarray:
    """Rows of one negative kind: a single allowed class "normal", or only non-COVID pneumonia classes allowed
    (bacterial, viral, or the coarse "pneumonia, cause unknown" set target)."""
    if negative == "normal":
        return (allowed.sum(1) == 1) & allowed[:, normal]
    others = np.ones(len(allowed), bool) if normal is None else ~allowed[:, normal]
    return others & ~allowed[:, c] & allowed.any(1)


def same_source_check(prob, allowed, classes, sources, adult, patients, threshold, n_boot, seed,
                      negative: str = "normal") -> dict[str, Any]:
    """{"negative", "sources": {name: {negative: n, "COVID-19": n}}, "negative_patients", "threshold", "point",
    "ci95"} over the adult ``negative`` (SAME_SOURCE_WORDS) and COVID-19 films of every source that holds both;
    {"negative", "skipped": why} when none does."""
    c = covid_class(classes)
    normal = list(classes).index("normal") if "normal" in classes else None
    if c is None or (normal is None and negative == "normal"):
        return {"negative": negative, "skipped": f"the model has no COVID-19 and {negative} classes ({', '.join(classes)})"}
    what = SAME_SOURCE_WORDS[negative]
    is_covid = adult & (allowed.sum(1) == 1) & allowed[:, c]
    is_negative = adult & _negative_rows(allowed, c, normal, negative)
    both = sorted(s for s in set(sources) if (is_covid & (sources == s)).any() and (is_negative & (sources == s)).any())
    if not both:
        return {"negative": negative, "skipped": f"no source holds both adult {what} and COVID-19 films among these rows"}
    idx = np.nonzero((is_covid | is_negative) & np.isin(sources, both))[0]
    covid, src, p, called = is_covid[idx], sources[idx], prob[idx, c], prob[idx].argmax(1) == c
    auc_key, called_key = f"auc_{negative}_vs_covid", f"{negative}_called_covid"

    def stat(j: np.ndarray) -> dict[str, float]:
        out = {auc_key: within_source_auc(covid[j], p[j], src[j]),
               called_key: share_of(~covid[j], called[j]), "covid_sensitivity": share_of(covid[j], called[j])}
        if threshold is not None:
            above = p[j] >= threshold
            out |= {f"{called_key}_at_threshold": share_of(~covid[j], above),
                    "covid_sensitivity_at_threshold": share_of(covid[j], above)}
        return out

    counts = {s: {negative: int((~covid & (src == s)).sum()), "COVID-19": int((covid & (src == s)).sum())} for s in both}
    # films of one patient are often panels of one figure: the patients are what the intervals rest on
    check = {"negative": negative, "sources": counts, "negative_patients": len(set(patients[idx][~covid])), "threshold": threshold}
    if negative == "normal":  # a non-COVID pneumonia film of a COVID-19 patient is not a thing these packs hold
        check["by_patient"] = _by_patient(covid, patients[idx], p, called, threshold)
    return {**check, **point_and_intervals(stat, len(idx), patients[idx], n_boot, seed)}


def _by_patient(covid: np.ndarray, patients: np.ndarray, p: np.ndarray, called: np.ndarray,
                threshold: float | None) -> dict[str, dict[str, int]]:
    """The check's normal films in two groups, counted (too few for shares): of patients who also have a COVID-19
    film among these rows, and of other patients; how many each calls COVID-19 (at the threshold when given)."""
    hit = p >= threshold if threshold is not None else called
    of_covid_patient = ~covid & np.isin(patients, patients[covid])
    groups = {"covid_patients": of_covid_patient, "other_patients": ~covid & ~of_covid_patient}
    return {name: {"normal": int(rows.sum()), "called_covid": int((rows & hit).sum())} for name, rows in groups.items()}


def _where(check: dict[str, Any]) -> str:
    negative = same_source_negative(check)
    return ", ".join(f"{s}: {n[negative]} {SAME_SOURCE_WORDS[negative]}, {n['COVID-19']} COVID-19" for s, n in check["sources"].items())


#: what a flag says the model may be doing, by the films a check set against COVID-19
_MEANING = {"normal": "the model may read the hospital, not the lungs",
            "pneumonia": "the model may not tell COVID-19 from another pneumonia"}


def same_source_flags(check: dict[str, Any]) -> list[str]:
    """Plain-language flags where the same-source figures miss the bars set for unseen hospitals (the app warns
    by the same bars: covidviewer.models.same_source)."""
    if "skipped" in check or same_source_negatives(check) < MIN_NEGATIVES_TO_FLAG:
        return []
    point, flags, negative = check["point"], [], same_source_negative(check)
    what = SAME_SOURCE_WORDS[negative]
    for suffix, how in (("", "by argmax"), ("_at_threshold", f"at threshold {check.get('threshold') or 0:.2f}")):
        share = point.get(f"{negative}_called_covid{suffix}")
        if share is not None and share >= UNSEEN_NORMAL_CALLED_COVID_BAR:
            flags.append(f"{share:.0%} of adult {what} films from the sources that also hold the COVID-19 films "
                         f"({_where(check)}) are called COVID-19 {how}: {_MEANING[negative]}.")
    auc = point.get(f"auc_{negative}_vs_covid")
    if auc is not None and auc < UNSEEN_AUC_BAR:
        flags.append(f"Within one source ({_where(check)}) the COVID-19 score separates COVID-19 from {what} films "
                     f"with AUC {auc:.2f} only (bar for unseen hospitals {UNSEEN_AUC_BAR:.2f}).")
    return flags


def same_source_lines(check: dict[str, Any], fmt) -> list[str]:
    """The audit summary's lines; fmt(point, ci, key) formats one figure with its interval."""
    negative = same_source_negative(check)
    what = SAME_SOURCE_WORDS[negative]
    if "skipped" in check:
        return [f"same source, {what}: skipped ({check['skipped']})"]
    point, ci = check["point"], check["ci95"]
    lines = [f"same source, adult {what} vs COVID-19 films of one collection ({_where(check)}):",
             f"  within-source AUC of p(COVID-19): {fmt(point, ci, f'auc_{negative}_vs_covid')}"]
    for suffix, how in (("", "argmax"), ("_at_threshold", f"p >= {check.get('threshold') or 0:.2f}")):
        if f"{negative}_called_covid{suffix}" in point:
            lines.append(f"  called COVID-19 ({how}): {what} {fmt(point, ci, f'{negative}_called_covid{suffix}')}; "
                         f"COVID-19 sensitivity {fmt(point, ci, 'covid_sensitivity' + suffix)}")
    by_patient = same_source_by_patient(check)
    if by_patient:
        how = f"p >= {check['threshold']:.2f}" if check.get("threshold") is not None else "argmax"
        lines.append(f"  normal films called COVID-19 ({how}), by patient: {by_patient}")
    return lines


def recorded(entry: dict[str, Any], check: dict[str, Any], split: str) -> dict[str, Any]:
    """``entry`` (an operating point as a card holds it) with ``check`` recorded under its kind's key
    (``same_source`` or ``same_source_pneumonia``), for the app to warn beside a COVID-19 answer
    (covidviewer.models.same_source); a check of the other kind stays as it was. The check must have been made
    at the entry's own threshold: figures at another threshold would describe another decision."""
    if "skipped" in check:
        raise ValueError(f"nothing to record: the same-source check was skipped ({check['skipped']})")
    threshold, at = entry.get("threshold"), check.get("threshold")
    if threshold is None or at is None or abs(float(threshold) - float(at)) > 1e-9:
        raise ValueError(f"the check was made at threshold {at}, the card's operating threshold is {threshold}")
    return {**entry, SAME_SOURCE_KEYS[same_source_negative(check)]: {**check, "split": split}}


def record_on_card(folder: Path, check: dict[str, Any], split: str) -> Path:
    """Record ``check`` on the operating point of the exported card in ``folder``; returns the card's path."""
    from covidviewer.models.calibration import CARD_KEY

    path = Path(folder) / "model.json"
    with edited_card(path) as card:
        calibration = card.get(CARD_KEY) or {}
        if not calibration.get("operating_point"):
            raise ValueError(f"{path} has no operating point to record the check on")
        calibration["operating_point"] = recorded(calibration["operating_point"], check, split)
    return path
