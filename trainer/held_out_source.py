"""Leave one source out for whole networks (issue 12's audit): what a network trained without a source says on it.

`scripts/gpu-train` runs MODEL_loso_SOURCE on a lent GPU: the model's recipe with every film of SOURCE held out
(``data.hold_out_sources``), then ``trainer evaluate --split test`` on the held-out films (``held_out/predictions.csv``
in the run folder, which comes back as text). Every adult normal film here comes from one hospital system, so a film
of a source the network never saw is the nearest thing to issue 12's test on hospitals none of us trains on, whose
bars are COVID-19 vs normal AUC >= 0.85 and fewer than 20% of normal films called COVID-19 at 0.80 sensitivity.

The run's threshold is chosen as an export chooses it: for 0.80 sensitivity on its adult validation COVID-19 films
(against adult normal films), here on the run's own uncalibrated probabilities. At it: the held-out normal and
non-COVID pneumonia films called COVID-19, and the AUC of each against the validation COVID-19 films; 95% intervals
by patient bootstrap. And the other side of the trade: the sensitivity left at the threshold that calls at most the
bar's 20% of the held-out normals COVID-19. The network is not the shipped one (which may have had another history):
the figures describe the model trained here without that source, not the shipped weights. Recorded on a card's
operating point, they make a COVID-19 answer say so where they miss the bars (covidviewer.models.same_source).

    python -m trainer held-out-source RUN [--write WEIGHTS_FOLDER] [--restyled] [--data CSV ...] [--views TABLE]

A COVID-19 collection held out (Figure1) adds ``held_out_covid``: its films found at that threshold and their AUC
against the adult validation normal films, the third bar (0.80 sensitivity on a hospital not learnt). Held out beside
a source of normal films (``--set 'data.hold_out_sources=["NIH", "Figure1"]'``), it also adds ``neither_seen``: the
held-out COVID-19 films against the held-out normal (and non-COVID pneumonia) films, both kinds from sources the
network never saw, as issue 12's test on hospitals in neither pack scores a model; every other figure here sets films
it never saw against films of its training hospitals.

``--views`` (and the csvs' ``view`` column) add the held-out films' figures per view, PA and AP (``by_view``).

Issue 13's net on a source the network never saw (``ood``): where the held-out predictions carry each film's OOD flag,
the share of each label flagged and how many of the films called COVID-19 at the threshold are. They carry it when the
held-out films were scored by the run's export, whose card holds its OOD model (session 48):

    python -m trainer export RUN --dest /tmp/RUN_export --no-attention
    python -m trainer evaluate MODEL --weights /tmp/RUN_export --data ... --data ... --split test --out RUN/held_out

``--restyled`` adds the same network's figures with the held-out films and the validation COVID-19 films restyled as a
new hospital's (trainer.held_out_restyled), the nearer test of issue 12's hospitals in neither pack; they are kept in
the run's held_out/restyled.json, so a run that came back from a GPU without its network still records them.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from covidviewer.models.calibration import CARD_KEY
from covidviewer.card_checks import HELD_OUT_KEY, held_out_lines
from covidviewer.models.same_source import UNSEEN_NORMAL_CALLED_COVID_BAR
from trainer.calibration import choose_threshold
from trainer.card_edit import edited_card
from trainer.config import recipe_from_dict
from trainer.data.views import csv_views, film_key, read_view_tables
from trainer.metrics import N_BOOTSTRAP, point_and_intervals, roc_auc
from trainer.same_source_check import share_of
from trainer.view_check import VIEWS

COVID, NORMAL = "COVID-19", "normal"
TARGET_SENSITIVITY = 0.80
HELD_OUT_FOLDER = "held_out"
#: the restyled figures (``--restyled``), in the held-out folder, which a later ``--write`` takes onto the card
RESTYLED_FILE = "restyled.json"


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: a leave-one-source-out run needs its validation predictions and "
                                f"`trainer evaluate --split test --out {path.parent}` on the held-out films")
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _adult(source: str, child_sources: list[str]) -> bool:
    return not any(c.lower() in source.lower() for c in child_sources)


def _by_view(held_p: np.ndarray, labels: list[str], patients: list[str], views: list[str], threshold: float,
             n_boot: int, seed: int) -> dict[str, Any]:
    """The held-out normal and non-COVID pneumonia films called COVID-19 at ``threshold``, per view (PA, AP)."""
    out = {}
    for view in VIEWS:
        idx = np.array([i for i, v in enumerate(views) if v == view], int)
        if not len(idx):
            continue
        label = np.array(labels)[idx]

        def stat(j: np.ndarray, label=label, q=held_p[idx]) -> dict[str, float]:
            return {f"{what}_called_covid_at_threshold": share_of(rows, q[j] >= threshold)
                    for what, rows in (("normal", label[j] == NORMAL), ("pneumonia", label[j] != NORMAL))}

        out[view] = {"n": {"normal": int((label == NORMAL).sum()), "pneumonia": int((label != NORMAL).sum())},
                     **point_and_intervals(stat, len(idx), [patients[i] for i in idx], n_boot, seed)}
    return out


def _held_out_covid(val_normal_p: np.ndarray, val_normal_patients: list[str], covid_p: np.ndarray,
                    covid_patients: list[str], threshold: float, n_boot: int, seed: int) -> dict[str, Any]:
    """The held-out COVID-19 films (a COVID-19 collection left out of training) found at ``threshold``, and their AUC
    against the adult validation normal films: issue 12's third bar, 0.80 sensitivity on a hospital not learnt."""
    p = np.r_[val_normal_p, covid_p]
    is_covid = np.r_[np.zeros(len(val_normal_p), bool), np.ones(len(covid_p), bool)]

    def stat(idx: np.ndarray) -> dict[str, float]:
        q, positive = p[idx], is_covid[idx]
        return {"covid_sensitivity_at_threshold": share_of(positive, q >= threshold),
                "auc_covid_vs_normal": roc_auc(positive, q) if positive.any() and (~positive).any() else math.nan}

    return point_and_intervals(stat, len(p), val_normal_patients + covid_patients, n_boot, seed)


def _neither_seen(test: list[dict[str, str]], threshold: float, n_boot: int, seed: int) -> dict[str, Any]:
    """The held-out COVID-19 films against the held-out normal and non-COVID pneumonia films, all from sources the
    network never saw: AUC of each, and at ``threshold`` the COVID-19 films found and the normal films called COVID-19."""
    p = np.array([float(r[f"p_{COVID}"]) for r in test])
    label = np.array([r["label"] for r in test])
    positive = label == COVID

    def stat(idx: np.ndarray) -> dict[str, float]:
        q, pos, lab = p[idx], positive[idx], label[idx]
        out = {"covid_sensitivity_at_threshold": share_of(pos, q >= threshold),
               "normal_called_covid_at_threshold": share_of(lab == NORMAL, q >= threshold)}
        for what, rows in (("normal", lab == NORMAL), ("pneumonia", ~pos & (lab != NORMAL))):
            both = pos | rows
            out[f"auc_covid_vs_{what}"] = roc_auc(pos[both], q[both]) if pos.any() and rows.any() else math.nan
        return out

    return point_and_intervals(stat, len(p), [r["patient_id"] for r in test], n_boot, seed)


def _ood_catch(labels: list[str], flagged: np.ndarray, called_covid: np.ndarray) -> dict[str, Any]:
    """What the card's OOD flag (issue 13's net) catches on the held-out films: the share of the normal and of the
    non-COVID pneumonia films it flags, and how many of those wrongly called COVID-19 at the run's threshold."""
    label = np.array(labels)
    out: dict[str, Any] = {}
    for what, rows in ((NORMAL, label == NORMAL), ("pneumonia", (label != NORMAL) & (label != COVID))):
        if rows.any():
            alarms = rows & called_covid
            out[what] = {"n": int(rows.sum()), "flagged": float(flagged[rows].mean()),
                         "false_alarms": int(alarms.sum()), "false_alarms_flagged": int((alarms & flagged).sum())}
    return out


def ood_lines(check: dict[str, Any]) -> list[str]:
    """The OOD figures of ``held_out_check`` as lines ([] where the held-out predictions carry no flag)."""
    lines = []
    for what, f in check.get("ood", {}).items():
        lines.append(f"its OOD flag on the {f['n']} held-out {what} films: {f['flagged']:.0%} flagged; of the "
                     f"{f['false_alarms']} called COVID-19 at the threshold, {f['false_alarms_flagged']} flagged")
    return lines


def held_out_check(run: Path | str, n_boot: int = N_BOOTSTRAP, seed: int = 0,
                   views: dict[str, str] | None = None) -> dict[str, Any]:
    """The figures of the leave-one-source-out run in ``run`` (module docstring).

    views: {film key: "PA" / "AP"} (trainer.data.views): the held-out films' figures per view as well.
    """
    run = Path(run)
    recipe = recipe_from_dict(json.loads((run / "recipe.json").read_text(encoding="utf-8")))
    held = list(recipe["data"].get("hold_out_sources") or [])
    if not held:
        raise ValueError(f"{run} held no source out (data.hold_out_sources is empty)")
    children = list(recipe["data"].get("child_sources") or [])
    sources = {r["path"]: r["source"] for r in _read(run / "split.csv")}
    val = [r for r in _read(run / "predictions.csv") if _adult(sources.get(r["path"], ""), children)]
    test = _read(run / HELD_OUT_FOLDER / "predictions.csv")
    key = f"p_{COVID}"
    val_p = np.array([float(r[key]) for r in val])
    val_covid = np.array([r["label"] == COVID for r in val])
    val_normal = np.array([r["label"] == NORMAL for r in val])
    if not val_normal.any() or not val_covid.any():
        # e.g. the cascade's stage 2, whose label map merges normal films into its non-COVID class
        raise ValueError(f"{run}: its validation predictions hold no adult normal or no COVID-19 film under those labels; "
                         f"held-out-source reads a model with both classes ({recipe.model}'s labels: "
                         f"{sorted({r['label'] for r in val})})")
    chosen = val_covid | val_normal
    threshold = choose_threshold(val_p[chosen], val_covid[chosen], TARGET_SENSITIVITY, 0.0).threshold
    # items: the validation COVID-19 films, then the held-out films (their patients are disjoint by the split)
    p = np.concatenate([val_p[val_covid], [float(r[key]) for r in test]])
    is_covid = np.r_[np.ones(int(val_covid.sum()), bool), np.zeros(len(test), bool)]
    labels = np.array([COVID] * int(val_covid.sum()) + [r["label"] for r in test])
    patients = [r["patient_id"] for r, c in zip(val, val_covid) if c] + [r["patient_id"] for r in test]

    def stat(idx: np.ndarray) -> dict[str, float]:
        q, positive, label = p[idx], is_covid[idx], labels[idx]
        out = {}
        for what, rows in (("normal", label == NORMAL), ("pneumonia", ~positive & (label != NORMAL) & (label != COVID))):
            out[f"{what}_called_covid_at_threshold"] = share_of(rows, q >= threshold)
            both = positive | rows
            out[f"auc_{what}_vs_covid"] = roc_auc(positive[both], q[both]) if rows.any() else math.nan
        return out

    figures = point_and_intervals(stat, len(p), patients, n_boot, seed)
    held_normal = p[labels == NORMAL]
    if len(held_normal):
        # the other side of the trade: the lowest threshold that calls at most the bar's share of the held-out normals
        # COVID-19, and the validation COVID-19 films it still finds
        at_bar = float(np.quantile(held_normal, 1.0 - UNSEEN_NORMAL_CALLED_COVID_BAR, method="higher"))
        at_bar = np.nextafter(at_bar, np.inf) if np.mean(held_normal >= at_bar) > UNSEEN_NORMAL_CALLED_COVID_BAR else at_bar
        figures["at_normal_bar"] = {"threshold": float(at_bar), "covid_sensitivity": float(np.mean(p[is_covid] >= at_bar)),
                                    "normal_called_covid": float(np.mean(held_normal >= at_bar))}
    held_covid = [r for r in test if r["label"] == COVID]
    if held_covid:
        figures["held_out_covid"] = _held_out_covid(
            val_p[val_normal], [r["patient_id"] for r, c in zip(val, val_normal) if c],
            np.array([float(r[key]) for r in held_covid]), [r["patient_id"] for r in held_covid], threshold, n_boot, seed)
        if (labels == NORMAL).any():
            figures["neither_seen"] = _neither_seen(test, threshold, n_boot, seed)
    held_views = [(views or {}).get(film_key(r["path"]), "") for r in test]
    if any(held_views):
        figures["by_view"] = _by_view(np.array([float(r[key]) for r in test]), [r["label"] for r in test],
                                      [r["patient_id"] for r in test], held_views, threshold, n_boot, seed)
    if test and "ood_flag" in test[0]:
        figures["ood"] = _ood_catch([r["label"] for r in test], np.array([r["ood_flag"] == "1" for r in test]),
                                    np.array([float(r[key]) for r in test]) >= threshold)
    restyled_path = run / HELD_OUT_FOLDER / RESTYLED_FILE
    if restyled_path.is_file():
        figures["restyled"] = json.loads(restyled_path.read_text(encoding="utf-8"))
    summary_path = run / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    return {
        "held_out": held,
        # the recipe's seed sets the split and the start: a second run of another seed is a replicate, kept beside
        "seed": int(recipe["seed"]),
        **({} if recipe["data"].get("split_seed") is None else {"split_seed": int(recipe["data"]["split_seed"])}),
        "held_out_names": sorted({sources.get(r["path"], "?") for r in test}),
        "run": run.name,
        "model": recipe.model,
        "device": summary.get("device", ""),
        "trained_git_commit": summary.get("git_commit", ""),
        "epochs_run": summary.get("epochs_run"),
        "best_epoch": summary.get("best_epoch"),
        "threshold": float(threshold),
        "target_sensitivity": TARGET_SENSITIVITY,
        "n": {"normal": int((labels == NORMAL).sum()),
              "pneumonia": int((~is_covid & (labels != NORMAL) & (labels != COVID)).sum()),
              "covid_validation": int(is_covid.sum()),
              **({"covid": len(held_covid), "normal_validation": int(val_normal.sum())} if held_covid else {}),
              "held_out_patients": len(set(r["patient_id"] for r in test))},
        **figures,
    }


def record_key(check: dict[str, Any]) -> str:
    """The card's key of a check: the held-out sources' names, and the seed where it is not 0 (a replicate)."""
    sources = ", ".join(check["held_out"])
    return f"{sources}, seed {check['seed']}" if check.get("seed") else sources


def record_on_card(folder: Path | str, check: dict[str, Any]) -> Path:
    """Keep ``check`` on the operating point of the card in ``folder``, under ``record_key`` (a check of another source
    or seed stays); returns the card's path."""
    path = Path(folder) / "model.json"
    with edited_card(path) as card:
        point = (card.get(CARD_KEY) or {}).get("operating_point")
        if not point:
            raise ValueError(f"{path} has no operating point to record the check on")
        # a fresh export writes the field empty (None), not absent
        point[HELD_OUT_KEY] = {**(point.get(HELD_OUT_KEY) or {}), record_key(check): check}
    return path


def spread_lines(checks: list[dict[str, Any]]) -> list[str]:
    """Several runs of one recipe and held-out source, from other random starts: each figure's runs side by side, so
    that a recipe is judged by its spread and not by one draw (session 37: the shipped ``small_cnn`` recipe's NIH figure
    was 31%, 35% and 28% from three starts). Runs of other held-out sources or models are refused by name."""
    kinds = {(tuple(c["held_out"]), c["model"]) for c in checks}
    if len(kinds) > 1:
        raise ValueError("runs to compare must hold out the same sources with the same model, not "
                         + "; ".join(f"{model} without {', '.join(held)}" for held, model in sorted(kinds)))
    lines = [f"over {len(checks)} runs ({', '.join(c['run'] for c in checks)}):"]
    # (the check's own figures, or a part of it such as neither_seen; key; words)
    for part, name, what in ((None, "normal_called_covid_at_threshold", "adult normals called COVID-19"),
                             (None, "pneumonia_called_covid_at_threshold", "adult non-COVID pneumonias called COVID-19"),
                             (None, "auc_normal_vs_covid", "AUC, normal vs COVID-19"),
                             ("neither_seen", "auc_covid_vs_normal", "AUC, held-out COVID-19 vs held-out normal (both unseen)")):
        points = [((c.get(part) or {}) if part else c).get("point") or {} for c in checks]
        values = [float(p[name]) for p in points if not math.isnan(float(p.get(name, math.nan)))]
        if not values:
            continue
        percent = name.endswith("_at_threshold")
        shown = ", ".join(f"{v:.0%}" if percent else f"{v:.2f}" for v in values)
        low, high, mean = min(values), max(values), sum(values) / len(values)
        spread = f"mean {mean:.0%}, range {low:.0%}-{high:.0%}" if percent else f"mean {mean:.2f}, range {low:.2f}-{high:.2f}"
        lines.append(f"  {what}: {shown} ({spread})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer held-out-source", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, nargs="+",
                        help="a leave-one-source-out run folder (scripts/gpu-train MODEL_loso_SOURCE); several runs of one "
                             "recipe from other random starts (--set seed=N --set data.split_seed=0) are also set side by side")
    parser.add_argument("--write", type=Path, metavar="WEIGHTS_FOLDER", help="record the figures on this card's operating point")
    parser.add_argument("--restyled", action="store_true",
                        help="also re-score the held-out and validation COVID-19 films restyled as a new hospital's "
                             "(trainer.held_out_restyled; needs the run's network and --data)")
    parser.add_argument("--data", action="append", default=[],
                        help="labels.csv (repeat for several, as in fit): with --restyled; its view column gives views")
    parser.add_argument("--views", action="append", default=[], type=Path, metavar="TABLE",
                        help="a csv of each film's view, e.g. NIH's Data_Entry_2017_v2020.csv.gz: the held-out films' "
                             "figures per view (PA, AP) as well")
    args = parser.parse_args(argv)
    if args.restyled and not args.data:
        print("error: --restyled re-scores the films themselves: give the run's --data csvs")
        return 2
    checks = []
    try:
        views = {**csv_views(args.data), **read_view_tables(args.views)}
        for run in args.run:
            check = held_out_check(run, views=views)
            if args.restyled:
                from trainer.held_out_restyled import restyled_check, restyled_lines

                check["restyled"] = restyled_check(run, args.data, check["threshold"])
                # kept beside the held-out predictions: a GPU run comes back as text, without the network to re-score with
                (run / HELD_OUT_FOLDER / RESTYLED_FILE).write_text(json.dumps(check["restyled"], indent=2), encoding="utf-8")
                print("\n".join(restyled_lines(check["restyled"])))
            checks.append(check)
        spread = spread_lines(checks) if len(checks) > 1 else []
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}")
        return 2
    for check in checks:
        for line in held_out_lines(check) + ood_lines(check):
            print(line)
        if args.write:
            print(f"recorded on {record_on_card(args.write, check)}")
    if spread:
        print("\n".join(spread))
    return 0
