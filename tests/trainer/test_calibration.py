"""Temperature scaling, ECE, the COVID-19 operating point and the OOD model, on constructed numbers."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.models.calibration import Calibration
from trainer.calibration import (
    choose_threshold,
    expected_calibration_error,
    fit_calibration,
    fit_ood,
    fit_temperature,
    set_nll,
)

CLASSES = ("COVID-19", "normal", "bacterial pneumonia", "viral pneumonia")


def _overconfident(n: int = 2000, scale: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Targets drawn from softmax(true logits); the model reports the true logits times ``scale``."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0, 1.5, (n, 4))
    targets = np.array([rng.choice(4, p=np.exp(z) / np.exp(z).sum()) for z in true_logits])
    return true_logits * scale, targets


def test_temperature_lowers_ece_and_nll_of_an_overconfident_model() -> None:
    logits, targets = _overconfident()
    t = fit_temperature(logits, targets)
    assert 2.5 < t < 6.0  # the constructed over-confidence factor is 4
    cal = Calibration(CLASSES, t)
    raw = Calibration(CLASSES, 1.0).apply_temperature(logits)
    after = cal.apply_temperature(logits)
    assert expected_calibration_error(after, targets) < 0.5 * expected_calibration_error(raw, targets)
    assert expected_calibration_error(after, targets) < 0.05
    assert set_nll(after, np.eye(4)[targets]) < set_nll(raw, np.eye(4)[targets])


def test_coarse_labels_use_the_probability_of_their_set() -> None:
    prob = np.array([[0.1, 0.1, 0.4, 0.4]])
    pneumonia = np.array([[0, 0, 1, 1]])
    assert set_nll(prob, pneumonia) == pytest.approx(-np.log(0.8))
    assert expected_calibration_error(prob, pneumonia) == pytest.approx(0.6)  # top-1 (0.4) is in the set


def test_a_well_calibrated_model_keeps_temperature_near_one() -> None:
    logits, targets = _overconfident(scale=1.0, seed=1)
    assert 0.8 < fit_temperature(logits, targets) < 1.25


def test_threshold_is_the_most_specific_one_reaching_the_target_sensitivity() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.5, 0.2, 0.1, 0.05, 0.4])
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    op = choose_threshold(p, y, target_sensitivity=0.8, min_specificity=0.7)
    assert op.threshold == pytest.approx(0.6)
    assert op.sensitivity == pytest.approx(0.8) and op.specificity == pytest.approx(1.0)


def test_threshold_keeps_argmax_when_the_specificity_floor_cannot_be_met() -> None:
    p = np.array([0.9, 0.1, 0.1, 0.8, 0.85, 0.95])
    y = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    op = choose_threshold(p, y, target_sensitivity=0.8, min_specificity=0.7)
    assert op.threshold is None and "argmax kept" in op.note
    label, text = Calibration(CLASSES, 1.0, operating_point=op).decision([0.3, 0.5, 0.1, 0.1])
    assert label == "normal" and "argmax kept" in text


def test_ood_flags_a_shifted_input_and_about_one_percent_of_validation() -> None:
    rng = np.random.default_rng(2)
    centres = rng.normal(0, 3, (3, 200))
    train_y = rng.integers(0, 3, 1500)
    train = centres[train_y] + rng.normal(0, 1, (1500, 200))
    val = centres[rng.integers(0, 3, 500)] + rng.normal(0, 1, (500, 200))
    ood = fit_ood(train, train_y, val, pca_dims=16)
    assert ood.projection.shape == (200, 16) and ood.validation_flag_rate <= 0.02
    cal = Calibration(("a", "b", "c"), 1.0, ood=ood)
    inside = centres[1] + rng.normal(0, 1, 200)
    shifted = centres[1] + rng.normal(0, 1, 200) + 6.0 * rng.normal(0, 1, 200)
    assert not cal.ood_flag(cal.ood_score(inside))
    assert cal.ood_flag(cal.ood_score(shifted))
    assert cal.ood_score(shifted) > 2 * cal.ood_score(inside)


def test_fit_calibration_end_to_end_with_coarse_rows(tmp_path) -> None:
    logits, targets = _overconfident(n=800, seed=3)
    allowed = np.eye(4, dtype=int)[targets]
    allowed[:100, 2:] = 1  # coarse "pneumonia" rows
    allowed[:100, :2] = 0
    rng = np.random.default_rng(4)
    feats = rng.normal(0, 1, (800, 40))
    cal, report = fit_calibration(logits, allowed, CLASSES, train_features=feats, train_allowed=allowed,
                                  val_features=feats[:300], out_dir=tmp_path, pca_dims=8,
                                  flag_sets={"val": feats[:300], "shifted": feats[:50] + 20.0})
    assert cal.ece_after < cal.ece_before and cal.temperature > 1.5
    assert cal.operating_point is not None and cal.operating_point.class_name == "COVID-19"
    assert (tmp_path / "reliability.png").stat().st_size > 1000 and cal.reliability_diagram == "reliability.png"
    assert "bacterial pneumonia|viral pneumonia" in cal.ood.group_names
    assert report["ece_after"] == cal.ece_after
    assert cal.ood.flag_rates["shifted"] == 1.0 and cal.ood.flag_rates["val"] <= 0.02
    again = Calibration.from_dict(cal.write_card(tmp_path), tmp_path)
    assert again.temperature == cal.temperature and again.ood.flag_rates == cal.ood.flag_rates
    x = feats[500]
    assert again.ood_score(x) == pytest.approx(cal.ood_score(x), rel=1e-4)
