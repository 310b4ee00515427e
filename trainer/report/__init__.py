"""Figures written into run folders (matplotlib, Agg backend)."""
