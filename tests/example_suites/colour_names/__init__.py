"""Colour names: can the model name the colour of a plain image? (the docs' worked example)"""

DEFAULT_AUDIT = 9  # in the default audit of a registry that scans this package
