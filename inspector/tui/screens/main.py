"""The main screen: seven tabs (number keys 1 to 7), the status line and the key footer."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from inspector.tui import heap
from inspector.tui.rows import Prepared
from inspector.tui.widgets.buildcache import BuildCacheView
from inspector.tui.widgets.containers import ContainersView
from inspector.tui.widgets.findings import FindingsView
from inspector.tui.widgets.images import ImagesView
from inspector.tui.widgets.layers import LayersView
from inspector.tui.widgets.overview import Overview
from inspector.tui.widgets.report_table import ReportTable
from inspector.tui.widgets.status import StatusBar
from inspector.tui.widgets.views import TableView
from inspector.tui.widgets.volumes import VolumesView

#: (pane id, title): the tabs, in key order (key = position + 1).
TABS: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"),
    ("images", "Images"),
    ("layers", "Layers"),
    ("containers", "Containers"),
    ("volumes", "Volumes"),
    ("findings", "Findings"),
    ("buildcache", "Build cache"),
)


class MainScreen(Screen[None]):
    """Tabs over one report; tables keep their sort, filter and cursor across refreshes."""

    #: Below 86 columns the seven tab labels do not fit with Textual's padding: app.tcss
    #: narrows it on ``-narrow`` so every tab stays visible at 80x24.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (86, "-wide")]

    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, root_label: str) -> None:
        super().__init__()
        self.root_label = root_label
        self.prepared: Prepared | None = None
        self._stale: set[str] = set()
        """Tabs whose view still shows an older report (or none)."""

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="overview", id="tabs"):
            with TabPane("1 Overview", id="overview"):
                yield Overview(self.root_label, id="overview-view")
            with TabPane("2 Images", id="images"):
                yield ImagesView(id="images-view")
            with TabPane("3 Layers", id="layers"):
                yield LayersView(id="layers-view")
            with TabPane("4 Containers", id="containers"):
                yield ContainersView(id="containers-view")
            with TabPane("5 Volumes", id="volumes"):
                yield VolumesView(id="volumes-view")
            with TabPane("6 Findings", id="findings"):
                yield FindingsView(id="findings-view")
            with TabPane("7 Build cache", id="buildcache"):
                yield BuildCacheView(id="buildcache-view")
        yield StatusBar(id="status")
        yield Footer()

    # -- data -----------------------------------------------------------------------------

    def show_report(self, prepared: Prepared) -> None:
        """Show a new report: the Overview and the visible tab now, other tabs when shown."""
        self.prepared = prepared
        self.query_one(Overview).show(prepared.index)
        self._stale = {tab for tab, _ in TABS if tab != "overview"}
        self._fill(self.active_tab)

    def _fill(self, tab: str) -> None:
        """Give a tab's view the current report, if it does not have it yet."""
        if tab not in self._stale or self.prepared is None:
            return
        self._stale.discard(tab)
        view = self.query_one(f"#{tab}-view", TableView)
        view.show(self.prepared.index, self.prepared.table(tab))
        heap.settle()  # the table lives as long as the report (inspector.tui.heap)

    def refresh_tab(self, tab: str) -> None:
        """Build a tab's table again (new efficiency numbers): now if shown, else when shown.

        The view keeps its sort, filter and cursor (the columns are the same).
        """
        if self.prepared is None:
            return
        self.prepared.tables.pop(tab, None)
        self._stale.add(tab)
        if self.active_tab == tab:
            self._fill(tab)

    def view(self, tab: str) -> TableView:
        """A tab's view, filled with the current report."""
        self._fill(tab)
        return self.query_one(f"#{tab}-view", TableView)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    # -- tabs -----------------------------------------------------------------------------

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active

    def switch_to(self, tab: str) -> None:
        """Show a tab and focus its table."""
        self._fill(tab)
        self.query_one(TabbedContent).active = tab
        self._focus_tab(tab)

    def _focus_tab(self, tab: str) -> None:
        view = self.active_view()
        if view is not None:
            if not view.has_class("filtering") or view.filter_text:
                view.table.focus()
            else:
                view.filter_input.focus()
        else:
            self.query_one(Overview).focus()

    def active_view(self) -> TableView | None:
        """The table view of the active tab (None on the Overview)."""
        tab = self.active_tab
        if tab == "overview" or not tab:
            return None
        return self.query_one(f"#{tab}-view", TableView)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._fill(self.active_tab)
        # Number keys focus the table themselves; a click or the arrow keys on the tab
        # bar leave the focus where it is (so the arrows keep moving along the tabs).
        self.refresh_bindings()

    # -- actions ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("filter", "sort_next", "sort_reverse", "clear_filter"):
            return self.active_view() is not None
        return True

    def action_filter(self) -> None:
        view = self.active_view()
        if view is not None:
            view.start_filter()

    def action_clear_filter(self) -> None:
        view = self.active_view()
        if view is not None:
            view.clear_filter()

    def action_sort_next(self) -> None:
        view = self.active_view()
        if view is not None:
            view.sort_next()

    def action_sort_reverse(self) -> None:
        view = self.active_view()
        if view is not None:
            view.sort_toggle()

    @on(ReportTable.Selected)
    def _open(self, event: ReportTable.Selected) -> None:
        view = event.table
        if not isinstance(view, TableView) or view.index is None:
            return
        screen = view.detail(view.index, event.row)
        if screen is not None:
            self.app.push_screen(screen)
