"""Numpy/OpenCV image operations: windowing, CLAHE, resampling, model preprocessing, overlays."""

