"""What a path is before anything opens it: link loops, broken links, pipes, empty files; which names are images.

Light on purpose (no reader imported): the viewer's file dialog (``OPEN_PATTERNS``) and the loader's messages name
the files the readers take without importing them."""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from covidviewer.io.errors import os_reason

EMPTY_FILE = "empty file (0 bytes)"
NOT_REGULAR_FILE = "not a regular file (a pipe, socket or device): not read"
# the 2D image files ``covidviewer.io.raster`` reads; WebP and GIF: the formats a film saved from a web page or a
# teaching file often comes in
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif"})
#: what a file dialog or a message names as the image files the app reads
IMAGE_PATTERNS = " ".join(f"*{suffix}" for suffix in sorted(IMAGE_SUFFIXES))
#: names that say "DICOM" (most DICOM files have no suffix at all): such a file that is empty or not DICOM is
#: unreadable, not skipped, and is told why
DICOM_LIKE_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".ima"})
#: the volume files ``covidviewer.io.itk_volume`` reads (SimpleITK), and the format each suffix names
VOLUME_SUFFIXES = {".nii": "nifti", ".nii.gz": "nifti", ".mha": "metaimage", ".mhd": "metaimage", ".nrrd": "nrrd", ".nhdr": "nrrd"}
VOLUME_PATTERNS = " ".join(f"*{suffix}" for suffix in VOLUME_SUFFIXES)
#: every file the open dialog offers: DICOM (and DICOMDIR), volumes, images
OPEN_PATTERNS = " ".join([*(f"*{suffix}" for suffix in sorted(DICOM_LIKE_SUFFIXES)), "DICOMDIR", VOLUME_PATTERNS, IMAGE_PATTERNS])


def path_problem(path: Path) -> str | None:
    """Why a path cannot be read at all (link loop, broken link, pipe or device, empty file), or None.

    Checked before anything opens the path: opening a named pipe would block forever.
    """
    try:
        info = path.stat()  # follows links: a loop or a dangling link fails here
    except OSError as e:
        if path.is_symlink():
            return os_reason(e) if e.errno != errno.ENOENT else f"broken symbolic link (its target {os.readlink(path)} does not exist)"
        return "no such file or folder" if e.errno in (errno.ENOENT, errno.ENOTDIR) else f"cannot read it ({os_reason(e)})"
    if stat.S_ISDIR(info.st_mode):
        return None
    if not stat.S_ISREG(info.st_mode):
        return NOT_REGULAR_FILE
    if info.st_size == 0:
        return EMPTY_FILE
    return None


def resolved(path: Path) -> Path:
    """``path.resolve()`` that never raises (a symbolic link loop resolves to its absolute path)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: "Symlink loop" before Python 3.13
        return Path(os.path.abspath(path))
