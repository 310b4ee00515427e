"""NIfTI / MetaImage / NRRD -> Volume through SimpleITK, reoriented to the DICOM (LPS) frame.

After ``DICOMOrient(image, "LPS")`` the index axes point, as closely as the data allows, to the
patient's Left (x), Posterior (y) and Superior (z): an axial slice then shows anterior at the top
and the patient's left on the image's right, exactly like a standard axial DICOM series, so the
same reformat code serves both. SimpleITK is imported inside functions (it is slow to import).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from covidviewer.io.errors import LoadError
from covidviewer.io.memory import check_budget
from covidviewer.io.volume import Volume

ITK_SUFFIXES = {".nii": "nifti", ".nii.gz": "nifti", ".mha": "metaimage", ".mhd": "metaimage", ".nrrd": "nrrd", ".nhdr": "nrrd"}
CANONICAL_ORIENTATION = "LPS"
# Values this low only occur in CT Hounsfield units (air is -1000 HU).
_HU_AIR_THRESHOLD = -900.0
_LUNG_WINDOW = (-600.0, 1500.0)


def itk_kind(path: Path) -> str | None:
    """'nifti' / 'metaimage' / 'nrrd' from the file name, None for other files."""
    name = path.name.lower()
    for suffix, kind in ITK_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    return None


def file_stem(path: Path) -> str:
    """The name without its extension, two-part ones included: ``chest.nii.gz`` -> ``chest``."""
    name = path.name
    for suffix in sorted(ITK_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return path.stem


def _reader(path: Path) -> Any:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as e:
        raise LoadError(f"{path.name}: not a readable {itk_kind(path) or 'image'} file ({_first_line(e)})", path) from e
    return reader


def _first_line(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "description" in ln.lower()] or lines
    return useful[0][:200] if useful else type(err).__name__


def read_itk_info(path: Path) -> dict[str, Any]:
    """Header-only summary: size (x, y, z), components, dimension, pixel type."""
    reader = _reader(Path(path))
    size = tuple(int(s) for s in reader.GetSize())
    return {
        "size": size,
        "dimension": int(reader.GetDimension()),
        "components": int(reader.GetNumberOfComponents()),
        "pixel_type": str(reader.GetPixelIDTypeAsString()) if hasattr(reader, "GetPixelIDTypeAsString") else "",
    }


def load_itk(path: Path, max_bytes: int | None = None) -> Volume:
    """Read a NIfTI/MHA/MHD/NRRD file into a canonical (LPS-oriented) Volume."""
    import SimpleITK as sitk

    path = Path(path)
    reader = _reader(path)
    size = [int(s) for s in reader.GetSize()]
    dim = int(reader.GetDimension())
    components = int(reader.GetNumberOfComponents())
    voxels = int(np.prod(size[:3]))
    check_budget(voxels * (3 if components >= 3 else 1) * 4, path.name, max_bytes, path)
    warnings: list[str] = []
    if dim == 4:
        # A 4-D file (time series) would not fit the (z, y, x) model; show its first volume.
        reader.SetExtractIndex([0, 0, 0, 0])
        reader.SetExtractSize(size[:3] + [0])
        warnings.append(f"4-D image ({size[3]} volumes): only the first volume is shown")
    try:
        image = reader.Execute()
    except RuntimeError as e:
        raise LoadError(f"{path.name}: pixel data truncated or corrupt ({_first_line(e)})", path) from e
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    if image.GetDimension() != 3:
        raise LoadError(f"{path.name}: {image.GetDimension()}-D images are not supported", path)
    original_direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    image = sitk.DICOMOrient(image, CANONICAL_ORIENTATION)
    pixels = sitk.GetArrayFromImage(image)
    if components > 1:
        if components not in (3, 4):
            raise LoadError(f"{path.name}: images with {components} components per voxel are not supported", path)
        pixels = pixels[..., :3]
    pixels = pixels.astype(np.float32, copy=False)
    is_rgb = components > 1
    if is_rgb and np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]):
        pixels, is_rgb = np.ascontiguousarray(pixels[..., 0]), False
    vmin, vmax = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 1.0)
    looks_like_ct = not is_rgb and vmin <= _HU_AIR_THRESHOLD
    window = _LUNG_WINDOW if looks_like_ct else ((vmin + vmax) / 2, max(vmax - vmin, 1.0))
    spacing_xyz = image.GetSpacing()
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    meta: dict[str, Any] = {
        "format": itk_kind(path) or "itk",
        "modality": "CT" if looks_like_ct else "OT",
        "modality_guessed": True,
        "pixel_type": str(reader.GetPixelIDTypeAsString()) if hasattr(reader, "GetPixelIDTypeAsString") else "",
        "file_direction": original_direction.tolist(),
        "orientation_code": CANONICAL_ORIENTATION,
        "series_description": path.name,
        "first_position": tuple(float(v) for v in image.GetOrigin()),
        "last_position": tuple(float(v) for v in image.TransformIndexToPhysicalPoint((0, 0, image.GetSize()[2] - 1))),
        "orientation": tuple(float(v) for v in direction[:, 0]) + tuple(float(v) for v in direction[:, 1]),
    }
    if looks_like_ct:
        meta["rescale_type"] = "HU"
    return Volume(
        pixels=pixels,
        spacing=(float(spacing_xyz[2]), float(spacing_xyz[1]), float(spacing_xyz[0])),
        origin=tuple(float(v) for v in image.GetOrigin()),  # type: ignore[arg-type]
        direction=direction,
        modality=meta["modality"],
        default_window=(float(window[0]), float(window[1])),
        is_rgb=is_rgb,
        meta=meta,
        warnings=warnings,
        sources=[path],
    )
