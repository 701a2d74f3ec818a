"""Command line: parse arguments, run the pipeline, pick a presenter, map errors to exit codes.

stdout carries data only (the report); diagnostics go to stderr as
`docker-inspector: error: …` lines. Exit codes are documented in ExitCode and the README.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NoReturn

from inspector import __version__

# ExitCode, error and warn live in diagnostics (shared with the audit, which must not import
# this module); they are imported here by name, so `cli.ExitCode` etc. still work.
from inspector.diagnostics import PROG, ExitCode, error, exit_code_for, warn
from inspector.errors import RootError, UsageError
from inspector.options import DEFAULT_ROOT

if TYPE_CHECKING:
    from inspector.analysis.results import Report
    from inspector.options import Options
    from inspector.report.progress import ProgressBar


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


def _count(option: str, text: str) -> int:
    """A whole number >= 1, else a one-line usage error (exit 2) before any work."""
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"{option} {text}: not a whole number") from None
    if n < 1:
        raise UsageError(f"{option} {n}: must be at least 1")
    return n


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one `docker-inspector: error: …` line (exit 2) like every
    other usage error, instead of the whole usage block; --help is unchanged.

    Subparsers are made of the same class (add_subparsers' default), so theirs are too.
    """

    def error(self, message: str) -> NoReturn:
        raise _usage(self.prog.removeprefix(PROG).strip() or None, message)


def _usage(command: str | None, message: str) -> UsageError:
    """A usage error about `command` (None: the top level), pointing at its --help."""
    text = " ".join(message.split())  # argparse's messages are one line; make sure
    if command is None:
        return UsageError(f"{text} (see: {PROG} --help)")
    return UsageError(f"{command}: {text} (see: {PROG} {command} --help)")


def _size(option: str, text: str) -> int:
    """Bytes from a SIZE option, else a one-line usage error naming the option."""
    from inspector.units import parse_size

    try:
        return parse_size(text)
    except UsageError as e:
        raise UsageError(f"{option}: {e}") from None


def _add_root(p: argparse.ArgumentParser, top: bool = False) -> None:
    # Subcommands SUPPRESS the default so `--root X report` and `report --root X` both work.
    p.add_argument(
        "--root",
        metavar="PATH",
        default=None if top else argparse.SUPPRESS,
        help=f"Docker data root to inspect (default {DEFAULT_ROOT})",
    )
    p.add_argument(
        "--containerd-root",
        metavar="PATH",
        default=None if top else argparse.SUPPRESS,
        help="containerd root holding the image store (containerd store, Docker 29's "
        "default; default: <root>/containerd/daemon, else /var/lib/containerd when the "
        "containers use a snapshotter)",
    )
    p.add_argument(
        "--daemon-config",
        metavar="PATH",
        default=None if top else argparse.SUPPRESS,
        help="dockerd's config file, read as evidence of which data the daemon uses "
        "(data-root, userns-remap, storage-driver; default /etc/docker/daemon.json when "
        "readable and about the root read)",
    )


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named on a command line, if any (before it is parsed)."""
    return next((a for a in argv if a in COMMANDS), None)


#: The subcommands, in --help order.
COMMANDS = ("report", "audit", "efficiency", "explain", "prune", "tui")


def build_parser(command: str | None = "audit") -> argparse.ArgumentParser:
    """The argument parser with every subcommand.

    The audit's options need its settings module (finding kinds, TOML): they are added only
    when `command` is the audit (the default: the full parser), so `--version` or `report`
    does not pay for importing them.
    """
    parser = _Parser(
        prog=PROG,
        description="Explain every byte of a Docker data root, offline and read-only.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_root(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")

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
    rep.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="text report: show only the images, containers and volumes that match, as docker's "
        "--filter: dangling=true|false, label=KEY[=VALUE], reference=PATTERN, status=STATE, "
        "name=REGEX, driver=NAME, before=|since=IMAGE|CONTAINER (repeatable)",
    )
    rep.add_argument(
        "--sort",
        default="size",
        metavar="KEY",
        help="text report: order of the images, containers and volumes: size (default), disk, "
        "name, created",
    )
    rep.add_argument(
        "--large-rw",
        metavar="SIZE",
        default="1GiB",
        help="advise a volume for containers holding more than SIZE in their writable layer "
        "(large_writable_layer; default 1GiB)",
    )
    rep.add_argument(
        "--top",
        default="10",
        metavar="N",
        help="largest consumers to list (text; N >= 1, default 10)",
    )

    aud = sub.add_parser(
        "audit",
        help="check thresholds for cron/monitoring (exit 1 when crossed)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_root(aud)
    if command == "audit":
        from inspector.audit.args import add_arguments

        add_arguments(aud)

    eff = sub.add_parser(
        "efficiency",
        help="dive's efficiency score, wasted bytes and inefficient files of every image",
        epilog=EFFICIENCY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_efficiency_arguments(eff)

    exp = sub.add_parser(
        "explain",
        help="what a path, ID or name under the root is, who uses it, and what removing it frees",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_root(exp)
    exp.add_argument(
        "what",
        metavar="PATH|ID|NAME",
        help="a path under the root, or an ID or ID prefix (image, layer chain ID or diff ID, "
        "overlay2 dir, container, build cache record), an l/ short link, a container, volume "
        "or image name",
    )
    exp.add_argument("--format", choices=["text", "json"], default="text")
    _add_walk_options(exp)

    pru = sub.add_parser(
        "prune",
        help="preview what docker's prune commands would remove and free (removes nothing)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_root(pru)
    pru.add_argument("--format", choices=["text", "json"], default="text")
    _add_walk_options(pru)

    tui = sub.add_parser("tui", help="explore the data root interactively (terminal UI)")
    _add_root(tui)
    return parser


def _add_walk_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-sizes",
        action="store_true",
        help="skip walking directories: recorded layer sizes only (bytes on disk unknown)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the size cache of immutable image layers",
    )


def _walk_options(ns: argparse.Namespace) -> Options:
    from inspector.options import Options

    return Options(
        sizes=not ns.no_sizes,
        cache=not ns.no_cache,
        containerd_root=getattr(ns, "containerd_root", None),
        daemon_config=daemon_config(ns),
    )


@contextlib.contextmanager
def progress_bar() -> Iterator[ProgressBar | None]:
    """A progress bar on stderr while the trees are walked, when stderr is a terminal."""
    from inspector.report.progress import for_stderr

    bar = for_stderr()
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def run_explain(ns: argparse.Namespace, root: str) -> int:
    """`explain`: what one path, ID or name is (UsageError when nothing or several match)."""
    from inspector import pipeline
    from inspector.report import explain as presenter

    with progress_bar() as bar:
        result = pipeline.explain(root, ns.what, _walk_options(ns), bar)
    text = presenter.render_json(result) if ns.format == "json" else presenter.render_text(result)
    _write(text, None, (root, os.path.abspath(root)))
    return ExitCode.OK


def run_prune(ns: argparse.Namespace, root: str) -> int:
    """`prune`: what each docker prune command would remove and free; removes nothing."""
    from inspector import pipeline
    from inspector.report import prune as presenter

    with progress_bar() as bar:
        report, preview = pipeline.prune_preview(root, _walk_options(ns), bar)
    if ns.format == "json":
        text = presenter.render_json(report, preview)
    else:
        text = presenter.render_text(report, preview)
    _write(text, None, (root, os.path.abspath(root)))
    warn_unreadable(report)
    return ExitCode.OK


EFFICIENCY_EPILOG = """\
Numbers as dive computes them (CI=true dive IMAGE --source docker), from each layer's
tar-split.json.gz: no docker save, no daemon. Thresholds are dive's CI rules and apply
only when given ("disabled" turns one off); sizes are read like dive reads them (20M and
20MB are 20,000,000 bytes, 20MiB is 20,971,520).

exit codes:
  0  no threshold crossed
  1  a threshold was crossed by at least one image
  2  usage error (an unknown image name included), unreadable or invalid data root
  3  internal error (a bug: please report it)
"""


def _add_efficiency_arguments(p: argparse.ArgumentParser) -> None:
    _add_root(p)
    p.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="tags, digests, IDs or ID prefixes (default: every image docker images lists)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--lowest-efficiency",
        metavar="RATIO",
        help="fail (exit 1) when an image's efficiency score is below RATIO (0-1, e.g. 0.9)",
    )
    p.add_argument(
        "--highest-wasted-bytes",
        metavar="SIZE",
        help="fail when an image wastes more than SIZE (e.g. 20M)",
    )
    p.add_argument(
        "--highest-user-wasted-percent",
        metavar="RATIO",
        help="fail when wasted bytes / bytes above the base layer exceed RATIO (0-1, e.g. 0.1)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the cache of per-layer results "
        "(kept in $XDG_CACHE_HOME/docker-inspector, never under the root)",
    )
    p.add_argument(
        "--top", default="20", metavar="N", help="inefficient files listed per image (text)"
    )


def run_efficiency(ns: argparse.Namespace, root: str) -> int:
    """`efficiency`: dive's numbers for every image, exit 1 when a threshold is crossed."""
    from inspector import pipeline
    from inspector.analysis import efficiency as eff

    def ratio(value: str | None, what: str) -> float | None:
        if value is None or value == "disabled":
            return None
        return eff.parse_ratio(value, what)

    wasted = ns.highest_wasted_bytes
    thresholds = eff.Thresholds(
        lowest_efficiency=ratio(ns.lowest_efficiency, "--lowest-efficiency"),
        highest_wasted_bytes=(
            None if wasted is None or wasted == "disabled" else eff.parse_dive_bytes(wasted)
        ),
        highest_user_wasted_percent=ratio(
            ns.highest_user_wasted_percent, "--highest-user-wasted-percent"
        ),
    )
    top = _count("--top", ns.top)
    opts = pipeline.Options(
        cache=not ns.no_cache,
        daemon_config=daemon_config(ns),
        containerd_root=getattr(ns, "containerd_root", None),
    )
    result = pipeline.efficiency(root, opts, ns.images, thresholds)
    from inspector.report import efficiency as presenter

    if ns.format == "json":
        text = presenter.render_json(result)
    else:
        text = presenter.render_text(result, top=top)
    _write(text, None, (root, os.path.abspath(root)))
    return ExitCode.THRESHOLD if result.failed else ExitCode.OK


def resolve_root(ns: argparse.Namespace) -> str:
    """The root to read; without --root, check /var/lib/docker and explain if unusable."""
    root: str | None = ns.root
    if root is not None:
        return root
    from inspector import trees

    # dockerd keeps its data where its config's data-root says, not in /var/lib/docker.
    default, why = trees.default_root(daemon_config(ns))
    named = f"{default} ({why})" if why else default
    if not os.path.isdir(default):
        found = trees.other_roots()
        hint = (
            "; found "
            + ", ".join(
                f"{p} ({'snap package' if p == trees.SNAP_ROOT else 'rootless Docker'})"
                for p in found
            )
            + ": point at one with --root PATH"
            if found
            else "; use --root PATH (rootless Docker: ~/.local/share/docker or "
            f"$XDG_DATA_HOME/docker; the snap package: {trees.SNAP_ROOT})"
        )
        raise RootError(
            f"{named} does not exist (no Docker here?){hint}, or --root sample_data/root "
            "for the bundled sample"
        )
    if not os.access(default, os.R_OK | os.X_OK):
        raise RootError(
            f"{named} is not readable by this user; run with sudo, "
            "or use --root on a readable copy (e.g. --root sample_data/root)"
        )
    return default


def daemon_config(ns: argparse.Namespace) -> str | None:
    """``--daemon-config``: the file given (UsageError when unreadable), else the default."""
    from inspector.options import DEFAULT_DAEMON_CONFIG

    given: str | None = getattr(ns, "daemon_config", None)
    if given is None:
        return DEFAULT_DAEMON_CONFIG
    if not os.path.isfile(given) or not os.access(given, os.R_OK):
        raise UsageError(f"--daemon-config {given}: not a readable file")
    return given


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

    if ns.full and ns.no_sizes:
        raise UsageError("--full walks every tree; it cannot be combined with --no-sizes")
    top = _count("--top", ns.top)
    from inspector.analysis import filters

    view = filters.parse(ns.filter, ns.sort)
    if ns.format == "json" and (ns.filter or ns.sort != "size"):
        raise UsageError("--filter and --sort shape the text report; the JSON has every object")
    opts = pipeline.Options(
        sizes=not ns.no_sizes,
        full=ns.full,
        cache=not ns.no_cache,
        large_log_bytes=_size("--large-log", ns.large_log),
        large_rw_bytes=_size("--large-rw", ns.large_rw),
        containerd_root=getattr(ns, "containerd_root", None),
        daemon_config=daemon_config(ns),
    )
    roots = (root, os.path.abspath(root))
    if ns.output is not None:
        _check_output_outside(ns.output, roots)
    with progress_bar() as bar:
        report = pipeline.run(root, opts, bar)
    if ns.format == "json":
        from inspector.report import json_report

        text = json_report.render(report)
    else:
        from inspector.report import text as text_report

        text = text_report.render(report, top=top, view=view)
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


def run_tui(root: str, config: str | None = None, containerd_root: str | None = None) -> int:
    """`tui`: the interactive app (`config`: the daemon config, default the usual file;
    `containerd_root`: ``--containerd-root``)."""
    from inspector.options import DEFAULT_DAEMON_CONFIG
    from inspector.tui import loader

    config = config or DEFAULT_DAEMON_CONFIG
    # Forked before Textual is imported: the root is read on one core while the app starts
    # on the other (see inspector.tui.loader).
    prefetch = loader.start(root, config, containerd_root)
    from inspector.tui.app import run

    return run(root, config, containerd_root, prefetch)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the docker-inspector command."""
    parser = build_parser(_command_in(sys.argv[1:] if argv is None else argv))
    try:
        ns, extra = parser.parse_known_args(argv)
        if extra:  # parse_args would blame the top parser; name the subcommand's help
            raise _usage(ns.command, f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # --help, --version
        return int(e.code) if isinstance(e.code, int) else ExitCode.USAGE
    except UsageError as e:
        error(str(e))
        return ExitCode.USAGE
    try:
        root = resolve_root(ns)
        config = daemon_config(ns)  # an unreadable --daemon-config is a usage error (exit 2)
        if ns.command == "report":
            return run_report(ns, root)
        if ns.command == "audit":
            from inspector.audit.run import run as run_audit

            return run_audit(ns, root)
        if ns.command == "efficiency":
            return run_efficiency(ns, root)
        if ns.command == "explain":
            return run_explain(ns, root)
        if ns.command == "prune":
            return run_prune(ns, root)
        if ns.command == "tui" or (ns.command is None and sys.stdout.isatty()):
            return run_tui(root, config, getattr(ns, "containerd_root", None))
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
