"""`audit`: check thresholds for cron and monitoring; exit 1 when one is crossed.

One run: read the settings (config file, then options), take the per-root lock in the state
dir, scan the root offline, optionally ask the daemon and compare, compute growth since the
previous run, evaluate the checks, write the Prometheus textfile and the new state, print.

Output contract (cron mails whatever a job prints):

- nothing on stdout when no threshold is crossed (unless --verbose);
- one plain line per crossed threshold, with its numbers and top offenders;
- --json: one JSON document instead, always;
- diagnostics on stderr; exit 0 none crossed, 1 crossed, 2 usage/root/daemon/lock problem.

Nothing is ever written under the data root: the state dir and the Prometheus file are refused
there, and the lock lives in the state dir. Names are checked early (a friendly message before
the scan); the binding check is made when writing, on the opened directories
(inspector.outputs): the state dir is opened and checked once, and the lock and state file are
opened relative to that descriptor.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inspector import outputs
from inspector.analysis.results import ORPHAN_KINDS, Finding, Kind, Report
from inspector.config import KIND_NAMES, AuditSettings, resolve
from inspector.errors import InspectorError, RootError, UsageError
from inspector.paths import inside
from inspector.report.json_report import dumps as json_dumps
from inspector.report.json_report import json_safe
from inspector.textsafe import clean

if TYPE_CHECKING:
    from inspector.daemon import DaemonView, Mismatch

#: Version of the state file and of the audit's JSON document.
STATE_VERSION = 1
JSON_VERSION = 1
#: Offenders named per crossed threshold.
TOP = 5


class LockBusy(InspectorError):
    """Another audit of the same root holds the lock (exit 2)."""


# ---------------------------------------------------------------------------- arguments


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


# ---------------------------------------------------------------------------- paths, lock


def default_state_dir() -> str:
    """$XDG_STATE_HOME/docker-inspector, else ~/.local/state/docker-inspector."""
    xdg = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "docker-inspector")


def root_key(root: str) -> str:
    """Name stem of a root's state and lock files: a hash of its resolved absolute path."""
    raw = os.path.realpath(root).encode("utf-8", "surrogateescape")
    return "root-" + hashlib.sha256(raw).hexdigest()[:16]


@contextlib.contextmanager
def state_lock(path: str, dir_fd: int | None = None) -> Iterator[None]:
    """Hold an exclusive flock on `path` for the block; LockBusy if another process has it.

    flock is released by the kernel when the process dies, so a killed run never leaves a
    stale lock; the file itself is kept (removing it would race with the next run). With
    `dir_fd` (the checked state dir), the lock is its basename relative to that descriptor.
    """
    name = path if dir_fd is None else os.path.basename(path)
    try:
        # O_NOFOLLOW and no O_TRUNC: a symlink or a hard link planted at the lock's name
        # must never let the pid below land in someone else's file.
        fd = os.open(
            name,
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
            outputs.PRIVATE_MODE,
            dir_fd=dir_fd,
        )
    except OSError as e:
        why = "it is a symbolic link" if e.errno == errno.ELOOP else e.strerror
        raise UsageError(f"cannot open lock file {path}: {why}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise UsageError(f"cannot open lock file {path}: not a regular file with a single link")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UsageError(f"cannot lock {path}: {e.strerror}") from e
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                pid = int(os.pread(fd, 32, 0).decode().strip())
                holder = f" (pid {pid})"
            raise LockBusy(
                f"another audit is running{holder}: {path} is locked; try again later"
            ) from None
        # The pid helps whoever finds a run that seems stuck; the lock is the flock itself.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- measurements


@dataclass(frozen=True, slots=True)
class FsUsage:
    """The filesystem holding the root, as df shows it."""

    size: int
    used: int
    avail: int

    @property
    def percent(self) -> float:
        """df's Use%: used / (used + available to unprivileged users), unrounded."""
        denom = self.used + self.avail
        return self.used * 100.0 / denom if denom else 0.0


def filesystem_usage(path: str) -> FsUsage | None:
    """statvfs of the filesystem holding `path`; None if it cannot be asked."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    size = st.f_blocks * st.f_frsize
    return FsUsage(size, size - st.f_bfree * st.f_frsize, st.f_bavail * st.f_frsize)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The numbers a run keeps for the next one (the state file)."""

    root: str
    time: float
    disk_total: int
    categories: Mapping[str, tuple[int, int]]
    """Category → (apparent, disk)."""
    containers: Mapping[str, tuple[str, int]]
    """Container ID → (name, size_rw + log bytes)."""
    volumes: Mapping[str, int]
    """Volume name → bytes."""

    def to_json(self) -> dict[str, Any]:
        """The state file's document."""
        return {
            "version": STATE_VERSION,
            "root": self.root,
            "time": self.time,
            "disk_total": self.disk_total,
            "categories": {k: {"apparent": a, "disk": d} for k, (a, d) in self.categories.items()},
            "containers": {k: {"name": n, "bytes": b} for k, (n, b) in self.containers.items()},
            "volumes": dict(self.volumes),
        }

    @classmethod
    def from_json(cls, doc: Any) -> Snapshot:
        """Parse a state file's document; ValueError/KeyError/TypeError when malformed."""
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            raise ValueError("not a version-1 state file")

        def num(v: Any) -> int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError("expected an integer")
            return v

        t = doc["time"]
        if isinstance(t, bool) or not isinstance(t, int | float):
            raise TypeError("time must be a number")
        return cls(
            root=str(doc["root"]),
            time=float(t),
            disk_total=num(doc["disk_total"]),
            categories={
                str(k): (num(v["apparent"]), num(v["disk"])) for k, v in doc["categories"].items()
            },
            containers={
                str(k): (str(v["name"]), num(v["bytes"])) for k, v in doc["containers"].items()
            },
            volumes={str(k): num(v) for k, v in doc["volumes"].items()},
        )


def container_bytes(report: Report) -> dict[str, tuple[str, int]]:
    """Container ID → (name, writable-layer bytes + log bytes): what growth tracks."""
    return {
        r.container.id: (r.container.name, (r.size_rw or 0) + r.log_size) for r in report.containers
    }


def snapshot(report: Report, when: float) -> Snapshot:
    """This run's numbers."""
    t = report.totals
    return Snapshot(
        root=os.path.realpath(report.inventory.root.path),
        time=when,
        disk_total=t.disk_total,
        categories={c.name: (c.apparent, c.disk) for c in t.categories},
        containers=container_bytes(report),
        volumes={r.volume.name: r.size or 0 for r in report.volumes},
    )


def load_state(path: str, root: str, warn: Any, dir_fd: int | None = None) -> Snapshot | None:
    """The previous run's snapshot, or None (first run; unusable files are warned about).

    With `dir_fd` (the checked state dir), `path`'s basename is read relative to it.
    """
    name = path if dir_fd is None else os.path.basename(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as fh:
            doc = json.loads(fh.read())
        snap = Snapshot.from_json(doc)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        warn(f"ignoring state file {path} ({e}); growth starts again from this run")
        return None
    if snap.root != root:
        warn(f"state file {path} is for {snap.root}, not {root}; growth starts again")
        return None
    return snap


@dataclass(frozen=True, slots=True)
class ObjectGrowth:
    """Growth of one container or volume; `previous` None when it is new since then."""

    id: str
    name: str
    previous: int | None
    current: int

    @property
    def growth(self) -> int:
        """Bytes added since the previous run (negative: freed)."""
        return self.current - (self.previous or 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "name": self.name,
            "previous": self.previous,
            "current": self.current,
            "growth": self.growth,
        }


@dataclass(frozen=True, slots=True)
class Growth:
    """What changed since the previous run of the same root."""

    previous_time: float
    interval: float
    total_disk: int
    """Change of the allocated bytes under the root (what --max-growth compares)."""
    categories: Mapping[str, tuple[int, int]]
    """Category → (apparent growth, disk growth)."""
    containers: tuple[ObjectGrowth, ...]
    volumes: tuple[ObjectGrowth, ...]


def growth(prev: Snapshot, cur: Snapshot) -> Growth:
    """Differences between two snapshots (objects present now; new ones from 0)."""
    cats = {
        name: (a - prev.categories.get(name, (0, 0))[0], d - prev.categories.get(name, (0, 0))[1])
        for name, (a, d) in cur.categories.items()
    }
    conts = tuple(
        ObjectGrowth(cid, name, prev.containers[cid][1] if cid in prev.containers else None, b)
        for cid, (name, b) in sorted(cur.containers.items(), key=lambda kv: (kv[1][0], kv[0]))
    )
    vols = tuple(
        ObjectGrowth(name, name, prev.volumes.get(name), b)
        for name, b in sorted(cur.volumes.items())
    )
    return Growth(
        previous_time=prev.time,
        interval=cur.time - prev.time,
        total_disk=cur.disk_total - prev.disk_total,
        categories=cats,
        containers=conts,
        volumes=vols,
    )


# ---------------------------------------------------------------------------- checks


@dataclass(frozen=True, slots=True)
class Offender:
    """One thing that contributes to a check's value."""

    label: str
    """What it is, for people (may hold hostile text: clean() it before printing)."""
    value: int
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """One threshold or --fail-on kind, evaluated."""

    name: str
    """max_orphan_bytes, …, or fail_on:<kind>."""
    what: str
    unit: str
    """bytes | percent | findings."""
    value: int | float | None
    """None when it cannot be measured (no previous run for growth, no statvfs)."""
    limit: int | float | None
    """None when not configured (shown with --verbose only)."""
    offenders: tuple[Offender, ...] = ()
    extra: str = ""
    """More numbers for the line (e.g. the findings' bytes)."""

    @property
    def configured(self) -> bool:
        """Whether a limit was set for it."""
        return self.limit is not None

    @property
    def crossed(self) -> bool:
        """Value greater than the limit (for --fail-on: any finding)."""
        return self.limit is not None and self.value is not None and self.value > self.limit

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "description": self.what,
            "unit": self.unit,
            "value": self.value,
            "limit": self.limit,
            "configured": self.configured,
            "crossed": self.crossed,
            "offenders": [
                {"label": o.label, "value": o.value, "path": o.path} for o in self.offenders
            ],
        }


def _top(
    items: Sequence[Offender], limit: int | float | None = None, keep_zero: bool = False
) -> tuple[Offender, ...]:
    """The largest offenders; over `limit` only, when given and something is.

    Zero-valued items explain nothing and are dropped, except for --fail-on, where a
    finding with no bytes (a broken link) is still the offender.
    """
    ranked = sorted(items, key=lambda o: (-o.value, o.label, o.path or ""))
    if limit is not None:
        over = [o for o in ranked if o.value > limit]
        ranked = over or ranked
    return tuple(o for o in ranked if keep_zero or o.value > 0)[:TOP]


def _finding_label(f: Finding) -> str:
    """The kind, and the confidence when it is not certain (e.g. maybe BuildKit's dir)."""
    if f.confidence == "certain":
        return f.kind.value
    return f"{f.kind.value} ({f.confidence} confidence)"


def evaluate(
    s: AuditSettings,
    report: Report,
    findings: Sequence[Finding],
    fs: FsUsage | None,
    grown: Growth | None,
) -> list[Check]:
    """Every check, configured or not, in a fixed order."""
    t = report.totals
    root = report.inventory.root.path
    cats = sorted(t.categories, key=lambda c: -c.disk)
    cat_offenders = [Offender(f"category {c.name}", c.disk) for c in cats]
    checks: list[Check] = []

    checks.append(
        Check(
            "max_disk_usage",
            "use of the filesystem holding the root",
            "percent",
            None if fs is None else round(fs.percent, 2),
            s.max_disk_usage,
            _top(cat_offenders),
            "" if fs is None else f"{fs.used} of {fs.used + fs.avail} bytes",
        )
    )
    checks.append(
        Check(
            "max_root_size",
            "allocated bytes under the root",
            "bytes",
            t.disk_total,
            s.max_root_size,
            _top(cat_offenders),
        )
    )
    orphans = [f for f in findings if f.kind in ORPHAN_KINDS]
    checks.append(
        Check(
            "max_orphan_bytes",
            "bytes Docker will not free (" + ", ".join(sorted(ORPHAN_KINDS)) + ")",
            "bytes",
            sum(f.bytes for f in orphans),
            s.max_orphan_bytes,
            _top([Offender(_finding_label(f), f.bytes, f.path) for f in orphans]),
            f"{len(orphans)} finding(s)",
        )
    )
    logs = [
        Offender(
            f"container {r.container.name}",
            r.log_size,
            min((lf.path for lf in r.container.logs), default=r.container.dir),
        )
        for r in report.containers
    ]
    checks.append(
        Check(
            "max_log_size",
            "largest log of one container",
            "bytes",
            max((o.value for o in logs), default=0),
            s.max_log_size,
            _top(logs, s.max_log_size),
        )
    )
    unused = [f for f in findings if f.kind is Kind.UNUSED_VOLUME]
    checks.append(
        Check(
            "max_unused_volume_bytes",
            "bytes of volumes no container references",
            "bytes",
            sum(f.bytes for f in unused),
            s.max_unused_volume_bytes,
            _top([Offender(f"volume {f.object_id}", f.bytes, f.path) for f in unused]),
            f"{len(unused)} volume(s)",
        )
    )
    bc = next((c.disk for c in t.categories if c.name == "build_cache"), 0)
    checks.append(
        Check(
            "max_build_cache",
            "allocated bytes of BuildKit's build cache",
            "bytes",
            bc,
            s.max_build_cache,
            _top([Offender("build cache", bc, os.path.join(root, "buildkit"))]),
            f"docker system df counts {t.docker_build_cache_size} bytes",
        )
    )
    grow_offenders: list[Offender] = []
    if grown is not None:
        grow_offenders += [Offender(f"category {n}", d) for n, (_, d) in grown.categories.items()]
        grow_offenders += [Offender(f"container {o.name}", o.growth) for o in grown.containers]
        grow_offenders += [Offender(f"volume {o.name}", o.growth) for o in grown.volumes]
    checks.append(
        Check(
            "max_growth",
            "growth of the allocated bytes under the root since the previous run",
            "bytes",
            None if grown is None else grown.total_disk,
            s.max_growth,
            _top(grow_offenders),
            "no previous run" if grown is None else f"over {grown.interval:.0f} s",
        )
    )
    for kind in s.fail_on:
        found = [f for f in findings if f.kind is kind]
        checks.append(
            Check(
                f"fail_on:{kind.value}",
                f"findings of kind {kind.value}",
                "findings",
                len(found),
                0,
                _top([Offender(_finding_label(f), f.bytes, f.path) for f in found], keep_zero=True),
                f"{sum(f.bytes for f in found)} bytes",
            )
        )
    return checks


# ---------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class AuditResult:
    """Everything one run found: what the presenters (text, JSON, Prometheus) show."""

    report: Report
    settings: AuditSettings
    checks: tuple[Check, ...]
    findings: tuple[Finding, ...]
    """The report's findings plus daemon mismatches."""
    fs: FsUsage | None
    growth: Growth | None
    scan_seconds: float
    finished_at: float
    mismatches: tuple[Mismatch, ...] = ()
    daemon: DaemonView | None = None
    notes: tuple[str, ...] = ()

    @property
    def crossed(self) -> tuple[Check, ...]:
        """The checks that fail the audit."""
        return tuple(c for c in self.checks if c.crossed)


def _size(n: int | float | None) -> str:
    from inspector.report.text import size

    if n is None:
        return "-"
    return size(int(n))


def _signed(n: int) -> str:
    return ("+" if n >= 0 else "-") + _size(abs(n))


def _value(c: Check, v: int | float | None) -> str:
    if v is None:
        return "unknown"
    if c.unit == "percent":
        return f"{v:.1f}%"
    if c.unit == "findings":
        return f"{int(v)} finding(s)"
    if c.name == "max_growth":
        return f"{_signed(int(v))} ({int(v)} bytes)"
    return f"{_size(v)} ({int(v)} bytes)"


def _offender(c: Check, o: Offender) -> str:
    label = clean(o.label)
    where = f" {clean(o.path)}" if o.path else ""
    if c.unit == "findings":
        return f"{label}{where} ({_size(o.value)})"
    amount = _signed(o.value) if c.name == "max_growth" else _size(o.value)
    return f"{label}{where} {amount}"


def check_line(c: Check) -> str:
    """One plain line: name, value, limit, numbers, top offenders."""
    if c.unit == "findings":
        head = f"{c.name}: {_value(c, c.value)}"
    elif c.configured:
        rel = "over" if c.crossed else "within"
        head = f"{c.name}: {c.what} is {_value(c, c.value)}, {rel} the limit {_value(c, c.limit)}"
    else:
        head = f"{c.name}: {c.what} is {_value(c, c.value)} (no limit)"
    if c.extra:
        head += f" [{c.extra}]"
    if c.offenders:
        head += "; top: " + ", ".join(_offender(c, o) for o in c.offenders)
    return head


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def render_text(r: AuditResult, verbose: bool) -> str:
    """Crossed lines only; with `verbose`, every check, growth and the daemon summary."""
    if not verbose:
        return "".join(check_line(c) + "\n" for c in r.crossed)
    lines: list[str] = [f"audit of {clean(r.report.inventory.root.path)}"]
    for c in r.checks:
        status = "CROSSED" if c.crossed else ("ok" if c.configured else "-")
        lines.append(f"{status:8} {check_line(c)}")
    g = r.growth
    if g is None:
        lines.append("growth: no previous run recorded for this root (first run)")
    else:
        lines.append(
            f"growth: since {_when(g.previous_time)} ({g.interval:.0f} s): root "
            f"{_signed(g.total_disk)} ({g.total_disk} bytes) allocated"
        )
        for name, (a, d) in g.categories.items():
            lines.append(f"growth: category {name} {_signed(d)} on disk, {_signed(a)} apparent")
        for o in g.containers:
            new = " (new)" if o.previous is None else ""
            lines.append(
                f"growth: container {clean(o.name)} ({o.id[:12]}) {_signed(o.growth)} "
                f"({o.growth} bytes; now {o.current}){new}"
            )
        for o in g.volumes:
            new = " (new)" if o.previous is None else ""
            lines.append(
                f"growth: volume {clean(o.name)} {_signed(o.growth)} "
                f"({o.growth} bytes; now {o.current}){new}"
            )
    if r.daemon is not None:
        lines.append(
            f"daemon: {clean(r.daemon.host)} (Docker {clean(r.daemon.server_version)}, root "
            f"{clean(r.daemon.root_dir)}): {len(r.mismatches)} difference(s)"
        )
        for f in r.findings:
            if f.kind is Kind.DAEMON_MISMATCH:
                lines.append(f"daemon_mismatch: {clean(f.detail)}")
    for n in r.notes:
        lines.append(f"note: {clean(n)}")
    return "\n".join(lines) + "\n"


def to_dict(r: AuditResult) -> dict[str, Any]:
    """The --json document."""
    from inspector import __version__
    from inspector.report.json_report import finding_dict

    t = r.report.totals
    g = r.growth
    growth_doc: dict[str, Any] | None = None
    if g is not None:
        growth_doc = {
            "previous_run": _when(g.previous_time),
            "interval_seconds": round(g.interval, 3),
            "total_disk": g.total_disk,
            "categories": {n: {"bytes": a, "disk_usage": d} for n, (a, d) in g.categories.items()},
            "containers": [o.as_dict() for o in g.containers],
            "volumes": [o.as_dict() for o in g.volumes],
        }
    daemon_doc: dict[str, Any] | None = None
    if r.daemon is not None:
        daemon_doc = {
            "host": r.daemon.host,
            "version": r.daemon.server_version,
            "root_dir": r.daemon.root_dir,
            "driver": r.daemon.driver,
            "mismatches": [m.as_dict() for m in r.mismatches],
        }
    doc = {
        "schema_version": JSON_VERSION,
        "tool": {"name": "docker-inspector", "version": __version__},
        "root": r.report.inventory.root.path,
        "generated_at": _when(r.finished_at),
        "scan_duration_seconds": round(r.scan_seconds, 3),
        "ok": not r.crossed,
        "crossed": [c.name for c in r.crossed],
        "thresholds": {c.name: c.limit for c in r.checks if c.configured},
        "values": {c.name: c.value for c in r.checks},
        "checks": [c.as_dict() for c in r.checks],
        "filesystem": None
        if r.fs is None
        else {
            "size": r.fs.size,
            "used": r.fs.used,
            "available": r.fs.avail,
            "percent": round(r.fs.percent, 2),
        },
        "totals": {
            "disk_usage": t.disk_total,
            "images_size": t.docker_images_size,
            "containers_size": t.docker_containers_size,
            "volumes_size": t.docker_volumes_size,
            "build_cache_size": t.docker_build_cache_size,
            "log_size": t.log_size,
            "reclaimable": t.reclaimable,
            "categories": {
                c.name: {"bytes": c.apparent, "disk_usage": c.disk} for c in t.categories
            },
        },
        "findings": [finding_dict(f) for f in r.findings],
        "growth": growth_doc,
        "daemon": daemon_doc,
        "notes": list(r.notes),
    }
    return json_safe(doc)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- run


_STATE_HINT = "; docker-inspector never writes there: choose a directory outside it"
_PROM_HINT = "; write it elsewhere (e.g. node_exporter's textfile directory)"


def _paths(s: AuditSettings, root: str) -> tuple[str, str | None]:
    """The state dir and Prometheus file, checked against the root before anything runs."""
    state_dir = os.path.abspath(s.state_dir or default_state_dir())
    if inside(state_dir, root):
        raise UsageError(f"--state-dir {state_dir} is inside the data root {root}{_STATE_HINT}")
    prom = os.path.abspath(s.prometheus) if s.prometheus else None
    if prom is not None:
        parent = os.path.dirname(prom)
        if inside(os.path.join(os.path.realpath(parent), os.path.basename(prom)), root):
            raise UsageError(f"--prometheus {prom} is inside the data root {root}{_PROM_HINT}")
        if not os.path.isdir(parent):
            raise UsageError(f"--prometheus {prom}: directory {parent} does not exist")
    return state_dir, prom


def _make_state_dir(path: str, root: str) -> int:
    """Create (if needed), open and check the state dir; its descriptor."""
    try:
        return outputs.make_dirs(path, [root], label="--state-dir", hint=_STATE_HINT)
    except NotADirectoryError as e:
        raise UsageError(f"state dir {path} is not a directory") from e
    except OSError as e:
        raise UsageError(f"cannot create state dir {path}: {e.strerror}") from e


def run(ns: argparse.Namespace, root: str) -> int:
    """Run the audit; returns the exit code (0 none crossed, 1 crossed)."""
    from inspector.cli import warn

    settings = resolve(ns)
    root_abs = os.path.abspath(root)
    if not os.path.isdir(root_abs):
        # Checked before anything is created: a mistyped --root must not leave a state dir.
        raise RootError(f"{root_abs}: no such directory")
    state_dir, prom = _paths(settings, root_abs)
    if Kind.DAEMON_MISMATCH in settings.fail_on and not settings.compare_daemon:
        warn("--fail-on daemon_mismatch has no effect without --compare-daemon")
    state_fd = _make_state_dir(state_dir, root_abs)
    try:
        return _run_locked(ns, settings, root_abs, state_dir, state_fd, prom)
    finally:
        os.close(state_fd)


def _run_locked(
    ns: argparse.Namespace,
    settings: AuditSettings,
    root_abs: str,
    state_dir: str,
    state_fd: int,
    prom: str | None,
) -> int:
    """The run proper, in the checked state dir open as `state_fd`."""
    from inspector import inventory
    from inspector.analysis import Options, analyze
    from inspector.analysis.findings import DEFAULT_LARGE_LOG
    from inspector.cli import ExitCode, warn

    key = root_key(root_abs)
    with state_lock(os.path.join(state_dir, key + ".lock"), dir_fd=state_fd):
        client = None
        if settings.compare_daemon:
            from inspector import daemon

            client = daemon.connect(settings.docker_host)
        try:
            started = time.monotonic()
            inv = inventory.build(root_abs)
            opts = Options(large_log_bytes=settings.max_log_size or DEFAULT_LARGE_LOG)
            report = analyze(inv, opts)
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
        state_path = os.path.join(state_dir, key + ".json")
        previous = load_state(state_path, current.root, warn, dir_fd=state_fd)
        grown = growth(previous, current) if previous is not None else None
        checks = evaluate(settings, report, findings, fs, grown)
        result = AuditResult(
            report=report,
            settings=settings,
            checks=tuple(checks),
            findings=tuple(findings),
            fs=fs,
            growth=grown,
            scan_seconds=scan_seconds,
            finished_at=now,
            mismatches=tuple(mismatches),
            daemon=view,
            notes=tuple(notes),
        )
        if prom is not None:
            from inspector.report import prometheus

            try:
                prometheus.write(prom, result, [root_abs])
            except OSError as e:
                raise UsageError(f"cannot write --prometheus {prom}: {e.strerror or e}") from e
        try:
            data = json.dumps(current.to_json(), indent=1).encode("utf-8", "surrogateescape")
            # 0600: the state names containers and volumes; it is nobody else's business.
            outputs.write_at(
                state_fd,
                key + ".json",
                data,
                [root_abs],
                label="--state-dir",
                shown=state_dir,
                mode=outputs.PRIVATE_MODE,
                hint=_STATE_HINT,
            )
        except OSError as e:
            raise UsageError(f"cannot write state file {state_path}: {e.strerror}") from e

    text = json_dumps(to_dict(result)) if ns.json else render_text(result, ns.verbose)
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
    unreadable = sum(1 for f in findings if f.kind is Kind.UNREADABLE)
    if unreadable:
        warn(f"{unreadable} path(s) could not be read; numbers exclude them (see --json findings)")
    return ExitCode.THRESHOLD if result.crossed else ExitCode.OK


__all__ = [
    "AuditResult",
    "Check",
    "Growth",
    "LockBusy",
    "ObjectGrowth",
    "add_arguments",
    "default_state_dir",
    "evaluate",
    "run",
    "to_dict",
]
