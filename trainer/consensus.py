"""The consensus of chest X-ray models: the mean of their p(COVID-19), with a threshold of its own (session 30).

No single network here meets the unseen-hospital bars on a source it never saw (README, "The shortcut"), but their
mistakes differ: VGG-16-GA reads the film's fine detail where ``small_cnn`` has it removed, and ``small_cnn`` reads a
portable film's view where VGG-16-GA hardly does. Averaged, the networks trained without one adult source called 13%
(RSNA) and 27% (NIH) of its normal films COVID-19 at 0.80 sensitivity (VGG-16-GA 31% and 31% alone, ``small_cnn``'s
three-start ensemble 15% and 31%; session 31).

    python -m trainer consensus --member vgg16_ga=runs/val_vgg16_ga --member small_cnn=runs/val_small_cnn \\
        --data CSV [--data CSV] [--held-out RUN_A,RUN_B ...] [--views TABLE] [--write]

``--member NAME=FOLDER``: an installed model and ``trainer evaluate NAME --out FOLDER`` of it on the validation split
(its network's own probabilities, which the card's temperature turns into the app's). The threshold is chosen on the
mean of the members' temperature-scaled p(COVID-19) over the adult validation films all of them hold, for 0.80
sensitivity against the adult normal films, as an export chooses a model's. ``--held-out``: leave-one-source-out runs
of the members, in the members' order, trained without one source on one split (``trainer held-out-source``); each
run's temperature is fitted on its own validation films, and the pair is read as one run (``held_out_check``).
``--write`` keeps it all in ``resources/weights/consensus/consensus.json`` with the members' weight sets: the app
(``covidviewer.inference.consensus``) answers with it only for those weights.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from covidviewer.consensus_record import CONSENSUS_FILE, consensus_folder, consensus_lines
from trainer.calibration import choose_threshold, fit_temperature, temperature_scaled
from trainer.config import recipe_from_dict
from trainer.held_out_source import COVID, HELD_OUT_FOLDER, NORMAL, TARGET_SENSITIVITY, held_out_check
from trainer.metrics import N_BOOTSTRAP, point_and_intervals, roc_auc
from trainer.data.views import film_key
from trainer.same_source_check import share_of
from trainer.view_check import VIEWS


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def film_id(path: str) -> str:
    """A film's path from its pack's folder on (``cxr/images/...``), however the run named the data folder."""
    parts = Path(path.replace("\\", "/")).parts
    return "/".join(parts[-4:])


def tempered(prob: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax(log p / T): the card's temperature scaling of probabilities whose logits are gone (log p is the logits
    up to a constant per row)."""
    return temperature_scaled(np.log(np.clip(np.asarray(prob, float), 1e-12, 1.0)), temperature)


def _classes(rows: list[dict[str, str]]) -> list[str]:
    return [key[2:] for key in rows[0] if key.startswith("p_")]


def member_p_covid(rows: list[dict[str, str]], temperature: float) -> dict[str, float]:
    """{film id: temperature-scaled p(COVID-19)} of one member's predictions."""
    classes = _classes(rows)
    prob = tempered(np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows]), temperature)
    covid = classes.index(COVID)
    return {film_id(r["path"]): float(p[covid]) for r, p in zip(rows, prob)}


def run_temperature(run: Path) -> float:
    """The temperature an export would fit on a run's validation predictions (its network's own probabilities)."""
    rows = _read(run / "predictions.csv")
    classes = _classes(rows)
    known = [r for r in rows if r["label"] in classes]
    logits = np.log(np.clip(np.array([[float(r[f"p_{c}"]) for c in classes] for r in known]), 1e-12, 1.0))
    return fit_temperature(logits, np.array([classes.index(r["label"]) for r in known]))


def _write_mean(dest: Path, member_rows: list[list[dict[str, str]]], temperatures: list[float]) -> None:
    """``dest`` with the members' films in common: path, patient, label and the mean p(COVID-19) as p_COVID-19."""
    scores = [member_p_covid(rows, t) for rows, t in zip(member_rows, temperatures)]
    first = {film_id(r["path"]): r for r in member_rows[0]}
    common = [key for key in first if all(key in s for s in scores)]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "patient_id", "label", f"p_{COVID}"])
        for key in common:
            writer.writerow([first[key]["path"], first[key]["patient_id"], first[key]["label"],
                             f"{np.mean([s[key] for s in scores]):.6f}"])


def held_out_pair(runs: list[Path], views: dict[str, str] | None = None, n_boot: int = N_BOOTSTRAP) -> dict[str, Any]:
    """``held_out_check`` of the members' leave-one-source-out runs read as one run of the mean p(COVID-19)."""
    recipes = {json.dumps(sorted(s.lower() for s in recipe_from_dict(json.loads((r / "recipe.json").read_text()))["data"]
                                 .get("hold_out_sources") or [])) for r in runs}
    if len(recipes) != 1:
        raise ValueError(f"the runs held out different sources: {sorted(recipes)}")
    temperatures = [run_temperature(r) for r in runs]
    with tempfile.TemporaryDirectory() as tmp:
        pair = Path(tmp) / "consensus"
        _write_mean(pair / "predictions.csv", [_read(r / "predictions.csv") for r in runs], temperatures)
        _write_mean(pair / HELD_OUT_FOLDER / "predictions.csv", [_read(r / HELD_OUT_FOLDER / "predictions.csv") for r in runs], temperatures)
        (pair / "recipe.json").write_text((runs[0] / "recipe.json").read_text())
        (pair / "split.csv").write_text((runs[0] / "split.csv").read_text())
        check = held_out_check(pair, n_boot=n_boot, views=views)
    check |= {"runs": [r.name for r in runs], "temperatures": temperatures}
    for key in ("run", "model", "device", "trained_git_commit", "epochs_run", "best_epoch"):
        check.pop(key, None)
    return check


def validation_figures(member_dirs: list[Path], temperatures: list[float], adult: dict[str, bool],
                       n_boot: int = N_BOOTSTRAP, views: dict[str, str] | None = None) -> dict[str, Any]:
    """Threshold for 0.80 sensitivity on the adult validation films and the consensus's figures at it; with ``views``
    ({film key: view}, trainer.data.views) also its COVID-19 sensitivity and normals called COVID-19 per view (PA, AP),
    as the audit's ``by_view`` is kept on a card (the app's view check reads either)."""
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "predictions.csv"
        _write_mean(dest, [_read(d / "predictions.csv") for d in member_dirs], temperatures)
        rows = [r for r in _read(dest) if adult.get(film_id(r["path"]), False)]
    p = np.array([float(r[f"p_{COVID}"]) for r in rows])
    label = np.array([r["label"] for r in rows])
    covid, normal = label == COVID, label == NORMAL
    threshold = choose_threshold(p[covid | normal], covid[covid | normal], TARGET_SENSITIVITY, 0.0).threshold

    def stat(j: np.ndarray) -> dict[str, float]:
        q, c, n = p[j], covid[j], normal[j]
        other = ~c & ~n
        return {"normal_called_covid": share_of(n, q >= threshold), "pneumonia_called_covid": share_of(other, q >= threshold),
                "covid_sensitivity": share_of(c, q >= threshold),
                "auc_normal_vs_covid": roc_auc(c[c | n], q[c | n]) if (c.any() and n.any()) else math.nan}

    patients = [r["patient_id"] for r in rows]
    figures = point_and_intervals(stat, len(rows), patients, n_boot)
    counts = {"normal": int(normal.sum()), "pneumonia": int((~covid & ~normal).sum()), "COVID-19": int(covid.sum())}
    result = {"threshold": float(threshold), "target_sensitivity": TARGET_SENSITIVITY, "n": counts, **figures}
    if views:
        film_views = np.array([views.get(film_key(r["path"]), "") for r in rows], dtype=object)
        result["by_view"] = {view: _view_figures(p, threshold, covid, normal, film_views == view, patients, n_boot)
                             for view in VIEWS if (film_views == view).any()}
    return result


def _view_figures(p_covid: np.ndarray, threshold: float, covid: np.ndarray, normal: np.ndarray, of_view: np.ndarray,
                  patients: list[str], n_boot: int) -> dict[str, Any]:
    """One view's films: counts, COVID-19 sensitivity and normals called COVID-19 at ``threshold``, and its COVID-19
    films' p(COVID-19), sorted."""
    called = p_covid >= threshold
    idx = np.flatnonzero(of_view)

    def stat(j: np.ndarray) -> dict[str, float]:
        k = idx[j]
        return {"covid_sensitivity_at_threshold": share_of(covid[k], called[k]),
                "normal_called_covid_at_threshold": share_of(normal[k], called[k])}

    counts = {"normal": {"images": int(normal[idx].sum())}, "COVID-19": {"images": int(covid[idx].sum())}}
    scores = sorted(round(float(v), 4) for v in p_covid[idx][covid[idx]])  # as a card's audit keeps them
    return {"counts": counts, **point_and_intervals(stat, len(idx), [patients[i] for i in idx], n_boot), "covid_scores": scores}


def _adult_films(csv_paths: list[str], child_sources: tuple[str, ...] = ("Kermany",)) -> dict[str, bool]:
    out = {}
    for csv_path in csv_paths:
        for r in _read(Path(csv_path)):
            out[film_id(str((Path(csv_path).parent / r["path"]).resolve()))] = not any(
                c.lower() in (r.get("source") or "").lower() for c in child_sources)
    return out


def main(argv: list[str] | None = None) -> int:
    from covidviewer.models.weights import installed_weights_sha256
    from trainer.data.views import csv_views, read_view_tables

    parser = argparse.ArgumentParser(prog="python -m trainer consensus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--member", action="append", required=True, metavar="NAME=FOLDER",
                        help="an installed model and `trainer evaluate NAME --out FOLDER` of it on the validation split")
    parser.add_argument("--data", action="append", required=True, help="the labels csvs (which films are adults')")
    parser.add_argument("--held-out", action="append", default=[], metavar="RUN,RUN",
                        help="the members' leave-one-source-out runs of one source, in the members' order")
    parser.add_argument("--views", action="append", default=[], type=Path, help="view tables (trainer.data.views)")
    parser.add_argument("--write", action="store_true", help=f"keep it in resources/weights/consensus/{CONSENSUS_FILE}")
    args = parser.parse_args(argv)
    try:
        members = dict(m.split("=", 1) for m in args.member)
        cards = {name: json.loads((consensus_folder().parent / name / "model.json").read_text()) for name in members}
        temperatures = [float(cards[name]["calibration"]["temperature"]) for name in members]
        views = {**csv_views(args.data), **read_view_tables(args.views)}
        record: dict[str, Any] = {
            "members": {name: installed_weights_sha256(name) for name in members},
            "rule": "mean of the members' temperature-scaled p(COVID-19)",
            "validation": validation_figures([Path(d) for d in members.values()], temperatures, _adult_films(args.data),
                                             views=views),
            "held_out_sources": {},
        }
        for pair in args.held_out:
            check = held_out_pair([Path(r) for r in pair.split(",")], views)
            record["held_out_sources"][", ".join(check["held_out"])] = check
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}")
        return 2
    print("\n".join(consensus_lines(record)))
    if args.write:
        dest = consensus_folder() / CONSENSUS_FILE
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        print(f"written to {dest}")
    return 0
