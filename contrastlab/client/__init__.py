"""The typed Python client (`api.Client`) and the `contrastlab` command line. Imports only the contract."""

from contrastlab.client.api import ApiError, Client
from contrastlab.client.models import Artifact, LogEntry, MetricPoint, Run, StreamEvent

__all__ = ["ApiError", "Artifact", "Client", "LogEntry", "MetricPoint", "Run", "StreamEvent"]
