"""DICOM files -> Volume: decode pixels, order slices, rescale, VOI defaults, MONOCHROME1 inversion.

Pixel decoding goes through pydicom (native, RLE) and the pylibjpeg plugins (JPEG baseline and
lossless, JPEG-LS, JPEG 2000). pydicom's decoders honour BitsStored and PixelRepresentation
(masking unused high bits, sign-extending signed data).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi

from covidviewer.io import dicom_header as hdr
from covidviewer.io.cancel import Cancelled, CancelledFn, ProgressFn
from covidviewer.io.colour import equal_channels
from covidviewer.io.errors import LoadError, exception_detail, reading
from covidviewer.io.geometry import direction_matrix, order_stack
from covidviewer.io.memory import check_budget
from covidviewer.io.overlay_planes import overlay_planes
from covidviewer.io.pixel_spacing import in_plane_spacing
from covidviewer.io.shutter_tags import display_shutter
from covidviewer.io.volume import FOR_PROCESSING, Volume, replace_non_finite

# Orientations of slices in one stack may differ by rounding noise; more than this (degrees) is
# reported as mixed orientation.
ORIENTATION_TOLERANCE_DEG = 0.5
_MAX_THREADS = 4


def decode_pixels(ds: Dataset, path: Path) -> np.ndarray:
    """Stored pixel values as (frames, rows, cols[, 3]); LoadError with a reason on failure."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        if "SOPClassUID" not in ds and "Modality" not in ds:
            raise LoadError(f"{path.name}: corrupt or incomplete DICOM header (no SOP Class UID, Modality or pixel data)", path)
        raise LoadError(f"{path.name}: DICOM file without pixel data (Modality {hdr.text(ds, 'Modality', '?')})", path)
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    try:
        arr = ds.pixel_array
    except NotImplementedError as e:  # pydicom: no decoder for this transfer syntax (or photometric)
        name = getattr(tsyntax, "name", str(tsyntax))
        raise LoadError(
            f"{path.name}: cannot decode pixel data compressed as '{name}' ({tsyntax}); "
            f"no installed decoder supports it ({exception_detail(e)})",
            path,
        ) from e
    except Exception as e:  # every decoder failed, or the header contradicts the data
        raise LoadError(f"{path.name}: cannot decode pixel data, the file is corrupt or truncated ({exception_detail(e)})", path) from e
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = int(hdr.first_float(ds.get("NumberOfFrames")) or 1)
    if hdr.text(ds, "PhotometricInterpretation") == "PALETTE COLOR":
        try:
            arr = apply_color_lut(arr, ds)
        except Exception as e:
            raise LoadError(f"{path.name}: PALETTE COLOR image whose colour lookup table is missing or broken ({exception_detail(e)})", path) from e
        spp = 3
    want_ndim = 3 if spp == 1 else 4
    if frames == 1 and arr.ndim == want_ndim - 1:
        arr = arr[None]
    return arr


def _rescale_into(out: np.ndarray, arr: np.ndarray, ds: Dataset) -> None:
    """out[:] = modality-LUT(arr) as float32, without a float64 temporary for the linear case."""
    if "ModalityLUTSequence" in ds:
        out[...] = apply_modality_lut(arr, ds)
        return
    slope, intercept = hdr.rescale_of(ds)
    dose_scale = hdr.first_float(ds.get("DoseGridScaling"))
    if dose_scale and hdr.text(ds, "Modality") == "RTDOSE":
        slope *= dose_scale
    out[...] = arr
    with np.errstate(over="ignore", invalid="ignore"):  # a slope that overflows float32: replaced, with a warning, later
        if slope != 1.0:
            out *= np.float32(slope)
        if intercept != 0.0:
            out += np.float32(intercept)


def _stored_range(ds: Dataset) -> tuple[float, float]:
    """Range of possible values after the modality transform (for MONOCHROME1 inversion)."""
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope, intercept = hdr.rescale_of(ds)
    a, b = lo * slope + intercept, hi * slope + intercept
    return min(a, b), max(a, b)


def _frame_positions(ds: Dataset, frames: int) -> list[tuple[float, ...] | None]:
    """Per-frame positions of a multi-frame file: functional groups or RT GridFrameOffsetVector."""
    if "PerFrameFunctionalGroupsSequence" in ds:
        return [hdr.position_of(ds, frame=i) for i in range(frames)]
    offsets = ds.get("GridFrameOffsetVector")
    ipp = hdr.position_of(ds)
    iop = hdr.orientation_of(ds)
    if offsets is not None and ipp is not None and iop is not None and len(offsets) == frames:
        normal = direction_matrix(iop)[:, 2]
        return [tuple(np.asarray(ipp) + float(o) * normal) for o in offsets]
    return [None] * frames


def _orientation_spread_deg(orientations: list[tuple[float, ...]]) -> float:
    normals = np.array([direction_matrix(o)[:, 2] for o in orientations])
    cosines = np.clip(normals @ normals[0], -1.0, 1.0)
    return float(np.degrees(np.arccos(cosines.min())))


def load_dicom_files(
    files: list[Path],
    max_bytes: int | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> Volume:
    """Read DICOM files of one stack into a Volume ordered along the slice normal.

    A single multi-frame file is ordered by its per-frame positions. Files that cannot be decoded
    are skipped with a warning while at least one slice loads; otherwise LoadError.
    """
    files = [Path(f) for f in files]
    if not files:
        raise LoadError("no DICOM files to load")
    if len(files) == 1:
        with reading(files[0], "corrupt DICOM header"):
            first_header = hdr.read_dataset(files[0], stop_before_pixels=True)
            rows, cols = int(first_header.get("Rows", 0) or 0), int(first_header.get("Columns", 0) or 0)
            frames = int(hdr.first_float(first_header.get("NumberOfFrames")) or 1)
            spp = 3 if int(first_header.get("SamplesPerPixel", 1) or 1) == 3 else 1
        check_budget(rows * cols * frames * spp * 4, f"{files[0].name}", max_bytes, files[0])

    warnings: list[str] = []
    datasets: list[tuple[Path, Dataset, np.ndarray]] = []
    total = len(files)

    def read_one(path: Path) -> tuple[Path, Dataset | None, np.ndarray | None, str | None]:
        if cancelled is not None and cancelled():
            return path, None, None, "cancelled"
        try:
            with reading(path, "cannot decode the file"):
                ds = hdr.read_dataset(path, stop_before_pixels=False)
                return path, ds, decode_pixels(ds, path), None
        except LoadError as e:
            return path, None, None, str(e)

    workers = max(1, min(_MAX_THREADS, os.cpu_count() or 1, total))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (path, ds, arr, err) in enumerate(pool.map(read_one, files), start=1):
            if err == "cancelled":
                raise Cancelled("loading cancelled")
            if err is not None:
                warnings.append(f"skipped a file that could not be read: {err}")
            else:
                datasets.append((path, ds, arr))  # type: ignore[arg-type]
            if progress is not None:
                progress(done, total, path.name)
    if not datasets and total == 1:
        raise LoadError(warnings[0].split("could not be read: ", 1)[-1], files[0])
    if not datasets:
        reasons = "; ".join(w.split(": ", 1)[-1] for w in warnings[:3])
        raise LoadError(f"none of the {total} DICOM file(s) could be decoded: {reasons}", files[0])
    with reading(datasets[0][0], "corrupt or contradictory DICOM header"):
        return _assemble(datasets, warnings)


def _assemble(datasets: list[tuple[Path, Dataset, np.ndarray]], warnings: list[str]) -> Volume:
    ref_path, ref, ref_arr = datasets[0]
    shapes = {arr.shape[1:] for _, _, arr in datasets}
    if len(shapes) > 1:
        raise LoadError(
            f"slices of this series have different sizes {sorted(shapes)}; scan the folder so the "
            "series is split into stacks of one size",
            ref_path,
        )
    # One entry per 2D image: (dataset index, frame index, position).
    slices: list[tuple[int, int, tuple[float, ...] | None]] = []
    for i, (_, ds, arr) in enumerate(datasets):
        frames = arr.shape[0]
        positions = _frame_positions(ds, frames) if frames > 1 else [hdr.position_of(ds)]
        slices.extend((i, f, positions[f]) for f in range(frames))
    orientations = [o for o in (hdr.orientation_of(ds) for _, ds, _ in datasets) if o is not None]
    orientation = orientations[0] if orientations else None
    if len(orientations) > 1:
        spread = _orientation_spread_deg(orientations)
        if spread > ORIENTATION_TOLERANCE_DEG:
            warnings.append(
                f"mixed orientation: slice normals differ by up to {spread:.1f} degrees; "
                "slices are ordered along the first slice's normal"
            )
    thickness = hdr.first_float(ref.get("SpacingBetweenSlices")) or hdr.first_float(ref.get("SliceThickness"))
    instance = [hdr.first_float(datasets[i][1].get("InstanceNumber")) for i, _, _ in slices]
    ties = [int(v) if v is not None else None for v in instance]
    single_file = len(datasets) == 1
    geom = order_stack(
        [p for _, _, p in slices], orientation, thickness, tie_break=None if single_file else ties, file_order=single_file
    )
    warnings.extend(geom.warnings)

    is_rgb = ref_arr.ndim == 4
    out_shape = (len(slices),) + ref_arr.shape[1:]
    pixels = np.empty(out_shape, dtype=np.float32)
    for z, k in enumerate(geom.order):
        i, f, _ = slices[k]
        _, ds, arr = datasets[i]
        if is_rgb:
            pixels[z] = arr[f]
        else:
            _rescale_into(pixels[z], arr[f], ds)
    grey = equal_channels(pixels) if is_rgb else None
    if grey is not None:  # a secondary capture of a grey film, saved in colour
        pixels, is_rgb = grey, False
    if not is_rgb:
        replace_non_finite(pixels, warnings)  # float pixel data, or a rescale that overflows float32

    meta = dicom_meta(ref, len(datasets))
    if meta["presentation_intent"] == FOR_PROCESSING:
        warnings.append("Presentation Intent Type FOR PROCESSING: the detector's raw data, before the processing a "
                        "reader is shown; not for reading, and the models do not analyse it")
    default_window, inverted = _apply_voi_and_inversion(pixels, ref, ref_arr, is_rgb, meta, warnings)
    meta["inverted_monochrome1"] = inverted
    measured_with = in_plane_spacing(ref)
    meta["pixel_spacing"] = None if measured_with is None else measured_with.row_col
    if measured_with is None:
        row_col = (1.0, 1.0)
        meta["pixel_spacing_known"] = False
    else:
        row_col = measured_with.row_col
        meta["spacing_source"] = measured_with.source  # what a length on it means (imaging.measurements)
        meta["magnification_factor"] = measured_with.magnification
        meta["spacing_calibration"] = measured_with.calibration
    direction = direction_matrix(orientation) if orientation is not None else np.eye(3)
    ordered_paths = [datasets[slices[k][0]][0] for k in geom.order]
    meta["slice_sources"] = ordered_paths
    meta["first_position"] = geom.first_position
    meta["last_position"] = geom.last_position
    meta["orientation"] = tuple(orientation) if orientation is not None else None
    sources = list(dict.fromkeys(ordered_paths))
    return Volume(
        pixels=pixels,
        spacing=(float(geom.z_spacing), float(row_col[0]), float(row_col[1])),
        origin=tuple(float(v) for v in geom.origin),  # type: ignore[arg-type]
        direction=direction,
        modality=meta["modality"],
        default_window=default_window,
        is_rgb=is_rgb,
        meta=meta,
        warnings=warnings,
        sources=sources,
        overlay_planes=_overlay_planes([datasets[slices[k][0]][1] if slices[k][1] == 0 else None for k in geom.order],
                                       pixels.shape),
    )


def _overlay_planes(images: list[Dataset | None], shape: tuple[int, ...]) -> np.ndarray | None:
    """Each image's overlay planes as a (Z, H, W) mask in the volume's slice order, None when no image has any.
    ``images`` holds the file of each slice, None for a multi-frame file's later frames (a plane is read for a file's
    first frame only). Nothing is allocated for the usual series without overlays."""
    mask: np.ndarray | None = None
    for z, ds in enumerate(images):
        plane = overlay_planes(ds, int(shape[1]), int(shape[2])) if ds is not None else None
        if plane is None:
            continue
        if mask is None:
            mask = np.zeros(shape[:3], dtype=bool)
        mask[z] = plane
    return mask


def _apply_voi_and_inversion(
    pixels: np.ndarray, ds: Dataset, stored: np.ndarray, is_rgb: bool, meta: dict[str, Any], warnings: list[str]
) -> tuple[tuple[float, float], bool]:
    """Apply a VOI LUT Sequence when present, invert MONOCHROME1; return (default window, inverted)."""
    if is_rgb:
        top = float(pixels.max()) if pixels.size else 255.0
        return ((127.5, 255.0) if top <= 255 else (top / 2, max(top, 1.0))), False
    lo, hi = _stored_range(ds)
    window = hdr.window_of(ds)
    modality = hdr.text(ds, "Modality", "OT")
    meta["voi_lut_applied"] = False
    if "VOILUTSequence" in ds and window is None:
        if modality == "CT":
            warnings.append("VOI LUT Sequence ignored so that pixel values stay in HU")
        else:
            lut_item = ds.VOILUTSequence[0]
            bits = int(lut_item.LUTDescriptor[2])
            # The LUT is indexed by modality-transformed values, which pixels already hold (as floats).
            pixels[...] = apply_voi(np.rint(pixels).astype(np.int64), ds, index=0)
            lo, hi = 0.0, float(2**bits - 1)
            window = ((lo + hi) / 2, hi - lo)
            meta["voi_lut_applied"] = True
    photometric = hdr.text(ds, "PhotometricInterpretation")
    inverted = photometric == "MONOCHROME1"
    if photometric == "MONOCHROME2" and hdr.text(ds, "PresentationLUTShape").strip().upper() == "INVERSE":
        # PS3.3 C.8.11.3.1 allows INVERSE with MONOCHROME1 only; some vendors' objects carry it wrongly, so the
        # photometric interpretation decides (as dcm4chee and Weasis 4.1 do) and the reader is told
        warnings.append("Presentation LUT Shape INVERSE contradicts MONOCHROME2: shown as MONOCHROME2 says (dark "
                        "where the stored values are low); if bone looks dark, Invert (I) shows it the other way")
    # the file's further windows (a CR's HARDER and SOFTER, a CT's second window), offered as presets beside the first
    others = hdr.windows_of(ds)[1:] if window is not None and not meta["voi_lut_applied"] else []
    if inverted:
        # Mirror within the nominal value range so that larger = brighter and values stay in range.
        np.subtract(np.float32(lo + hi), pixels, out=pixels)
        if window is not None:
            window = (lo + hi - window[0], window[1])
        others = [(lo + hi - center, width, said) for center, width, said in others]
    meta["file_windows"] = others
    if window is None:
        shown = _without_padding(pixels, ds, stored)
        vmin, vmax = (float(shown.min()), float(shown.max())) if shown.size else (0.0, 1.0)
        window = ((vmin + vmax) / 2, max(vmax - vmin, 1.0))
    return (float(window[0]), float(window[1])), inverted


def _without_padding(pixels: np.ndarray, ds: Dataset, stored: np.ndarray) -> np.ndarray:
    """The pixels of a single radiograph that are not Pixel Padding (PS3.3 C.7.5.1.1.2: the value, or the range up to
    Pixel Padding Range Limit, that fills the area outside the exposed field), so that a window made from the data
    range spans the film, not the padding; every pixel where nothing says so (a CT keeps its HU range whole)."""
    pad = hdr.first_float(ds.get("PixelPaddingValue"))
    if pad is None or hdr.text(ds, "Modality") == "CT" or stored.shape[:3] != pixels.shape[:3] or pixels.shape[0] != 1:
        return pixels
    limit = hdr.first_float(ds.get("PixelPaddingRangeLimit"))
    low, high = (pad, pad) if limit is None else (min(pad, limit), max(pad, limit))
    film = pixels[~((stored >= low) & (stored <= high))]
    return film if film.size else pixels


def dicom_meta(ds: Dataset, num_files: int) -> dict[str, Any]:
    """Display metadata for the viewer's panels and the inspect command."""
    slope, intercept = hdr.rescale_of(ds)
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    return {
        "format": "dicom",
        "modality": hdr.text(ds, "Modality", "OT"),
        "patient_name": hdr.text(ds, "PatientName"),
        "patient_id": hdr.text(ds, "PatientID"),
        "patient_sex": hdr.text(ds, "PatientSex"),
        "patient_age": hdr.text(ds, "PatientAge"),
        "patient_birth_date": hdr.optional_text(ds, "PatientBirthDate"),  # an age where PatientAge is not given
        "study_uid": hdr.text(ds, "StudyInstanceUID"),
        "study_date": hdr.text(ds, "StudyDate"),
        # the image's own dates and whether de-identification changed them (PS3.15): for inference.era_check
        "series_date": hdr.optional_text(ds, "SeriesDate"),
        "acquisition_date": hdr.optional_text(ds, "AcquisitionDate"),
        "content_date": hdr.optional_text(ds, "ContentDate"),
        "dates_modified": hdr.optional_text(ds, "LongitudinalTemporalInformationModified"),
        "study_description": hdr.text(ds, "StudyDescription"),
        "series_uid": hdr.text(ds, "SeriesInstanceUID"),
        "series_number": hdr.text(ds, "SeriesNumber"),
        "series_description": hdr.text(ds, "SeriesDescription"),
        "protocol_name": hdr.optional_text(ds, "ProtocolName"),  # a body part's words (io.body_part)
        "body_part": hdr.text(ds, "BodyPartExamined"),
        "view_position": hdr.header_view(ds),
        "display_shutter": display_shutter(ds),
        "voi_function": hdr.voi_function_of(ds),  # how the file's window maps to grey (imaging.windowing)
        # a DX image "FOR PROCESSING" is the detector's raw data, before the processing a reader is shown
        "presentation_intent": hdr.text(ds, "PresentationIntentType").strip().upper(),
        "patient_orientation": hdr.joined(ds, "PatientOrientation"),
        # ORIGINAL\\PRIMARY\\LOCALIZER: a CT scout, never read as a slice (inference.gate)
        "image_type": hdr.joined(ds, "ImageType"),
        "photometric": hdr.text(ds, "PhotometricInterpretation"),
        "slice_thickness": hdr.first_float(ds.get("SliceThickness")),
        "bits_stored": int(ds.get("BitsStored", 0) or 0),
        "pixel_representation": int(ds.get("PixelRepresentation", 0) or 0),
        "rescale_slope": slope,
        "rescale_intercept": intercept,
        "rescale_type": hdr.text(ds, "RescaleType", "HU" if hdr.text(ds, "Modality") == "CT" else ""),
        "window": hdr.window_of(ds),
        "manufacturer": hdr.text(ds, "Manufacturer"),
        "transfer_syntax": getattr(tsyntax, "name", str(tsyntax or "")),
        "frame_of_reference_uid": hdr.text(ds, "FrameOfReferenceUID"),
        "num_files": num_files,
    }
