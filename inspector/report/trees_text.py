"""The text report's "Data trees" section: every tree found, which one the daemon uses, why."""

from __future__ import annotations

import humanize

from inspector.analysis import trees
from inspector.analysis.results import Report
from inspector.model import TreeKind
from inspector.textsafe import clean


def size(n: int) -> str:
    """Decimal units like Docker's own output (as the rest of the text report)."""
    return str(humanize.naturalsize(n, format="%.1f"))


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers)] + [line(r) for r in rows]


def lines(report: Report) -> list[str]:
    """The section (no lines when there is one root and one driver, both in use)."""
    inv = report.inventory
    cfg = inv.root.daemon_config
    if not trees.interesting(inv) and not (cfg is not None and cfg.applies):
        return []
    out = ["", "Data trees (> the one this report describes)"]
    rows = []
    for row in trees.rows(inv, report.measurements):
        t = row.tree
        state = "live" if t.live else "inactive"
        if row.reported:
            on_disk = apparent = "(report)"
        elif row.usage is None:
            on_disk = apparent = "-"
        else:
            on_disk, apparent = size(row.usage.disk), size(row.usage.apparent)
        rows.append(
            [
                ">" if row.reported else "",
                state,
                t.kind.value,
                clean(t.path),
                on_disk,
                apparent,
                clean(t.holds),
            ]
        )
    out += _table(["", "STATE", "KIND", "TREE", "ON DISK", "APPARENT", "HOLDS"], rows, {4, 5})
    seen: set[tuple[TreeKind, str]] = set()
    for t in inv.root.trees:
        if (t.kind, t.evidence) in seen or not t.evidence:
            continue
        seen.add((t.kind, t.evidence))
        out.append(f"Evidence ({t.kind.value}, {t.confidence}): {clean(t.evidence)}")
    if cfg is not None:
        out.append(f"Daemon config {clean(cfg.path)}: {clean(cfg.why)}")
    return out


__all__ = ["lines"]
