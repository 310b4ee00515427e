"""NIfTI / MetaImage / NRRD -> Volume through SimpleITK, reoriented to the DICOM (LPS) frame.

After ``DICOMOrient(image, "LPS")`` the index axes point, as closely as the data allows, to the
patient's Left (x), Posterior (y) and Superior (z): an axial slice then shows anterior at the top
and the patient's left on the image's right, exactly like a standard axial DICOM series, so the
same reformat code serves both. SimpleITK is imported inside functions (it is slow to import).
"""
from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from covidviewer.io.colour import equal_channels
from covidviewer.io.errors import LoadError, reading
from covidviewer.io.files import VOLUME_SUFFIXES
from covidviewer.io.memory import check_budget
from covidviewer.io.volume import Volume, replace_non_finite

CANONICAL_ORIENTATION = "LPS"
# Values this low only occur in CT Hounsfield units (air is -1000 HU).
_HU_AIR_THRESHOLD = -900.0
_LUNG_WINDOW = (-600.0, 1500.0)


def itk_kind(path: Path) -> str | None:
    """'nifti' / 'metaimage' / 'nrrd' from the file name, None for other files."""
    name = path.name.lower()
    for suffix, kind in VOLUME_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    return None


def file_stem(path: Path) -> str:
    """The name without its extension, two-part ones included: ``chest.nii.gz`` -> ``chest``."""
    name = path.name
    for suffix in sorted(VOLUME_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return path.stem


def _reader(path: Path) -> Any:
    import SimpleITK as sitk

    # ITK's warnings go to stderr as "WARNING: In /path/to/itkNiftiImageIO.cxx, line 1053": a C++
    # source path is nothing a person can act on, and what matters reaches them as a LoadError.
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as e:
        raise LoadError(f"{path.name}: not a readable {_FORMAT_NAMES.get(itk_kind(path) or '', 'image')} file ({_itk_reason(e)})", path) from e
    return reader


_FORMAT_NAMES = {"nifti": "NIfTI", "metaimage": "MetaImage", "nrrd": "NRRD"}
# SimpleITK messages start with the C++ source file and the ITK class; neither helps a person.
_ITK_NOISE = re.compile(r"^(Exception thrown in SimpleITK.*|.*\.(cxx|cpp|hxx|h):\d+:?|.*cannot be read: .* for reading\.?|Reason: .*)$")
_ITK_PREFIX = re.compile(r"^(sitk::ERROR:|ITK ERROR:\s*\w+\(0x[0-9a-f]+\):|\[\w+\]\s*\w+:)\s*")


def _itk_reason(err: Exception) -> str:
    """The part of a SimpleITK error a person can act on, without C++ source paths."""
    lines = [_ITK_PREFIX.sub("", ln.strip()) for ln in str(err).splitlines()]
    useful = [ln for ln in lines if ln and not _ITK_NOISE.match(ln) and not ln.endswith("trouble")]
    if any("Unable to determine ImageIO reader" in ln for ln in useful):
        return "the header is not recognised: corrupt, truncated or another format"
    return useful[-1][:200] if useful else "the reader gave no reason"


def _header_lines(path: Path, limit: int = 64 * 1024) -> list[str]:
    """The text header of a MetaImage / NRRD file (stops at the first binary byte)."""
    with open(path, "rb") as f:
        head = f.read(limit)
    return head.split(b"\0", 1)[0].decode("latin-1").splitlines()


def data_file_problem(path: Path) -> str | None:
    """A detached MetaImage (.mhd/.mha) or NRRD (.nhdr/.nrrd) header whose data file is missing."""
    kind = itk_kind(path)
    if kind not in ("metaimage", "nrrd"):
        return None
    key = "elementdatafile" if kind == "metaimage" else "data file"
    for line in _header_lines(path):
        name, sep, value = line.partition("=" if kind == "metaimage" else ":")
        if sep and name.strip().lower() == key:
            value = value.strip()
            if not value or value.upper() in ("LOCAL", "LIST") or value.upper().startswith("LIST") or "%" in value:
                return None
            target = Path(value) if Path(value).is_absolute() else path.parent / value
            if not target.is_file():
                suffix = target.suffix or "data"
                return f"the {suffix} file this header names is missing ({value})"
            return None
    return None


def nifti_problem(path: Path) -> str | None:
    """A NIfTI file shorter than its header says: SimpleITK would fill the missing voxels with 0."""
    if itk_kind(path) != "nifti":
        return None
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as f:
            header = f.read(540)
        size_mod = int.from_bytes(path.read_bytes()[-4:], "little")  # gzip ISIZE: uncompressed size mod 2**32
    else:
        with open(path, "rb") as f:
            header = f.read(540)
        size_mod = None
    needed = _nifti_bytes(header)
    if needed is None:
        return None  # not a header this check understands: SimpleITK decides
    if size_mod is not None:
        return None if size_mod == needed % 2**32 else "truncated or corrupt compressed file (its size does not match the header)"
    actual = path.stat().st_size
    return None if actual >= needed else f"truncated: the file holds {actual} bytes, its header needs {needed}"


def _nifti_bytes(header: bytes) -> int | None:
    """vox_offset + voxel bytes from a NIfTI-1 or NIfTI-2 header, None if it is neither."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack(order + "i", header[:4])[0] == 348:
            dims = struct.unpack(order + "8h", header[40:56])
            bitpix = struct.unpack(order + "h", header[72:74])[0]
            offset = int(struct.unpack(order + "f", header[108:112])[0])
            break
        if len(header) >= 540 and struct.unpack(order + "i", header[:4])[0] == 540:
            bitpix = struct.unpack(order + "h", header[14:16])[0]
            dims = struct.unpack(order + "8q", header[16:80])
            offset = struct.unpack(order + "q", header[168:176])[0]
            break
    else:
        return None
    if not 1 <= dims[0] <= 7 or bitpix <= 0 or any(d < 0 for d in dims[1 : dims[0] + 1]):
        return None
    voxels = int(np.prod([max(int(d), 1) for d in dims[1 : dims[0] + 1]], dtype=np.float64))
    return max(offset, 0) + voxels * bitpix // 8


def _checked_reader(path: Path) -> Any:
    """A reader with the header read, after the checks SimpleITK does not do (or words badly)."""
    with reading(path, f"not a readable {_FORMAT_NAMES.get(itk_kind(path) or '', 'image')} file"):
        problem = data_file_problem(path) or nifti_problem(path)
        if problem is not None:
            raise LoadError(f"{path.name}: {problem}", path)
        return _reader(path)


def read_itk_info(path: Path) -> dict[str, Any]:
    """Header-only summary: size (x, y, z), components, dimension, pixel type."""
    reader = _checked_reader(Path(path))
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
    reader = _checked_reader(path)
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
        raise LoadError(f"{path.name}: pixel data truncated or corrupt ({_itk_reason(e)})", path) from e
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
    replace_non_finite(pixels, warnings)
    is_rgb = components > 1
    grey = equal_channels(pixels) if is_rgb else None
    if grey is not None:
        pixels, is_rgb = grey, False
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
