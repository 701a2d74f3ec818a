"""A DataTable with a filter box, a caption, and column sorting (keys and header clicks)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey, DuplicateKey, RowKey
from textual.widgets.data_table import Row as TableRow

from inspector.tui.rows import Row, SortValue, TableData
from inspector.tui.safe import Inert, line

ARROW_DOWN = "▼"
ARROW_UP = "▲"

#: DataTable's private stores :func:`add_rows` fills (Textual 0.80-8.x).
_STORES = ("_row_locations", "_data", "_require_update_dimensions", "_update_count")


def column_widths(data: TableData) -> list[int]:
    """Fixed widths: the widest cell of all rows (filtered or not), room for the sort arrow.

    Fixed widths keep the columns still while filtering and sorting (and avoid measuring
    cells after they were first drawn).
    """
    widths = [len(col.label) + 2 for col in data.columns]
    for row in data.rows:
        for i, text in enumerate(row.texts):
            # Escaped text holds no control character: ASCII is one cell per character.
            n = len(text) if text.isascii() else cell_len(text)
            if n > widths[i]:
                widths[i] = n
    return widths


class _Cells(dict[ColumnKey, Inert]):
    """A row's cells in DataTable's store, built from the Row when the table first reads
    them (to draw the row): only the rows drawn are ever built."""

    __slots__ = ("keys_", "row")

    def __init__(self, row: Row, keys: list[ColumnKey]) -> None:
        super().__init__()
        self.row: Row | None = row
        self.keys_ = keys

    def __missing__(self, key: ColumnKey) -> Inert:
        row = self.row
        if row is not None:
            self.row = None
            for k, cell in zip(self.keys_, row.cells, strict=True):
                self.setdefault(k, cell)  # a cell DataTable updated itself stays
            if key in self:
                return self[key]
        raise KeyError(key)


def add_rows(table: DataTable[Inert], rows: Sequence[Row]) -> None:
    """Append `rows` to `table`, as ``add_row(*row.cells, key=row.key)`` for each would.

    On a 5,000-layer host that loop took ~3 s for the Layers tab (profiled): per row
    DataTable sets two reactives and queues the row, and on idle measures every cell of
    every new row (~150 k ``measure`` calls) to size its columns, which is useless here:
    each column has a fixed width (:func:`column_widths`). So the rows are entered into
    the table's stores at once, then the cursor is set once, as add_row does; a row's
    cells are built (:class:`_Cells`) and rendered only when it is drawn. Tables with an
    auto-width column (or a DataTable without those stores) get the plain loop.
    """
    columns = table.ordered_columns
    if (
        not all(hasattr(table, a) for a in _STORES)  # another Textual: its own add_row
        or not rows
        or any(col.auto_width for col in columns)
        or any(len(row.texts) != len(columns) for row in rows)
    ):
        for row in rows:
            cells: tuple[Inert, ...] = row.cells
            table.add_row(*cells, key=row.key)
        return
    start = table.row_count
    keys = [col.key for col in columns]
    locations, data, stored = table._row_locations, table._data, table.rows
    for i, row in enumerate(rows, start):
        key = RowKey(row.key)
        if key in locations:
            raise DuplicateKey(f"The row key {key!r} already exists.")
        locations[key] = i
        data[key] = _Cells(row, keys)
        stored[key] = TableRow(key, 1)
    # Not queued in table._new_rows: nothing to measure (fixed widths, one line, no label).
    table._require_update_dimensions = True
    table.cursor_coordinate = table.cursor_coordinate
    if start == 0 and columns and table.show_cursor and table.cursor_type != "none":
        table._highlight_cursor()  # add_row posts this for a table's first row
    table.hover_coordinate = table.hover_coordinate
    table._update_count += 1
    table.check_idle()


class FilterInput(Input):
    """The `/` box: filters as you type; Enter returns to the table, Escape clears."""

    BINDINGS = [Binding("escape", "clear", "Clear filter", show=False)]

    class Cleared(Message):
        """Escape was pressed in the box."""

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Cleared())


class ReportTable(Vertical):
    """Rows from a TableData, filtered by a substring and sorted by one column."""

    DEFAULT_CLASSES = "report-table"

    class Selected(Message):
        """Enter (or a click) on a row; carries the row and the object it shows."""

        def __init__(self, table: ReportTable, row: Row) -> None:
            self.table = table
            self.row = row
            super().__init__()

        @property
        def item(self) -> object:
            """What the row shows (see Row.item)."""
            return self.row.item

        @property
        def control(self) -> ReportTable:
            return self.table

    class Highlighted(Message):
        """The cursor moved to a row (None: no row is highlighted)."""

        def __init__(self, table: ReportTable, row: Row | None) -> None:
            self.table = table
            self.row = row
            super().__init__()

        @property
        def item(self) -> object:
            """What the highlighted row shows, or None."""
            return self.row.item if self.row is not None else None

        @property
        def control(self) -> ReportTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.data: TableData | None = None
        self.filter_text = ""
        self.sort_column = 0
        self.sort_reverse = False
        self.shown: list[Row] = []
        self._rows_by_key: dict[str, Row] = {}
        self.widths: list[int] = []

    def compose(self) -> ComposeResult:
        yield Static(line(), classes="caption")
        yield FilterInput(placeholder="filter (Enter: back to the table, Esc: clear)")
        table: DataTable[Inert] = DataTable(cursor_type="row", zebra_stripes=True)
        yield table

    @property
    def table(self) -> DataTable[Inert]:
        return self.query_one(DataTable)

    @property
    def filter_input(self) -> FilterInput:
        return self.query_one(FilterInput)

    # -- data ---------------------------------------------------------------------------

    def set_data(self, data: TableData) -> None:
        """Show new data; sort and filter stay when the columns are the same."""
        same = self.data is not None and self.data.columns == data.columns
        self.data = data
        self.widths = column_widths(data)
        if not same:
            self.sort_column = data.sort_column
            self.sort_reverse = data.sort_reverse
        self._refresh_rows()

    @property
    def cursor(self) -> Row | None:
        """The highlighted row, if any."""
        table = self.table
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    @property
    def cursor_key(self) -> str | None:
        """Key of the highlighted row, if any."""
        row = self.cursor
        return row.key if row is not None else None

    def _sorted(self, rows: list[Row]) -> list[Row]:
        col = self.sort_column

        def key(row: Row) -> tuple[int, SortValue]:
            v = row.values[col]
            return (0, v) if isinstance(v, int) else (1, v)

        # Stable: ties keep the row-key order, in both directions.
        rows = sorted(rows, key=lambda r: r.key)
        return sorted(rows, key=key, reverse=self.sort_reverse)

    def _refresh_rows(self) -> None:
        data = self.data
        if data is None:
            return
        table = self.table
        keep = self.cursor_key
        rows = [
            r
            for r in data.rows
            if not self.hidden(r) and (not self.filter_text or r.matches(self.filter_text))
        ]
        self.shown = self._sorted(rows)
        self._rows_by_key = {r.key: r for r in self.shown}
        table.clear(columns=True)
        for i, col in enumerate(data.columns):
            mark = ""
            if i == self.sort_column:
                mark = ARROW_DOWN if self.sort_reverse else ARROW_UP
            label = line(col.label + (mark and " " + mark), style="bold" if mark else "")
            if col.numeric:
                label.justify = "right"
            table.add_column(label, width=self.widths[i], key=col.key)
        add_rows(table, self.shown)
        if keep is not None:
            for i, row in enumerate(self.shown):
                if row.key == keep:
                    table.move_cursor(row=i, animate=False)
                    break
        self._update_caption()

    def _update_caption(self) -> None:
        data = self.data
        if data is None:
            return
        col = data.columns[self.sort_column]
        arrow = ARROW_DOWN if self.sort_reverse else ARROW_UP
        caption = line(
            (data.name.capitalize(), "bold"),
            f"  {len(self.shown)} of {len(data.rows)}  ·  sorted by {col.label} {arrow}",
        )
        if self.filter_text:  # typed or pasted: escaped like data
            caption.append("  ·  filter: ").append(self.filter_text, "reverse")
        extra = self.caption_extra()
        if extra is not None:
            caption.append("  ·  ").append_text(extra)
        self.query_one(".caption", Static).update(caption)

    def hidden(self, row: Row) -> bool:
        """Whether a row is left out whatever the filter (subclasses: e.g. intermediate
        images until asked for)."""
        return False

    def caption_extra(self) -> Inert | None:
        """More for the caption line (subclasses: progress, what is hidden)."""
        return None

    def refresh_caption(self) -> None:
        """Draw the caption again (its extra part changed)."""
        self._update_caption()

    def refresh_rows(self) -> None:
        """Choose, sort and draw the rows again (what `hidden` leaves out changed)."""
        self._refresh_rows()

    # -- actions ------------------------------------------------------------------------

    def start_filter(self) -> None:
        """Show and focus the filter box."""
        self.add_class("filtering")
        self.filter_input.focus()

    def clear_filter(self) -> None:
        """Drop the filter, hide the box, focus the table."""
        if self.filter_input.value:
            self.filter_input.value = ""
        self.filter_text = ""
        self.remove_class("filtering")
        self._refresh_rows()
        self.table.focus()

    def set_filter(self, text: str) -> None:
        """Filter rows by a case-insensitive substring."""
        self.filter_text = text
        if text:
            self.add_class("filtering")
        self._refresh_rows()

    def sort_by(self, column: int, reverse: bool | None = None) -> None:
        """Sort by a column; numbers start largest first, text A to Z."""
        if self.data is None:
            return
        column %= len(self.data.columns)
        self.sort_column = column
        self.sort_reverse = self.data.columns[column].numeric if reverse is None else reverse
        self._refresh_rows()

    def sort_next(self) -> None:
        """Sort by the next column."""
        self.sort_by(self.sort_column + 1)

    def sort_toggle(self) -> None:
        """Reverse the sort order."""
        self.sort_by(self.sort_column, not self.sort_reverse)

    # -- events -------------------------------------------------------------------------

    @on(Input.Changed)
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.value != self.filter_text:
            self.set_filter(event.value)

    @on(Input.Submitted)
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self.remove_class("filtering")
        self.table.focus()

    @on(FilterInput.Cleared)
    def _filter_cleared(self, event: FilterInput.Cleared) -> None:
        event.stop()
        self.clear_filter()

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        if event.column_index == self.sort_column:
            self.sort_toggle()
        else:
            self.sort_by(event.column_index)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self._rows_by_key.get(event.row_key.value or "")
        if row is not None:
            self.post_message(self.Selected(self, row))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(self, self._rows_by_key.get(event.row_key.value or "")))
