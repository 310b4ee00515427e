"""One preprocessing path from a loaded image to a model input, shared by the app and the trainer.

A ``Preprocess`` (carried by each ModelSpec) says how: intensity window, CLAHE, fit to the model's
input size, lung masking, normalisation. Geometry is kept as a ``Grid2D`` / ``Grid3D`` so that any
map on the model's input grid (a CAM, a mask) can be put back exactly on the original pixels.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from covidviewer.imaging.detail import standardise_detail
from covidviewer.imaging.lung_box import lung_box

KINDS = ("cxr", "ct_slice", "ct_volume")
FITS = ("crop", "stretch", "pad")
INTENSITIES = ("window", "percentile")
#: how the analysed region reaches the model grid (``Preprocess.resample``)
RESAMPLES = ("area", "twice")
#: which side of a film ``Preprocess.max_side`` sets
SIDES = ("longer", "shorter")


@dataclass(frozen=True)
class Preprocess:
    """How to turn an image into a model input.

    kind: "cxr", "ct_slice" or "ct_volume".
    size: model input (H, W), or (D, H, W) for volumes.
    window: (center, width) in the image's units (HU for CT); None uses the image's own default
        window (the DICOM VOI window for radiographs, 0..255 for 8-bit files).
    fit: "crop" = short side to size then centre crop (the CXR papers), "stretch" = resize both
        axes, "pad" = long side to size then zero pad.
    lung_crop: analyse only the lung bounding box (plus ``lung_crop_margin`` of its size on each
        side) of the lung mask, so borders, burned-in text, markers, neck and shoulders leave the
        frame (imaging.lung_box); the whole image when no lungs are found.
    intensity: "window" = the window above; "percentile" = a per-image window from the
        ``percentiles`` (low, high) of the analysed region, so scanner and hospital brightness
        and contrast do not reach the model.
    mean/std: applied after scaling to [0, 1]; one value per output channel or one for all.
    resample: how the analysed region reaches the model grid. "area" (every set trained before session 23):
        window and CLAHE on the region's own grid, then one area resize, up or down. Its pattern differs with
        the film's size: a 224 px film's lungs are enlarged (area enlarging copies some pixels, blends others),
        a 2,000 px DICOM's shrunk, and a network trained on small films learns the pattern (session 23: the same
        validation films enlarged 3x moved DPN-SENet from 3% to 20% of adult normals called COVID-19).
        "twice": the region is first brought to twice the model grid (linear when enlarging, area when
        shrinking), windowed and enhanced there, then halved by 2 x 2 averaging, so every film, whatever its
        size, reaches the model through the same last step and the same enhancement scale.
    max_side: a film whose longer side is larger is first shrunk (area) to this size, before its window and CLAHE,
        as the films the networks learnt from were (157-501 px here; a hospital's DICOM is 2,000-3,000 px, and
        session 23 measured what the difference does). 0: every film at its own size.
    max_side_above: ``max_side`` applies only to a film whose longer side is above this (0: to every film over
        ``max_side``). Above every film a network learnt from, only a film of another kind (a hospital's full-size
        film) is shrunk, the way the NIH and RSNA originals here were shrunk to 224 px before anyone trained on them,
        and every film of the training packs keeps the view it was learnt from.
    max_side_of: which side ``max_side`` sets, "longer" or "shorter" (the trigger stays the longer side). Every film of
        the packs was made with its shorter side 224 px (the COVID-19 collections' films 224 x 250-501, NIH's and
        RSNA's 224 x 224), so a portrait 2,000 x 2,500 DICOM shrunk to a longer side of 224 px would show its lungs on
        fewer pixels than any film the networks learnt from; "shorter" makes it 224 x 280, as the packs were made.
    grey_levels: the film (after any shrink) is rounded to this many grey levels across its default window before
        its own window and CLAHE, as the films the networks learnt from were: every film of the packs is an 8-bit
        export (0..255, whole numbers), for which this changes nothing. A 12- or 16-bit DICOM, or a shrunk film, has
        values between those levels, and CLAHE clips its histogram per level: detail under half an 8-bit step alone
        took the cascade's stage 2 from 4 to 9 of 25 adult normal films over p(COVID-19) 0.5 (session 25). 0: the
        film's own levels.
    detail_bands: the RMS each band of the model grid's Laplacian pyramid is scaled to, finest first
        (imaging.detail), after the window and CLAHE: a hospital's sharpening, smoothing and noise change the strength
        of a film's detail, not the lungs. (): the film's own detail.
    """

    kind: str
    size: tuple[int, ...]
    channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    window: tuple[float, float] | None = None
    clahe: bool = False
    clahe_clip: float = 2.0
    clahe_tiles: int = 8
    fit: str = "crop"
    lung_crop: bool = False
    lung_crop_margin: float = 0.08
    intensity: str = "window"
    percentiles: tuple[float, float] = (1.0, 99.0)
    resample: str = "area"
    max_side: int = 0
    max_side_above: int = 0
    max_side_of: str = "longer"
    grey_levels: int = 0
    detail_bands: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"preprocess kind {self.kind!r} not in {KINDS}")
        if self.intensity not in INTENSITIES:
            raise ValueError(f"preprocess intensity {self.intensity!r} not in {INTENSITIES}")
        if self.fit not in FITS:
            raise ValueError(f"preprocess fit {self.fit!r} not in {FITS}")
        if self.resample not in RESAMPLES:
            raise ValueError(f"preprocess resample {self.resample!r} not in {RESAMPLES}")
        if self.max_side_of not in SIDES:
            raise ValueError(f"preprocess max_side_of {self.max_side_of!r} not in {SIDES}")
        if self.grey_levels < 0 or self.grey_levels == 1:
            raise ValueError(f"preprocess grey_levels must be 0 (the film's own) or at least 2, got {self.grey_levels}")
        if any(target <= 0 for target in self.detail_bands):
            raise ValueError(f"preprocess detail_bands must be positive RMS values, got {self.detail_bands}")
        expected = 3 if self.kind == "ct_volume" else 2
        if len(self.size) != expected:
            raise ValueError(f"{self.kind} needs a {expected}-D size, got {self.size}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("size", "mean", "std", "window", "percentiles", "detail_bands"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocess":
        """Inverse of ``to_dict``; an unknown key is an error that names it."""
        d = dict(d)
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown preprocess setting(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        for key in ("size", "mean", "std", "window", "percentiles", "detail_bands"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


# --------------------------------------------------------------------------- intensity
def to_unit(pixels: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Linear window (center, width) -> float32 in [0, 1], clipped (DICOM PS3.3 C.11.2.1.2 linear)."""
    center, width = float(window[0]), max(float(window[1]), 1e-6)
    low = center - width / 2.0
    out = (np.asarray(pixels, dtype=np.float32) - low) / width
    return np.clip(out, 0.0, 1.0, out=out)


def apply_clahe(unit: np.ndarray, clip: float = 2.0, tiles: int = 8) -> np.ndarray:
    """CLAHE on a [0, 1] image via 8-bit OpenCV, as the cascade paper enhanced radiographs."""
    img8 = np.round(np.clip(unit, 0, 1) * 255).astype(np.uint8)
    clahe = cv2.createCLAHE(clipLimit=float(clip), tileGridSize=(int(tiles), int(tiles)))
    return clahe.apply(img8).astype(np.float32) / 255.0


# --------------------------------------------------------------------------- 2D geometry
@dataclass(frozen=True)
class Grid2D:
    """How the original (H, W) grid was cut to ``box``, resized to ``resized`` and cropped/padded.

    ``box`` is the analysed region (y0, x0, y1, x1) of the original grid (the lung crop), None for
    the whole image. ``offset`` is the (row, col) of the model grid's origin inside the resized
    image: positive for a crop, negative for padding.
    """

    original: tuple[int, int]
    resized: tuple[int, int]
    offset: tuple[int, int]
    size: tuple[int, int]
    box: tuple[int, int, int, int] | None = None

    @classmethod
    def fit(cls, original: tuple[int, int], size: tuple[int, int], mode: str, box: tuple[int, int, int, int] | None = None) -> "Grid2D":
        full = (int(original[0]), int(original[1]))
        h, w = (box[2] - box[0], box[3] - box[1]) if box is not None else full
        th, tw = size
        if mode == "stretch":
            return cls(full, (th, tw), (0, 0), (th, tw), box)
        scale = max(th / h, tw / w) if mode == "crop" else min(th / h, tw / w)
        rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
        return cls(full, (rh, rw), ((rh - th) // 2, (rw - tw) // 2), (th, tw), box)

    def analysed(self, image: np.ndarray) -> np.ndarray:
        """The part of an original-grid array the model sees (the box, or all of it)."""
        if self.box is None:
            return image
        y0, x0, y1, x1 = self.box
        return image[y0:y1, x0:x1]

    def to_model(self, image: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        """Cut to the box, resize + crop/pad an (H, W) array from the original grid onto the model grid."""
        return self.fit_analysed(self.analysed(image), interpolation)

    def fit_analysed(self, analysed: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        """Resize + crop/pad an array already cut to the box onto the model grid."""
        rh, rw = self.resized
        resized = cv2.resize(np.ascontiguousarray(analysed), (rw, rh), interpolation=interpolation)
        return _crop_or_pad(resized, self.offset, self.size)

    def to_original(self, model_map: np.ndarray) -> np.ndarray:
        """Put an (h, w) map from the model grid back on the original (H, W) grid.

        Regions the model never saw (cropped away, outside the lung box) get 0, with a hard edge:
        the part a crop cut away is filled with the map's edge values before resizing, so the
        interpolation never blends the map with zeros (that blend drew a thin band of low values,
        a line in the colour map, along the crop's edges), and is zeroed after.
        """
        rh, rw = self.resized
        (oy, ox), (th, tw) = self.offset, self.size
        ry0, rx0, ry1, rx1 = max(oy, 0), max(ox, 0), min(oy + th, rh), min(ox + tw, rw)
        seen = np.asarray(model_map, dtype=np.float32)[ry0 - oy : ry1 - oy, rx0 - ox : rx1 - ox]
        canvas = cv2.copyMakeBorder(np.ascontiguousarray(seen), ry0, rh - ry1, rx0, rw - rx1, cv2.BORDER_REPLICATE)
        h, w = self.original
        by0, bx0, by1, bx1 = self.box if self.box is not None else (0, 0, h, w)
        out = np.zeros((h, w), dtype=np.float32)
        out[by0:by1, bx0:bx1] = cv2.resize(canvas, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_LINEAR)
        if (ry0, rx0, ry1, rx1) != (0, 0, rh, rw):  # a crop: zero what the model did not see
            sy, sx = (by1 - by0) / rh, (bx1 - bx0) / rw
            keep = np.zeros((h, w), dtype=bool)
            keep[by0 + round(ry0 * sy) : by0 + round(ry1 * sy), bx0 + round(rx0 * sx) : bx0 + round(rx1 * sx)] = True
            out[~keep] = 0.0
        return out


def _crop_or_pad(image: np.ndarray, offset: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Window of ``size`` whose top-left is at ``offset`` (may be negative/outside): zero fill."""
    out = np.zeros(size + image.shape[2:], dtype=image.dtype)
    oy, ox = offset
    sy0, sx0 = max(oy, 0), max(ox, 0)
    sy1, sx1 = min(oy + size[0], image.shape[0]), min(ox + size[1], image.shape[1])
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - oy : sy1 - oy, sx0 - ox : sx1 - ox] = image[sy0:sy1, sx0:sx1]
    return out


def normalise(unit: np.ndarray, pp: Preprocess, channel_axis: int = 0) -> np.ndarray:
    """[0, 1] image(s) -> float32 with the spec's mean/std per channel, channels stacked on
    ``channel_axis``: (h, w) or (d, h, w) -> (C, ...) for a model input, (N, h, w) -> (N, C, h, w)
    for a batch of perturbed images (LIME, Score-CAM), so both are normalised by the same code."""
    chans = []
    for c in range(pp.channels):
        mean = pp.mean[c] if len(pp.mean) > 1 else pp.mean[0]
        std = pp.std[c] if len(pp.std) > 1 else pp.std[0]
        chans.append((unit - mean) / std)
    return np.stack(chans, axis=channel_axis).astype(np.float32)


def lung_mask_on_model_grid(lung_mask: np.ndarray, grid: Grid2D) -> np.ndarray:
    """(h, w) float32 [0, 1]: an original-grid lung mask cut, resized (linear) and cropped/padded
    like the image; what masks the image, what a mask-gated model is given, and what LIME keeps."""
    on_model = grid.to_model(np.asarray(lung_mask, dtype=np.float32), cv2.INTER_LINEAR)
    return np.clip(on_model, 0.0, 1.0).astype(np.float32)


def percentile_window(pixels: np.ndarray, percentiles: tuple[float, float]) -> tuple[float, float]:
    """(center, width) spanning the image's own (low, high) percentiles: a per-image window."""
    finite = np.asarray(pixels, dtype=np.float32)
    low, high = np.percentile(finite, [float(percentiles[0]), float(percentiles[1])])
    width = max(float(high - low), 1e-3)
    return float(low) + width / 2.0, width


def enhance_2d(pixels: np.ndarray, pp: Preprocess, default_window: tuple[float, float]) -> np.ndarray:
    """Window (fixed or per-image percentile) + optional CLAHE: the [0, 1] image the model's view starts from."""
    if pixels.ndim != 2:
        raise ValueError(f"expected a single-channel 2D image, got shape {pixels.shape}")
    window = percentile_window(pixels, pp.percentiles) if pp.intensity == "percentile" else (pp.window or default_window)
    unit = to_unit(pixels, window)
    if pp.clahe:
        unit = apply_clahe(unit, pp.clahe_clip, pp.clahe_tiles)
    return unit


def shrunk(region: np.ndarray, scale: float) -> np.ndarray:
    """An (H, W) region shrunk by ``scale`` < 1 (area: no aliasing), float32 so the image's own units survive."""
    h, w = region.shape
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return cv2.resize(np.asarray(region, np.float32), size, interpolation=cv2.INTER_AREA)


def on_grey_levels(region: np.ndarray, window: tuple[float, float], levels: int) -> np.ndarray:
    """``region`` rounded to ``levels`` evenly spaced grey levels across ``window`` (center, width), in its own units:
    the whole numbers 0..255 for an 8-bit film's window (127.5, 255), so such a film comes back unchanged."""
    center, width = float(window[0]), max(float(window[1]), 1e-6)
    low, step = center - width / 2.0, width / (levels - 1)
    return (low + np.round((np.asarray(region, np.float32) - low) / step) * step).astype(np.float32)


def at_twice_the_model_grid(region: np.ndarray, grid: Grid2D) -> np.ndarray:
    """The analysed region resized to twice the grid's resized size: linear when enlarging (no area pattern),
    area when shrinking (no aliasing); float32, so the image's own units survive."""
    rh, rw = grid.resized
    target = (2 * rw, 2 * rh)
    enlarging = region.shape[0] * region.shape[1] < target[0] * target[1]
    return cv2.resize(np.asarray(region, np.float32), target, interpolation=cv2.INTER_LINEAR if enlarging else cv2.INTER_AREA)


def prepare_image(
    pixels: np.ndarray,
    pp: Preprocess,
    default_window: tuple[float, float],
    lung_mask: np.ndarray | None = None,
    mask_image: bool = False,
) -> tuple[np.ndarray, Grid2D]:
    """(H, W) image -> ((C, h, w) float32 model input, Grid2D back to the original grid).

    ``lung_mask`` is a [0, 1] map on the original grid, required when ``pp.lung_crop`` or
    ``mask_image`` (the (CLAHE-enhanced) image is multiplied by it before normalising: a model
    whose spec says ``lung_mask="image"``, or the trainer's lung-masked copies). With a lung crop,
    intensity and CLAHE are computed on the lung box only.
    """
    model_unit, grid = model_view(pixels, pp, default_window, lung_mask)
    if pp.detail_bands:
        model_unit = standardise_detail(model_unit, pp.detail_bands)
    if mask_image:
        _check_lung_mask(pixels, lung_mask)
        model_unit = model_unit * lung_mask_on_model_grid(lung_mask, grid)  # type: ignore[arg-type]
    return normalise(model_unit, pp), grid


def _check_lung_mask(pixels: np.ndarray, lung_mask: np.ndarray | None) -> None:
    if lung_mask is None:
        raise ValueError("this model needs a lung mask (run the lung U-Net first)")
    if lung_mask.shape != pixels.shape:
        raise ValueError(f"lung mask shape {lung_mask.shape} != image shape {pixels.shape}")


def model_view(
    pixels: np.ndarray, pp: Preprocess, default_window: tuple[float, float], lung_mask: np.ndarray | None = None
) -> tuple[np.ndarray, Grid2D]:
    """(H, W) image -> ((h, w) [0, 1] float32 view on the model grid, Grid2D): the region, shrink, grey levels,
    window and CLAHE of ``prepare_image``, before its detail standardisation, lung masking and normalisation. What
    the film's own detail strength is measured on (inference.detail_check)."""
    if pixels.ndim != 2:
        raise ValueError(f"expected a single-channel 2D image, got shape {pixels.shape}")
    if pp.lung_crop:
        _check_lung_mask(pixels, lung_mask)
    box = lung_box(lung_mask, pp.lung_crop_margin) if pp.lung_crop else None  # type: ignore[arg-type]
    grid = Grid2D.fit(pixels.shape, tuple(pp.size), pp.fit, box)  # type: ignore[arg-type]
    region = np.ascontiguousarray(grid.analysed(pixels))
    if pp.max_side and max(pixels.shape) > max(pp.max_side, pp.max_side_above):
        scale = pp.max_side / (max(pixels.shape) if pp.max_side_of == "longer" else min(pixels.shape))
        if scale < 1:  # a film long and narrow enough to be under max_side on its shorter side stays as it is
            region = shrunk(region, scale)
    if pp.grey_levels:
        region = on_grey_levels(region, default_window, pp.grey_levels)
    if pp.resample == "twice":
        region = at_twice_the_model_grid(region, grid)
    unit = enhance_2d(region, pp, default_window)
    return grid.fit_analysed(unit), grid  # "twice": an exact 2 x 2 average


# --------------------------------------------------------------------------- 3D geometry
@dataclass(frozen=True)
class Grid3D:
    """A (z, y, x) volume stretched to the model's (D, H, W) grid, and back."""

    original: tuple[int, int, int]
    size: tuple[int, int, int]

    def to_model(self, volume: np.ndarray) -> np.ndarray:
        return resize_volume(volume, self.size)

    def to_original(self, model_map: np.ndarray) -> np.ndarray:
        return resize_volume(np.asarray(model_map, dtype=np.float32), self.original)

    def model_to_original_slice(self, d: float) -> int:
        """Index of the original slice a (fractional) model depth index falls on."""
        z = (d + 0.5) * self.original[0] / self.size[0] - 0.5
        return int(np.clip(round(z), 0, self.original[0] - 1))


def resize_volume(volume: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """Linear resize of a (z, y, x) array: in-plane with OpenCV per slice, then along z.

    Uses pixel-centre alignment (like ``align_corners=False``) so maps land on the right slices.
    """
    vol = np.asarray(volume, dtype=np.float32)
    d, h, w = size
    if vol.shape[1:] != (h, w):
        vol = np.stack([cv2.resize(s, (w, h), interpolation=cv2.INTER_LINEAR) for s in vol])
    if vol.shape[0] != d:
        z = (np.arange(d) + 0.5) * vol.shape[0] / d - 0.5
        z = np.clip(z, 0, vol.shape[0] - 1)
        z0 = np.floor(z).astype(int)
        z1 = np.minimum(z0 + 1, vol.shape[0] - 1)
        t = (z - z0).astype(np.float32)[:, None, None]
        vol = vol[z0] * (1 - t) + vol[z1] * t
    return vol


def prepare_volume(pixels: np.ndarray, pp: Preprocess, default_window: tuple[float, float]) -> tuple[np.ndarray, Grid3D]:
    """(z, y, x) volume (HU for CT) -> ((C, D, H, W) float32 model input, Grid3D)."""
    if pixels.ndim != 3:
        raise ValueError(f"expected a (z, y, x) volume, got shape {pixels.shape}")
    grid = Grid3D(tuple(pixels.shape), tuple(pp.size))  # type: ignore[arg-type]
    unit = to_unit(grid.to_model(pixels), pp.window or default_window)
    return normalise(unit, pp), grid
