"""A leave-one-source-out run read as a new hospital: the held-out films and the validation COVID-19 films restyled
the same way, one style change at a time, at the run's own threshold.

Leaving RSNA out tests unseen patients, but RSNA's films came through NIH's processing chain (session 28), so a network
that reads how a film was processed still calls them normal. A hospital in neither pack brings new patients *and* its
own console: its normal and its COVID-19 films alike are sharpened, smoothed, noisier or darker than ours. Here the
network trained without the source re-scores the held-out films and the validation COVID-19 films with each change of
the style stress test (trainer.style_stress.SHIFTS) applied to both, and the share of held-out films called COVID-19,
the COVID-19 sensitivity and their AUC are read at the threshold the run chose on the unchanged validation films, as
the app would use it. Point figures (no intervals): each is one restyling of the same films.

    python -m trainer held-out-source RUN --restyled --data cxr/labels.csv --data cxr_adult/labels.csv [--write W]
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from trainer.style_stress import SHIFTS, StyleShift

COVID, NORMAL = "COVID-19", "normal"


def _scored(model: Any, task: Any, dataset: Any, rows: list, shift: StyleShift | None, covid: int) -> np.ndarray:
    """p(COVID-19) of ``rows`` of ``dataset`` with ``shift`` applied (None: unchanged), on the model's device."""
    from trainer.evaluation import predict_logits

    subset = copy.copy(dataset)
    subset.rows, subset.style_shift = rows, None if shift is None else shift.on
    logits, _ = predict_logits(model, task, subset, next(model.parameters()).device, 64)
    return task.probabilities(logits).numpy()[:, covid].astype(float)


def restyled_figures(p_held: np.ndarray, held_labels: Sequence[str], p_covid: np.ndarray, threshold: float) -> dict[str, Any]:
    """The held-out films' shares called COVID-19 (per label), COVID-19 sensitivity and the held-out normals' AUC
    against the COVID-19 films, at ``threshold``."""
    from trainer.metrics import roc_auc

    labels = np.asarray(held_labels)
    out: dict[str, Any] = {"covid_sensitivity": float(np.mean(p_covid >= threshold))}
    for label in (NORMAL, "pneumonia"):  # the csv's labels of adult non-COVID films
        mine = p_held[labels == label]
        if len(mine):
            out[f"{label}_called_covid"] = float(np.mean(mine >= threshold))
    normals = p_held[labels == NORMAL]
    if len(normals):
        out["auc_normal_vs_covid"] = roc_auc(np.r_[np.ones(len(p_covid), bool), np.zeros(len(normals), bool)], np.r_[p_covid, normals])
    held_covid = p_held[labels == COVID]
    if len(held_covid) and len(normals):
        # a COVID-19 collection held out beside the normals: the two against each other, both unseen and both restyled
        # (held_out_source's neither_seen); a network that tells the held-out sources apart by their processing chain
        # loses it here
        out["held_covid_found"] = float(np.mean(held_covid >= threshold))
        out["auc_held_covid_vs_normal"] = roc_auc(np.r_[np.ones(len(held_covid), bool), np.zeros(len(normals), bool)],
                                                  np.r_[held_covid, normals])
    return out


def restyled_check(run: Path | str, csvs: Sequence[str], threshold: float, shifts: Sequence[StyleShift] = SHIFTS) -> dict[str, Any]:
    """``restyled`` figures of the run's network: its held-out adult films and its adult validation COVID-19 films."""
    from trainer.config import recipe_from_dict
    from trainer.data.build import load_data, make_dataset
    from trainer.style_stress import adult_subset
    from trainer.tasks import make_task
    from trainer.trained import load_trained

    trained = load_trained(run)
    recipe = recipe_from_dict(trained.recipe)
    task = make_task(trained.spec, recipe["task"], recipe["method"])
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # on a lent GPU, where its run was trained
    model, covid = trained.model.float().eval().to(device), list(trained.spec.classes).index(COVID)
    held = adult_subset(make_dataset(trained.spec, recipe.values, load_data(trained.spec, recipe, csvs, eval_split="test"), "test", False))
    val = make_dataset(trained.spec, recipe.values, load_data(trained.spec, recipe, csvs, eval_split="val"), "val", False)
    covid_rows = [r for r in adult_subset(val).rows if r.label == COVID]
    # the csv's own labels of adult non-COVID films ("pneumonia", cause unknown, where a model splits it); COVID-19 as such
    labels = [r.label if r.label == COVID else r.csv_label or r.label for r in held.rows]
    return restyled(lambda shift: _scored(model, task, held, held.rows, shift, covid), labels,
                    lambda shift: _scored(model, task, val, covid_rows, shift, covid), threshold, shifts)


def restyled(score_held: Callable[[StyleShift | None], np.ndarray], held_labels: Sequence[str],
             score_covid: Callable[[StyleShift | None], np.ndarray], threshold: float,
             shifts: Sequence[StyleShift] = SHIFTS) -> dict[str, Any]:
    """{"unchanged": figures, "shifts": {key: figures}, "worst": the change calling the most held-out normals COVID-19,
    "words": {key: words}, "threshold", "n"}: ``restyled_figures`` with each change applied to both kinds of film.
    score_held / score_covid(shift) -> p(COVID-19) of the held-out films / the validation COVID-19 films (None:
    unchanged)."""
    covid_as_sent = score_covid(None)
    unchanged = restyled_figures(score_held(None), held_labels, covid_as_sent, threshold)
    changed = {shift.key: restyled_figures(score_held(shift), held_labels, score_covid(shift), threshold) for shift in shifts}
    worst = max(changed, key=lambda key: changed[key].get("normal_called_covid", -1.0))
    return {"threshold": threshold, "unchanged": unchanged, "shifts": changed, "worst": worst,
            "words": {shift.key: shift.words for shift in shifts},
            "n": {"held_out": len(held_labels), "covid_validation": len(covid_as_sent)}}


def restyled_lines(restyled: dict[str, Any]) -> list[str]:
    """One line per change, for the terminal."""
    lines = [f"restyled as a new hospital's films (the held-out films and {restyled['n']['covid_validation']} validation "
             f"COVID-19 films alike), at threshold {restyled['threshold']:.2f}:"]
    for key, found in [("unchanged", restyled["unchanged"]), *restyled["shifts"].items()]:
        parts = [f"{label} called COVID-19 {found[f'{label}_called_covid']:.0%}" for label in ("normal", "pneumonia")
                 if f"{label}_called_covid" in found]
        parts.append(f"sensitivity {found['covid_sensitivity']:.2f}")
        if "auc_normal_vs_covid" in found:
            parts.append(f"AUC {found['auc_normal_vs_covid']:.2f}")
        if "auc_held_covid_vs_normal" in found:
            parts.append(f"held-out COVID-19 films found {found['held_covid_found']:.0%}, AUC against the held-out normals "
                         f"{found['auc_held_covid_vs_normal']:.2f}")
        lines.append(f"  {restyled['words'].get(key, key)}: {', '.join(parts)}")
    return lines
