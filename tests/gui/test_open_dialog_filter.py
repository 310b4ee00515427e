"""The open dialog offers every file the readers take: its filter comes from ``covidviewer.io.files``, the lists
the loader and the folder scan decide by, so a suffix one reader learns is offered at once (a .dic DICOM file was
read from a folder but hidden by the dialog)."""
from __future__ import annotations

from fnmatch import fnmatch

import pytest

from covidviewer.io.files import DICOM_LIKE_SUFFIXES, IMAGE_SUFFIXES, VOLUME_SUFFIXES
from covidviewer.ui.controller import FILE_FILTER


def _offered(name: str) -> bool:
    images = FILE_FILTER.split(";;")[0]
    patterns = images[images.index("(") + 1 : images.rindex(")")].split()
    return any(fnmatch(name, pattern) for pattern in patterns)


@pytest.mark.parametrize("suffix", sorted({*DICOM_LIKE_SUFFIXES, *VOLUME_SUFFIXES, *IMAGE_SUFFIXES}))
def test_the_open_dialog_offers_every_suffix_the_readers_take(suffix: str) -> None:
    assert _offered(f"film{suffix}")


def test_the_open_dialog_offers_a_dicomdir_and_not_any_file() -> None:
    assert _offered("DICOMDIR") and not _offered("notes.txt") and not _offered("film.heic")
