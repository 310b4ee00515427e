"""Time to show a new 512x512 slice with a 50%-opacity overlay in the SliceView (offscreen).

One "display" = set the slice index on the ViewerState (the view cuts the slice, windows it,
quantizes and colours the overlay) + a synchronous repaint of the viewport. Measured in the same
run: the same without overlay, a window/level change, and a repaint of an unchanged slice (the
drawing floor). Prints medians and the ratio to the 16 ms target (one frame at 60 Hz).

    QT_QPA_PLATFORM=offscreen python bench/bench_slice_display.py [--slices 64] [--size 512] [--repeat 200]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication  # noqa: E402

from covidviewer.io.volume import Volume  # noqa: E402

TARGET_MS = 16.0


def make_ct(slices: int, size: int) -> tuple[Volume, np.ndarray]:
    """A CT-like volume in HU (body, lungs, noise) and a smooth attention map in [0, 1]."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    body = ((yy - 0.5) / 0.38) ** 2 + ((xx - 0.5) / 0.45) ** 2 < 1
    lungs = ((yy - 0.5) / 0.25) ** 2 + ((np.abs(xx - 0.5) - 0.2) / 0.12) ** 2 < 1
    base = np.where(body, 40.0, -1000.0) + np.where(lungs, -860.0, 0.0)
    pixels = np.empty((slices, size, size), dtype=np.float32)
    heat = np.empty_like(pixels)
    for k in range(slices):
        pixels[k] = base + rng.normal(0, 20, (size, size))
        cy, cx = 0.4 + 0.2 * k / slices, 0.35
        heat[k] = np.exp(-(((yy - cy) / 0.1) ** 2 + ((xx - cx) / 0.1) ** 2))
    volume = Volume(pixels, spacing=(1.25, 0.7, 0.7), modality="CT", default_window=(-600.0, 1500.0))
    return volume, heat


def time_ms(action, repeat: int, viewport) -> list[float]:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        action(i)
        viewport.repaint()  # synchronous paint: the frame is drawn when this returns
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--view", type=int, default=800, help="viewport size in screen pixels")
    args = parser.parse_args()

    app = QApplication.instance() or QApplication([])
    from covidviewer.ui.slice_view import SliceView

    volume, heat = make_ct(args.slices, args.size)
    view = SliceView()
    view.resize(args.view, args.view)
    view.show()
    app.processEvents()
    state = view.state
    viewport = view.canvas.viewport()
    state.set_volume(volume)

    def scroll(i: int) -> None:
        state.slice_index = (i * 7) % args.slices  # jump around: every step is a new slice

    rows = []
    plain = time_ms(scroll, args.repeat, viewport)
    view.set_overlay(heat, colormap="jet", opacity=0.5, threshold=0.1)
    overlay = time_ms(scroll, args.repeat, viewport)
    window = time_ms(lambda i: setattr(state, "window", (-600.0 + (i % 50), 1500.0)), args.repeat, viewport)
    floor = time_ms(lambda i: None, args.repeat, viewport)
    rows.append(("new slice + 50% overlay", overlay))
    rows.append(("new slice, no overlay", plain))
    rows.append(("window/level change (overlay on)", window))
    rows.append(("repaint only (same slice)", floor))

    print(f"SliceView, {args.size}x{args.size} float32 CT slices, viewport {args.view}x{args.view}, "
          f"{args.repeat} repeats, Qt platform {app.platformName()}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (medians are noisy on a busy machine)")
    print(f"{'case':36s} {'median ms':>10s} {'min ms':>8s} {'p90 ms':>8s} {'/ 16 ms target':>15s}")
    for name, values in rows:
        median = statistics.median(values)
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        print(f"{name:36s} {median:10.2f} {min(values):8.2f} {p90:8.2f} {median / TARGET_MS:15.2f}")
    headline = statistics.median(overlay)
    print(f"\nnew slice with overlay: median {headline:.2f} ms = {headline / TARGET_MS:.2f} x the 16 ms target "
          f"({'met' if headline <= TARGET_MS else 'NOT met'}); "
          f"{headline / statistics.median(floor):.1f} x a bare repaint")
    view.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
