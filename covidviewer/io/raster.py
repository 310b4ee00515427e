"""PNG / JPEG / TIFF / BMP / WebP / GIF -> Volume through OpenCV (8 and 16 bit, grey or colour).

Colour files whose three channels are equal are really grey and become (1, H, W); other colour images keep
(1, H, W, 3) RGB with ``is_rgb`` set (the viewer shows them; the models read a grey film with a mild colour cast as
grey, ``covidviewer.io.colour``, and the input gate refuses the rest). A file's EXIF orientation is applied, as every
photo viewer and browser shows the file (OpenCV's unchanged read, which keeps 16 bits and the alpha channel, ignores
it). A file of several frames or pages (an animated GIF or WebP, a multi-page TIFF) is read as its first, and says so.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from covidviewer.io.colour import equal_channels
from covidviewer.io.errors import LoadError, exception_detail
from covidviewer.io.files import IMAGE_SUFFIXES
from covidviewer.io.memory import check_budget
from covidviewer.io.volume import Volume, replace_non_finite

EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientation (2-8) -> (quarter turns counter-clockwise as np.rot90 counts them, then mirror left-right),
# which brings the stored pixels upright; 1 or no tag: as stored. OpenCV's and Pillow's TIFF readers apply the TIFF
# orientation tag themselves (pixels and size), so a TIFF's is only reported.
_UPRIGHT = {2: (0, True), 3: (2, False), 4: (2, True), 5: (3, True), 6: (3, False), 7: (1, True), 8: (1, False)}
_UPRIGHT_WORDS = {
    2: "mirrored left-right",
    3: "turned 180°",
    4: "mirrored top to bottom",
    5: "turned 90° clockwise and mirrored",
    6: "turned 90° clockwise",
    7: "turned 90° anticlockwise and mirrored",
    8: "turned 90° anticlockwise",
}
# OpenCV's own warnings ("PNG input buffer is incomplete") would reach the terminal beside the
# LoadError that already says the same, in words a person can act on.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image_info(path: Path) -> dict[str, Any]:
    """Header-only size and channels (via Pillow, which reads headers without decoding)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
            bands = len(im.getbands())
            mode = im.mode
            orientation = _exif_orientation(im)
            frames = int(getattr(im, "n_frames", 1) or 1)
    except UnidentifiedImageError as e:
        raise LoadError(f"{Path(path).name}: not a readable image (not a format this file's name promises)", path) from e
    except Exception as e:  # OSError, ValueError, Pillow's DecompressionBombError, ...
        raise LoadError(f"{Path(path).name}: not a readable image ({exception_detail(e)})", path) from e
    if orientation in (5, 6, 7, 8) and not _oriented_by_readers(path):  # turned a quarter: rows and columns as shown
        width, height = height, width
    return {
        "rows": int(height),
        "columns": int(width),
        "channels": 3 if bands >= 3 else 1,
        "mode": mode,
        "exif_orientation": orientation,
        "frames": frames,
    }


def _exif_orientation(im: Any) -> int:
    try:
        value = int(im.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except Exception:  # a damaged EXIF block: show the pixels as stored
        return 1
    return value if value in _UPRIGHT else 1


def _oriented_by_readers(path: Path) -> bool:
    return Path(path).suffix.lower() in (".tif", ".tiff")


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """An (H, W) or (H, W, C) image as stored, turned and mirrored as its EXIF ``orientation`` says it is shown."""
    turns, mirror = _UPRIGHT.get(orientation, (0, False))
    out = np.rot90(image, turns) if turns else image
    return np.ascontiguousarray(out[:, ::-1] if mirror else out)


def load_image(path: Path, max_bytes: int | None = None) -> Volume:
    """Read one 2D image file into a (1, H, W) or (1, H, W, 3) Volume."""
    path = Path(path)
    try:
        info: dict[str, Any] | None = read_image_info(path)
    except LoadError:
        info = None  # Pillow cannot parse every TIFF variant OpenCV reads; let OpenCV decide
    if info is not None:
        check_budget(info["rows"] * info["columns"] * info["channels"] * 4, path.name, max_bytes, path)
    try:
        # imdecode(fromfile) instead of imread: works with non-ASCII paths on every platform.
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise LoadError(f"{path.name}: cannot read the file ({e})", path) from e
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise LoadError(f"{path.name}: not a readable image (corrupt, truncated or unsupported format)", path)
    orientation = 1 if info is None else int(info["exif_orientation"])
    if not _oriented_by_readers(path):
        image = upright(image, orientation)
    source_dtype = image.dtype
    if image.ndim == 3:
        if image.shape[2] == 1:
            image = image[..., 0]
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
        elif image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        else:
            raise LoadError(f"{path.name}: images with {image.shape[2]} channels are not supported", path)
    warnings: list[str] = []
    is_rgb = image.ndim == 3
    grey = equal_channels(image) if is_rgb else None
    if grey is not None:
        image, is_rgb = grey, False
    pixels = image.astype(np.float32)[None]
    if orientation != 1:
        warnings.append(f"shown {_UPRIGHT_WORDS[orientation]} from its stored pixels, as its EXIF orientation asks "
                        "and photo viewers show it")
    frames = 1 if info is None else int(info["frames"])
    if frames > 1:  # OpenCV decodes the first frame or page only
        warnings.append(f"the file holds {frames} frames (pages); only the first is shown and analysed")
    replace_non_finite(pixels, warnings)  # float TIFFs may hold NaN / Inf
    if source_dtype == np.uint8:
        window = (127.5, 255.0)
    else:
        vmin, vmax = float(pixels.min()), float(pixels.max())
        window = ((vmin + vmax) / 2, max(vmax - vmin, 1.0))
    meta = {
        "format": "image",
        "modality": "OT",
        "file_type": path.suffix.lower().lstrip("."),
        "bit_depth": int(np.dtype(source_dtype).itemsize * 8),
        "source_dtype": str(source_dtype),
        "series_description": path.name,
        "photometric": "RGB" if is_rgb else "MONOCHROME2",
        "exif_orientation": orientation,
    }
    return Volume(pixels=pixels, modality="OT", default_window=window, is_rgb=is_rgb, meta=meta, warnings=warnings, sources=[path])
