"""Project-wide test set-up: headless Qt, small thread pools, and the shared real-data location."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "2")
# U-Net lung masks the trainer keeps between runs go to a throw-away folder, not the checkout's runs/, removed when the
# test run ends (a plain mkdtemp left one folder in /tmp per run)
if "COVIDVIEWER_MASK_CACHE" not in os.environ:
    _MASK_CACHE = tempfile.TemporaryDirectory(prefix="covidviewer-masks-")
    os.environ["COVIDVIEWER_MASK_CACHE"] = _MASK_CACHE.name

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("COVIDVIEWER_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real, research-use images); skips the test when it is absent."""
    if not (SHARED_DATA / "cxr" / "labels.csv").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA} (set COVIDVIEWER_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def edited_dicom(tmp_path):
    """``edit(source, name, **changes)``: a copy of the DICOM file ``source`` under ``tmp_path / name`` with attributes
    set by keyword, or removed where the value is None."""
    import pydicom

    def edit(source, name: str = "edited.dcm", **changes) -> Path:
        ds = pydicom.dcmread(source)
        for keyword, value in changes.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path)
        return path

    return edit
