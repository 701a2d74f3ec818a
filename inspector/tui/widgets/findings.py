"""The Findings tab: severity, kind, bytes, path; the highlighted one's evidence below."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from inspector.analysis.results import Finding
from inspector.tui.details import finding_sections, render_sections
from inspector.tui.rows import Index, Row, TableData, findings_table
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
        cursor = self.cursor
        self._show_detail(cursor.item if cursor is not None else None)

    def detail(self, ix: Index, row: Row) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        finding = row.item
        if not isinstance(finding, Finding):
            return None
        return DetailScreen(f"Finding {finding.kind.value}", finding_sections(ix, finding))

    def _show_detail(self, finding: object) -> None:
        pane = self.query_one(".finding-detail", Static)
        if not isinstance(finding, Finding):
            pane.update(line("No findings." if not self.shown else "No finding selected."))
            return
        sections = finding_sections(self.index, finding) if self.index else []
        pane.update(render_sections(sections[1:]))

    @on(ReportTable.Highlighted)
    def _highlighted(self, event: ReportTable.Highlighted) -> None:
        self._show_detail(event.item)
