"""The within-label source adversary (issue 12): groups from the rows, which loss trains which side, the
network pushed to drop the source (and plain gradient reversal measured not to), and a real run that
trains, logs, resumes and exports without it."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from trainer.checkpoint import BEST, LAST, load_checkpoint
from trainer.config import load_recipe
from trainer.engine import TrainingInterrupted
from trainer.run import fit
from trainer.source_adversary import ClassifierInput, SourceAdversary
from trainer.tasks import ClassificationTask, StepModule


def _rows(counts: dict[tuple[str, str], int]) -> list[SimpleNamespace]:
    return [SimpleNamespace(label=label, source=source) for (label, source), n in counts.items() for _ in range(n)]


def test_only_labels_with_two_sources_of_enough_rows_are_read() -> None:
    rows = _rows({("normal", "NIH"): 30, ("normal", "RSNA"): 20, ("normal", "Figure1"): 3,
                  ("covid", "ieee8023"): 40, ("covid", "Figure1"): 12, ("pneumonia", "NIH"): 50})
    adversary = SourceAdversary.from_rows(rows, feature_dim=8, scale=0.1, min_rows=10)
    assert adversary.groups == {"covid": ["Figure1", "ieee8023"], "normal": ["NIH", "RSNA"]}  # pneumonia: one source
    assert "normal: NIH / RSNA" in adversary.describe()
    with pytest.raises(ValueError, match="no label has two sources"):
        SourceAdversary.from_rows(_rows({("normal", "NIH"): 30, ("covid", "ieee8023"): 30}), 8, 0.1)


class _Toy(nn.Module):
    """features = body(x); a Linear classifier reads them (as every CXR network here ends)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(2, 2, bias=False)
        self.fc = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


class _Reversal(torch.autograd.Function):
    """Gradient reversal (Ganin et al. 2016), the game the issue named: kept here only as the control."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


def _source_share(weight: float, reversal: bool = False, seed: int = 0) -> float:
    """Train the toy on inputs (label + noise, source + noise); the share of the features made from the source input."""
    torch.manual_seed(seed)
    n = 256
    label, source = torch.randint(0, 2, (n,)), torch.randint(0, 2, (n,))
    x = torch.stack([label * 2.0 - 1 + 0.3 * torch.randn(n), source * 2.0 - 1 + 0.3 * torch.randn(n)], dim=1)
    model = _Toy()
    spec = SimpleNamespace(binary_logit=False, lung_mask="none", explain=SimpleNamespace(classifier="fc"))
    rows = _rows({(lab, src): 10 for lab in ("a", "b") for src in ("s0", "s1")})
    adversary = SourceAdversary.from_rows(rows, 2, weight) if weight and not reversal else None
    heads = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    step = StepModule(model, ClassificationTask(spec, {}), adversary)
    optimiser = torch.optim.SGD([*step.parameters(), *heads.parameters()], lr=0.1)
    names = [("a", "b")[int(v)] for v in label], [("s0", "s1")[int(v)] for v in source]
    for _ in range(600):
        out = step({"image": x, "target": label, "label_name": names[0], "source": names[1]}, True)
        loss = nn.functional.cross_entropy(out["logits"], label) + out.get("adversary_loss", 0.0)
        if reversal:
            features = _Reversal.apply(model.body(x))
            loss = loss + sum(nn.functional.cross_entropy(heads[g](features[label == g]), source[label == g]) for g in (0, 1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    weights = model.body.weight.detach()
    return float(weights[:, 1].norm() / weights.norm())


def test_the_confusion_loss_takes_the_source_out_of_the_features_and_reversal_does_not() -> None:
    # four seeds, on average: a plain classifier keeps some of an input it does not need (0.04-0.19 of its
    # features), the confusion loss leaves 0.01-0.07, gradient reversal 0.37-0.69 (the head is fooled by
    # moving the source signal, not by removing it)
    seeds = range(4)
    plain = sum(_source_share(0.0, seed=s) for s in seeds) / 4
    assert sum(_source_share(1.0, seed=s) for s in seeds) / 4 < 0.5 * plain
    assert sum(_source_share(1.0, reversal=True, seed=s) for s in seeds) / 4 > 2 * plain


def test_the_head_learns_from_its_own_loss_and_the_network_only_from_the_confusion_term() -> None:
    adversary = SourceAdversary(3, {"a": ["s0", "s1"]}, 0.5)
    features = torch.randn(4, 3, requires_grad=True)
    out = adversary(features, ["a"] * 4, ["s0", "s1", "s0", "s1"])
    out["loss"].backward()
    head = adversary.heads["a"]
    logits = head(features.detach())
    # the network's gradient is the confusion term's alone: d/df of 0.5 * mean over rows of CE(logits, uniform)
    probability = logits.softmax(1)
    expected = 0.5 * (probability - 0.5) @ head.weight.detach() / 4
    assert torch.allclose(features.grad, expected, atol=1e-6)
    target = torch.tensor([0, 1, 0, 1])
    head_grad = torch.autograd.grad(nn.functional.cross_entropy(logits, target), head.weight)[0]
    assert torch.allclose(head.weight.grad, head_grad, atol=1e-6)  # the confusion term does not move the head


def test_classifier_input_is_what_the_last_layer_reads() -> None:
    model = _Toy()
    with ClassifierInput(model, "fc") as tap:
        model(torch.ones(3, 2))
    assert tap.feature_dim == 2 and torch.allclose(tap.features, model.body(torch.ones(3, 2)))


def test_a_run_with_the_adversary_logs_it_resumes_it_and_exports_the_network_alone(generated_csv, tmp_path: Path) -> None:
    csv_path = generated_csv(("normal", "covid"), 12, with_masks=True, two_sources=True)

    def recipe():
        return load_recipe("dpn92_se", overrides=["size=64", "train.batch_size=4", "train.max_steps_per_epoch=2",
                                                  "method.source_adversary=0.5", "method.source_adversary_min_rows=2"], epochs=2)

    with pytest.raises(TrainingInterrupted):
        fit("dpn92_se", csv_path, tmp_path / "run", recipe(), device="cpu", progress=False, stop_after_steps=3, n_boot=10)
    assert "adversary" in load_checkpoint(tmp_path / "run" / LAST)
    summary = fit("dpn92_se", csv_path, tmp_path / "run", None, device="cpu", resume=True, progress=False, n_boot=10)
    assert all(0.0 <= h["train_adversary_acc"] <= 1.0 for h in summary["history"])
    assert any("within-label source adversary" in d for d in summary["deviations"])
    assert not any(key.startswith("adversary") for key in load_checkpoint(tmp_path / "run" / BEST)["model"])


def test_a_recipe_that_mixes_images_refuses_the_adversary(generated_csv, tmp_path: Path) -> None:
    csv_path = generated_csv(("normal", "covid"), 4, with_masks=True, two_sources=True)
    recipe = load_recipe("dpn92_se", overrides=["size=64", "method.source_adversary=0.5", "method.mixup_alpha=0.4"], epochs=1)
    with pytest.raises(ValueError, match="unmixed images"):
        fit("dpn92_se", csv_path, tmp_path / "run", recipe, device="cpu", progress=False)


def test_under_guided_attention_the_adversary_reads_the_film_as_it_is_not_the_erased_one() -> None:
    from covidviewer.models import create_model
    from covidviewer.models.vgg_ga import gain_forward

    torch.manual_seed(0)
    model = create_model("vgg16_ga").eval()
    images, mask = torch.rand(2, 3, 64, 64), torch.ones(2, 1, 64, 64)
    with ClassifierInput(model, "fc3") as plain:
        model(images, mask)
    with ClassifierInput(model, "fc3") as tap:
        gain_forward(model, images, torch.tensor([0, 2]), mask)  # calls fc3 twice: film, then erased film
    assert torch.allclose(tap.features, plain.features, atol=1e-5)


def test_a_guided_attention_recipe_takes_the_adversary(generated_csv, tmp_path: Path) -> None:
    csv_path = generated_csv(("normal", "covid"), 6, with_masks=True, two_sources=True)
    recipe = load_recipe("vgg16_ga", overrides=["size=32", "train.batch_size=4", "train.max_steps_per_epoch=1", 'data.lung_masks="csv"',
                                               "method.source_adversary=0.5", "method.source_adversary_min_rows=2"], epochs=1)
    summary = fit("vgg16_ga", csv_path, tmp_path / "run", recipe, device="cpu", progress=False, n_boot=10)
    assert 0.0 <= summary["history"][0]["train_adversary_acc"] <= 1.0
    assert any("within-label source adversary" in d for d in summary["deviations"])
