"""`audit`: thresholds, exit codes, Prometheus textfile (placeholder until the audit lands)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Audit options."""


def run(ns: argparse.Namespace, root: str) -> int:
    """Run the audit; returns the exit code."""
    from inspector.cli import ExitCode, error

    error("audit is not implemented yet")
    return ExitCode.USAGE
