"""GUI test set-up: offscreen Qt, QSettings redirected to a temporary folder, quick fixtures."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.io.volume import Volume


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Every test reads and writes QSettings (and saved measurements) under its own tmp_path,
    never the user's config or data folder.

    (Importing QtCore creates no QApplication, so the Qt-free model tests are unaffected; their
    no-Qt import check runs in a fresh interpreter.)
    """
    from PySide6.QtCore import QCoreApplication, QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.SystemScope, str(tmp_path / "settings-system"))
    QCoreApplication.setOrganizationName("CovidViewerTests")
    QCoreApplication.setApplicationName("CovidViewerTests")
    monkeypatch.setenv("COVIDVIEWER_DATA_DIR", str(tmp_path / "data"))  # covidviewer.ui.settings.DATA_DIR_ENV
    yield tmp_path / "settings"


def make_ct_volume(shape=(12, 40, 48), spacing=(2.5, 0.7, 0.7)) -> Volume:
    """A small CT-like volume in HU whose every slice differs (a sphere growing with z)."""
    z, y, x = np.indices(shape, dtype=np.float32)
    centre = np.array(shape, dtype=np.float32) / 2
    radius = np.sqrt(((z - centre[0]) * spacing[0]) ** 2 + ((y - centre[1]) * spacing[1]) ** 2 + ((x - centre[2]) * spacing[2]) ** 2)
    pixels = np.where(radius < 12.0, 60.0, -800.0).astype(np.float32) + 10.0 * z + x
    return Volume(pixels, spacing=spacing, modality="CT", default_window=(40.0, 400.0))


@pytest.fixture
def ct_volume() -> Volume:
    return make_ct_volume()


@pytest.fixture
def make_ct():
    """Factory for more (independent) generated CT volumes."""
    return make_ct_volume
