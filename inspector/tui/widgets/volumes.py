"""The Volumes tab: name, anonymous, driver, size, links, containers."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen

from inspector.analysis.results import VolumeRow
from inspector.tui.details import volume_sections
from inspector.tui.rows import Index, Row, TableData, volumes_table
from inspector.tui.widgets.views import TableView


class VolumesView(TableView):
    """Volumes and who mounts them; `b` browses a volume's files."""

    BINDINGS = [Binding("b", "browse", "Browse", tooltip="Browse the volume's files")]

    def action_browse(self) -> None:
        """`b`: the file browser on the highlighted volume's _data."""
        from inspector.tui.screens.browse import open_browser, volume_target

        r = self.cursor.item if self.cursor is not None else None
        if isinstance(r, VolumeRow) and self.index is not None:
            open_browser(self.app, self.index, volume_target(self.index, r.volume.name))

    def build(self, ix: Index) -> TableData:
        return volumes_table(ix)

    def detail(self, ix: Index, row: Row) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        r = row.item
        if not isinstance(r, VolumeRow):
            return None
        return DetailScreen(f"Volume {r.volume.name}", volume_sections(ix, r.volume.name))
