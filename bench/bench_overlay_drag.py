"""Dragging the overlay's opacity over a large film: the view keeps the heat map's colours between frames
and re-blends them, against looking them up again every frame, in one run.

    QT_QPA_PLATFORM=offscreen python bench/bench_overlay_drag.py [--rounds 3] [--steps 30]

The built-in RG1_UNCI CR (1955 x 1841) with a random [0, 1] map as its overlay; each step sets a new
opacity and processes events (composite + image item update). Prints the median step in ms per round and
the ratio kept / fresh (lower is better). No absolute target: a 100 ms frame would feel slow.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    import numpy as np
    from PySide6.QtWidgets import QApplication

    import covidviewer.ui.slice_view as slice_view
    from covidviewer.io.load import load_path
    from covidviewer.io.samples import sample_paths

    app = QApplication.instance() or QApplication([])
    volume = load_path(sample_paths()["chest_cr"])
    view = slice_view.SliceView()
    view.resize(900, 900)
    view.show()
    view.state.set_volume(volume)
    view.set_overlay(np.random.default_rng(0).random(volume.shape, dtype=np.float32), colormap="jet", opacity=0.5)
    app.processEvents()

    def median_step_ms() -> float:
        steps = []
        for i in range(args.steps):
            start = time.perf_counter()
            view.state.update_overlay(opacity=0.2 + 0.6 * i / args.steps)
            app.processEvents()
            steps.append(time.perf_counter() - start)
        return 1000.0 * statistics.median(steps)

    kept_path = slice_view.SliceView._colours
    for _ in range(args.rounds):
        slice_view.SliceView._colours = kept_path
        kept = median_step_ms()
        slice_view.SliceView._colours = lambda _self, heat, lut: slice_view.heat_colours(heat, lut)
        fresh = median_step_ms()
        print(f"opacity step on a {volume.shape[1]} x {volume.shape[2]} film: kept colours {kept:.1f} ms, "
              f"fresh lookup {fresh:.1f} ms, ratio {kept / fresh:.2f}")
    slice_view.SliceView._colours = kept_path
    return 0


if __name__ == "__main__":
    sys.exit(main())
