"""The audit as one JSON document (`audit --json`): plain dicts with a schema_version.

Written with json_report.dumps, the one JSON writer, so a C1 control or a bidi override in
a hostile name is escaped here exactly as in the report.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from inspector import __version__
from inspector.analysis.dockerdf import docker_df
from inspector.analysis.results import AuditResult
from inspector.report.json_report import dumps, finding_dict, json_safe

#: Version of the audit's JSON document.
JSON_VERSION = 1


def iso_utc(t: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the second (the JSON's and the text's timestamps)."""
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def to_dict(r: AuditResult) -> dict[str, Any]:
    """The --json document."""
    t = r.report.totals
    g = r.growth
    growth_doc: dict[str, Any] | None = None
    if g is not None:
        growth_doc = {
            "previous_run": iso_utc(g.previous_time),
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
        "generated_at": iso_utc(r.finished_at),
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
        "docker_df": docker_df(r.report).as_dict(),
        "findings": [finding_dict(f) for f in r.findings],
        "growth": growth_doc,
        "growth_tracked": r.growth_tracked,
        "daemon": daemon_doc,
        "notes": list(r.notes),
    }
    return json_safe(doc)  # type: ignore[no-any-return]


def render(r: AuditResult) -> str:
    """The --json text (with a trailing newline)."""
    return dumps(to_dict(r))


__all__ = ["JSON_VERSION", "iso_utc", "render", "to_dict"]
