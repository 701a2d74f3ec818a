"""`e`: ask where to write the JSON report (never inside the inspected data root)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from inspector.tui.safe import inside, t

DEFAULT_NAME = "docker-inspector-report.json"


def default_path() -> str:
    """./docker-inspector-report.json in the current directory."""
    return os.path.join(".", DEFAULT_NAME)


def check_path(path: str, roots: Iterable[str]) -> str | None:
    """Why `path` cannot take the report (None when it can)."""
    if not path.strip():
        return "Type a file name."
    path = os.path.expanduser(path)
    if any(inside(path, root) for root in roots):
        return "That path is inside the inspected data root: write the report elsewhere."
    if os.path.isdir(path):
        return "That is a directory: add a file name."
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return "The directory does not exist."
    return None


class ExportScreen(ModalScreen[str | None]):
    """Dialog with the file path; Enter exports, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, roots: Iterable[str], initial: str | None = None) -> None:
        super().__init__()
        self.roots = tuple(roots)
        self.initial = initial or default_path()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog export-dialog"):
            yield Static(t("Export the JSON report", "bold"), classes="dialog-title")
            yield Static(t("Write the report (schema_version 2) to:"))
            yield Input(value=t(self.initial).plain, id="export-path")
            yield Static(t(""), id="export-error")
            yield Static(
                t("Enter: export (replaces an existing file)   Esc: cancel", "dim"),
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = check_path(event.value, self.roots)
        if problem is not None:
            self.query_one("#export-error", Static).update(t(problem, "bold red"))
            return
        self.dismiss(os.path.expanduser(event.value))

    def action_cancel(self) -> None:
        self.dismiss(None)
