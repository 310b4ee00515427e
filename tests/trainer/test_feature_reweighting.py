"""The last-layer re-fit: source erasure, group balance, set targets, leave-one-source-out, folding."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.feature_reweighting import (
    ErasedChest, HeadConfig, fit_head, fold_into_linear, out_of_source_logits, sample_weights, source_directions,
)


def _shortcut_world(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feature 0 = the disease (weak, noisy); feature 1 = the hospital (strong). COVID-19 films come
    mostly from hospital B, normal films mostly from hospital A; a few of each from the other."""
    rng = np.random.default_rng(seed)
    covid = np.arange(n) < n // 2
    from_b = np.where(covid, rng.random(n) < 0.85, rng.random(n) < 0.15)
    x = rng.normal(size=(n, 6))
    x[:, 0] += np.where(covid, 0.5, -0.5)
    x[:, 1] += np.where(from_b, 4.0, -4.0)
    allowed = np.stack([covid, ~covid], 1)
    labels = np.where(covid, "COVID-19", "normal")
    sources = np.where(from_b, "B", "A")
    return x, allowed, labels, sources


def test_source_directions_span_the_within_class_mean_differences() -> None:
    x, _, labels, sources = _shortcut_world()
    basis = source_directions(x, labels, sources)
    assert basis.shape[1] >= 1
    np.testing.assert_allclose(basis.T @ basis, np.eye(basis.shape[1]), atol=1e-9)
    assert abs(basis[1, 0]) > 0.95  # the hospital axis, not the disease axis
    assert abs(basis[0]).max() < 0.3


def test_source_directions_skip_groups_below_the_minimum() -> None:
    x, _, labels, sources = _shortcut_world()
    assert source_directions(x, labels, sources, min_group=10_000).shape == (6, 0)


def test_erased_head_gives_each_source_of_a_class_the_same_mean_score() -> None:
    x, allowed, labels, sources = _shortcut_world()
    erased = fit_head(x, allowed, labels, sources, HeadConfig(True, "source_label", 1.0))
    plain = fit_head(x, allowed, labels, sources, HeadConfig(False, "label", 1.0))
    for head, expect_equal in ((erased, True), (plain, False)):
        margin = head.logits(x)[:, 0] - head.logits(x)[:, 1]
        normal = labels == "normal"
        gap = abs(margin[normal & (sources == "A")].mean() - margin[normal & (sources == "B")].mean())
        assert (gap < 1e-6) == expect_equal, gap
    assert erased.erased_directions >= 1


def test_erasure_finds_the_disease_where_the_plain_head_reads_the_hospital() -> None:
    x, allowed, labels, sources = _shortcut_world()
    erased = fit_head(x, allowed, labels, sources, HeadConfig(True, "source_label", 1.0))
    plain = fit_head(x, allowed, labels, sources, HeadConfig(False, "label", 1.0))
    spread = x.std(0)  # compare what each feature adds to the score, not raw weights
    w_erased = (erased.weight[0] - erased.weight[1]) * spread
    w_plain = (plain.weight[0] - plain.weight[1]) * spread
    assert abs(w_plain[1]) > abs(w_plain[0])  # the shortcut dominates
    assert abs(w_erased[0]) > 4 * abs(w_erased[1])  # the disease dominates (the erased axes are estimated, so not exactly)


def test_sample_weights_balance_groups_and_cap_tiny_ones() -> None:
    labels = np.array(["a"] * 90 + ["a"] * 10 + ["b"] * 50 + ["b"] * 2)
    sources = np.array(["X"] * 90 + ["Y"] * 10 + ["X"] * 50 + ["Y"] * 2)
    w = sample_weights(labels, sources, "source_label", min_group=10)
    assert w.sum() == pytest.approx(len(w))
    assert w[:90].sum() == pytest.approx(w[90:100].sum())  # both hospitals of class a weigh the same
    assert w[labels == "a"].sum() == pytest.approx(w[labels == "b"].sum())
    assert w[-1] == pytest.approx(w[-2]) == pytest.approx(5 * w[140])  # a 2-film group counts as 10 films, not 2
    by_label = sample_weights(labels, sources, "label")
    assert by_label[labels == "a"].sum() == pytest.approx(by_label[labels == "b"].sum())
    with pytest.raises(ValueError):
        sample_weights(labels, sources, "age")


def test_coarse_label_loss_is_on_the_sum_of_its_classes() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4))
    cls = rng.integers(0, 3, 300)
    x[:, 0] += 3 * (cls == 0)
    x[:, 1] += 3 * (cls == 1)
    x[:, 2] += 3 * (cls == 2)
    allowed = np.eye(3, dtype=bool)[cls]
    allowed[cls > 0] = [False, True, True]  # "pneumonia": bacterial or viral, never said which
    head = fit_head(x, allowed, np.where(cls == 0, "c", "p"), np.full(300, "S"), HeadConfig(False, "label", 1.0))
    prob = np.exp(head.logits(x))
    prob /= prob.sum(1, keepdims=True)
    assert prob[cls == 0, 0].mean() > 0.8
    assert (prob[cls > 0, 1] + prob[cls > 0, 2]).mean() > 0.8


def test_out_of_source_rows_are_scored_by_a_head_that_never_saw_their_source() -> None:
    x, allowed, labels, sources = _shortcut_world()
    sources = sources.astype(object)
    sources[:10] = "C"  # too few COVID-19 films elsewhere? no: C holds only COVID-19, 10 of 120
    logits, held = out_of_source_logits(x, allowed, labels, sources.astype(str), HeadConfig(False, "label", 1.0))
    assert set(held) == {"A", "B", "C"}
    rest = sources != "C"
    refit = fit_head(x[rest], allowed[rest], labels[rest], sources[rest].astype(str), HeadConfig(False, "label", 1.0))
    np.testing.assert_allclose(logits[:10], refit.logits(x[:10]), rtol=1e-6, atol=1e-6)


def test_a_source_holding_a_whole_class_is_not_held_out() -> None:
    x, allowed, labels, _ = _shortcut_world()
    sources = np.where(labels == "COVID-19", "B", "A")
    logits, held = out_of_source_logits(x, allowed, labels, sources, HeadConfig(False, "label", 1.0))
    assert held == [] and np.isnan(logits).all()


def test_folded_head_reproduces_the_fitted_logits_in_the_network_layer() -> None:
    x, allowed, labels, sources = _shortcut_world()
    head = fit_head(x, allowed, labels, sources, HeadConfig(True, "source_label", 0.1))
    layer = torch.nn.Linear(6, 2).double()
    fold_into_linear(layer, head)
    with torch.no_grad():
        out = layer(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, head.logits(x), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError):
        fold_into_linear(torch.nn.Linear(5, 2), head)


def test_scaled_head_keeps_the_ranking_and_multiplies_the_logits() -> None:
    x, allowed, labels, sources = _shortcut_world()
    head = fit_head(x, allowed, labels, sources, HeadConfig(False, "label", 1e-4))
    big = head.scaled(1000.0)
    np.testing.assert_allclose(big.logits(x), 1000.0 * head.logits(x), rtol=1e-12)
    assert (big.logits(x).argmax(1) == head.logits(x).argmax(1)).all()


def test_a_channel_constant_in_training_gets_no_outsized_weight() -> None:
    x, allowed, labels, sources = _shortcut_world()
    x = np.c_[x, np.where(labels == "COVID-19", 1e-6, -1e-6)]  # separates the classes, but (nearly) constant
    head = fit_head(x, allowed, labels, sources, HeadConfig(False, "label", 1.0))
    w = np.abs(head.weight[0] - head.weight[1])
    assert w[-1] < 100 * np.median(w[:-1])  # without the floor: ~1e6 times
    assert head.logits(np.c_[x[:, :-1], np.full(len(x), 1.0)]).std() < 1e3  # it wakes up elsewhere: no explosion


def _surroundings_world(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, ErasedChest]:
    """Feature 0 = the lungs (the disease), feature 1 = what lies around them (a marker that also tells the label);
    with the chest erased feature 0 is noise and feature 1 stays."""
    x, allowed, labels, sources = _shortcut_world(n, seed)
    rng = np.random.default_rng(seed + 1)
    covid = allowed[:, 0]
    x[:, 1] = np.where(covid, 1.5, -1.5) + rng.normal(size=n)
    erased = x.copy()
    erased[:, 0] = rng.normal(size=n)
    return x, allowed, labels, sources, ErasedChest(erased, np.arange(n))


def test_chest_erased_class_means_take_the_surroundings_out_of_the_score() -> None:
    x, allowed, labels, sources, erased = _surroundings_world()
    plain = fit_head(x, allowed, labels, sources, HeadConfig(False, "label", 1.0))
    taught = fit_head(x, allowed, labels, sources, HeadConfig(False, "label", 1.0, erased_chest=True), erased)
    covid = allowed[:, 0]

    def erased_gap(head) -> float:
        margin = head.logits(erased.features)[:, 0] - head.logits(erased.features)[:, 1]
        return float(margin[covid].mean() - margin[~covid].mean())

    assert erased_gap(plain) > 2.0
    assert abs(erased_gap(taught)) < 1e-6  # any linear head: the erased films' class means are projected out
    assert taught.erased_directions == 1
    margin = taught.logits(x)[:, 0] - taught.logits(x)[:, 1]
    assert margin[covid].mean() - margin[~covid].mean() > 0.5  # the lungs still tell


def test_a_head_of_erased_copies_needs_their_features() -> None:
    x, allowed, labels, sources, _ = _surroundings_world()
    with pytest.raises(ValueError, match="chest-erased"):
        fit_head(x, allowed, labels, sources, HeadConfig(False, "label", 1.0, erased_chest=True))


def test_erased_copies_follow_their_films_out_of_source() -> None:
    x, allowed, labels, sources, erased = _surroundings_world()
    kept = sources == "A"
    of_kept = erased.of(kept)
    assert len(of_kept.rows) == kept.sum()
    np.testing.assert_array_equal(of_kept.features, erased.features[kept])
    np.testing.assert_array_equal(of_kept.rows, np.arange(kept.sum()))
    partial = ErasedChest(erased.features[::2], erased.rows[::2]).of(kept)
    np.testing.assert_array_equal(x[kept][partial.rows][:, 1], partial.features[:, 1])
    logits, held = out_of_source_logits(x, allowed, labels, sources, HeadConfig(False, "label", 1.0, erased_chest=True),
                                        erased=erased)
    assert sorted(held) == ["A", "B"] and np.isfinite(logits).all()
