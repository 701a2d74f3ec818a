"""The audit's checks: growth since the previous run, and every threshold evaluated.

Pure functions over a Report, the findings and the numbers measured beside it; the run
(inspector.audit.run) gathers those, and the presenters (inspector.report.audit_text,
audit_json, prometheus) show the Checks these return.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from inspector.analysis.dockerdf import docker_df, human_size
from inspector.analysis.results import (
    ORPHAN_KINDS,
    Check,
    Finding,
    FsUsage,
    Growth,
    Kind,
    ObjectGrowth,
    Offender,
    Report,
    counted,
)
from inspector.audit.settings import AuditSettings
from inspector.audit.state import Snapshot

#: Offenders named per crossed threshold.
TOP = 5


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


def _df_build_cache(report: Report) -> str:
    """What `docker system df` says of the build cache (the same cells as the report's)."""
    row = docker_df(report).build_cache
    if row.size is None or row.reclaimable is None:
        return "docker system df: build cache size unknown"
    return (
        f"docker system df counts {row.size} bytes ({human_size(row.size)}), "
        f"{row.reclaimable} reclaimable"
    )


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
    tracked: bool = True,
) -> list[Check]:
    """Every check, configured or not, in a fixed order (`tracked`: state is kept)."""
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
    # Trees the daemon does not use count too: it will never free them either.
    orphans = [f for f in counted(findings, root) if f.kind in ORPHAN_KINDS]
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
            _df_build_cache(report),
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
            (
                "skipped: no state kept (give --max-growth or --state-dir)"
                if not tracked
                else "no previous run"
                if grown is None
                else f"over {grown.interval:.0f} s"
            ),
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
