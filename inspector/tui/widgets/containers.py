"""The Containers tab: state, image, writable-layer and log sizes, volumes."""

from __future__ import annotations

from textual.screen import Screen

from inspector.analysis.results import ContainerRow
from inspector.tui.details import container_sections
from inspector.tui.rows import Index, Row, TableData, containers_table
from inspector.tui.widgets.views import TableView


class ContainersView(TableView):
    """Containers; the detail shows their dirs and mounts."""

    def build(self, ix: Index) -> TableData:
        return containers_table(ix)

    def detail(self, ix: Index, row: Row) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        r = row.item
        if not isinstance(r, ContainerRow):
            return None
        title = f"Container {ix.container_name(r.container.id)}"
        return DetailScreen(title, container_sections(ix, r.container.id))
