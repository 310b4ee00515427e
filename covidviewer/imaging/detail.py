"""Detail standardisation: every film's fine-to-coarse detail brought to the same strength on the model grid.

A film's detail at each scale (its Laplacian-pyramid bands) is set by the hospital's detector, its console's edge
enhancement or noise reduction, and its re-sampling, as much as by the lungs. On the model inputs of the training
films here the finest band is stronger on the adult COVID-19 films (median RMS 0.032) than on the adult normals of
NIH and RSNA (0.022-0.024), and a network learns that (session 28: the small CNN trained without style augmentation
called 98% of adult normals COVID-19 once 3% noise was added, 64% once edge-enhanced). Scaling each band of every
film to a fixed RMS keeps the pattern of its detail and takes away most of its strength, the same way at training and
at inference (``Preprocess.detail_bands``); a target far under any film's (small_cnn's 0.002 for the finest band) takes
the band away. One pass, so only about: the bands leak into each other when the film is rebuilt. On the training
films' model inputs the finest band's RMS spans 0.018-0.046 (5th-95th percentile) before and 0.027-0.031 after.
"""
from __future__ import annotations

import cv2
import numpy as np


def pyramid_bands(unit: np.ndarray, levels: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Laplacian pyramid of an (H, W) float32 image: ``levels`` band images, finest first, and the coarse rest."""
    gauss = [np.asarray(unit, np.float32)]
    for _ in range(levels):
        gauss.append(cv2.pyrDown(gauss[-1]))
    bands = [gauss[i] - cv2.pyrUp(gauss[i + 1], dstsize=gauss[i].shape[::-1]) for i in range(levels)]
    return bands, gauss[-1]


def _rms(band: np.ndarray) -> float:
    return float(np.sqrt(np.mean(band * band)))


def band_rms(unit: np.ndarray, levels: int) -> list[float]:
    """Root mean square of each band of ``unit``'s Laplacian pyramid, finest first."""
    bands, _ = pyramid_bands(unit, levels)
    return [_rms(band) for band in bands]


def standardise_detail(unit: np.ndarray, band_targets: tuple[float, ...]) -> np.ndarray:
    """``unit`` ([0, 1], (H, W)) with band i of its Laplacian pyramid scaled to RMS ``band_targets[i]`` (finest first),
    rebuilt and clipped to [0, 1]. A flat band (RMS under 1e-4: a blank image) is left as it is."""
    bands, rest = pyramid_bands(unit, len(band_targets))
    out = rest
    for band, target in zip(reversed(bands), reversed(band_targets)):
        rms = _rms(band)
        gain = target / rms if rms > 1e-4 else 1.0
        out = cv2.pyrUp(out, dstsize=band.shape[::-1]) + band * gain
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def finest_detail(unit: np.ndarray) -> float:
    """RMS of the finest band of ``unit``'s Laplacian pyramid: how strong a film's finest detail is on the model grid.
    A console's edge enhancement and noise raise it, smoothing and a coarser detector lower it (inference.detail_check
    compares a film's with the training films')."""
    return band_rms(unit, 1)[0]
