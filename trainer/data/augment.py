"""Online augmentations applied around the one preprocessing path (covidviewer.imaging.preprocess).

2D images are augmented on their *original* grid before ``prepare_image``: random resized crop,
flip / rotation / scaling / translation (one affine, masks warped with the same matrix by nearest
neighbour), brightness / contrast jitter expressed in the image's own units relative to its
window, the per-image CLAHE switch of the cascade paper, style erasure (``erase_style``: gamma,
blur or sharpen, down-and-up sampling, noise, JPEG re-compression) and another export window
(``rewindow``) so that a hospital's or a scanner's look stops being a cue to the label.
Preprocessing itself (window, CLAHE, fit, lung mask, normalisation) is never re-implemented here.

3D volumes are augmented *after* ``prepare_volume`` on the model grid (the originals can be
500 slices of 512 x 512): the same in-plane affine on every slice, flip left-right.

Every random draw comes from a ``numpy.random.Generator`` seeded by (seed, epoch, index), so an
item's augmentation does not depend on worker count or on where an interrupted run resumed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentParams:
    """The recipe's ``[augment]`` table; zero / identity values switch a step off."""

    hflip: float = 0.0
    rotate: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    translate: float = 0.0
    crop_scale: tuple[float, float] = (1.0, 1.0)
    brightness: float = 0.0
    contrast: float = 0.0
    clahe_prob: float = -1.0
    masked_copies: bool = False
    #: the dataset is twice as long; the second half are copies with the chest erased (trainer.lungs_erased), learnt
    #: with no class: what is left around the lungs must not carry the answer (session 46)
    erased_copies: bool = False
    style: float = 0.0
    #: probability that the film is put on a larger grid (``film_size_range`` times its size, log-uniform, cubic)
    #: before preprocessing: the films here are 157-501 px, a hospital's DICOM 2,000-3,000 px, and a network that
    #: saw only small films reads the way their lungs are enlarged to the model grid (session 23)
    film_size: float = 0.0
    film_size_range: tuple[float, float] = (1.0, 8.0)
    #: probability that the film is read through another export window (``rewindow``), each end of its grey range
    #: moved by up to ``export_window_range`` of it either way (cut or squeezed), before the model input's 8-bit
    #: rounding: a DICOM film is read through its vendor's VOI window, and on the built-in film the cascade's
    #: p(COVID-19) ran 0.32-0.90 over four windows (session 39)
    export_window: float = 0.0
    export_window_range: float = 0.15

    @classmethod
    def from_recipe(cls, table: dict[str, Any]) -> "AugmentParams":
        known = {k: table[k] for k in cls.__dataclass_fields__ if k in table}
        for key in ("scale", "crop_scale", "film_size_range"):
            if key in known:
                known[key] = tuple(float(v) for v in known[key])
        return cls(**known)

    @property
    def geometric(self) -> bool:
        return self.hflip > 0 or self.rotate > 0 or self.scale != (1.0, 1.0) or self.translate > 0


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for one item in one epoch (independent of loading order)."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


def _affine_matrix(rng: np.random.Generator, p: AugmentParams, height: int, width: int) -> np.ndarray | None:
    if not p.geometric:
        return None
    angle = rng.uniform(-p.rotate, p.rotate) if p.rotate > 0 else 0.0
    scale = rng.uniform(*p.scale) if p.scale != (1.0, 1.0) else 1.0
    tx = rng.uniform(-p.translate, p.translate) * width if p.translate > 0 else 0.0
    ty = rng.uniform(-p.translate, p.translate) * height if p.translate > 0 else 0.0
    flip = p.hflip > 0 and rng.random() < p.hflip
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    m = np.vstack([cv2.getRotationMatrix2D(centre, angle, scale), [0.0, 0.0, 1.0]])
    if flip:
        m = m @ np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    m[0, 2] += tx
    m[1, 2] += ty
    return m[:2]


def _warp(image: np.ndarray, m: np.ndarray, fill: float, nearest: bool) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(
        np.ascontiguousarray(image),
        m,
        (w, h),
        flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float(fill),
    )


def _random_crop_box(rng: np.random.Generator, p: AugmentParams, height: int, width: int) -> tuple[int, int, int, int] | None:
    if p.crop_scale == (1.0, 1.0):
        return None
    side = float(np.sqrt(rng.uniform(*p.crop_scale)))  # area fraction -> side fraction, aspect kept
    ch, cw = max(8, round(height * side)), max(8, round(width * side))
    ch, cw = min(ch, height), min(cw, width)
    y0 = int(rng.integers(0, height - ch + 1))
    x0 = int(rng.integers(0, width - cw + 1))
    return y0, x0, ch, cw


def augment_2d(
    pixels: np.ndarray,
    masks: Sequence[np.ndarray | None],
    window: tuple[float, float],
    params: AugmentParams,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[np.ndarray | None], bool | None]:
    """Augment an (H, W) image in its own units and its masks on the same grid.

    window: (center, width) the image will be windowed with; fills and jitter are relative to it.
    Returns (pixels, masks, clahe) where ``clahe`` is the per-image CLAHE decision, or None to keep
    the spec's own setting (``clahe_prob`` < 0).
    """
    center, width = float(window[0]), max(float(window[1]), 1e-6)
    low = center - width / 2.0
    out = np.asarray(pixels, dtype=np.float32)
    masks = list(masks)
    box = _random_crop_box(rng, params, *out.shape)
    if box is not None:
        y0, x0, ch, cw = box
        out = out[y0 : y0 + ch, x0 : x0 + cw]
        masks = [None if m is None else m[y0 : y0 + ch, x0 : x0 + cw] for m in masks]
    m = _affine_matrix(rng, params, *out.shape)
    if m is not None:
        out = _warp(out, m, low, nearest=False)
        masks = [None if mk is None else _warp(mk, m, 0, nearest=True) for mk in masks]
    if params.brightness > 0 or params.contrast > 0:
        unit = (out - low) / width
        if params.brightness > 0:
            unit = unit * rng.uniform(1 - params.brightness, 1 + params.brightness)
        if params.contrast > 0:
            mean = float(np.clip(unit, 0, 1).mean())
            unit = (unit - mean) * rng.uniform(1 - params.contrast, 1 + params.contrast) + mean
        out = (unit * width + low).astype(np.float32)
    if params.style > 0:
        out = in_window_units(out, window, lambda unit: erase_style(unit, params.style, rng))
    if params.export_window > 0 and rng.random() < params.export_window:
        spread = params.export_window_range
        low_end, high_end = rng.uniform(-spread, spread), 1.0 + rng.uniform(-spread, spread)
        out = in_window_units(out, window, lambda unit: rewindow(unit, low_end, high_end))
    if params.film_size > 0 and rng.random() < params.film_size:
        low_factor, high_factor = params.film_size_range
        factor = float(np.exp(rng.uniform(np.log(low_factor), np.log(high_factor))))
        out = in_window_units(out, window, lambda unit: on_larger_grid(unit, factor))
        masks = [None if mk is None else cv2.resize(mk, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_NEAREST)
                 for mk in masks]
    clahe = None if params.clahe_prob < 0 else bool(rng.random() < params.clahe_prob)
    return out, masks, clahe


def on_larger_grid(unit: np.ndarray, factor: float) -> np.ndarray:
    """The film on a grid ``factor`` times larger (cubic, clipped to [0, 1]): the same anatomy, more pixels, as a
    hospital's full-size film has them. The style stress test's grid-size change is this at 3x."""
    h, w = unit.shape
    return np.clip(cv2.resize(unit, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def erase_style(unit: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Acquisition-style jitter on an (H, W) [0, 1] image; each step happens with ``prob``.

    Gamma (0.6-1.6), Gaussian blur or unsharp sharpening, down-and-up sampling (35-80%), Gaussian
    noise, and JPEG re-compression (quality 25-90): the ways two hospitals' films differ that
    say nothing about the lungs. The steps are the functions below, which the style stress test
    (trainer.style_stress) applies at fixed strengths.
    """
    out = np.asarray(unit, dtype=np.float32)
    if rng.random() < prob:
        out = gamma(out, float(np.exp(rng.uniform(np.log(0.6), np.log(1.6)))))
    if rng.random() < prob:
        sigma = float(rng.uniform(0.4, 1.5))
        out = blur(out, sigma) if rng.random() < 0.5 else sharpen(out, sigma, float(rng.uniform(0.3, 1.0)))
    if rng.random() < prob:
        out = resample(out, float(rng.uniform(0.35, 0.8)))
    if rng.random() < prob:
        out = add_noise(out, float(rng.uniform(0.005, 0.03)), rng)
    out = np.clip(out, 0.0, 1.0)
    if rng.random() < prob:
        out = recompress(out, int(rng.integers(25, 91)))
    return out.astype(np.float32)


def gamma(unit: np.ndarray, power: float) -> np.ndarray:
    """Mid-tones darker (power > 1) or brighter (< 1); black and white stay."""
    return np.power(unit, power).astype(np.float32)


def blur(unit: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``sigma`` pixels of the image's own grid."""
    return cv2.GaussianBlur(unit, (0, 0), sigma)


def sharpen(unit: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    """Unsharp masking, as many CR/DX consoles apply before sending (not clipped)."""
    return unit + amount * (unit - cv2.GaussianBlur(unit, (0, 0), sigma))


def resample(unit: np.ndarray, factor: float) -> np.ndarray:
    """Down to ``factor`` of the size (area) and back up (linear): a coarser detector or a resized copy."""
    h, w = unit.shape
    small = cv2.resize(unit, (max(8, round(w * factor)), max(8, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def add_noise(unit: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``sd`` (in [0, 1] units; not clipped)."""
    return unit + rng.normal(0.0, sd, unit.shape).astype(np.float32)


def recompress(unit: np.ndarray, quality: int) -> np.ndarray:
    """JPEG re-compression at ``quality`` (the image is clipped to [0, 1] and rounded to 8 bits first)."""
    ok, data = cv2.imencode(".jpg", np.round(np.clip(unit, 0.0, 1.0) * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0 if ok else unit


def rewindow(unit: np.ndarray, low: float, high: float) -> np.ndarray:
    """The film as another export window shows it: [low, high] of its [0, 1] grey range stretched over [0, 1] and
    clipped. Inside (0, 1) the window is narrower and cuts the ends; beyond them it is wider and squeezes the range."""
    return np.clip((np.asarray(unit, np.float32) - low) / max(high - low, 1e-6), 0.0, 1.0).astype(np.float32)


def in_window_units(pixels: np.ndarray, window: tuple[float, float], change) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Apply ``change`` ([0, 1] image -> [0, 1] image) to pixels in their own units, read through ``window``
    (center, width): values outside the window are clipped to it first, as the window shows them."""
    center, width = float(window[0]), max(float(window[1]), 1e-6)
    low = center - width / 2.0
    unit = change(np.clip((np.asarray(pixels, np.float32) - low) / width, 0.0, 1.0))
    return (unit * width + low).astype(np.float32)


def augment_volume(volume: np.ndarray, fill: float, params: AugmentParams, rng: np.random.Generator) -> np.ndarray:
    """(C, D, H, W) model input -> same shape with one random in-plane affine on every slice."""
    c, d, h, w = volume.shape
    m = _affine_matrix(rng, params, h, w)
    if m is None:
        return volume
    flat = volume.reshape(c * d, h, w)
    warped = np.stack([_warp(s, m, fill, nearest=False) for s in flat])
    return warped.reshape(c, d, h, w).astype(np.float32)
