"""One audit run: settings, lock, scan, daemon comparison, growth, checks, outputs, exit code.

The order matters: the root and the output paths are checked before anything is created (a
mistyped --root must not leave a state dir); the lock is held from before the scan until the
new state is written; the Prometheus file is written before the state, and both before
anything is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from inspector.analysis.results import AuditResult, FsUsage, Kind, Mismatch
from inspector.audit.checks import evaluate, growth
from inspector.audit.settings import AuditSettings, resolve
from inspector.audit.state import (
    STATE_HINT,
    default_state_dir,
    load_state,
    open_state_dir,
    root_key,
    save_state,
    snapshot,
    state_lock,
)
from inspector.diagnostics import ExitCode, warn
from inspector.errors import RootError, UsageError
from inspector.options import DEFAULT_DAEMON_CONFIG
from inspector.paths import inside

_PROM_HINT = "; write it elsewhere (e.g. node_exporter's textfile directory)"


def filesystem_usage(path: str) -> FsUsage | None:
    """statvfs of the filesystem holding `path`; None if it cannot be asked."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    size = st.f_blocks * st.f_frsize
    return FsUsage(size, size - st.f_bfree * st.f_frsize, st.f_bavail * st.f_frsize)


def keeps_state(s: AuditSettings) -> bool:
    """Whether this run keeps state between runs: only when growth is asked for.

    --max-growth needs the previous run; an explicit --state-dir (or config state_dir) asks
    for growth to be tracked. Otherwise nothing is created, no lock is taken (there is no
    state file to protect) and growth is reported as not tracked.
    """
    return s.max_growth is not None or s.state_dir is not None


def _paths(s: AuditSettings, root: str) -> tuple[str | None, str | None]:
    """The state dir (None: no state kept) and Prometheus file, checked before anything runs."""
    state_dir = os.path.abspath(s.state_dir or default_state_dir()) if keeps_state(s) else None
    if state_dir is not None and inside(state_dir, root):
        raise UsageError(f"--state-dir {state_dir} is inside the data root {root}{STATE_HINT}")
    prom = os.path.abspath(s.prometheus) if s.prometheus else None
    if prom is not None:
        parent = os.path.dirname(prom)
        if inside(os.path.join(os.path.realpath(parent), os.path.basename(prom)), root):
            raise UsageError(f"--prometheus {prom} is inside the data root {root}{_PROM_HINT}")
        if not os.path.isdir(parent):
            raise UsageError(f"--prometheus {prom}: directory {parent} does not exist")
    return state_dir, prom


def run(ns: argparse.Namespace, root: str) -> int:
    """Run the audit; returns the exit code (0 none crossed, 1 crossed)."""
    settings = resolve(ns)
    root_abs = os.path.abspath(root)
    if not os.path.isdir(root_abs):
        # Checked before anything is created: a mistyped --root must not leave a state dir.
        raise RootError(f"{root_abs}: no such directory")
    state_dir, prom = _paths(settings, root_abs)
    if Kind.DAEMON_MISMATCH in settings.fail_on and not settings.compare_daemon:
        warn("--fail-on daemon_mismatch has no effect without --compare-daemon")
    if state_dir is None:
        return _run_locked(ns, settings, root_abs, None, None, prom)
    state_fd = open_state_dir(state_dir, root_abs)
    try:
        return _run_locked(ns, settings, root_abs, state_dir, state_fd, prom)
    finally:
        os.close(state_fd)


def _run_locked(
    ns: argparse.Namespace,
    settings: AuditSettings,
    root_abs: str,
    state_dir: str | None,
    state_fd: int | None,
    prom: str | None,
) -> int:
    """The run proper, in the checked state dir open as `state_fd` (None: no state kept)."""
    # Imported here, not at the top: inspector.cli imports this package for its options on
    # every command, and a `report` needs none of the scan, the daemon or the presenters.
    from inspector import pipeline

    key = root_key(root_abs)
    lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if state_dir is not None:
        lock = state_lock(os.path.join(state_dir, key + ".lock"), dir_fd=state_fd)
    with lock:
        client = None
        if settings.compare_daemon:
            from inspector import daemon

            client = daemon.connect(settings.docker_host)
        try:
            started = time.monotonic()
            # The scan: the same pipeline as `report`; the log threshold is the audit's.
            opts = pipeline.Options(
                large_log_bytes=settings.max_log_size or pipeline.DEFAULT_LARGE_LOG,
                # Evidence of which tree the daemon uses (checked readable by the CLI).
                daemon_config=getattr(ns, "daemon_config", None) or DEFAULT_DAEMON_CONFIG,
                containerd_root=getattr(ns, "containerd_root", None),
            )
            report = pipeline.run(root_abs, opts)
            inv = report.inventory
            scan_seconds = time.monotonic() - started
            view = None
            mismatches: list[Mismatch] = []
            notes: list[str] = []
            if client is not None:
                from inspector import daemon

                view = client.fetch()
                mismatches = daemon.compare(report, view)
                if view.root_dir and not inside(view.root_dir, inv.root.path):
                    notes.append(
                        f"the daemon's root is {view.root_dir}, not {inv.root.path}: "
                        "comparing a copy (or another root) with the daemon"
                    )
        finally:
            if client is not None:
                client.close()
        findings = list(report.findings)
        if mismatches:
            from inspector.daemon import finding

            findings += [finding(m) for m in mismatches]
        fs = filesystem_usage(inv.root.path)
        now = time.time()
        current = snapshot(report, now)
        previous = None
        if state_dir is not None:
            state_path = os.path.join(state_dir, key + ".json")
            previous = load_state(state_path, current.root, warn, dir_fd=state_fd)
        grown = growth(previous, current) if previous is not None else None
        tracked = state_dir is not None
        checks = evaluate(settings, report, findings, fs, grown, tracked=tracked)
        result = AuditResult(
            report=report,
            checks=tuple(checks),
            findings=tuple(findings),
            fs=fs,
            growth=grown,
            scan_seconds=scan_seconds,
            finished_at=now,
            mismatches=tuple(mismatches),
            daemon=view,
            notes=tuple(notes),
            growth_tracked=tracked,
        )
        if prom is not None:
            from inspector.report import prometheus

            try:
                prometheus.write(prom, result, [root_abs])
            except OSError as e:
                raise UsageError(f"cannot write --prometheus {prom}: {e.strerror or e}") from e
        if state_dir is not None and state_fd is not None:
            save_state(state_fd, state_dir, key, current, root_abs)

    if ns.json:
        from inspector.report import audit_json

        text = audit_json.render(result)
    else:
        from inspector.report import audit_text

        text = audit_text.render(result, verbose=ns.verbose)
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
    unreadable = sum(1 for f in findings if f.kind is Kind.UNREADABLE)
    if unreadable:
        warn(f"{unreadable} path(s) could not be read; numbers exclude them (see --json findings)")
    return ExitCode.THRESHOLD if result.crossed else ExitCode.OK
