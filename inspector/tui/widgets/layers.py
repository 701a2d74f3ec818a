"""The Layers tab: every layerdb layer with its storage dir, link, sizes and users."""

from __future__ import annotations

from textual.screen import Screen

from inspector.analysis.results import LayerRow
from inspector.tui.details import layer_sections
from inspector.tui.rows import Index, Row, TableData, layers_table
from inspector.tui.safe import short
from inspector.tui.widgets.views import TableView


class LayersView(TableView):
    """Layers: chain ID, diff dir, link, size, disk usage, users; detail shows `lower`."""

    def build(self, ix: Index) -> TableData:
        return layers_table(ix)

    def detail(self, ix: Index, row: Row) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        r = row.item
        if not isinstance(r, LayerRow):
            return None
        chain = r.layer.chain_id
        return DetailScreen(f"Layer {short(chain)}", layer_sections(ix, chain))
