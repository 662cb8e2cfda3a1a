"""Suite `linearity`: see suite.py."""
