"""ContrastLab's Python client and command line: `from contrastlab import Client`, or `contrastlab --help`."""

from contrastlab.client import ApiError, Client
from contrastlab.models import Artifact, LogEntry, MetricPoint, Run, StreamEvent

__all__ = ["ApiError", "Artifact", "Client", "LogEntry", "MetricPoint", "Run", "StreamEvent"]
