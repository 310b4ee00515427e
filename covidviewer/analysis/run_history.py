"""Qt-free history of the analyses of one image, for the compare grid (issue 17.7).

Every run of the shown image adds its maps: Grad-CAM from one run and LIME from another sit side by
side without re-running either. A map key run again takes the newer map (in its old place); a run
none of whose maps is shown any more is dropped (a CT-sized map is hundreds of MB). Another image
starts a new history.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from covidviewer.analysis.maps import MapKey
from covidviewer.analysis.run import AnalysisRun

if TYPE_CHECKING:
    from covidviewer.inference import ModelResult


class RunHistory:
    """The runs of one image (``volume``, same ``image_hash``) whose maps the compare grid shows."""

    def __init__(self) -> None:
        self.runs: list[AnalysisRun] = []
        self.volume = None

    def add(self, run: AnalysisRun, volume) -> None:
        """Add ``run`` of ``volume``; a run of another image starts the history again."""
        if volume is not self.volume or any(r.image_hash != run.image_hash for r in self.runs):
            self.runs = []
        self.volume = volume
        self.runs.append(run)
        shown = {id(owner) for owner, _result in self.maps().values()}
        self.runs = [r for r in self.runs if id(r) in shown or r is run]

    def clear(self) -> None:
        """Forget every run (another image was opened)."""
        self.runs, self.volume = [], None

    def maps(self) -> dict[MapKey, tuple[AnalysisRun, "ModelResult"]]:
        """Every top-level map of the history, first-seen order, the newest run's map per key."""
        out: dict[MapKey, tuple[AnalysisRun, "ModelResult"]] = {}
        for run in self.runs:
            for key, result in run.maps(include_stages=False).items():
                out[key] = (run, result)
        return out

    def overlay(self, key: MapKey, shape: tuple[int, int, int]) -> np.ndarray | None:
        """``key``'s map on the image grid, built by the run it came from (shared with the main view)."""
        entry = self.maps().get(key)
        return None if entry is None else entry[0].overlay(key, shape)

    @property
    def lung_mask(self) -> np.ndarray | None:
        """The newest run's lung mask (the same image: any run's mask is the image's)."""
        return next((r.lung_mask for r in reversed(self.runs) if r.lung_mask is not None), None)

    @property
    def slice_lungs(self) -> dict[int | None, np.ndarray | None]:
        """The lungs of every slice a CT-slice model read in any run (the newest run's where two read one)."""
        out: dict[int | None, np.ndarray | None] = {}
        for run in self.runs:
            out.update(run.slice_lungs)
        return out

    def __bool__(self) -> bool:
        return bool(self.maps())
