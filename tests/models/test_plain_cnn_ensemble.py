"""``PlainCNN(members=K)``, a deep ensemble in one module: its output is the mean of its members' logits, the members
never touch each other's weights, one member is the plain network, and training scores each member on its own."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from covidviewer.models.plain_cnn import PlainCNN
from covidviewer.models.registry import create_model, get_spec
from covidviewer.models.weights import WEIGHTS_ENV, load_trained_model, save_weights, weights_dir_for, weights_status
from trainer.tasks import ClassificationTask, StepModule

WIDTHS = (8, 12, 16)


def _net(members: int, seed: int = 0) -> PlainCNN:
    torch.manual_seed(seed)
    net = PlainCNN(in_chans=1, num_classes=3, widths=WIDTHS, drop_rate=0.0, members=members)
    with torch.no_grad():  # the head starts near zero: give it weights whose mean is worth checking
        net.fc.weight.normal_()
        net.fc.bias.normal_()
    return net


def test_output_is_the_mean_of_the_members_logits() -> None:
    net = _net(3).eval()
    x = torch.randn(4, 1, 32, 32)
    members = net.forward_members(x)
    assert members.shape == (3, 4, 3)
    torch.testing.assert_close(net(x), members.mean(0))
    assert not torch.allclose(members[0], members[1])  # each member its own start


@pytest.mark.parametrize("member", [0, 1, 2])
def test_a_members_loss_moves_only_its_own_weights(member: int) -> None:
    net = _net(3).train()
    net.forward_members(torch.randn(4, 1, 32, 32))[member].sum().backward()
    for name, param in net.named_parameters():
        if param.grad is None or name == "fc.bias":  # the shared bias: a mean cannot tell the members' apart
            continue
        axis = 1 if name == "fc.weight" else 0  # the classifier's members sit side by side along its inputs
        grads = param.grad.abs().movedim(axis, 0).reshape(3, param.shape[axis] // 3, -1).sum(dim=(1, 2))
        others = [float(g) for k, g in enumerate(grads) if k != member]
        assert float(grads[member]) > 0 and others == [0.0, 0.0], name


def test_one_member_is_the_plain_network() -> None:
    single, plain = _net(1), _net(1)
    plain.load_state_dict(single.state_dict())
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(single.eval()(x), plain.eval().forward_members(x)[0])
    assert sum(p.numel() for p in _net(3).parameters()) == pytest.approx(3 * sum(p.numel() for p in single.parameters()), rel=0.01)


def test_training_scores_each_member_on_its_own() -> None:
    net = _net(3).train()
    task = ClassificationTask(get_spec("small_cnn"), {})
    batch = {"image": torch.randn(4, 1, 32, 32), "target": torch.tensor([0, 1, 2, 1])}
    out = StepModule(net, task)(batch, train=True)
    per_member = torch.stack([F.cross_entropy(m, batch["target"]) for m in out["member_logits"]]).mean()
    torch.testing.assert_close(task.loss(out, batch), per_member)
    assert not torch.isclose(per_member, F.cross_entropy(out["logits"], batch["target"]))  # not the mean's loss
    assert "member_logits" not in StepModule(net.eval(), task)(batch, train=False)


def test_the_source_adversary_refuses_an_ensemble() -> None:
    with pytest.raises(ValueError, match="ensemble"):
        StepModule(_net(3), ClassificationTask(get_spec("small_cnn"), {}), adversary=torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="at least 1"):
        PlainCNN(members=0)


def test_the_app_builds_the_ensemble_its_card_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A set trained with another ``members`` than the registered one loads as it was trained (card's model_kwargs)."""
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    spec = get_spec("small_cnn")
    trained = create_model("small_cnn", members=2).eval()
    save_weights(trained, spec, weights_dir_for(spec), training={"model_kwargs": {"members": 2}}, metrics={},
                 dtype=torch.float32)
    assert weights_status("small_cnn") == "trained"
    loaded = load_trained_model("small_cnn")
    assert loaded.members == 2
    x = torch.randn(1, 1, 64, 64)
    torch.testing.assert_close(loaded(x), trained(x))
    save_weights(trained, spec, weights_dir_for(spec), training={}, metrics={}, dtype=torch.float32)
    assert weights_status("small_cnn").startswith("invalid: ")  # without the record, the registered shapes differ
