"""The Build cache tab: BuildKit's records as `docker system df -v` lists them."""

from __future__ import annotations

from textual.screen import Screen

from inspector.model import BuildCacheRecord
from inspector.tui.details import build_cache_sections
from inspector.tui.rows import Index, Row, TableData, build_cache_table
from inspector.tui.widgets.views import TableView


class BuildCacheView(TableView):
    """Build-cache records; the detail shows one in full (description, parents)."""

    def build(self, ix: Index) -> TableData:
        return build_cache_table(ix)

    def detail(self, ix: Index, row: Row) -> Screen[None] | None:
        from inspector.tui.screens.detail import DetailScreen

        r = row.item
        if not isinstance(r, BuildCacheRecord):
            return None
        return DetailScreen(f"Build cache record {r.id}", build_cache_sections(ix, r.id))
