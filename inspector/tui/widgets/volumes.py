"""The Volumes tab: name, anonymous, driver, size, links, containers."""

from __future__ import annotations

from textual.screen import Screen

from inspector.tui.details import volume_sections
from inspector.tui.rows import Index, TableData, volumes_table
from inspector.tui.widgets.views import TableView


class VolumesView(TableView):
    """Volumes and who mounts them."""

    def build(self, ix: Index) -> TableData:
        return volumes_table(ix)

    def detail(self, ix: Index, key: str) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        if key not in ix.volumes:
            return None
        return DetailScreen(f"Volume {key}", volume_sections(ix, key))
