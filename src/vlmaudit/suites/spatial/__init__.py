"""Spatial relations: What'sUp, Winoground, MMVP-VLM on paired images."""

DEFAULT_AUDIT = 3  # position in the default audit (`vlmaudit run` with no suite)
