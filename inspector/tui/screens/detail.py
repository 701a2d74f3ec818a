"""A full-screen detail page of key/value sections; Escape goes back."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from inspector.tui.details import Section, render_sections
from inspector.tui.safe import line, t


class DetailScreen(Screen[None]):
    """Sections about one object (a layer, container, volume or finding)."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, title: str, sections: Sequence[Section]) -> None:
        super().__init__(classes="detail-screen")
        self.heading = title
        self.sections = list(sections)

    def compose(self) -> ComposeResult:
        yield Static(t(self.heading, "bold"), classes="screen-title")
        with VerticalScroll(classes="detail-body"):
            yield Static(render_sections(self.sections), classes="detail-content")
        yield Static(line("Esc: back"), classes="screen-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(".detail-body", VerticalScroll).focus()

    def action_back(self) -> None:
        self.dismiss(None)
