"""Fit what a card says about trusting a classifier: temperature, COVID-19 operating point, OOD model.

All numpy, on arrays the export already has: validation logits, the validation rows' allowed classes,
and penultimate features (``covidviewer.models.features``) of the training and validation rows.

Targets may be sets: a coarse label allows several classes (adult "pneumonia" = {bacterial, viral}).
Everywhere here a target is an (N, K) 0/1 "allowed" matrix (an (N,) integer vector is one-hot
encoded): the NLL of a row is -log of the probability of its set, a top-1 answer is correct when it
is in the set.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from covidviewer.models.calibration import Calibration, OODModel, OperatingPoint

COVID = "COVID-19"


def allowed_matrix(targets: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) class indices or (N, K) 0/1 rows -> (N, K) bool; every row must allow some class."""
    t = np.asarray(targets)
    if t.ndim == 1:
        out = np.zeros((len(t), n_classes), dtype=bool)
        out[np.arange(len(t)), t.astype(int)] = True
    elif t.ndim == 2 and t.shape[1] == n_classes:
        out = t.astype(bool)
    else:
        raise ValueError(f"targets must be (N,) indices or (N, {n_classes}) allowed classes, got {t.shape}")
    if not out.any(axis=1).all():
        raise ValueError("every target row must allow at least one class")
    return out


def temperature_scaled(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    output = "sigmoid" if z.shape[1] == 1 else "softmax"
    return Calibration(classes=("a", "b") if output == "sigmoid" else tuple(map(str, range(z.shape[1]))),
                       temperature=temperature, output=output).apply_temperature(z)


def set_nll(prob: np.ndarray, allowed: np.ndarray) -> float:
    """Mean -log P(row's allowed set)."""
    p_set = (np.asarray(prob) * allowed).sum(axis=1)
    return float(-np.log(np.clip(p_set, 1e-12, 1.0)).mean())


def fit_temperature(logits: np.ndarray, targets: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The T minimising validation NLL of softmax(logits / T) (sigmoid for (N, 1) logits).

    A coarse log-spaced grid first (NLL in T can be flat or have a shallow minimum at an edge), then
    golden-section search on log T in the bracket around the grid's best point.
    """
    z = np.asarray(logits, dtype=np.float64)
    allowed = allowed_matrix(targets, 2 if z.shape[1] == 1 else z.shape[1])

    def nll(log_t: float) -> float:
        return set_nll(temperature_scaled(z, float(np.exp(log_t))), allowed)

    grid = np.linspace(np.log(bounds[0]), np.log(bounds[1]), 41)
    values = [nll(g) for g in grid]
    best = int(np.argmin(values))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(40):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    log_t = (lo + hi) / 2
    return float(np.exp(log_t if nll(log_t) <= values[best] else grid[best]))


def reliability_bins(prob: np.ndarray, targets: np.ndarray, bins: int = 15) -> list[dict[str, float]]:
    """Equal-width confidence bins of the top-1 answer: count, mean confidence, accuracy (in the set)."""
    p = np.asarray(prob, dtype=np.float64)
    allowed = allowed_matrix(targets, p.shape[1])
    confidence = p.max(axis=1)
    correct = allowed[np.arange(len(p)), p.argmax(axis=1)]
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        rows = which == b
        out.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(rows.sum()),
                    "confidence": float(confidence[rows].mean()) if rows.any() else float("nan"),
                    "accuracy": float(correct[rows].mean()) if rows.any() else float("nan")})
    return out


def expected_calibration_error(prob: np.ndarray, targets: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: sum over equal-width bins of |accuracy - confidence| weighted by the bin's share."""
    table = reliability_bins(prob, targets, bins)
    n = sum(b["count"] for b in table)
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in table if b["count"]))


def reliability_png(before: np.ndarray, after: np.ndarray, targets: np.ndarray, dest: Path, bins: int = 15) -> Path:
    """Reliability diagram (accuracy per confidence bin) before and after temperature scaling."""
    from trainer.report.plots import _pyplot, save_unit_square

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=110)
    for prob, name in ((before, "before"), (after, "after")):
        table = [b for b in reliability_bins(prob, targets, bins) if b["count"]]
        ece = expected_calibration_error(prob, targets, bins)
        ax.plot([b["confidence"] for b in table], [b["accuracy"] for b in table], marker="o",
                label=f"{name}: ECE {ece:.3f}")
    labels = ("confidence (top-1 probability)", "accuracy (top-1 in the label's set)", f"Reliability, {bins} bins (n = {len(before)})")
    return save_unit_square(plt, fig, ax, labels, "upper left", dest)


def _sens_spec(pred_covid: np.ndarray, is_covid: np.ndarray) -> tuple[float, float]:
    pos, neg = is_covid, ~is_covid
    sens = float(pred_covid[pos].mean()) if pos.any() else float("nan")
    spec = float((~pred_covid[neg]).mean()) if neg.any() else float("nan")
    return sens, spec


def choose_threshold(
    p_covid: np.ndarray,
    is_covid: np.ndarray,
    target_sensitivity: float = 0.80,
    min_specificity: float = 0.70,
    argmax_is_covid: np.ndarray | None = None,
    class_name: str = COVID,
) -> OperatingPoint:
    """The highest threshold on the calibrated COVID-19 probability whose validation sensitivity
    reaches ``target_sensitivity`` (the most specific such threshold). When its specificity is under
    ``min_specificity`` the decision stays argmax (threshold None) and the note says why."""
    p = np.asarray(p_covid, dtype=np.float64)
    y = np.asarray(is_covid, dtype=bool)
    if not y.any() or y.all():
        raise ValueError("choosing a threshold needs COVID-19 and other rows in validation")
    candidates = np.unique(p[y])[::-1]  # a threshold at a positive's score keeps that positive
    threshold = next(t for t in candidates if (p[y] >= t).mean() >= target_sensitivity)
    sens, spec = _sens_spec(p >= threshold, y)
    if spec >= min_specificity:
        return OperatingPoint(class_name, float(threshold), target_sensitivity, min_specificity, sens, spec)
    argmax = p >= 0.5 if argmax_is_covid is None else np.asarray(argmax_is_covid, dtype=bool)
    a_sens, a_spec = _sens_spec(argmax, y)
    note = (f"no threshold reached sensitivity {target_sensitivity:.2f} with specificity \u2265 {min_specificity:.2f} "
            f"on validation (best: {spec:.2f} at {threshold:.2f}); argmax kept")
    return OperatingPoint(class_name, None, target_sensitivity, min_specificity, a_sens, a_spec, note)


def _top_components(xc: np.ndarray, dims: int, oversample: int = 10, power_iterations: int = 4) -> np.ndarray:
    """(D, dims) leading principal axes of centred rows ``xc``. Randomised range finder (Halko et al.,
    SIAM Review 2011) with a fixed seed: a full SVD of 3,000 x 2,688 DPN-92 features takes a minute
    on two cores, this a second or two."""
    n, d = xc.shape
    k = min(dims + oversample, n, d)
    if k >= min(n, d) // 2:  # small problems: the exact SVD is cheap enough
        return np.linalg.svd(xc, full_matrices=False)[2][:dims].T
    q = np.linalg.qr(xc @ np.random.default_rng(0).standard_normal((d, k)))[0]
    for _ in range(power_iterations):
        q = np.linalg.qr(xc @ (xc.T @ q))[0]
    vt = np.linalg.svd(q.T @ xc, full_matrices=False)[2]
    return vt[:dims].T


def fit_ood(
    train_features: np.ndarray,
    train_targets: np.ndarray,
    val_features: np.ndarray,
    pca_dims: int = 64,
    percentile: float = 99.0,
    class_names: Sequence[str] | None = None,
) -> OODModel:
    """PCA (on the training rows) to ``pca_dims``, one mean per training label (a class, or a coarse
    label's set), a shared covariance (lightly shrunk so it inverts), threshold at ``percentile`` of
    the validation scores."""
    x = np.asarray(train_features, dtype=np.float64)
    t = np.asarray(train_targets)
    rows = t.astype(bool) if t.ndim == 2 else allowed_matrix(t, int(t.max()) + 1)
    names = list(class_names) if class_names is not None else [str(i) for i in range(rows.shape[1])]
    center = x.mean(axis=0)
    xc = x - center
    dims = max(1, min(pca_dims, x.shape[1], len(x) - 1))
    projection = _top_components(xc, dims)
    z = xc @ projection
    patterns, group = np.unique(rows, axis=0, return_inverse=True)
    group = group.reshape(-1)
    means = np.stack([z[group == g].mean(axis=0) for g in range(len(patterns))])
    resid = z - means[group]
    cov = resid.T @ resid / max(len(z) - len(patterns), 1)
    cov += np.eye(dims) * (1e-3 * np.trace(cov) / dims + 1e-9)
    group_names = tuple("|".join(n for n, on in zip(names, p) if on) for p in patterns)
    model = OODModel(center, projection, group_names, means, np.linalg.inv(cov), threshold=np.inf, percentile=percentile)
    val_scores = model.scores(np.asarray(val_features, dtype=np.float64))
    threshold = float(np.percentile(val_scores, percentile))
    return OODModel(center, projection, group_names, means, model.precision, threshold, percentile,
                    float((val_scores > threshold).mean()))


def fit_calibration(
    val_logits: np.ndarray,
    val_allowed: np.ndarray,
    class_names: Sequence[str],
    *,
    train_features: np.ndarray | None = None,
    train_allowed: np.ndarray | None = None,
    val_features: np.ndarray | None = None,
    out_dir: Path | None = None,
    target_sensitivity: float = 0.80,
    min_specificity: float = 0.70,
    pca_dims: int = 64,
    bins: int = 15,
    flag_sets: dict[str, np.ndarray] | None = None,
) -> tuple[Calibration, dict[str, Any]]:
    """Temperature + COVID-19 operating point (when the model has that class) + OOD model (when
    features are given) -> (Calibration, report). ``out_dir``: write ``reliability.png`` there.
    ``flag_sets``: name -> (N, D) features of image sets whose OOD flag rate the card should state
    (each validation source, the other kind of images)."""
    z = np.asarray(val_logits, dtype=np.float64)
    classes = tuple(class_names)
    allowed = allowed_matrix(val_allowed, len(classes))
    output = "sigmoid" if z.shape[1] == 1 else "softmax"
    temperature = fit_temperature(z, allowed)
    raw = Calibration(classes, 1.0, output).apply_temperature(z)
    calibrated = Calibration(classes, temperature, output).apply_temperature(z)
    report: dict[str, Any] = {"temperature": temperature, "n_validation": len(z), "bins": bins}
    operating_point = None
    if COVID in classes:
        k = classes.index(COVID)
        only_covid = allowed[:, k] & (allowed.sum(axis=1) == 1)
        definite = only_covid | ~allowed[:, k]  # a set holding COVID-19 and another class says neither
        if only_covid[definite].any() and (~only_covid[definite]).any():
            operating_point = choose_threshold(calibrated[definite, k], only_covid[definite], target_sensitivity,
                                               min_specificity, calibrated[definite].argmax(axis=1) == k)
        else:
            report["operating_point"] = "not chosen: validation lacks COVID-19 or other rows"
    ood = None
    if train_features is not None and val_features is not None:
        if train_allowed is None:
            raise ValueError("train_allowed is needed with train_features")
        ood = fit_ood(train_features, allowed_matrix(train_allowed, len(classes)), val_features, pca_dims,
                      class_names=classes)
        if flag_sets:
            rates = {name: float((ood.scores(f) > ood.threshold).mean()) for name, f in flag_sets.items() if len(f)}
            ood = replace(ood, flag_rates=rates)
        report["ood"] = {"threshold": ood.threshold, "validation_flag_rate": ood.validation_flag_rate,
                         "pca_dims": int(ood.projection.shape[1]), "groups": list(ood.group_names),
                         "flag_rates": dict(ood.flag_rates)}
    diagram = ""
    if out_dir is not None:
        diagram = reliability_png(raw, calibrated, allowed, Path(out_dir) / "reliability.png", bins).name
    calibration = Calibration(
        classes, temperature, output, operating_point, ood,
        ece_before=expected_calibration_error(raw, allowed, bins), ece_after=expected_calibration_error(calibrated, allowed, bins),
        nll_before=set_nll(raw, allowed), nll_after=set_nll(calibrated, allowed), n_validation=len(z),
        reliability_diagram=diagram,
    )
    report.update(ece_before=calibration.ece_before, ece_after=calibration.ece_after,
                  nll_before=calibration.nll_before, nll_after=calibration.nll_after,
                  reliability=reliability_bins(calibrated, allowed, bins))
    if operating_point is not None:
        report["operating_point"] = dict(vars(operating_point))
    return calibration, report
