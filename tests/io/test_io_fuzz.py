"""Fuzzing the readers (issue 15): mutated real DICOM, NIfTI, MetaImage and PNG through the scan,
the loader, the thumbnail, the tag reader and the input gate. Any exception other than the
project's own LoadError fails, and so does a volume that is not finite or not windowable.

The fast run (200 cases, fixed seed, a few seconds) runs with every test run; the long one is
``pytest -m slow tests/io/test_io_fuzz.py`` (10,000 cases; ``COVIDVIEWER_FUZZ_SEED`` picks another seed).
"""
from __future__ import annotations

import os
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest
from fuzz_corpus import FuzzCase, cases

from covidviewer.io import LoadError, dicom_tags, load_path, scan_folder, thumbnail

FAST_CASES = 200
LONG_CASES = 10_000


@pytest.fixture(scope="module")
def gate_specs() -> list:
    """A radiograph, a CT-slice and a CT-volume model's specs (importing the registry imports torch:
    a one-off cost, kept out of the timed fuzz loop)."""
    from covidviewer.models import get_spec

    return [get_spec(name) for name in ("dpn92_se", "dresunet", "darnet")]


def exercise(path: Path, specs: list) -> None:
    """Everything the app does with a file it is given; only LoadError may come out."""
    from covidviewer.inference.gate import ImageKind, check_input

    scan_folder(path)  # headers only: the study browser's view of the file
    if path.suffix == ".dcm":
        try:
            dicom_tags(path)
        except LoadError:
            pass
    try:
        volume = load_path(path)
    except LoadError:
        return
    assert np.isfinite(volume.pixels).all(), "non-finite pixels left in a loaded volume"
    center, width = volume.default_window
    assert np.isfinite(center) and np.isfinite(width) and width > 0, f"unusable window {volume.default_window}"
    assert all(np.isfinite(s) and s > 0 for s in volume.spacing), f"unusable spacing {volume.spacing}"
    thumbnail(volume)
    other = ImageKind("other", 0.9, {"other": 0.9, "frontal": 0.1})
    for spec in specs:
        for kind in (None, other):
            check_input(volume, spec, None, kind)


def run_fuzz(seed: int, n: int, folder: Path, specs: list) -> list[str]:
    """Failures as text (case, mutation, traceback tail); empty when every case ended cleanly."""
    failures = []
    for case in cases(seed, n):
        path = folder / f"case{case.index:05d}{case.suffix}"
        path.write_bytes(case.data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom and Pillow warn on broken files; that is fine
                exercise(path, specs)
        except Exception:
            failures.append(f"seed {seed} {case.describe()}:\n{traceback.format_exc(limit=-4)}")
        finally:
            path.unlink()
    return failures


def _report(failures: list[str]) -> str:
    return f"{len(failures)} case(s) raised something other than LoadError:\n" + "\n".join(failures[:5])


def test_fuzz_fast(tmp_path: Path, gate_specs: list) -> None:
    failures = run_fuzz(seed=15, n=FAST_CASES, folder=tmp_path, specs=gate_specs)
    assert not failures, _report(failures)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_fuzz_long(tmp_path: Path, gate_specs: list) -> None:
    seed = int(os.environ.get("COVIDVIEWER_FUZZ_SEED", "1015"))
    failures = run_fuzz(seed=seed, n=LONG_CASES, folder=tmp_path, specs=gate_specs)
    assert not failures, _report(failures)


def test_the_corpus_is_seeded_and_mutates() -> None:
    first, again = cases(7, 40), cases(7, 40)
    assert [c.data for c in first] == [c.data for c in again]
    assert {c.mutation for c in first} >= {"flip", "truncate", "splice", "tag"}
    assert {c.suffix for c in first} >= {".dcm", ".png"}
    assert all(isinstance(c, FuzzCase) for c in first)
