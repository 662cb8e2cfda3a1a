"""Image transforms: 2503.09837 Exp 1/2/3 plus controls (wrong transform, untransformed image, probe)."""

DEFAULT_AUDIT = 1  # position in the default audit (`vlmaudit run` with no suite)
