"""Scorers: items -> score tables, one seam for dual encoders, blind baselines and, later, dense
and generative scorers."""
