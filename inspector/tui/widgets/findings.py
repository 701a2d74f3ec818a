"""The Findings tab: severity, kind, bytes, path; the highlighted one's evidence below."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from inspector.tui.details import finding_sections, render_sections
from inspector.tui.rows import Index, TableData, findings_table
from inspector.tui.safe import line
from inspector.tui.widgets.report_table import ReportTable
from inspector.tui.widgets.views import TableView


class FindingsView(TableView):
    """Findings, with the evidence and the remedy of the highlighted one."""

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(line("No finding selected."), classes="finding-detail")

    def build(self, ix: Index) -> TableData:
        return findings_table(ix)

    def show(self, ix: Index, data: TableData | None = None) -> None:
        super().show(ix, data)
        self._show_detail(self.cursor_key)

    def detail(self, ix: Index, key: str) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        finding = ix.findings.get(key)
        if finding is None:
            return None
        return DetailScreen(f"Finding {finding.kind.value}", finding_sections(ix, finding))

    def _show_detail(self, key: str | None) -> None:
        pane = self.query_one(".finding-detail", Static)
        finding = self.index.findings.get(key) if self.index and key else None
        if finding is None:
            pane.update(line("No findings." if not self.shown else "No finding selected."))
            return
        sections = finding_sections(self.index, finding) if self.index else []
        pane.update(render_sections(sections[1:]))

    @on(ReportTable.Highlighted)
    def _highlighted(self, event: ReportTable.Highlighted) -> None:
        self._show_detail(event.key)
