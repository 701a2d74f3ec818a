"""The few exception types docker-inspector raises on purpose."""

from __future__ import annotations


class InspectorError(Exception):
    """Base class: an error the CLI reports as one plain line, never a traceback."""


class RootError(InspectorError):
    """The data root is missing, unreadable or not a Docker data root."""


class ReaderError(InspectorError):
    """A file under the root could not be read or parsed; the message names the file."""


class UsageError(InspectorError):
    """The command line or a config file is wrong."""


class DaemonError(InspectorError):
    """The Docker daemon could not be reached or answered unexpectedly."""
