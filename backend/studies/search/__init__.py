"""Adaptive search: a study whose runs Optuna samples and prunes, then confirms its winner on fresh seeds.

space (axes as Optuna distributions), optimizer (Optuna rebuilt from our rows),
flow (the decisions: trials, pruning, confirmation), views (what the page and the CLI read).
"""
