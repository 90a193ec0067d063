"""The worker protocol: what a worker and the API agree on besides the RunSpec."""

from __future__ import annotations

# The longest wait between two tries of an HTTP call (client and worker): the reconciler waits this long past a
# lease before it judges the lease lost, so a worker that is only retrying is not taken for dead.
RETRY_CAP_S = 10.0
