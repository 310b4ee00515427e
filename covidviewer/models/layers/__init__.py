"""Blocks shared by several networks; each takes ``spatial_dims`` where 2D and 3D both occur."""
