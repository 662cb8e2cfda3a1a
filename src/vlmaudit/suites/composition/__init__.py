"""Compositionality: ARO, SugarCrepe, hard positives; bag-of-words tests with blind baselines."""

DEFAULT_AUDIT = 2  # position in the default audit (`vlmaudit run` with no suite)
