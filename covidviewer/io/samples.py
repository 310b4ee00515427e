"""Built-in sample images shipped inside installed packages (nothing is downloaded).

chest_cr: RG1_UNCI.dcm from pydicom-data, a real PA chest computed radiograph (MONOCHROME1).
ct: pydicom's CT_small.dcm (one 128 x 128 axial CT slice, HU after rescale).
ct_multiframe: pydicom-data's eCT_Supplemental.dcm (enhanced CT, 2 frames with positions).
"""
from __future__ import annotations

from pathlib import Path

from covidviewer.io.errors import LoadError

SAMPLE_FILES = {
    "chest_cr": "RG1_UNCI.dcm",
    "ct": "CT_small.dcm",
    "ct_multiframe": "eCT_Supplemental.dcm",
}


def _local_test_file(name: str) -> Path | None:
    """Locate a pydicom/pydicom-data test file without ever triggering a download."""
    from pydicom.data import get_testdata_file

    try:
        # download=False: pydicom only searches its own data and installed external sources.
        found = get_testdata_file(name, download=False)
    except Exception:
        return None
    return Path(found) if found and Path(found).is_file() else None


def sample_paths() -> dict[str, Path]:
    """Name -> path of each built-in sample present in this installation."""
    found = {key: _local_test_file(name) for key, name in SAMPLE_FILES.items()}
    available = {key: path for key, path in found.items() if path is not None}
    if "chest_cr" not in available:
        raise LoadError("the built-in chest radiograph sample is missing: install the 'pydicom-data' package")
    return available
