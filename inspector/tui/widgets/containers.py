"""The Containers tab: state, image, writable-layer and log sizes, volumes."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen

from inspector.analysis.results import ContainerRow
from inspector.tui.details import container_sections
from inspector.tui.rows import Index, Row, TableData, containers_table
from inspector.tui.widgets.views import TableView


class ContainersView(TableView):
    """Containers; the detail shows their dirs and mounts; `b` browses the writable layer."""

    BINDINGS = [Binding("b", "browse", "Browse", tooltip="Browse the writable layer's files")]

    def action_browse(self) -> None:
        """`b`: what fills the highlighted container's writable layer, largest first."""
        from inspector.tui.screens.browse import container_target, open_browser

        r = self.cursor.item if self.cursor is not None else None
        if isinstance(r, ContainerRow) and self.index is not None:
            open_browser(self.app, self.index, container_target(self.index, r.container.id))

    def build(self, ix: Index) -> TableData:
        return containers_table(ix)

    def detail(self, ix: Index, row: Row) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        r = row.item
        if not isinstance(r, ContainerRow):
            return None
        title = f"Container {ix.container_name(r.container.id)}"
        return DetailScreen(title, container_sections(ix, r.container.id))
