"""Diagnostics: exit codes, the stderr lines, and which error means which exit code.

stdout carries data only (a report, an audit's lines or JSON); everything else goes to stderr
as one plain line, `docker-inspector: error: …` or `docker-inspector: warning: …`. Every face
(CLI, audit) uses this module, so none of them needs to import another to speak; in
particular nothing imports inspector.cli back. It imports only errors and textsafe.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from enum import IntEnum

from inspector.errors import DaemonError, InspectorError, ReaderError, RootError, UsageError
from inspector.textsafe import clean

PROG = "docker-inspector"


class ExitCode(IntEnum):
    """Process exit codes (stable; documented in --help and README)."""

    OK = 0
    """Success (audit: no threshold crossed)."""
    THRESHOLD = 1
    """audit: at least one threshold crossed or --fail-on kind found."""
    USAGE = 2
    """Bad arguments or config, unreadable or invalid data root, daemon unreachable."""
    INTERNAL = 3
    """A bug: an unexpected error (please report it with the message)."""


#: Error class → exit code; the most specific class in an error's MRO wins. Subclasses
#: defined elsewhere need no entry: outputs.OutputRefused is a UsageError, audit's LockBusy
#: an InspectorError (another audit holds the lock: exit 2, try again later). Listing them
#: here would make this module import the modules that raise them.
_EXIT_CODES: Mapping[type[BaseException], ExitCode] = {
    UsageError: ExitCode.USAGE,
    RootError: ExitCode.USAGE,
    ReaderError: ExitCode.USAGE,
    DaemonError: ExitCode.USAGE,
    InspectorError: ExitCode.USAGE,
}


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an error that ended a run: INTERNAL for anything unexpected (a bug)."""
    for cls in type(exc).__mro__:
        code = _EXIT_CODES.get(cls)
        if code is not None:
            return code
    return ExitCode.INTERNAL


def error(msg: str) -> None:
    """Print one diagnostic line to stderr."""
    print(f"{PROG}: error: {clean(msg)}", file=sys.stderr)


def warn(msg: str) -> None:
    """Print one warning line to stderr."""
    print(f"{PROG}: warning: {clean(msg)}", file=sys.stderr)


__all__ = ["PROG", "ExitCode", "error", "exit_code_for", "warn"]
