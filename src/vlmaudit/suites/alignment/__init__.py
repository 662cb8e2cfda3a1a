"""Embedding alignment: does a visually identical image with another class's embedding keep its label?"""

DEFAULT_AUDIT = 4  # position in the default audit (`vlmaudit run` with no suite)
