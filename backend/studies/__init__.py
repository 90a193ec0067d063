"""Studies: a grid of runs (axes × seeds), stored and read back by cell, with curves and statistics per cell."""
