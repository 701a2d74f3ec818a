"""The Images tab: every image with Docker's sizes and dive's numbers; Enter drills into its
layers. Intermediate images (untagged, with children) are hidden like `docker images` does;
`a` shows them too (`docker images -a`)."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen

from inspector.analysis.results import ImageRow
from inspector.tui.rows import Index, Row, TableData, images_table
from inspector.tui.safe import Inert, line
from inspector.tui.widgets.views import TableView


class ImagesView(TableView):
    """Images: tags, ID, created, sizes, containers, wasted bytes and efficiency."""

    BINDINGS = [Binding("a", "toggle_all", "All images", tooltip="Show intermediate images")]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.show_all = False
        """Intermediate images are shown too (`docker images -a`)."""

    def build(self, ix: Index) -> TableData:
        return images_table(ix)

    def detail(self, ix: Index, row: Row) -> Screen[None] | None:
        from inspector.tui.screens.image import ImageScreen

        r = row.item
        return ImageScreen(ix, r.image.id) if isinstance(r, ImageRow) else None

    def hidden(self, row: Row) -> bool:
        r = row.item
        return not self.show_all and isinstance(r, ImageRow) and r.intermediate

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.refresh_rows()

    def caption_extra(self) -> Inert | None:
        parts: list[Inert] = []
        if self.data is not None:
            n = sum(
                1 for r in self.data.rows if isinstance(r.item, ImageRow) and r.item.intermediate
            )
            if n and not self.show_all:
                parts.append(line(f"{n} intermediate hidden (a: show)"))
            elif n:
                parts.append(line(f"{n} intermediate shown (a: hide)"))
        view = self.index.efficiency if self.index is not None else None
        if view is not None and view.running:
            done = f" {view.done}/{view.total}" if view.total else ""
            parts.append(line((f"dive's numbers{done}…", "yellow")))
        elif view is not None and view.error:
            parts.append(line(("efficiency not computed: ", "red"), view.error))
        if not parts:
            return None
        out = parts[0]
        for p in parts[1:]:
            out.append("  ·  ").append_text(p)
        return out
