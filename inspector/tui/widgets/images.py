"""The Images tab: every image with Docker's sizes; Enter drills into its layers."""

from __future__ import annotations

from textual.screen import Screen

from inspector.analysis.results import ImageRow
from inspector.tui.rows import Index, Row, TableData, images_table
from inspector.tui.widgets.views import TableView


class ImagesView(TableView):
    """Images: tags, ID, created, size, shared, unique, containers, dangling."""

    def build(self, ix: Index) -> TableData:
        return images_table(ix)

    def detail(self, ix: Index, row: Row) -> Screen[None] | None:
        from inspector.tui.screens.image import ImageScreen

        r = row.item
        return ImageScreen(ix, r.image.id) if isinstance(r, ImageRow) else None
