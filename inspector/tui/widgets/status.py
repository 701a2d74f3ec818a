"""The status line: what is loading (with a progress bar), then a one-line summary."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from inspector.analysis.results import Report
from inspector.inventory import Glance
from inspector.tui.safe import Inert, line, size, t


def summary(report: Report, root_label: str) -> Inert:
    """Counts and the total, for the status line."""
    tot = report.totals
    what = "on disk" if report.measured else "recorded"
    total = tot.disk_total if report.measured else tot.docker_images_size
    return line(
        t(root_label, "bold"),
        f"  ·  {len(report.images)} images · {len(report.layers)} layers · "
        f"{len(report.containers)} containers · {len(report.volumes)} volumes · "
        f"{len(report.findings)} findings  ·  {size(total)} {what}",
    )


def glance_text(glance: Glance) -> str:
    """What the root's listings hold, counted (only numbers: nothing to escape)."""
    parts = [
        f"{n:,} {what}"
        for n, what in (
            (glance.images, "images"),
            (glance.layers, "layers"),
            (glance.containers, "containers"),
            (glance.volumes, "volumes"),
        )
        if n is not None
    ]
    return " · ".join(parts) if parts else "nothing listed"


class StatusBar(Horizontal):
    """Loading progress, or the summary of the current report."""

    DEFAULT_CLASSES = "status"

    def compose(self) -> ComposeResult:
        yield Static(line("Reading metadata…"), id="status-text")
        yield ProgressBar(total=None, show_eta=False, id="status-progress")

    def busy(self, message: str, done: int | None = None, total: int | None = None) -> None:
        """Show a stage; with numbers, a determinate progress bar."""
        self.add_class("busy")
        self.query_one("#status-text", Static).update(line(message))
        bar = self.query_one(ProgressBar)
        if total:
            bar.update(total=total, progress=done or 0)
        else:
            bar.update(total=None)

    def done(self, text: Inert) -> None:
        """Hide the progress bar and show a summary."""
        self.remove_class("busy")
        self.query_one("#status-text", Static).update(text)

    def failed(self, message: str) -> None:
        """Loading stopped with an error (`message` is escaped here)."""
        self.remove_class("busy")
        self.query_one("#status-text", Static).update(line(message, style="bold red"))
