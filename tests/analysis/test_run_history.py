"""RunHistory, Qt-free: the runs of one image whose maps the compare grid shows."""
from __future__ import annotations

import numpy as np

from covidviewer.analysis.maps import MapKey
from covidviewer.analysis.run import AnalysisRun
from covidviewer.analysis.run_history import RunHistory
from covidviewer.explain.base import Explanation
from covidviewer.inference.results import ModelResult

SHAPE = (1, 4, 4)


def _run(image_hash: str, *maps: tuple[str, str], lung_mask: np.ndarray | None = None) -> AnalysisRun:
    run = AnalysisRun(image_hash, SHAPE, lung_mask=lung_mask)
    for model, method in maps:
        heat = np.full(SHAPE[1:], 0.5, dtype=np.float32)
        run.results[(model, method)] = ModelResult(model, "ok", method=method,
                                                   explanation=Explanation(method, heat, target_index=0))
    return run


def test_runs_of_one_image_add_their_maps_and_the_newer_map_keeps_its_place():
    history, volume = RunHistory(), object()
    first, second = _run("a", ("m1", "gradcam"), ("m2", "gradcam")), _run("a", ("m1", "lime"), ("m1", "gradcam"))
    history.add(first, volume)
    history.add(second, volume)
    maps = history.maps()
    assert list(maps) == [MapKey("m1", "gradcam"), MapKey("m2", "gradcam"), MapKey("m1", "lime")]
    assert maps[MapKey("m1", "gradcam")][0] is second and maps[MapKey("m2", "gradcam")][0] is first
    assert history.overlay(MapKey("m1", "lime"), SHAPE).shape == SHAPE and history.overlay(MapKey("x", "cam"), SHAPE) is None


def test_a_run_whose_maps_are_all_replaced_is_dropped():
    history, volume = RunHistory(), object()
    old = _run("a", ("m1", "gradcam"), lung_mask=np.ones(SHAPE[1:], dtype=np.float32))
    history.add(old, volume)
    history.add(_run("a", ("m1", "gradcam")), volume)
    assert len(history.runs) == 1 and history.runs[0] is not old
    assert history.lung_mask is None  # the dropped run's mask went with it


def test_another_image_or_clear_starts_again():
    history, volume = RunHistory(), object()
    history.add(_run("a", ("m1", "gradcam")), volume)
    other = _run("b", ("m1", "lime"))
    history.add(other, volume)
    assert len(history.runs) == 1 and history.runs[0] is other
    history.add(_run("b", ("m2", "cam")), object())  # same hash, another volume object
    assert len(history.runs) == 1
    history.clear()
    assert not history and history.volume is None
