"""Command line: parse arguments, run the pipeline, pick a presenter, map errors to exit codes.

stdout carries data only (the report); diagnostics go to stderr as
`docker-inspector: error: …` lines. Exit codes are documented in ExitCode and the README.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from inspector import __version__

# ExitCode, error and warn live in diagnostics (shared with the audit, which must not import
# this module); they are imported here by name, so `cli.ExitCode` etc. still work.
from inspector.diagnostics import PROG, ExitCode, error, exit_code_for, warn
from inspector.errors import RootError, UsageError
from inspector.root import DEFAULT_ROOT

if TYPE_CHECKING:
    from inspector.analysis.results import Report


EPILOG = """\
exit codes:
  0  success (audit: no threshold crossed)
  1  audit: a threshold was crossed or a --fail-on finding kind was found
  2  usage error, unreadable or invalid data root, unreachable daemon,
     another audit of the same root already running
  3  internal error (a bug: please report it)

docker-inspector never writes under the data root; it reads it offline.
Without --root it reads /var/lib/docker; try --root sample_data/root for the bundled sample.
"""


def _add_root(p: argparse.ArgumentParser, top: bool = False) -> None:
    # Subcommands SUPPRESS the default so `--root X report` and `report --root X` both work.
    p.add_argument(
        "--root",
        metavar="PATH",
        default=None if top else argparse.SUPPRESS,
        help=f"Docker data root to inspect (default {DEFAULT_ROOT})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Explain every byte of a Docker data root, offline and read-only.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_root(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="{report,audit,tui}")

    rep = sub.add_parser(
        "report",
        help="print a text or JSON report of the data root",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_root(rep)
    rep.add_argument("--format", choices=["text", "json"], default="text")
    rep.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the report to FILE instead of stdout (- is stdout)",
    )
    rep.add_argument(
        "--no-sizes",
        action="store_true",
        help="skip walking directories: recorded layer sizes only (fast)",
    )
    rep.add_argument(
        "--full",
        action="store_true",
        help="verify: walk every image layer too and report layers whose recorded size "
        "does not match their files (size_mismatch); slower",
    )
    rep.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the size cache of immutable image layers "
        "(kept in $XDG_CACHE_HOME/docker-inspector, never under the root)",
    )
    rep.add_argument(
        "--large-log",
        metavar="SIZE",
        default="100MiB",
        help="report container logs larger than SIZE (default 100MiB)",
    )
    rep.add_argument("--top", type=int, default=10, help="largest consumers to list (text)")

    aud = sub.add_parser(
        "audit",
        help="check thresholds for cron/monitoring (exit 1 when crossed)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_root(aud)
    from inspector import audit

    audit.add_arguments(aud)

    tui = sub.add_parser("tui", help="explore the data root interactively (terminal UI)")
    _add_root(tui)
    return parser


def resolve_root(ns: argparse.Namespace) -> str:
    """The root to read; without --root, check /var/lib/docker and explain if unusable."""
    root: str | None = ns.root
    if root is not None:
        return root
    if not os.path.isdir(DEFAULT_ROOT):
        raise RootError(
            f"{DEFAULT_ROOT} does not exist (no Docker here?); "
            "use --root PATH, e.g. --root sample_data/root for the bundled sample"
        )
    if not os.access(DEFAULT_ROOT, os.R_OK | os.X_OK):
        raise RootError(
            f"{DEFAULT_ROOT} is not readable by this user; run with sudo, "
            "or use --root on a readable copy (e.g. --root sample_data/root)"
        )
    return DEFAULT_ROOT


def _write(text: str, output: str | None, roots: Sequence[str]) -> None:
    if output is None or output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from inspector import outputs

    # The binding check: made now, on the directory as it is at write time (see outputs).
    try:
        outputs.write_file(
            output, text.encode("utf-8"), roots, label="--output", hint="; write it elsewhere"
        )
    except OSError as e:
        raise UsageError(f"cannot write --output {output}: {e.strerror or e}") from e


def run_report(ns: argparse.Namespace, root: str) -> int:
    """`report`: run the pipeline, render, print."""
    from inspector import pipeline
    from inspector.units import parse_size

    if ns.full and ns.no_sizes:
        raise UsageError("--full walks every tree; it cannot be combined with --no-sizes")
    opts = pipeline.Options(
        sizes=not ns.no_sizes,
        full=ns.full,
        cache=not ns.no_cache,
        large_log_bytes=parse_size(ns.large_log),
    )
    roots = (root, os.path.abspath(root))
    if ns.output is not None:
        _check_output_outside(ns.output, roots)
    report = pipeline.run(root, opts)
    if ns.format == "json":
        from inspector.report import json_report

        text = json_report.render(report)
    else:
        from inspector.report import text as text_report

        text = text_report.render(report, top=ns.top)
    _write(text, ns.output, roots)
    warn_unreadable(report)
    return ExitCode.OK


def warn_unreadable(report: Report) -> None:
    """One stderr warning naming what could not be read and what to do about it."""
    bad = [f for f in report.findings if f.kind.value == "unreadable"]
    if not bad:
        return
    shown = "; ".join(f"{f.path}: {f.detail}" for f in bad[:3])
    more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
    hint = ""
    if any("ermission denied" in f.detail for f in bad):
        hint = (
            "; run as root (sudo docker-inspector …) or inspect a copy this user can read "
            "(sudo cp -a, then chown -R)"
            if os.geteuid() != 0
            else ""
        )
    warn(
        f"{len(bad)} path(s) could not be read, so the numbers exclude them "
        f"(see the unreadable findings): {shown[:600]}{more}{hint}"
    )


def _check_output_outside(output: str, roots: Sequence[str]) -> None:
    """Refuse early, before a long scan, a --output that cannot take the report.

    Friendly only: the destination may change before the write, which checks again.
    """
    from inspector.paths import inside

    if output == "-":
        return
    if any(inside(output, r) for r in roots):
        raise UsageError(f"--output {output} is inside the data root; write it elsewhere")
    if os.path.isdir(output):
        raise UsageError(f"--output {output} is a directory; give a file name")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise UsageError(f"--output {output}: directory {parent} does not exist")


def run_tui(root: str) -> int:
    """`tui`: the interactive app."""
    from inspector.tui.app import run

    return run(root)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the docker-inspector command."""
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code) if isinstance(e.code, int) else ExitCode.USAGE
    try:
        root = resolve_root(ns)
        if ns.command == "report":
            return run_report(ns, root)
        if ns.command == "audit":
            from inspector import audit

            return audit.run(ns, root)
        if ns.command == "tui" or (ns.command is None and sys.stdout.isatty()):
            return run_tui(root)
        ns = parser.parse_args([*(argv or sys.argv[1:]), "report"]) if ns.command is None else ns
        return run_report(ns, root)
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error worth a traceback.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return ExitCode.OK
    except Exception as e:
        code = exit_code_for(e)
        if code is not ExitCode.INTERNAL:
            error(str(e))
            return code
        error(f"internal error: {type(e).__name__}: {e} (please report this)")
        if os.environ.get("DOCKER_INSPECTOR_DEBUG"):
            raise
        return ExitCode.INTERNAL
