"""The Images tab: every image with Docker's sizes; Enter drills into its layers."""

from __future__ import annotations

from textual.screen import Screen

from inspector.tui.rows import Index, TableData, images_table
from inspector.tui.widgets.views import TableView


class ImagesView(TableView):
    """Images: tags, ID, created, size, shared, unique, containers, dangling."""

    def build(self, ix: Index) -> TableData:
        return images_table(ix)

    def detail(self, ix: Index, key: str) -> Screen[None] | None:
        from inspector.tui.screens.image import ImageScreen

        return ImageScreen(ix, key) if key in ix.images else None
