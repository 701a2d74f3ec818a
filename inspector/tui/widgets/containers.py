"""The Containers tab: state, image, writable-layer and log sizes, volumes."""

from __future__ import annotations

from textual.screen import Screen

from inspector.tui.details import container_sections
from inspector.tui.rows import Index, TableData, containers_table
from inspector.tui.widgets.views import TableView


class ContainersView(TableView):
    """Containers; the detail shows their dirs and mounts."""

    def build(self, ix: Index) -> TableData:
        return containers_table(ix)

    def detail(self, ix: Index, key: str) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        if key not in ix.containers:
            return None
        title = f"Container {ix.container_name(key)}"
        return DetailScreen(title, container_sections(ix, key))
