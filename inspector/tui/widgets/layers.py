"""The Layers tab: every layerdb layer with its storage dir, link, sizes and users."""

from __future__ import annotations

from textual.screen import Screen

from inspector.tui.details import layer_sections
from inspector.tui.rows import Index, TableData, layers_table
from inspector.tui.safe import short
from inspector.tui.widgets.views import TableView


class LayersView(TableView):
    """Layers: chain ID, diff dir, link, size, disk usage, users; detail shows `lower`."""

    def build(self, ix: Index) -> TableData:
        return layers_table(ix)

    def detail(self, ix: Index, key: str) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        if key not in ix.layers:
            return None
        return DetailScreen(f"Layer {short(key)}", layer_sections(ix, key))
