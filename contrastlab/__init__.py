"""ContrastLab: the shared contract (`contrastlab.core`), the queue glue (`contrastlab.queue`) and the Python
client and command line (`contrastlab.client`): `from contrastlab import Client`, or `contrastlab --help`.

The client's names load on first use, so `import contrastlab.core` (the API, the workers) loads no client code.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "Artifact", "Client", "LogEntry", "MetricPoint", "Run", "StreamEvent"]


def __getattr__(name: str) -> Any:
    if name in ("ApiError", "Client"):
        from contrastlab.client import api

        return getattr(api, name)
    if name in __all__:
        from contrastlab.client import models

        return getattr(models, name)
    raise AttributeError(f"module 'contrastlab' has no attribute {name!r}")
