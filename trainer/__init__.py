"""Trainer: retrain every shipped model (no Qt)."""
