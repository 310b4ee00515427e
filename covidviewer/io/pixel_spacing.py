"""Which in-plane spacing a DICOM image is measured with, and what it means (PS3.3 10.7.1.1-10.7.1.3).

A projection radiograph's ImagerPixelSpacing is the pixel's size at the detector: anatomy nearer the tube is
magnified by the divergent beam, by 10-20% on a chest film. Where the file gives only that and an Estimated
Radiographic Magnification Factor, sizes are taken at the patient as OHIF measures them (ImagerPixelSpacing divided
by the factor; the IHE Mammography profile asks the same of displays); a PixelSpacing is used as it stands, and the
reader is told whether the modality calibrated it or it merely repeats the detector's size.
"""
from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from covidviewer.io import dicom_header as hdr

#: a magnification factor outside this range is not a plausible estimate for a radiograph: not applied
PLAUSIBLE_MAGNIFICATION = (1.0, 3.0)
PIXEL_SPACING = "PixelSpacing"
FUNCTIONAL_PIXEL_SPACING = "PixelSpacing (functional groups)"
IMAGER_PIXEL_SPACING = "ImagerPixelSpacing"
MAGNIFICATION_CORRECTED = "ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor"


@dataclass(frozen=True)
class InPlaneSpacing:
    """(row, column) spacing in mm, the attribute it came from, and what the file says about its plane.

    magnification: the factor ImagerPixelSpacing was divided by (None when not applied).
    calibration: for a PixelSpacing beside an ImagerPixelSpacing, "detector" when the two are equal, else the
        file's Pixel Spacing Calibration Type and Description (or "calibrated" when it gives neither); "" otherwise.
    """

    row_col: tuple[float, float]
    source: str
    magnification: float | None = None
    calibration: str = ""


def _pair(value: object) -> tuple[float, float] | None:
    pair = hdr.floats(value, 2)
    if pair is None or not all(v > 0 for v in pair):  # an infinite one is kept: Volume replaces it with a warning
        return None
    return (float(pair[0]), float(pair[1]))


def in_plane_spacing(ds: Dataset) -> InPlaneSpacing | None:
    """The spacing lengths and areas are measured with: PixelSpacing, else the functional groups' PixelSpacing, else
    ImagerPixelSpacing (divided by a plausible EstimatedRadiographicMagnificationFactor); None when none is usable."""
    imager = _pair(ds.get("ImagerPixelSpacing"))
    pixel = _pair(ds.get("PixelSpacing"))
    if pixel is not None:
        return InPlaneSpacing(pixel, PIXEL_SPACING, calibration=_calibration(ds, pixel, imager))
    functional = _pair(hdr.functional_value(ds, "PixelMeasuresSequence", "PixelSpacing"))
    if functional is not None:
        return InPlaneSpacing(functional, FUNCTIONAL_PIXEL_SPACING)
    if imager is None:
        return None
    factor = hdr.first_float(ds.get("EstimatedRadiographicMagnificationFactor"))
    low, high = PLAUSIBLE_MAGNIFICATION
    if factor is None or not low < factor <= high:
        return InPlaneSpacing(imager, IMAGER_PIXEL_SPACING)
    return InPlaneSpacing((imager[0] / factor, imager[1] / factor), MAGNIFICATION_CORRECTED, magnification=factor)


def _calibration(ds: Dataset, pixel: tuple[float, float], imager: tuple[float, float] | None) -> str:
    if imager is None:
        return ""
    if all(abs(p - i) <= 1e-6 * max(i, 1e-9) for p, i in zip(pixel, imager)):
        return "detector"
    said = [hdr.text(ds, "PixelSpacingCalibrationType"), hdr.text(ds, "PixelSpacingCalibrationDescription")]
    return ": ".join(part for part in said if part) or "calibrated"
