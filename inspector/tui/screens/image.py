"""Drill-down into one image: its facts, then its layers base-first with history and sharing."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from inspector.tui.details import image_layer_sections, image_sections, render_sections
from inspector.tui.rows import ImageLayer, Index, image_layers_table
from inspector.tui.safe import line, short, t
from inspector.tui.screens.detail import DetailScreen
from inspector.tui.widgets.report_table import ReportTable


class ImageScreen(Screen[None]):
    """One image; Enter on a layer opens that layer; Escape goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", show=False),
        Binding("b", "browse", "Browse", tooltip="Browse the highlighted layer's files"),
    ]

    def __init__(self, ix: Index, image_id: str) -> None:
        super().__init__(classes="image-screen")
        self.ix = ix
        self.image_id = image_id

    def compose(self) -> ComposeResult:
        name = self.ix.image_name(self.image_id)
        yield Static(
            line(("Image ", "bold"), t(name, "bold"), "  ", short(self.image_id)),
            classes="screen-title",
        )
        with VerticalScroll(classes="image-info"):
            yield Static(render_sections(image_sections(self.ix, self.image_id)), id="image-facts")
        yield ReportTable(id="image-layers")
        yield Static(line(), classes="layer-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(ReportTable)
        table.set_data(image_layers_table(self.ix, self.image_id))
        table.table.focus()
        cursor = table.cursor
        self._show_layer(cursor.item if cursor is not None else None)

    def _show_layer(self, layer: object) -> None:
        pane = self.query_one(".layer-detail", Static)
        if not isinstance(layer, ImageLayer):
            pane.update(line("No layer selected."))
            return
        pane.update(render_sections(image_layer_sections(self.ix, self.image_id, layer.n)))

    @on(ReportTable.Highlighted)
    def _highlighted(self, event: ReportTable.Highlighted) -> None:
        self._show_layer(event.item)

    @on(ReportTable.Selected)
    def _selected(self, event: ReportTable.Selected) -> None:
        from inspector.tui.details import layer_sections

        layer = event.item
        if not isinstance(layer, ImageLayer):
            return
        chain = layer.chain_id
        if chain in self.ix.layers:
            self.app.push_screen(
                DetailScreen(f"Layer {short(chain)}", layer_sections(self.ix, chain))
            )
        else:
            self.notify("This layer is missing from the layer database.", markup=False)

    def refresh_efficiency(self) -> None:
        """New efficiency numbers: the facts (inefficient files) and the layer pane."""
        self.query_one("#image-facts", Static).update(
            render_sections(image_sections(self.ix, self.image_id))
        )
        cursor = self.query_one(ReportTable).cursor
        self._show_layer(cursor.item if cursor is not None else None)

    def action_browse(self) -> None:
        """`b`: the file browser on the highlighted layer."""
        from inspector.tui.screens.browse import layer_target, open_browser

        cursor = self.query_one(ReportTable).cursor
        layer = cursor.item if cursor is not None else None
        if isinstance(layer, ImageLayer):
            open_browser(self.app, self.ix, layer_target(self.ix, layer.chain_id))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_filter(self) -> None:
        self.query_one(ReportTable).start_filter()

    def action_sort_next(self) -> None:
        self.query_one(ReportTable).sort_next()

    def action_sort_reverse(self) -> None:
        self.query_one(ReportTable).sort_toggle()
