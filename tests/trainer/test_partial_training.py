"""train.train_only: the named modules train, every other weight and batch-norm statistic stays as it was."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainer.partial_training import hold_frozen_in_eval, restrict_training


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3), torch.nn.BatchNorm2d(4)),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))


def test_only_the_named_modules_keep_gradients() -> None:
    net = _net()
    n = restrict_training(net, ["3.1", "6"])
    trainable = sorted(name for name, p in net.named_parameters() if p.requires_grad)
    assert trainable == ["3.1.bias", "3.1.weight", "6.bias", "6.weight"]
    assert n == 4 + 4 + 4 * 2 + 2


def test_no_prefix_trains_everything_and_an_unknown_one_is_an_error() -> None:
    net = _net()
    assert restrict_training(net, []) == sum(p.numel() for p in net.parameters())
    with pytest.raises(ValueError, match="denseblock4"):
        restrict_training(net, ["6", "features.denseblock4"])


def test_frozen_batch_norms_keep_their_statistics_while_the_trained_ones_move() -> None:
    net = _net()
    restrict_training(net, ["3"])
    net.train()
    hold_frozen_in_eval(net, ["3"])
    frozen_mean, trained_mean = net[1].running_mean.clone(), net[3][1].running_mean.clone()
    net(torch.randn(4, 1, 12, 12) * 3 + 5)
    assert not net[1].training and net[3].training and net[3][1].training
    assert torch.equal(net[1].running_mean, frozen_mean)
    assert not torch.equal(net[3][1].running_mean, trained_mean)


def test_kept_norm_statistics_stay_while_the_norms_scale_and_shift_still_train() -> None:
    from trainer.partial_training import hold_norm_stats, keeps_norm_stats

    net = _net()
    restrict_training(net, ["3"])
    net.train()
    hold_frozen_in_eval(net, ["3"])
    hold_norm_stats(net)
    trained_norm = net[3][1]
    mean, weight = trained_norm.running_mean.clone(), trained_norm.weight.detach().clone()
    net(torch.randn(4, 1, 12, 12) * 3 + 5).sum().backward()
    torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1).step()
    assert net[3].training and not trained_norm.training
    assert torch.equal(trained_norm.running_mean, mean) and not torch.equal(trained_norm.weight, weight)
    assert keeps_norm_stats({"keep_norm_stats": True}) and not keeps_norm_stats({})


@pytest.mark.parametrize("keep_norm_stats", [False, True])
def test_a_fit_with_train_only_changes_no_weight_outside_it(generated_csv, tmp_path: Path, keep_norm_stats: bool) -> None:
    from covidviewer.models.image_kind import IMAGE_KINDS
    from trainer.checkpoint import BEST
    from trainer.config import load_recipe
    from trainer.devices import DistInfo
    from trainer.engine import Engine
    from trainer.run import Run

    recipe = load_recipe("image_kind", overrides=["size=32", "model_kwargs.widths=[8, 16, 32]", "train.batch_size=4",
                                                  'train.train_only=["features.3", "fc"]',
                                                  f"train.keep_norm_stats={str(keep_norm_stats).lower()}"], epochs=1)
    torch.manual_seed(0)
    run = Run(recipe, generated_csv(IMAGE_KINDS, 3, with_masks=False, name="image_kind"), tmp_path / "run")
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    run.write_inputs()
    Engine(run, DistInfo(), progress=False).fit()
    after = torch.load(tmp_path / "run" / BEST, map_location="cpu", weights_only=False)["model"]
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("features.3.", "fc.")) for k in changed), sorted(changed)
    statistics = {k for k in changed if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert not statistics if keep_norm_stats else statistics, sorted(statistics)
    assert any(note.startswith("only features.3, fc trained") for note in recipe.notes)


def test_the_shipped_stage_2_fine_tune_names_modules_of_its_network_and_starts_from_trained_weights() -> None:
    from covidviewer.models import create_model
    from trainer.config import RECIPES_DIR, load_recipe

    recipe = load_recipe("seme_densenet169", RECIPES_DIR / "cpu_budget" / "seme_densenet169_tail.toml")
    train = recipe["train"]
    assert train["init_from"] and train["train_only"]
    net = create_model("seme_densenet169")
    trained = restrict_training(net, train["train_only"])
    assert 0 < trained < sum(p.numel() for p in net.parameters())
    assert not net.features.conv0.weight.requires_grad and net.head.fc.weight.requires_grad


def test_one_name_alone_is_one_prefix() -> None:
    from trainer.partial_training import trained_prefixes

    assert trained_prefixes({"train_only": "head"}) == ["head"]
    assert trained_prefixes({"train_only": ["layer4", "head"]}) == ["layer4", "head"]
    assert trained_prefixes({}) == [] and trained_prefixes({"train_only": []}) == []
