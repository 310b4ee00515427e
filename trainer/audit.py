"""Shortcut audit: does a classifier read the lungs, or the patient's age and hospital?

From one pass over the validation images (probabilities and penultimate features, see
``trainer.evaluation``) and their rows (``label``, ``source``, ``patient_id``, ``target``, optional
``targets``), ``shortcut_audit`` reports

- every headline metric per source (accuracy; one-vs-rest AUC of each class present), with
  patient-bootstrap 95% intervals;
- on adult films: adult normal vs adult COVID-19 AUC of the COVID-19 probability, the share of
  adult normal and adult non-COVID pneumonia films called COVID-19, and COVID-19 sensitivity;
- the same-source check (``trainer.same_source_check``): adult normal vs COVID-19 films of the sources
  that hold both, pairs formed within a source only, so the hospital cannot give the answer away; and
  the same with adult non-COVID pneumonia films (``same_source_pneumonia``): COVID-19 or another
  pneumonia, the clinical question, without the hospital;
- the adult figures per view, PA and AP, where the rows know it (``trainer.view_check``);
- a "which source is this?" linear probe on the features (``trainer.probe``), over all rows and
  within each label, where the label cannot explain the source (lower is better);
- plain-language flags when a figure crosses a line below.

A film is an adult's when its row says so (``adult`` or ``age_group``); otherwise every film that is
not from Kermany's paediatric set is an adult's (ieee8023, Figure1, RSNA, NIH). A row whose
``targets`` allow several classes (adult "pneumonia, cause unknown") counts as correct when the
argmax is any of them, and is left out of the AUCs of those classes.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Sequence

import numpy as np

from covidviewer.card_checks import SAME_SOURCE_KEYS
from trainer.metrics import BOOTSTRAP_SEED, N_BOOTSTRAP, covid_class, point_and_intervals, roc_auc
from trainer.probe import source_probe
from trainer.same_source_check import same_source_check, same_source_flags, same_source_lines, share_of
from trainer.view_check import VIEWS, view_flags, view_lines

PROBE_FLAG_AUC = 0.90
CALLED_COVID_FLAG = 0.10  # share of adult normal / adult non-COVID pneumonia films called COVID-19
ADULT_AUC_BAR = 0.90  # adult normal vs adult COVID-19, issue 12's bar on validation rows
COVID_SENSITIVITY_BAR = 0.80

_SHORT_SOURCES = (("kermany", "Kermany"), ("ieee8023", "ieee8023"), ("figure1", "Figure1"), ("rsna", "RSNA"), ("nih", "NIH"))


def source_name(source: str) -> str:
    """Short name of a csv ``source`` ("NIH ChestX-ray14 (via ...)" -> "NIH"); "(unspecified)" if empty."""
    low = (source or "").lower()
    for key, name in _SHORT_SOURCES:
        if key in low:
            return name
    return source.split(" (")[0].strip() if source.strip() else "(unspecified)"


def is_adult(row: Any) -> bool:
    """The row's own mark (``adult`` bool or ``age_group``) if it has one, else: not Kermany's children."""
    flag = getattr(row, "adult", None)
    if isinstance(flag, bool):
        return flag
    age = str(getattr(row, "age_group", "") or "").lower()
    if age:
        return age.startswith("adult")
    return "kermany" not in (getattr(row, "source", "") or "").lower()


def row_targets(row: Any) -> tuple[int, ...]:
    """The class indices a row allows (``targets`` when set-valued, else just ``target``)."""
    return tuple(getattr(row, "targets", None) or (row.target,))


def allowed_of(rows: Sequence[Any], n_classes: int) -> np.ndarray:
    """(N, K) bool: the classes each row's label allows (one, or several for a coarse label)."""
    out = np.zeros((len(rows), n_classes), dtype=bool)
    for i, row in enumerate(rows):
        out[i, list(row_targets(row))] = True
    return out


def _normal_class(classes: Sequence[str]) -> int | None:
    for i, name in enumerate(classes):
        if re.sub(r"[^a-z]", "", name.lower()) in ("normal", "healthy"):
            return i
    return None


def _label_key(row: Any, classes: Sequence[str]) -> str:
    targets = row_targets(row)
    return row.label if len(targets) == 1 else " or ".join(classes[t] for t in targets)


def _per_class_point(prob: np.ndarray, allowed: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Accuracy (argmax among the allowed classes), AUC per class, COVID-19 sensitivity."""
    pred = prob.argmax(1)
    single = allowed.sum(1) == 1
    out = {"accuracy": float(allowed[np.arange(len(pred)), pred].mean()) if len(pred) else math.nan}
    for i, name in enumerate(classes):
        scored = single | ~allowed[:, i]  # a set-valued row is neither positive nor negative for its classes
        out[f"auc/{name}"] = roc_auc(allowed[scored, i], prob[scored, i])
    c = covid_class(classes)
    if c is not None:
        covid = single & allowed[:, c]
        out["covid_sensitivity"] = float((pred[covid] == c).mean()) if covid.any() else math.nan
    return out


def per_source_metrics(prob, allowed, classes, sources, patients, labels, n_boot, seed) -> dict[str, Any]:
    """{source: {n_images, n_patients, labels, point, ci95}} over every source present."""
    out = {}
    for name in sorted(set(sources)):
        idx = np.nonzero(sources == name)[0]
        entry = point_and_intervals(lambda j, idx=idx: _per_class_point(prob[idx[j]], allowed[idx[j]], classes), len(idx), patients[idx], n_boot, seed)
        out[name] = {"n_images": int(len(idx)), "n_patients": len(set(patients[idx])), "labels": dict(Counter(labels[idx])), **entry}
    return out


def view_covid_check(prob, allowed, classes, films, patients, threshold, n_boot, seed) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """``adult_covid_check`` on one view's adult films, with the p(COVID-19) of its COVID-19 films, sorted
    (``covid_scores``): the app tells a non-COVID answer on a PA film how many of them scored as low as it did
    (covidviewer.inference.view_check)."""
    check = adult_covid_check(prob, allowed, classes, films, patients, threshold, n_boot, seed)
    c = covid_class(classes)
    if "skipped" not in check and c is not None:
        check["covid_scores"] = sorted(round(float(v), 4) for v in prob[films & (film_kinds(allowed, classes) == "COVID-19"), c])
    return check


def film_kinds(allowed: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """(N,) "COVID-19", "normal" or "pneumonia" (every other film, a coarse label included) per row; needs a
    COVID-19 class."""
    c, normal = covid_class(classes), _normal_class(classes)
    single = allowed.sum(1) == 1
    return np.where(single & allowed[:, c], "COVID-19", np.where(single & (allowed[:, normal] if normal is not None else False), "normal", "pneumonia"))


def adult_covid_check(prob, allowed, classes, adult, patients, threshold, n_boot, seed) -> dict[str, Any]:
    """Adult films only: normal vs COVID-19 AUC and how often normal / non-COVID pneumonia is called COVID-19."""
    c = covid_class(classes)
    if c is None:
        return {"skipped": f"the model has no COVID-19 class ({', '.join(classes)})"}
    kind = film_kinds(allowed, classes)
    idx = np.nonzero(adult)[0]
    if not len(idx):
        return {"skipped": "no adult films among these rows"}
    kind, p, called = kind[idx], prob[idx, c], prob[idx].argmax(1) == c

    def stat(j: np.ndarray) -> dict[str, float]:
        k, pj, cj = kind[j], p[j], called[j]
        both = (k == "COVID-19") | (k == "normal")
        out = {
            "auc_normal_vs_covid": roc_auc(k[both] == "COVID-19", pj[both]),
            "normal_called_covid": share_of(k == "normal", cj),
            "pneumonia_called_covid": share_of(k == "pneumonia", cj),
            "covid_sensitivity": share_of(k == "COVID-19", cj),
        }
        if threshold is not None:
            above = pj >= threshold
            out |= {
                "normal_called_covid_at_threshold": share_of(k == "normal", above),
                "pneumonia_called_covid_at_threshold": share_of(k == "pneumonia", above),
                "covid_sensitivity_at_threshold": share_of(k == "COVID-19", above),
            }
        return out

    counts = {name: {"images": int((kind == name).sum()), "patients": len(set(patients[idx][kind == name]))} for name in ("normal", "pneumonia", "COVID-19")}
    return {"counts": counts, "threshold": threshold, **point_and_intervals(stat, len(idx), patients[idx], n_boot, seed)}


def source_probes(features, sources, patients, label_keys, adult, seed) -> dict[str, Any]:
    """The source probe over all rows, within each label, and within each label's adult films."""
    out: dict[str, Any] = {"all": source_probe(features, sources, patients, seed=seed), "within": {}}
    for label in sorted(set(label_keys)):
        for name, mask in ((label, label_keys == label), (f"adult {label}", (label_keys == label) & adult)):
            if len(set(sources[mask])) < 2 or (name != label and mask.sum() == (label_keys == label).sum()):
                continue  # one source only, or the adult subset is the whole label
            out["within"][name] = source_probe(features[mask], sources[mask], patients[mask], seed=seed)
    return out


#: how the adult check's rows are named: adult chest films, or (a CT model) every validation slice, whose
#: non-COVID class holds normal lungs and other disease alike, not "pneumonia"
WORDS = {
    "radiographs": {"population": "adult films", "normal": "adult normal films", "pneumonia": "adult non-COVID pneumonia films",
                    "other": "non-COVID pneumonia"},
    "ct": {"population": "CT slices", "normal": "normal slices", "pneumonia": "non-COVID slices", "other": "non-COVID"},
}


def _flags(per_source: dict, adult: dict, probes: dict | None, words: dict[str, str] = WORDS["radiographs"]) -> list[str]:
    flags = []
    if probes is not None:
        every = [("all films", probes["all"])] + [(f"'{k}' films", v) for k, v in probes["within"].items()]
        for where, probe in every:
            if probe.get("auc", 0.0) > PROBE_FLAG_AUC:
                names = ", ".join(s for s in probe["patients"] if s not in probe.get("left_out", {}))
                flags.append(
                    f"Among {where}, a linear probe on the features tells the sources apart (AUC {probe['auc']:.2f} > "
                    f"{PROBE_FLAG_AUC:.2f}; {names}): the model can see where a film comes from."
                )
    point = adult.get("point", {})
    for key, what in (("normal_called_covid", words["normal"]), ("pneumonia_called_covid", words["pneumonia"])):
        for suffix, how in (("", "by argmax"), ("_at_threshold", f"at threshold {adult.get('threshold') or 0:.2f}")):
            if point.get(key + suffix, 0.0) > CALLED_COVID_FLAG:
                flags.append(f"{point[key + suffix]:.0%} of {what} are called COVID-19 {how} (more than {CALLED_COVID_FLAG:.0%}).")
    if point.get("auc_normal_vs_covid", 1.0) < ADULT_AUC_BAR:
        flags.append(f"On {words['population']} the COVID-19 score separates COVID-19 from normal with AUC {point['auc_normal_vs_covid']:.2f} only (bar {ADULT_AUC_BAR:.2f}).")
    if point.get("covid_sensitivity", 1.0) < COVID_SENSITIVITY_BAR:
        flags.append(f"COVID-19 sensitivity on {words['population']} is {point['covid_sensitivity']:.2f} (bar {COVID_SENSITIVITY_BAR:.2f}).")
    return flags


def json_ready(value: Any) -> Any:
    """nan -> None and numpy scalars -> Python, so json.dumps writes strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def shortcut_audit(
    prob: np.ndarray,
    features: np.ndarray | None,
    classes: Sequence[str],
    rows: Sequence[Any],
    threshold: float | None = None,
    n_boot: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
    radiographs: bool = True,
) -> dict[str, Any]:
    """The audit as a JSON-ready dict: per_source, adult, source_probe, flags (plain-language strings).

    prob: (N, K) probabilities over ``classes``; features: (N, F) penultimate features or None (no probe);
    threshold: an operating point on p(COVID-19), reported beside the argmax decisions when given;
    radiographs: False for a CT model, whose rows carry no age and whose non-COVID class is not
    "pneumonia": the same check then runs over every slice and its text says "non-COVID slices".
    """
    prob = np.asarray(prob, float)
    classes = list(classes)
    if prob.shape != (len(rows), len(classes)):
        raise ValueError(f"prob shape {prob.shape} does not match {len(rows)} rows x {len(classes)} classes")
    allowed = allowed_of(rows, len(classes))
    sources = np.array([source_name(r.source) for r in rows], dtype=object).astype(str)
    patients = np.array([r.patient_id for r in rows], dtype=object).astype(str)
    labels = np.array([_label_key(r, classes) for r in rows], dtype=object).astype(str)
    adult = np.array([is_adult(r) if radiographs else True for r in rows], bool)  # a CT slice has no age
    words = WORDS["radiographs" if radiographs else "ct"]
    per_source = per_source_metrics(prob, allowed, classes, sources, patients, labels, n_boot, seed)
    adult_check = adult_covid_check(prob, allowed, classes, adult, patients, threshold, n_boot, seed)
    # a CT model's rows are slices, not adult films: one line says so, and no pneumonia check follows it
    same_source_checks = {"same_source": {"skipped": "CT slices: the check compares adult normal and COVID-19 radiographs"}}
    if radiographs:
        same_source_checks = {
            key: same_source_check(prob, allowed, classes, sources, adult, patients, threshold, n_boot, seed, negative)
            for negative, key in SAME_SOURCE_KEYS.items()}
    if "skipped" not in adult_check:
        adult_check["population"] = words["population"]
    views = np.array([getattr(r, "view", "") or "" for r in rows], dtype=object).astype(str)
    by_view = {view: view_covid_check(prob, allowed, classes, adult & (views == view), patients, threshold, n_boot, seed)
               for view in VIEWS if radiographs and (adult & (views == view)).any()}
    if features is None:
        probes = None
    else:
        features = np.asarray(features, float)
        if len(features) != len(rows):
            raise ValueError(f"{len(features)} feature rows for {len(rows)} rows")
        probes = source_probes(features, sources, patients, labels, adult, seed)
    audit = {
        "classes": classes,
        "n_images": len(rows),
        "n_patients": len(set(patients)),
        "n_adult_images": int(adult.sum()) if radiographs else 0,
        "per_source": per_source,
        "adult": adult_check,
        **same_source_checks,
        "by_view": by_view,
        "source_probe": probes if probes is not None else {"skipped": "no features given"},
        "flags": _flags(per_source, adult_check, probes, words) + [
            flag for check in same_source_checks.values() for flag in same_source_flags(check)] + view_flags(by_view),
        "bootstrap": {"resamples": n_boot, "seed": seed, "unit": "patient"},
    }
    return json_ready(audit)


def _fmt(point: dict, ci: dict, key: str) -> str:
    value = point.get(key)
    if value is None:
        return "n/a"
    lo, hi = ci.get(key) or [None, None]
    return f"{value:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "")


def _probe_line(name: str, probe: dict) -> str:
    if "skipped" in probe:
        return f"  {name}: skipped ({probe['skipped']})"
    sources = ", ".join(f"{s} {n}" for s, n in probe["patients"].items() if s not in probe.get("left_out", {}))
    left = f"; left out (too few patients): {', '.join(probe['left_out'])}" if probe.get("left_out") else ""
    return f"  {name}: AUC {probe['auc']:.3f} ({sources} patients{left})"


def audit_summary(audit: dict[str, Any]) -> str:
    """A few lines for the console and the README: per-source figures, the adult check, the probes, flags."""
    adult = audit["adult"]
    population = adult.get("population", WORDS["radiographs"]["population"])
    words = next(w for w in WORDS.values() if w["population"] == population)
    films = f", {audit['n_adult_images']} adult films" if words is WORDS["radiographs"] else ""
    lines = [f"shortcut audit ({audit['n_images']} images, {audit['n_patients']} patients{films}; 95% patient-bootstrap intervals)"]
    lines.append("per source:")
    for name, entry in audit["per_source"].items():
        point, ci = entry["point"], entry["ci95"]
        aucs = [k for k in point if k.startswith("auc/")]
        parts = [f"accuracy {_fmt(point, ci, 'accuracy')}"] + [f"AUC {k[4:]} {_fmt(point, ci, k)}" for k in aucs]
        if "covid_sensitivity" in point:
            parts.append(f"COVID-19 sensitivity {_fmt(point, ci, 'covid_sensitivity')}")
        lines.append(f"  {name} ({entry['n_images']} images, {entry['n_patients']} patients): " + ", ".join(parts))
    if "skipped" in adult:
        lines.append(f"adult films: skipped ({adult['skipped']})")
    else:
        point, ci = adult["point"], adult["ci95"]
        other = words["other"]
        counts = ", ".join(f"{other if k == 'pneumonia' else k} {v['images']}" for k, v in adult["counts"].items())
        lines.append(f"{population} ({counts}):")
        lines.append(f"  normal vs COVID-19 AUC of p(COVID-19): {_fmt(point, ci, 'auc_normal_vs_covid')}")
        for suffix, how in (("", "argmax"), ("_at_threshold", f"p >= {adult['threshold'] or 0:.2f}")):
            if f"covid_sensitivity{suffix}" in point or f"normal_called_covid{suffix}" in point:
                lines.append(
                    f"  called COVID-19 ({how}): normal {_fmt(point, ci, 'normal_called_covid' + suffix)}, "
                    f"{other} {_fmt(point, ci, 'pneumonia_called_covid' + suffix)}; "
                    f"COVID-19 sensitivity {_fmt(point, ci, 'covid_sensitivity' + suffix)}"
                )
    for key in SAME_SOURCE_KEYS.values():  # cards exported before sessions 18 and 22 lack them
        if key in audit:
            lines += same_source_lines(audit[key], _fmt)
    if "by_view" in audit and words is WORDS["radiographs"]:  # cards exported before session 30 lack it
        lines += view_lines(audit["by_view"], _fmt)
    probes = audit["source_probe"]
    lines.append("which source is this? (linear probe on the penultimate features; AUC 0.5 = cannot tell, lower is better)")
    if "skipped" in probes:
        lines.append(f"  skipped ({probes['skipped']})")
    else:
        lines.append(_probe_line("all films", probes["all"]))
        lines += [_probe_line(f"within {name}", probe) for name, probe in probes["within"].items()]
    lines += ["FLAGS:"] + [f"  - {flag}" for flag in audit["flags"]] if audit["flags"] else ["no flags"]
    return "\n".join(lines)
