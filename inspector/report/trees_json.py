"""The JSON report's trees: every tree of Docker data found, which one the daemon uses, why."""

from __future__ import annotations

from typing import Any

from inspector.analysis import trees
from inspector.analysis.results import Report


def fields(report: Report) -> dict[str, Any]:
    """``given_root``, ``trees`` and ``daemon_config`` (plain data; escaped by the caller)."""
    inv = report.inventory
    out = []
    for row in trees.rows(inv, report.measurements):
        t = row.tree
        out.append(
            {
                "kind": t.kind.value,
                "name": t.name,
                "path": t.path,
                "live": t.live,
                "reported": row.reported,
                "evidence": t.evidence,
                "confidence": t.confidence,
                "holds": t.holds,
                "bytes": None if row.usage is None else row.usage.apparent,
                "disk_usage": None if row.usage is None else row.usage.disk,
                "parts": list(t.parts),
                "excluded": list(t.skip),
                "containers": list(t.containers),
            }
        )
    cfg = inv.root.daemon_config
    config = (
        None
        if cfg is None
        else {
            "path": cfg.path,
            "applies": cfg.applies,
            "why": cfg.why,
            "data_root": cfg.data_root,
            "userns_remap": cfg.userns_remap,
            "remap_root": cfg.remap_root,
            "storage_driver": cfg.storage_driver,
            "containerd_snapshotter": cfg.containerd_snapshotter,
        }
    )
    return {"given_root": inv.root.given, "trees": out, "daemon_config": config}


__all__ = ["fields"]
