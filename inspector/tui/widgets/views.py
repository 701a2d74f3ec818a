"""Base class of the table views (one per tab): rows from an Index, a detail screen per row."""

from __future__ import annotations

from textual.screen import Screen

from inspector.tui.rows import Index, Row, TableData
from inspector.tui.widgets.report_table import ReportTable


class TableView(ReportTable):
    """A tab's table: subclasses say how to build rows and what Enter opens."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.index: Index | None = None

    def build(self, ix: Index) -> TableData:
        """The rows of this view."""
        raise NotImplementedError

    def detail(self, ix: Index, row: Row) -> Screen[None] | None:
        """The screen Enter opens for a row, from the object it shows (None: nothing)."""
        return None

    def show(self, ix: Index, data: TableData | None = None) -> None:
        """Show (or refresh with) a new report; `data` is this view's prebuilt rows."""
        self.index = ix
        self.set_data(data if data is not None else self.build(ix))
