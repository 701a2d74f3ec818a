"""`?`: every key binding, in one dialog."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from inspector.tui.safe import line

#: (keys, what they do): the single list the help dialog shows.
KEYS: tuple[tuple[str, str], ...] = (
    (
        "1 … 7",
        "switch tab: 1 Overview, 2 Images, 3 Layers, 4 Containers, 5 Volumes, 6 Findings, "
        "7 Build cache",
    ),
    ("tab / shift+tab", "move the focus (tab bar, table)"),
    ("↑ ↓ pgup pgdn", "move in a table (home, end too); ← → scroll wide tables"),
    ("enter", "open the highlighted row (image: its layers; others: details)"),
    (
        "b",
        "browse files (ncdu-like): a layer (Layers, an image's layers), a container's writable "
        "layer (Containers), a volume (Volumes)",
    ),
    (
        "  in the browser",
        "enter: open a dir · backspace: up · s / n: sort by size / name (again: reverse) · "
        "A added, M modified, D removed (whiteout), O opaque dir",
    ),
    ("a", "Images: show intermediate images too, like docker images -a (again: hide)"),
    ("escape", "back from a detail page or the browser; clear the filter"),
    ("/", "filter the table (type to filter, enter: back to the table, escape: clear)"),
    ("s", "sort by the next column (or click a column header)"),
    ("S", "reverse the sort order (or click the sorted header again)"),
    ("e", "export the JSON report to a file (never inside the data root)"),
    ("?", "this help"),
    ("q", "quit (also while measuring)"),
)


def keys_table() -> Table:
    """The bindings as a two-column table."""
    table = Table(box=None, padding=(0, 2), show_header=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for keys, what in KEYS:
        table.add_row(line(keys), line(what))
    return table


class HelpScreen(ModalScreen[None]):
    """The key bindings; escape or ? closes it (q still quits)."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help-dialog"):
            yield Static(line("Keys", style="bold"), classes="dialog-title")
            with VerticalScroll():
                yield Static(keys_table())
            yield Static(
                line(
                    "Everything is read-only: docker-inspector never writes under the data "
                    "root and never runs a remedy. Esc closes.",
                    style="dim",
                ),
                classes="dialog-hint",
            )

    def action_close(self) -> None:
        self.dismiss(None)
