"""Explanations: CAM family, LIME, 3D CAM -> float maps in [0, 1] on the original grid."""

