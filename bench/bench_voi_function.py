"""Windowing the built-in chest CR (1,955 x 1,841) through the sigmoid VOI function against the linear window.

A film whose VOI LUT Function is SIGMOID is windowed through ``exp`` on every redraw (a window drag, a slice, the
overlay's opacity), where the linear window is one saturating OpenCV pass. Measured in the same run: both, into a
kept buffer as the view draws; prints medians, the ratio and the sigmoid's share of one frame at 60 Hz (16 ms).

    python bench/bench_voi_function.py [--repeat 50]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from covidviewer.imaging.windowing import LINEAR, SIGMOID, window_to_uint8  # noqa: E402
from covidviewer.io import load_path, sample_paths  # noqa: E402

FRAME_MS = 16.0


def median_ms(image: np.ndarray, window: tuple[float, float], function: str, repeat: int) -> float:
    out = np.empty(image.shape, dtype=np.uint8)
    times = []
    for i in range(repeat):
        centre = window[0] + (i % 7) * 0.01 * window[1]  # a drag: the window moves a little every redraw
        start = time.perf_counter()
        window_to_uint8(image, centre, window[1], out=out, function=function)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    film = load_path(sample_paths()["chest_cr"])
    image = np.ascontiguousarray(film.pixels[0])
    linear = median_ms(image, film.default_window, LINEAR, args.repeat)
    sigmoid = median_ms(image, film.default_window, SIGMOID, args.repeat)
    print(f"film {image.shape[1]} x {image.shape[0]} px, {args.repeat} redraws each")
    print(f"linear window:  median {linear:.2f} ms")
    print(f"sigmoid window: median {sigmoid:.2f} ms ({sigmoid / linear:.1f}x linear; {sigmoid / FRAME_MS:.2f} of a 60 Hz frame)")


if __name__ == "__main__":
    main()
