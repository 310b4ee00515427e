"""Metrics against brute force, bootstrap determinism; recipes, overrides and recorded deviations."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from covidviewer.models import get_spec, list_models
from trainer.config import RECIPES_DIR, RecipeError, list_recipes, load_recipe, resolve_key
from trainer.metrics import classification_metrics, covid_class, overlap_scores, roc_auc, roc_curve, segmentation_metrics


def _pairwise_auc(pos: np.ndarray, score: np.ndarray) -> float:
    wins = [1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(score[pos], score[~pos])]
    return float(np.mean(wins))


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_the_pairwise_definition_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pos = rng.random(40) < 0.4
    score = np.round(rng.random(40) + 0.3 * pos, 1)  # rounding makes ties
    assert roc_auc(pos, score) == pytest.approx(_pairwise_auc(pos, score))
    fpr, tpr = roc_curve(pos, score)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(pos, score))


def test_classification_metrics_values_and_deterministic_intervals() -> None:
    classes = ("COVID-19", "normal", "pneumonia")
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 0])
    prob = np.full((10, 3), 0.1)
    prob[np.arange(10), pred] = 0.8
    patients = [f"p{i // 2}" for i in range(10)]
    m = classification_metrics(y, prob, classes, patients, n_boot=200)
    assert m["point"]["accuracy"] == pytest.approx(0.7)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [1, 0, 3]]
    assert m["point"]["recall/COVID-19"] == pytest.approx(2 / 3)
    assert m["point"]["covid_sensitivity"] == pytest.approx(2 / 3)
    assert m["point"]["covid_specificity"] == pytest.approx(6 / 7)
    assert m["point"]["precision/pneumonia"] == pytest.approx(3 / 4)
    lo, hi = m["ci95"]["accuracy"]
    assert lo <= 0.7 <= hi and lo < hi
    assert classification_metrics(y, prob, classes, patients, n_boot=200)["ci95"] == m["ci95"]
    perfect = classification_metrics(y, np.eye(3)[y], classes, patients, n_boot=50)
    assert perfect["ci95"]["accuracy"] == [1.0, 1.0] and perfect["point"]["macro_auc"] == 1.0


def test_covid_class_and_overlap_scores() -> None:
    assert covid_class(("non-COVID", "COVID-19")) == 1
    assert covid_class(("normal", "bacterial pneumonia")) is None
    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[1:3] = True
    valid = np.ones((4, 4), bool)
    valid[2] = False  # the ignore label removes b's second row
    assert overlap_scores(a, b) == pytest.approx((4 / 12, 8 / 16))
    assert overlap_scores(a, b, valid) == pytest.approx((4 / 8, 8 / 12))
    seg = segmentation_metrics([0.5, 0.7, 0.9], [0.6, 0.8, 0.9], ["p1", "p1", "p2"], n_boot=100)
    assert seg["point"]["mean_iou"] == pytest.approx(0.7)


@pytest.mark.parametrize("model", list_recipes())
def test_every_recipe_loads_and_maps_onto_its_model_classes(model: str) -> None:
    recipe = load_recipe(model)
    spec = get_spec(model)
    assert set(recipe["data"]["label_map"].values()) <= set(spec.classes)
    assert recipe["task"] == ("segmentation" if spec.task == "segmentation" else "classification")
    assert recipe.deviations == list(recipe["known_deviations"])  # the paper recipe deviates only where it says


def test_every_trainable_registered_model_has_a_recipe() -> None:
    trainable = [m for m in list_models() if not get_spec(m).parts]
    assert set(trainable) <= set(list_recipes())


def test_overrides_are_applied_and_recorded_as_deviations() -> None:
    recipe = load_recipe("seme_resnet50", overrides=["size=224", "train.lr=1e-3", "stages.0.train.epochs=2"], epochs=3)
    assert recipe["input"]["size"] == 224 and recipe["train"]["lr"] == 1e-3 and recipe.stage_epochs() == [3, 2]
    joined = "\n".join(recipe.deviations)
    assert "input.size: recipe [512, 512] -> used 224" in joined
    assert "train.epochs: recipe 60 -> used 3" in joined and "stages.0.train.epochs: recipe 30 -> used 2" in joined
    stage2 = recipe.stage_values(1)
    assert stage2["augment"]["rotate"] == 30.0 and stage2["train"]["eta_max"] == 0.1 and stage2["augment"]["masked_copies"]
    with pytest.raises(RecipeError, match="unknown recipe key"):
        load_recipe("lung_unet", overrides=["no_such_key=1"])
    with pytest.raises(RecipeError, match="ambiguous"):
        resolve_key({"a": {"x": 1}, "b": {"x": 2}}, "x")


@pytest.mark.parametrize(
    "toml, key",
    [
        ("[train]\nepoch = 3\n", "'train.epoch' (did you mean train.epochs?)"),
        ("[augmnt]\nhflip = 0.5\n", "'augmnt'"),
        ("[[stages]]\nname = 'two'\n[stages.train]\nlr_max = 1\n", "'stages.0.train.lr_max'"),
    ],
)
def test_a_config_file_with_an_unknown_key_is_refused_and_the_key_named(tmp_path, toml: str, key: str) -> None:
    config = tmp_path / "typo.toml"
    config.write_text(toml, encoding="utf-8")
    with pytest.raises(RecipeError, match="unknown recipe key") as err:
        load_recipe("dresunet", config)
    assert key in str(err.value) and str(config) in str(err.value)


def test_a_dotted_override_with_an_unknown_key_is_refused() -> None:
    with pytest.raises(RecipeError, match="'train.epoch'"):
        load_recipe("dresunet", overrides=["train.epoch=3"])
    assert load_recipe("dresunet", overrides=["data.label_map.covid=COVID-19"])["data"]["label_map"]["covid"] == "COVID-19"


def test_reproduce_command_names_a_named_variant_file_of_the_model() -> None:
    from trainer.config import load_recipe, reproduce_command

    recipe = load_recipe("dpn92_se", RECIPES_DIR / "cpu_budget" / "dpn92_se_anneal.toml")
    assert reproduce_command(recipe, "x.csv").endswith("--config trainer/recipes/cpu_budget/dpn92_se_anneal.toml")
    other = load_recipe("dpn92_se", RECIPES_DIR / "cpu_budget" / "dpn92_se.toml")
    assert reproduce_command(other, "x.csv").endswith("--config trainer/recipes/cpu_budget/dpn92_se.toml")


def test_reproduce_command_names_the_packaged_variant_file_only_when_it_matches() -> None:
    from trainer.config import load_recipe, reproduce_command

    variant = RECIPES_DIR / "cpu_budget" / "seme_resnet50.toml"
    recipe = load_recipe("seme_resnet50", variant)
    command = reproduce_command(recipe, "data/cxr/labels.csv")
    assert command.endswith("--config trainer/recipes/cpu_budget/seme_resnet50.toml")
    assert command.startswith("python -m trainer fit seme_resnet50 --data data/cxr/labels.csv")
    assert "--config" not in reproduce_command(load_recipe("seme_resnet50"), "x.csv")


def test_a_run_that_changed_its_variant_file_gets_the_file_plus_the_overrides_that_rebuild_it() -> None:
    import shlex

    from trainer.config import load_recipe, reproduce_command

    variant = RECIPES_DIR / "cpu_budget" / "seme_resnet50.toml"
    moex = load_recipe("seme_resnet50", variant)["method"]["moex"]
    # the label map line repeats the variant's own value: it needs no --set
    changed = load_recipe("seme_resnet50", variant, ["train.lr=0.5", f"method.moex={str(not moex).lower()}",
                                                     'train.init_from="w/x y"', 'data.label_map.covid="viral pneumonia"',
                                                     "input.size=[96, 80]"])
    command = reproduce_command(changed, "x.csv")
    assert "--config trainer/recipes/cpu_budget/seme_resnet50.toml" in command
    args = shlex.split(command)
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert sorted(s.split("=")[0] for s in sets) == ["input.size", "method.moex", "train.init_from", "train.lr"]
    assert load_recipe("seme_resnet50", variant, sets).values == changed.values


def test_an_ablation_trained_with_its_paper_models_variant_file_gets_that_command() -> None:
    from trainer.config import load_recipe, reproduce_command

    recipe = load_recipe("resunet", RECIPES_DIR / "cpu_budget" / "dresunet.toml")
    assert reproduce_command(recipe, "ct/labels.csv").endswith("--config trainer/recipes/cpu_budget/dresunet.toml")
    assert "--config" not in reproduce_command(load_recipe("resunet"), "ct/labels.csv")


@pytest.mark.parametrize(
    "model, variant, size",
    [(m, "gpu/dresunet.toml", 256) for m in ("dresunet", "resunet", "resunet_ecsa", "resunet_fprm")] + [("vgg16_ga", "gpu/vgg16_ga.toml", 224)],
)
def test_the_gpu_recipes_train_at_the_papers_size_and_cards_name_them(model: str, variant: str, size: int) -> None:
    from trainer.config import reproduce_command

    recipe = load_recipe(model, RECIPES_DIR / variant)
    assert recipe["input"]["size"] == size and recipe["train"]["time_limit_minutes"] > 0
    assert not recipe["train"]["init_from"]  # from random weights: nothing of a CPU run carried over
    assert reproduce_command(recipe, "labels.csv").endswith(f"--config trainer/recipes/{variant}")
