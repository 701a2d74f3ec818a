"""The Overview's "Data trees" block: every tree found, which one the daemon uses, and why."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from inspector.analysis import trees
from inspector.analysis.results import Report
from inspector.model import TreeKind
from inspector.tui.safe import Inert, line, size, t


def trees_view(report: Report) -> Group | None:
    """The block (None when there is one root and one driver, both in use)."""
    inv = report.inventory
    cfg = inv.root.daemon_config
    if not trees.interesting(inv) and not (cfg is not None and cfg.applies):
        return None
    table = Table(box=None, padding=(0, 1), show_edge=False, expand=True)
    table.add_column("", no_wrap=True, width=1)
    table.add_column("STATE", no_wrap=True)
    table.add_column("KIND", no_wrap=True)
    table.add_column("TREE", overflow="ellipsis", no_wrap=True, ratio=1)
    table.add_column("ON DISK", justify="right", no_wrap=True, min_width=9)
    for row in trees.rows(inv, report.measurements):
        tr = row.tree
        state = t("live", "bold green") if tr.live else t("inactive", "bold yellow")
        if row.reported:
            held = t("this report")
        else:
            held = t(size(row.usage.disk if row.usage is not None else None))
        table.add_row(t(">" if row.reported else ""), state, t(tr.kind.value), t(tr.path), held)
    evidence: list[Inert] = []
    seen: set[tuple[TreeKind, str]] = set()
    for tr in inv.root.trees:
        if not tr.evidence or (tr.kind, tr.evidence) in seen:
            continue
        seen.add((tr.kind, tr.evidence))
        evidence.append(line((f"{tr.kind.value} ({tr.confidence}): ", "bold"), t(tr.evidence)))
    if cfg is not None:
        evidence.append(line(("daemon config: ", "bold"), t(f"{cfg.path}: {cfg.why}")))
    title = line("Data trees (> the one shown here)", style="bold underline")
    return Group(title, table, *evidence)


__all__ = ["trees_view"]
