"""The Layers tab: every layerdb layer with its storage dir, link, sizes and users."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen

from inspector.analysis.results import LayerRow
from inspector.tui.details import layer_sections
from inspector.tui.rows import Index, Row, TableData, layers_table
from inspector.tui.safe import short
from inspector.tui.widgets.views import TableView


class LayersView(TableView):
    """Layers: chain ID, diff dir, link, size, disk usage, users; detail shows `lower`."""

    BINDINGS = [Binding("b", "browse", "Browse", tooltip="Browse the layer's files")]

    def action_browse(self) -> None:
        """`b`: the file browser on the highlighted layer (its tar entries, marked)."""
        from inspector.tui.screens.browse import layer_target, open_browser

        r = self.cursor.item if self.cursor is not None else None
        if isinstance(r, LayerRow) and self.index is not None:
            open_browser(self.app, self.index, layer_target(self.index, r.layer.chain_id))

    def build(self, ix: Index) -> TableData:
        return layers_table(ix)

    def detail(self, ix: Index, row: Row) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        r = row.item
        if not isinstance(r, LayerRow):
            return None
        chain = r.layer.chain_id
        return DetailScreen(f"Layer {short(chain)}", layer_sections(ix, chain))
