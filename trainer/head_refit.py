"""``python -m trainer refit-head``: re-fit a trained classifier's last layer against the source shortcut.

    python -m trainer refit-head dpn92_se --weights resources/weights/dpn92_se \\
        --data ../shared/data/cxr/labels.csv --data ../shared/data/cxr_adult/labels.csv \\
        --out runs/dpn92_se_refit [--views 2] [--erased-copies [also|only]] [--export --other-kind ../shared/data/ct_slices/labels.csv] \\
        [--set data.label_map.normal=...]   # the head's rows read with another recipe value (repeat)

1. Penultimate features of the training rows (as the app prepares them, plus ``--views`` augmented
   copies with the recipe's own augmentation) and of the validation rows, cached in OUT/features.npz.
   With ``--erased-copies`` also of every training film with its chest erased (trainer.data.chest_erase),
   and every candidate is tried again blind to those films' class means (feature_reweighting.class_directions);
   ``--erased-copies only`` keeps those blind candidates alone.
2. Every candidate last layer (trainer.feature_reweighting) is scored LEAVE-ONE-SOURCE-OUT on the
   training rows: each film is scored by a head fitted without any film of its hospital/data set,
   which is what "real images from hospitals none of us trains on" asks. The candidate with the
   best adult normal vs COVID-19 AUC there is chosen; validation rows are never used to choose.
   (The trunk did see those training films; only the head is out-of-source. Stated in the card.)
3. The chosen head is fitted on all training rows, folded into the network's classifier layer, and
   written as a run folder (best.pt, recipe.json, summary.json) that ``trainer export`` turns into
   audited, calibrated weights (``--export`` does it at once).
4. For the record, not for the choice: the network's own head and the re-fitted one on the validation
   rows (adult normal vs COVID-19 AUC, normals called COVID-19 at 0.80 sensitivity), printed and kept in
   selection.json. Session 16 shipped the own head of an annealed DPN-SENet on that comparison.

A model without a COVID-19 class is scored by the class its recipe trains COVID-19 films as: the
cascade's stage 1 (seme_resnet50_v2) by p(viral pneumonia), COVID-19 films (by their csv label) against
adult normal films. Such a head has to be judged inside its cascade as well (``trainer audit-cascade``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from trainer.calibration import COVID, choose_threshold
from trainer.export_option import add_export_arguments, finish_written_run
from trainer.feature_reweighting import ErasedChest, HeadConfig, fit_head, fold_into_linear, out_of_source_logits
from trainer.metrics import covid_class, roc_auc
from trainer.same_source_check import within_source_auc

#: strong L2: out of source, DPN-SENet's features did best at C=1e-5 and worse at every weaker penalty
#: (leave-one-source-out adult AUC 0.83 at 1e-5, 0.80 at 1e-4, 0.73 at 1e-3, 0.64 at 1e-2, 0.55 at 0.1);
#: 1e-5 is the grid's edge but also the peak: stronger penalties lose again (0.82 at 3e-6, 0.75 at 1e-6, 0.63 at 3e-7)
GRID = tuple(HeadConfig(erase, balance, c) for erase in (False, True) for balance in ("label", "source_label")
             for c in (1e-5, 1e-4, 1e-3))
ERASED_COPIES = ("also", "only")
FEATURES = "features.npz"
SELECTION = "selection.json"


def grid(erased_copies: str | None) -> tuple[HeadConfig, ...]:
    """The candidates: ``GRID``; with chest-erased copies ("also") each of them again, blind to those copies' class
    means; "only": the blind ones alone (a head that must not answer from what surrounds the lungs)."""
    if erased_copies not in (None, *ERASED_COPIES):
        raise ValueError(f"erased copies: {' or '.join(ERASED_COPIES)}, not {erased_copies!r}")
    blind = tuple(HeadConfig(c.erase_sources, c.balance, c.c, erased_chest=True) for c in GRID) if erased_copies else ()
    return blind if erased_copies == "only" else GRID + blind


def erased_chest(arrays: dict[str, np.ndarray]) -> ErasedChest | None:
    """The cached features of the training films with their chest erased (row i copies training row i), if any."""
    features = arrays.get("train_erased_features")
    return None if features is None else ErasedChest(features, np.arange(len(features)))


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def scored_class(classes: tuple[str, ...], label_map: dict[str, Any]) -> int:
    """The class whose probability scores COVID-19: COVID-19 itself, or the one class the recipe trains COVID-19
    films as (the cascade's stage 1: viral pneumonia)."""
    if COVID in classes:
        return classes.index(COVID)
    mapped = [label_map[raw] for raw in label_map if covid_class([raw]) is not None]
    mapped = [m[0] if isinstance(m, (list, tuple)) and len(m) == 1 else m for m in mapped]
    if len(mapped) == 1 and isinstance(mapped[0], str) and mapped[0] in classes:
        return classes.index(mapped[0])
    raise ValueError(f"no {COVID} class, and the recipe's label map trains COVID-19 films as no single class of "
                     f"{list(classes)}: the shortcut re-fit scores COVID-19 against the rest")


def adult_scores(prob_covid: np.ndarray, allowed: np.ndarray, adult: np.ndarray, classes: tuple[str, ...],
                 covid_films: np.ndarray | None = None, sources: np.ndarray | None = None) -> dict[str, Any]:
    """On adult rows: COVID-19 vs normal AUC (vs every non-COVID film without a normal class), the share of
    normals above the threshold that finds 80% of COVID-19 films, and the share of COVID-19 films found by 0.5.
    covid_films: which rows are COVID-19 films, where no class says so (default: the rows allowed COVID-19 only).
    sources: each row's source; adds the same-source figures (trainer.same_source_check): the AUC over pairs from
    one source, and the share of those sources' negatives above the same threshold."""
    if covid_films is None:
        k = classes.index(COVID)
        covid_films = allowed[:, k] & (allowed.sum(1) == 1)
    covid = adult & covid_films
    if "normal" in classes:
        n = classes.index("normal")
        negative = adult & ~covid_films & allowed[:, n] & (allowed.sum(1) == 1)
    else:
        negative = adult & ~covid_films
    keep = (covid | negative) & np.isfinite(prob_covid)
    if not (covid & keep).any() or not (negative & keep).any():
        return {"auc": float("nan")}
    # the card's own rule (the highest threshold that finds 80% of them), with no specificity floor
    threshold = choose_threshold(prob_covid[keep], covid[keep], 0.80, 0.0).threshold
    same = {}
    if sources is not None:
        both = [s for s in set(sources[keep]) if (covid & keep & (sources == s)).any() and (negative & keep & (sources == s)).any()]
        mixed = keep & np.isin(sources, both)
        if mixed.any():
            same = {"auc_within_source": within_source_auc(covid[mixed], prob_covid[mixed], sources[mixed]),
                    "same_source_negatives_called_covid": float(np.mean(prob_covid[negative & mixed] >= threshold)),
                    "n_same_source_negative": int((negative & mixed).sum())}
    return {
        "auc": roc_auc(covid[keep], prob_covid[keep]),
        "negatives_called_covid_at_0.80_sensitivity": float(np.mean(prob_covid[negative & keep] >= threshold)),
        "covid_above_0.5": float(np.mean(prob_covid[covid & keep] >= 0.5)),
        "negatives_above_0.5": float(np.mean(prob_covid[negative & keep] >= 0.5)),
        "n_covid": int((covid & keep).sum()), "n_negative": int((negative & keep).sum()), **same,
    }


def _weights_digest(folder: Path) -> str:
    """Which weights the cached features came from: the shard hashes of an exported set, or best.pt's bytes."""
    from trainer.checkpoint import BEST

    if (folder / BEST).is_file():
        return hashlib.sha256((folder / BEST).read_bytes()).hexdigest()[:16]
    sidecar = json.loads((folder / "model.json").read_text())
    return hashlib.sha256(json.dumps(sidecar.get("shards", {}), sort_keys=True).encode()).hexdigest()[:16]


def extract(args: argparse.Namespace) -> tuple[Any, Any, Any, dict[str, np.ndarray]]:
    """(trained, recipe, bundle, arrays); arrays cached in OUT/features.npz for the same weights and views."""
    import torch

    from trainer.audit import allowed_of
    from trainer.config import apply_overrides, recipe_from_dict
    from trainer.data.build import load_data, make_dataset
    from trainer.evaluation import predict_logits_and_features
    from trainer.trained import load_trained

    trained = load_trained(args.weights, args.model)
    if trained.recipe is None:
        raise ValueError(f"{args.weights} records no recipe: cannot rebuild its training rows")
    recipe = recipe_from_dict(trained.recipe)
    apply_overrides(recipe.values, args.set or [])  # e.g. a label the network never trained on, as the head's negatives
    bundle = load_data(trained.spec, recipe, args.data)  # lung masks for every row when the input needs them
    # caches from before the covid field are stale; so are those of other overrides
    key = (f"{_weights_digest(Path(args.weights))}:{args.views}:covid-films:{';'.join(args.set or [])}"
           + (":erased-chest" if args.erased_copies else ""))  # "also" or "only": the same features
    cache = args.out / FEATURES
    if cache.is_file():
        arrays = dict(np.load(cache, allow_pickle=False))
        if str(arrays.get("key")) == key:
            print(f"features from {cache}")
            arrays["cached_minutes"] = arrays.get("minutes", np.array(0.0))
            return trained, recipe, bundle, arrays
    started = datetime.now(timezone.utc)
    task, batch = _task_and_batch(trained, recipe)
    device, k = torch.device("cpu"), len(trained.spec.classes)
    model = trained.model.float().eval()
    arrays: dict[str, np.ndarray] = {"key": np.array(key)}
    for split in ("train", "val"):
        rows = bundle.split.rows(split)
        views = [make_dataset(trained.spec, recipe.values, bundle, split, train=False)]
        for v in range(args.views if split == "train" else 0):
            augmented = make_dataset(trained.spec, recipe.values, bundle, split, train=True)
            augmented.set_epoch(10_000 + v)  # seeds apart from every training epoch's
            views.append(augmented)
        feats, logits = [], []
        for v, dataset in enumerate(views):
            print(f"{split}: view {v + 1}/{len(views)}, {len(rows)} images", flush=True)
            out, f, _ = predict_logits_and_features(model, task, dataset, device, batch)
            feats.append(f.numpy())
            logits.append(out.numpy())
        arrays[f"{split}_features"] = np.concatenate(feats)
        arrays[f"{split}_logits"] = np.concatenate(logits)
        arrays[f"{split}_view"] = np.repeat(np.arange(len(views)), len(rows))
        arrays[f"{split}_allowed"] = np.tile(allowed_of(rows, k), (len(views), 1))
        for field in ("label", "source", "patient_id", "age_group"):
            arrays[f"{split}_{field}"] = np.tile(np.array([str(getattr(r, field)) for r in rows]), len(views))
        covid = [r.label == COVID or covid_class([r.csv_label]) is not None for r in rows]
        arrays[f"{split}_covid"] = np.tile(np.array(covid, bool), len(views))
    if args.erased_copies:
        arrays["train_erased_features"] = _erased_features(trained, recipe, bundle, task, model, batch)
    args.out.mkdir(parents=True, exist_ok=True)
    minutes = (datetime.now(timezone.utc) - started).total_seconds() / 60.0
    np.savez_compressed(cache, **arrays, minutes=np.array(minutes))
    return trained, recipe, bundle, arrays


def _task_and_batch(trained: Any, recipe: Any) -> tuple[Any, int]:
    """The recipe's task for the trained network and its evaluation batch size."""
    from trainer.tasks import make_task

    batch = int(recipe["train"].get("eval_batch_size") or recipe["train"]["batch_size"])
    return make_task(trained.spec, recipe["task"], recipe["method"]), batch


def _erased_features(trained: Any, recipe: Any, bundle: Any, task: Any, model: Any, batch: int) -> np.ndarray:
    """Penultimate features of every training film (unaugmented) with its chest erased, in the rows' order."""
    import torch
    from torch.utils.data import Subset

    from trainer.data.build import collect_lung_masks, make_dataset
    from trainer.evaluation import predict_logits_and_features

    rows = bundle.split.rows("train")
    if any(r.path not in bundle.lung_masks for r in rows):  # a model that reads no lung mask: its films get one
        masks, _ = collect_lung_masks(rows, bundle.cache, recipe, "cpu")
        bundle.lung_masks = {**masks, **bundle.lung_masks}
    doubled = make_dataset(trained.spec, recipe.values, bundle, "train", train=False, erased_copies=True)
    print(f"train: chest erased, {len(rows)} images", flush=True)
    _, features, _ = predict_logits_and_features(model, task, Subset(doubled, range(len(rows), 2 * len(rows))),
                                                 torch.device("cpu"), batch)
    return features.numpy()


def _short(sources: np.ndarray) -> np.ndarray:
    from trainer.audit import source_name

    return np.array([source_name(s) for s in sources])


def _adult(arrays: dict[str, np.ndarray], split: str) -> np.ndarray:
    """The audit's own rule (trainer.audit.is_adult) on the cached age group and source of each row."""
    from types import SimpleNamespace

    from trainer.audit import is_adult

    return np.array([is_adult(SimpleNamespace(age_group=a, source=s))
                     for a, s in zip(arrays[f"{split}_age_group"], arrays[f"{split}_source"])])


def select(arrays: dict[str, np.ndarray], classes: tuple[str, ...], k: int,
           candidates: tuple[HeadConfig, ...] = GRID) -> tuple[HeadConfig, list[dict[str, Any]]]:
    """Score every candidate leave-one-source-out on the clean training rows by p(class k); the best adult AUC wins."""
    x, allowed = arrays["train_features"], arrays["train_allowed"].astype(bool)
    labels, sources = arrays["train_label"], _short(arrays["train_source"])
    clean = arrays["train_view"] == 0
    adult, covid = _adult(arrays, "train") & clean, arrays["train_covid"]
    table = [{"head": "as trained (in-sample: it saw every training film)",
              **adult_scores(_softmax(arrays["train_logits"])[:, k], allowed, adult, classes, covid, sources)}]
    best, best_auc, erased = None, -1.0, erased_chest(arrays)
    for config in candidates:
        logits, held = out_of_source_logits(x, allowed, labels, sources, config, erased=erased)
        scores = adult_scores(_softmax(np.nan_to_num(logits, nan=0.0))[:, k], allowed, adult & ~np.isnan(logits[:, 0]),
                              classes, covid, sources)
        table.append({"head": config.describe(), "config": vars(config), "held_out_sources": held, **scores})
        print(f"  {config.describe():<62} out-of-source {_scores_text(scores, classes[k])}", flush=True)
        if scores["auc"] > best_auc + 1e-9:
            best, best_auc = config, scores["auc"]
    if best is None:
        raise ValueError("no candidate could be scored out of source: the training rows need at least two sources, "
                         "adult COVID-19 films and adult negatives (a csv 'source' column)")
    return best, table


def _logit_spread(logits: np.ndarray) -> float:
    """Standard deviation of the logits about each row's mean (a shift common to all classes changes nothing)."""
    logits = np.asarray(logits, np.float64)
    return float((logits - logits.mean(1, keepdims=True)).std())


def _earlier_selection(out: Path, arrays: dict[str, np.ndarray],
                       candidates: tuple[HeadConfig, ...]) -> tuple[HeadConfig, list[dict[str, Any]], float] | None:
    """The choice made before on the same features and candidates (the out-of-source scoring takes minutes)."""
    path = Path(out) / SELECTION
    if not path.is_file():
        return None
    earlier = json.loads(path.read_text())
    if earlier.get("key") != str(arrays["key"]) or earlier.get("grid") != [vars(c) for c in candidates]:
        return None
    # and as described now: a candidate whose fit changed says so in its description (session 47's erased copies)
    if [c.get("head") for c in earlier.get("candidates", [])[1:]] != [c.describe() for c in candidates]:
        return None
    print(f"candidates scored before: {path}")
    return HeadConfig(**earlier["chosen"]), earlier["candidates"], float(earlier.get("minutes", 0.0))


def validation_comparison(arrays: dict[str, np.ndarray], refit_logits: np.ndarray, classes: tuple[str, ...], k: int) -> dict[str, Any]:
    """``adult_scores`` of p(class k) from the network's own head and from the re-fitted head on the validation rows."""
    allowed, adult, covid = arrays["val_allowed"].astype(bool), _adult(arrays, "val"), arrays["val_covid"]
    sources = _short(arrays["val_source"])
    return {"own head": adult_scores(_softmax(arrays["val_logits"])[:, k], allowed, adult, classes, covid, sources),
            "re-fitted head": adult_scores(_softmax(refit_logits)[:, k], allowed, adult, classes, covid, sources)}


def _scores_text(scores: dict[str, Any], scored: str) -> str:
    """``adult_scores`` as one line of the command's output; ``scored``: the class whose probability was ranked."""
    called = scores.get("negatives_called_covid_at_0.80_sensitivity", float("nan"))
    text = f"adult AUC {scores['auc']:.3f}, normals called {scored} at 0.80 sensitivity {called:.2f}"
    if "auc_within_source" in scores:
        text += (f"; same source ({scores['n_same_source_negative']} negatives): AUC {scores['auc_within_source']:.3f}, "
                 f"called {scores['same_source_negatives_called_covid']:.2f}")
    return text


def refit_command(trained: Any, args: argparse.Namespace) -> str:
    """The commands that rebuild the re-fitted set: the network's own (from the card it came with) and this re-fit.
    (``trainer export`` would otherwise name the network's ``fit`` with the head's ``--set`` values, which the
    network never trained with.)"""
    name = trained.spec.name
    network = trained.training.get("trainer") or f"(the network in {args.weights})"
    command = [f"python -m trainer refit-head {name} --weights runs/{name}", *(f"--data {d}" for d in args.data),
               f"--out runs/{name}_refit --views {args.views}" + (f" --erased-copies {args.erased_copies}" if args.erased_copies else ""),
               *(f"--set {shlex.quote(s)}" for s in args.set or [])]
    return f"{network} && {' '.join(command)}"


def write_run(trained: Any, recipe: Any, arrays: dict[str, np.ndarray], config: HeadConfig, table: list[dict[str, Any]],
              k: int, args: argparse.Namespace) -> Path:
    """Fit the chosen head on every training row, fold it into the network, and write a run folder."""
    import torch

    from trainer.checkpoint import BEST, model_state, save_checkpoint
    from trainer.run import git_commit

    candidates = grid(args.erased_copies)
    head = fit_head(arrays["train_features"], arrays["train_allowed"].astype(bool), arrays["train_label"],
                    _short(arrays["train_source"]), config, erased_chest(arrays))
    # a strong penalty leaves tiny weights (C=1e-5: ~1e-5, near fp16's smallest normal number): the logits
    # are scaled to the spread of the trained head's (same ranking; calibration fits the temperature on top)
    scale = _logit_spread(arrays["train_logits"]) / max(_logit_spread(head.logits(arrays["train_features"])), 1e-12)
    head = head.scaled(scale)
    layer = trained.model.get_submodule(trained.spec.explain.classifier)
    if not isinstance(layer, torch.nn.Linear):
        raise ValueError(f"{trained.spec.name}'s classifier is a {type(layer).__name__}, not a Linear layer")
    fold_into_linear(layer, head)
    views = f"the training films as the app prepares them plus {args.views} augmented copies" if args.views else "the training films"
    note = (f"last layer re-fitted on frozen penultimate features against the source shortcut (trainer refit-head, "
            f"deep feature reweighting, Kirichenko et al. 2023): {config.describe()}"
            + (f" ({head.erased_directions} directions)" if config.erase_sources or config.erased_chest else "")
            + f"; fitted on {views}; chosen among {len(candidates)} candidates by the adult normal vs COVID-19 AUC "
            + ("" if trained.spec.classes[k] == COVID else f"of p({trained.spec.classes[k]}) ")
            + "leave-one-source-out on the training rows (the trunk saw those films; only the head is out-of-source)"
            + (f"; the head's rows read with {', '.join(args.set)} (the network trained without it)" if args.set else ""))
    training = dict(trained.training)
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    # features and the choice may come from caches of an earlier run: their own recorded minutes count
    refit_minutes = (datetime.fromisoformat(finished) - datetime.fromisoformat(args.started)).total_seconds() / 60.0
    refit_minutes += float(arrays.get("cached_minutes", 0.0)) + float(getattr(args, "cached_select_minutes", 0.0))
    before = training.get("training_minutes")
    if isinstance(before, (int, float)):
        note += f"; training time = {before:g} min of the network it re-fits + {refit_minutes:.1f} min of this re-fit"
    recipe.note(note)
    summary = {
        "model": trained.spec.name, "spec": trained.spec.to_dict(), "model_kwargs": training.get("model_kwargs", {}),
        "trainer": refit_command(trained, args),
        "recipe": recipe.to_dict(), "deviations": recipe.deviations, "data_csv": [str(p) for p in args.data],
        "best_epoch": training.get("best_epoch"), "epochs_run": training.get("epochs_run"),
        "stopped_early": training.get("stopped_early"), "device": training.get("device"), "amp": training.get("amp"),
        "git_commit": git_commit(), "started": args.started, "finished": finished,
        "training_minutes": round(before + refit_minutes, 1) if isinstance(before, (int, float)) else round(refit_minutes, 1),
    }
    validation = validation_comparison(arrays, head.logits(arrays["val_features"]), tuple(trained.spec.classes), k)
    print("validation rows (reported, not used to choose): "
          + "; ".join(f"{name}: {_scores_text(scores, trained.spec.classes[k])}" for name, scores in validation.items()), flush=True)
    out = Path(args.out)
    save_checkpoint(out / BEST, {"model": model_state(trained.model)})
    (out / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / SELECTION).write_text(json.dumps({"key": str(arrays["key"]), "grid": [vars(c) for c in candidates], "chosen": vars(config),
                                             "scale": scale, "note": note, "candidates": table,
                                             "validation_not_used_to_choose": validation,
                                             "minutes": getattr(args, "select_minutes", getattr(args, "cached_select_minutes", 0.0))},
                                            indent=2) + "\n")
    return out


def score_held_out(trained: Any, recipe: Any, bundle: Any, run: Path) -> None:
    """A re-fit of a network trained without some sources, scored as ``trainer held-out-source`` reads a run: its split,
    its validation predictions and the held-out films' (held_out/), so that the head can be judged where it counts."""
    import torch

    from trainer.data.build import make_dataset, write_split_csv
    from trainer.evaluation import evaluate_and_report
    from trainer.held_out_source import HELD_OUT_FOLDER

    write_split_csv(bundle, run / "split.csv")
    task, batch = _task_and_batch(trained, recipe)
    for split, dest in (("val", run), ("test", run / HELD_OUT_FOLDER)):
        dataset = make_dataset(trained.spec, recipe.values, bundle, split, train=False)
        evaluate_and_report(trained.model.float().eval(), task, dataset, torch.device("cpu"), batch, dest)
    print(f"held-out films scored: python -m trainer held-out-source {run}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer refit-head", description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--weights", required=True, type=Path, help="exported weights folder or run folder")
    parser.add_argument("--data", required=True, action="append", help="labels.csv, as the model was trained (repeat)")
    parser.add_argument("--out", required=True, type=Path, help="run folder to write (features cached there)")
    parser.add_argument("--views", type=int, default=2, help="augmented copies of each training film (default 2)")
    parser.add_argument("--erased-copies", nargs="?", const="also", choices=ERASED_COPIES,
                        help="also try every candidate blind to the class means of the training films with their chest "
                             "erased; 'only': those candidates alone")
    add_export_arguments(parser)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override the network's recipe for the head's rows (repeat), e.g. a label map entry")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    args.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        trained, recipe, bundle, arrays = extract(args)
        classes = tuple(trained.spec.classes)
        k = scored_class(classes, dict(recipe["data"].get("label_map") or {}))
        candidates = grid(args.erased_copies)
        earlier = _earlier_selection(args.out, arrays, candidates)
        if earlier is not None:
            config, table, args.cached_select_minutes = earlier
        else:
            chose = datetime.now(timezone.utc)
            config, table = select(arrays, classes, k, candidates)
            args.select_minutes = (datetime.now(timezone.utc) - chose).total_seconds() / 60.0
        print(f"chosen: {config.describe()}")
        run = write_run(trained, recipe, arrays, config, table, k, args)
        if recipe["data"].get("hold_out_sources"):
            score_held_out(trained, recipe, bundle, run)
        finish_written_run(run, args)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
