"""The audit's command-line options (added to the `audit` subcommand by inspector.cli)."""

from __future__ import annotations

import argparse

from inspector.analysis.results import ORPHAN_KINDS
from inspector.audit.settings import KIND_NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Audit options. Every value defaults to None so that a config file can supply it."""
    th = p.add_argument_group(
        "thresholds (crossed when the value is greater than the limit)",
        "Sizes: 50G, 1.5GiB, 100MB, 4096 (bytes). Percentages: 85%.",
    )
    th.add_argument(
        "--max-disk-usage",
        metavar="PCT",
        help="use of the filesystem holding the root (like df's Use%%)",
    )
    th.add_argument("--max-root-size", metavar="SIZE", help="allocated bytes under the data root")
    th.add_argument(
        "--max-orphan-bytes",
        metavar="SIZE",
        help="bytes Docker will not free itself: "
        + ", ".join(sorted(k.value for k in ORPHAN_KINDS)),
    )
    th.add_argument("--max-log-size", metavar="SIZE", help="log bytes of any one container")
    th.add_argument(
        "--max-unused-volume-bytes",
        metavar="SIZE",
        help="bytes of volumes no container references",
    )
    th.add_argument(
        "--max-build-cache",
        metavar="SIZE",
        help="allocated bytes of BuildKit's snapshots and state (build_cache category)",
    )
    th.add_argument(
        "--max-growth",
        metavar="SIZE",
        help="growth of the allocated bytes under the root since the previous run",
    )
    th.add_argument(
        "--fail-on",
        metavar="KIND",
        action="append",
        help="fail when any finding of KIND exists (repeatable; replaces the config's list); "
        "kinds: " + ", ".join(KIND_NAMES),
    )
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print a JSON result (always)")
    out.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print every check and its value, and growth, even when nothing is crossed",
    )
    out.add_argument(
        "--prometheus",
        metavar="FILE",
        help="write metrics to FILE (node_exporter textfile format, replaced atomically)",
    )
    st = p.add_argument_group("state and configuration")
    st.add_argument(
        "--config",
        metavar="FILE",
        help='TOML file with the same settings (max_orphan_bytes = "10G", fail_on = [...]);'
        " options given here override it",
    )
    st.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the previous run's numbers and the lock live (default "
        "$XDG_STATE_HOME/docker-inspector or ~/.local/state/docker-inspector)",
    )
    dm = p.add_argument_group("daemon comparison")
    dm.add_argument(
        "--compare-daemon",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ask the running daemon (docker system df, inspect) and report every difference "
        "as a daemon_mismatch finding (crossed only with --fail-on daemon_mismatch)",
    )
    dm.add_argument(
        "--docker-host",
        metavar="URL",
        help="daemon address (default: DOCKER_HOST, else unix:///var/run/docker.sock)",
    )
