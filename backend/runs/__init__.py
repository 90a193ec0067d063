"""Runs: their lifecycle under a lease, the runs list, metric series, artifacts, dispatch to the broker, schemas."""
