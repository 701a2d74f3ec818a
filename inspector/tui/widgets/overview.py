"""The Overview tab: where the bytes of the root go, Docker's totals, notes, top findings."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from inspector.analysis import dockerdf
from inspector.analysis.results import Report
from inspector.tui.rows import SEVERITY_STYLE, Index
from inspector.tui.safe import Inert, line, size, t
from inspector.tui.widgets.trees import trees_view

BAR_WIDTH = 24
TOP_FINDINGS = 8
#: Below this width the bars are half as wide.
NARROW = 110


def bar(value: int, biggest: int, width: int = BAR_WIDTH) -> Inert:
    """A horizontal bar of `width` cells, filled in proportion to value / biggest."""
    filled = round(width * value / biggest) if biggest > 0 else 0
    if value > 0:
        filled = max(filled, 1)
    return line(("█" * filled, "green"), ("░" * (width - filled), "grey35"))


def header(report: Report, root_label: str) -> Inert:
    """The root, its driver and image store, and whether sizes are measured."""
    info = report.inventory.root
    state = (
        line("measured", style="green")
        if report.measured
        else line("recorded sizes only (measuring…)", style="yellow")
    )
    return line(
        ("Data root ", "bold"),
        t(root_label),
        "   driver ",
        t(info.storage_driver or "none", "bold"),
        "   image store ",
        t(info.image_store.value, "bold"),
        "   ",
        state,
    )


def notes(report: Report) -> Group | None:
    """RootInfo.notes (unsupported driver, containerd store, …) and unsupported roots."""
    info = report.inventory.root
    lines: list[Inert] = []
    if not info.supported:
        lines.append(
            line(
                "This root's images are stored where this tool cannot read them yet.", style="bold"
            )
        )
    # Paths under the root are shown relative to it, as everywhere in the app.
    inside = info.path.rstrip("/") + "/"
    lines += [line(("! ", "bold"), t(n.replace(inside, ""))) for n in info.notes]
    # Every tree found (remapped roots, other drivers' data) and which one the daemon uses.
    found = trees_view(report)
    if info.other_drivers and found is None:
        lines.append(t("Other storage driver dirs hold data: " + ", ".join(info.other_drivers)))
    if found is not None:
        return Group(*lines, found)
    return Group(*lines) if lines else None


def categories(report: Report, bar_width: int = BAR_WIDTH) -> Group:
    """Bytes under the root by category, largest first, with bars; empty ones on one line."""
    tot = report.totals
    title = line("Disk usage by category", style="bold underline")
    if not report.measured:
        pending = line(
            "Not measured yet: the categories fill in when measuring ends.", style="yellow"
        )
        return Group(title, pending)
    # Fixed columns, and the description takes what is left (cut with … when narrow).
    table = Table(box=None, padding=(0, 1), show_edge=False, expand=True)
    table.add_column("CATEGORY", no_wrap=True, min_width=16)
    table.add_column("ON DISK", justify="right", no_wrap=True, min_width=9)
    table.add_column("APPARENT", justify="right", no_wrap=True, min_width=9)
    table.add_column("", no_wrap=True, width=bar_width)
    table.add_column("WHAT", overflow="ellipsis", no_wrap=True, ratio=1)
    cats = sorted(tot.categories, key=lambda c: (-c.disk, -c.apparent, c.name))
    biggest = max((c.disk for c in cats), default=0)
    empty = [c.name for c in cats if not c.disk and not c.apparent]
    for c in cats:
        if c.disk or c.apparent:
            table.add_row(
                t(c.name),
                t(size(c.disk)),
                t(size(c.apparent)),
                bar(c.disk, biggest, bar_width),
                t(c.description),
            )
    table.add_row(line("total", style="bold"), line(size(tot.disk_total), style="bold"), "", "", "")
    parts: list[Inert | Table] = [title, table]
    if empty:
        parts.append(line("  nothing in: " + ", ".join(sorted(empty)), style="dim"))
    return Group(*parts)


def docker_view(report: Report) -> Group:
    """What `docker system df` prints, cell for cell (unknown where not measured), and logs."""
    df = dockerdf.docker_df(report)
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column("TYPE", no_wrap=True)
    table.add_column("TOTAL", justify="right", no_wrap=True)
    table.add_column("ACTIVE", justify="right", no_wrap=True)
    table.add_column("SIZE", justify="right", no_wrap=True, min_width=9)
    table.add_column("RECLAIMABLE", justify="right", no_wrap=True)
    for _, typ, row in df.rows():
        total, active, used, reclaim = dockerdf.cells(row)
        table.add_row(t(typ), t(total), t(active), t(used), t(reclaim))
    logs = "unknown" if df.containers.total is None else dockerdf.human_size(report.totals.log_size)
    table.add_row("Logs", "", "", t(logs), "")
    title = line("Docker's view (system df)", style="bold underline")
    ctrd = report.totals.containerd
    if not ctrd:
        return Group(title, table)
    # The containerd store keeps each layer twice: its compressed blob, its unpacked snapshot.
    table.add_row("Content", "", "", t(dockerdf.human_size(ctrd.get("content_bytes", 0))), "")
    twice = line(
        "  layers stored twice: ",
        (dockerdf.human_size(ctrd.get("stored_twice_compressed_bytes", 0)), "bold"),
        " compressed + ",
        (dockerdf.human_size(ctrd.get("stored_twice_unpacked_bytes", 0)), "bold"),
        " unpacked",
        style="dim",
    )
    return Group(title, table, twice)


def top_findings(ix: Index, limit: int = TOP_FINDINGS) -> Group:
    """What findings can free, and the largest of them (the Findings tab has them all)."""
    report = ix.report
    title = line("Top findings", style="bold underline")
    if not report.findings:
        return Group(title, line("None: nothing to clean up.", style="green"))
    reclaim = line(
        (size(report.totals.reclaimable), "bold green"),
        f" reclaimable · {len(report.findings)} finding(s) · 6: all",
    )
    table = Table(box=None, padding=(0, 1), show_edge=False, show_header=False, expand=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
    ranked = sorted(enumerate(report.findings), key=lambda x: (-x[1].bytes, x[0]))
    for _, f in ranked[:limit]:
        table.add_row(
            t(f.severity.value, SEVERITY_STYLE.get(f.severity, "")),
            t(size(f.bytes if f.bytes_known else None)),
            line(t(f.kind.value, "bold"), " ", t(ix.rel(f.path))),
        )
    return Group(title, reclaim, table)


class Overview(VerticalScroll):
    """Everything on one page; refreshed with each new report."""

    DEFAULT_CLASSES = "overview"

    def __init__(self, root_label: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.root_label = root_label
        self.index: Index | None = None

    def compose(self) -> ComposeResult:
        yield Static(line("Reading the data root…"), id="ov-header")
        yield Static(line(), id="ov-notes", classes="notes")
        yield Static(line(), id="ov-categories", classes="block")
        with Horizontal(classes="block ov-bottom"):
            yield Static(line(), id="ov-docker")
            yield Static(line(), id="ov-findings")

    def show_glance(self, counts: str) -> None:
        """Before the first report: what the root's listings hold (see pipeline.glance)."""
        if self.index is None:
            self.query_one("#ov-header", Static).update(
                line(("Data root ", "bold"), t(self.root_label), "   found ", counts, ", reading…")
            )

    def show(self, ix: Index) -> None:
        """Render a report."""
        self.index = ix
        report = ix.report
        self.query_one("#ov-header", Static).update(header(report, self.root_label))
        note = notes(report)
        pane = self.query_one("#ov-notes", Static)
        pane.display = note is not None
        pane.update(note if note is not None else line())
        narrow = 0 < self.size.width < NARROW
        bar_width = BAR_WIDTH // 2 if narrow else BAR_WIDTH
        self.query_one("#ov-categories", Static).update(categories(report, bar_width))
        self.query_one("#ov-docker", Static).update(docker_view(report))
        self.query_one("#ov-findings", Static).update(top_findings(ix))

    def on_resize(self, event: events.Resize) -> None:
        if self.index is not None:
            self.show(self.index)
