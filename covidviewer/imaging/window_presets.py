"""Window presets by kind of image: CT windows in HU, radiograph windows from the data (Qt-free).

A CT window (lung L -600 / W 1500) means nothing on a radiograph, whose stored values are detector
units: it would turn a CR white. So each volume gets the presets of its kind:

- values in HU (CT, or a NIfTI that looks like CT): "default" (the file's window), then
  ``WINDOW_PRESETS`` (lung, mediastinum, bone);
- anything else (CR, DX, photographs, PNG slices): "default" (the file's VOI: WindowCenter/Width or
  the VOI LUT, applied by the reader), "auto" (from the histogram: the 1st to 99th percentile,
  ignoring the empty border around a film) and "full" (the whole data range);
- then, on either kind, the file's further windows, as Weasis lists them ("file_2" ...: a CR's HARDER and
  SOFTER beside its NORMAL, a CT's second window; ``Volume.meta["file_windows"]``).
"""
from __future__ import annotations

import numpy as np

from covidviewer.imaging.windowing import WINDOW_PRESETS, window_from_range
from covidviewer.io.volume import Volume

RADIOGRAPH_PRESETS = ("auto", "full")
FILE_WINDOW_PRESETS = ("file_2", "file_3", "file_4")  # a file's windows after its first (the "default")
PRESET_LABELS = {
    "default": "file's own window (VOI)",
    **{name: f"{name} (L {center:g} / W {width:g})" for name, (center, width) in WINDOW_PRESETS.items()},
    "auto": "auto (histogram, 1-99 %)",
    "full": "full range",
}
AUTO_PERCENTILES = (1.0, 99.0)
_AUTO_SAMPLES = 250_000  # a strided sample is enough for two percentiles of a 3000x3000 film


def uses_hu(volume: Volume) -> bool:
    """True when pixel values are Hounsfield units (CT presets make sense)."""
    return volume.modality == "CT" or str((volume.meta or {}).get("rescale_type", "")).upper() == "HU"


def preset_names(volume: Volume | None) -> tuple[str, ...]:
    """The presets offered for ``volume``, in key order (1, 2, 3, ...)."""
    if volume is None:
        return ("default",)
    kind = tuple(WINDOW_PRESETS) if uses_hu(volume) else RADIOGRAPH_PRESETS
    return ("default",) + kind + FILE_WINDOW_PRESETS[:len(file_windows(volume))]


def file_windows(volume: Volume) -> list[tuple[float, float, str]]:
    """(center, width, explanation) of the file's windows after its first, as many as there are presets for."""
    return list((volume.meta or {}).get("file_windows") or [])[:len(FILE_WINDOW_PRESETS)]


def file_window_label(volume: Volume | None, name: str) -> str:
    """The menu's words for a file window preset on ``volume``: "Window: the file's window 2, WINDOW2 (L 200 / W 443)"."""
    index = FILE_WINDOW_PRESETS.index(name)
    windows = file_windows(volume) if volume is not None else []
    if index >= len(windows):
        return f"Window: the file's window {index + 2}"
    center, width, said = windows[index]
    return f"Window: the file's window {index + 2}{', ' + said if said else ''} (L {center:g} / W {width:g})"


def auto_window(pixels: np.ndarray, percentiles: tuple[float, float] = AUTO_PERCENTILES) -> tuple[float, float]:
    """(center, width) from the 1st to 99th percentile of the values, the film's empty border left out.

    Values equal to the minimum or maximum (collimation, burned-in labels, padding) do not count
    when anything else is left, so a film with a wide black border is not windowed to the border.
    """
    values = np.asarray(pixels, dtype=np.float32).ravel()
    if values.size > _AUTO_SAMPLES:
        values = values[:: values.size // _AUTO_SAMPLES]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.5, 1.0
    inner = values[(values > values.min()) & (values < values.max())]
    if inner.size >= 0.05 * values.size:
        values = inner
    low, high = (float(v) for v in np.percentile(values, percentiles))
    if high <= low:
        return window_from_range(values)
    return (low + high) / 2.0, high - low


def preset_window(volume: Volume, name: str, plane_pixels: np.ndarray | None = None) -> tuple[float, float]:
    """(center, width) of preset ``name`` for ``volume``.

    plane_pixels: the data "auto" and "full" look at (default: the whole volume). CT presets are
    accepted on any volume when asked for by name (scripts); the menus offer ``preset_names`` only.
    """
    if name == "default":
        return volume.default_window
    if name in FILE_WINDOW_PRESETS:
        windows = file_windows(volume)
        index = FILE_WINDOW_PRESETS.index(name)
        if index >= len(windows):
            raise KeyError(f"this image's file has no window {index + 2}")
        return windows[index][0], windows[index][1]
    if name in WINDOW_PRESETS:
        return WINDOW_PRESETS[name]
    data = volume.pixels if plane_pixels is None else plane_pixels
    if name == "auto":
        return auto_window(data)
    if name == "full":
        return window_from_range(np.asarray(data))
    known = ", ".join(("default",) + tuple(WINDOW_PRESETS) + RADIOGRAPH_PRESETS + FILE_WINDOW_PRESETS)
    raise KeyError(f"unknown window preset {name!r}; known: {known}")


#: a film whose grey values span more than this has no one display window (a DICOM of 10-16 bits, a 16-bit PNG)
EIGHT_BIT_SPAN = 255.0


def film_reading_window(pixels: np.ndarray, default_window: tuple[float, float]) -> tuple[float, float]:
    """The window the radiograph models and the lung U-Net read a film through before their own preprocessing.

    A film of at most 256 grey levels (every film they learnt from) is read through its default window, as before. A
    film of more is read through the auto window (``auto_window``: its 1st-99th percentile, the empty border, padding
    and labels left out; the viewer's key 2), whatever VOI window its file carries: the window is a display choice
    with no one right value, and it reached the models through the lung mask and the 8-bit rounding. On the built-in
    15-bit film, over its own and three other windows, the cascade's p(COVID-19) ran 0.32-0.90 (its masks' IoU with
    its own window's 0.94-0.99) and DPN-SENet's 0.50-0.74 (session 42)."""
    values = np.asarray(pixels, dtype=np.float32)
    if values.size == 0 or float(np.ptp(values)) <= EIGHT_BIT_SPAN:
        return (float(default_window[0]), float(default_window[1]))
    return auto_window(values)
