"""Local linearity: do noisy embeddings follow sigma^2 JJ^T, and does noise expose aligned images?"""

DEFAULT_AUDIT = 5  # position in the default audit (`vlmaudit run` with no suite)
