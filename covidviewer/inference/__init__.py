"""Inference: Predictor, input gate, device choice, result cache (no Qt)."""

