"""The file browser (ncdu-like) of a layer, a container's writable layer, a volume, any dir.

`b` on the Layers, Containers and Volumes tabs (and on an image's layer) opens it. A thread
worker fills a :class:`inspector.measure.browse.FileTree` through ``pipeline.browse`` and
posts a (replaceable) message now and then; the screen shows what is known at that moment:
finished dirs with their totals, the dir being walked with what it held so far (its size in
yellow, with "…"). Enter descends, Backspace goes up, the largest entries come first.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, get_current_worker

from inspector import pipeline
from inspector.measure import browse as br
from inspector.model import Inventory
from inspector.tui.rows import MARK_MEANING, Index, browse_table
from inspector.tui.safe import Inert, line, short, size, t
from inspector.tui.threads import LoadCancelled, interruptible
from inspector.tui.widgets.report_table import ReportTable

KIND_NAMES = {
    br.DIR: "directory",
    br.FILE: "regular file",
    br.HARDLINK: "regular file with hard links",
    br.LINK: "symlink (counts the length of its target)",
    br.OTHER: "device, FIFO or socket",
    br.WHITEOUT: "whiteout",
    br.MOUNT: "mount point",
    br.TOO_DEEP: "too deep",
}

HINT = "Enter: open a dir  ·  Backspace: up  ·  Esc: back"
MARKS_HINT = "A added  M modified  D removed (whiteout)  O opaque dir  ·  " + HINT


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


# --------------------------------------------------------------------------- what to browse


def layer_target(ix: Index, chain_id: str) -> br.Target | str:
    """A layer, read from its tar entries (or why it cannot be browsed)."""
    r = ix.layers.get(chain_id)
    if r is None:
        return "This layer is missing from the layer database."
    users = ix.image_names(r.images)
    who = f" ({users[0]}{f' +{len(users) - 1}' if len(users) > 1 else ''})" if users else ""
    return br.Target("layer", r.diff_dir, chain_id, f"layer {short(chain_id)}{who}")


def container_target(ix: Index, cid: str) -> br.Target | str:
    """A container's writable layer (what `docker ps -s` counts as SIZE)."""
    r = ix.containers.get(cid)
    if r is None or not r.rw_dir:
        return "This container has no writable layer dir on this root."
    name = ix.container_name(cid)
    what = "its dir (vfs: a full copy)" if ix.report.inventory.root.storage_driver == "vfs" else ""
    return br.Target(
        "container", r.rw_dir, None, f"container {name}: writable layer {what}".rstrip()
    )


def volume_target(ix: Index, name: str) -> br.Target | str:
    """A volume's ``_data`` (not a bind mount's source: it is not under the root)."""
    r = ix.volumes.get(name)
    if r is None:
        return "No such volume."
    if r.mounted:
        return f"Its data is a mount ({r.mounted}): not browsed, as it is not measured."
    if not r.volume.has_dir:
        return "This volume has no directory on this root."
    return br.Target("volume", f"{r.volume.path}/_data", None, f"volume {name}")


def open_browser(app: App[Any], ix: Index, target: br.Target | str) -> None:
    """Push the browser on `target`, or say why it cannot be browsed."""
    if isinstance(target, str):
        app.notify(t(target).plain, markup=False)
        return
    app.push_screen(BrowseScreen(ix.report.inventory, target))


# --------------------------------------------------------------------------- the screen


class BrowseScreen(Screen[None]):
    """One tree, one dir at a time; Escape goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("backspace", "up", "Up", tooltip="The parent dir"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort_size", "Size", tooltip="Sort by size (again: reverse)"),
        Binding("n", "sort_name", "Name", tooltip="Sort by name (again: reverse)"),
    ]

    class Progress(Message):
        """The tree grew (a newer one replaces an older one still queued)."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, BrowseScreen.Progress)

    def __init__(self, inv: Inventory, target: br.Target) -> None:
        super().__init__(classes="browse-screen")
        self.inv = inv
        self.target = target
        walked = target.path if target.chain_id is None else None
        self.ftree = br.FileTree(target.title, top=walked, has_disk=target.chain_id is None)
        self.node = self.ftree.root
        """The dir shown."""
        self._notes: list[str] = []
        self._folded = 0

    def compose(self) -> ComposeResult:
        yield Static(
            line(("Browse ", "bold"), t(self.target.title, "bold")), classes="screen-title"
        )
        yield Static(line(), classes="browse-path")
        yield ReportTable(id="browse-table")
        yield Static(line(), classes="browse-info")
        marked = self.target.kind in ("layer", "container")
        yield Static(line(MARKS_HINT if marked else HINT), classes="screen-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_view()
        self.query_one(ReportTable).table.focus()
        self.compute()

    # -- the worker -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="browse", exit_on_error=False)
    def compute(self) -> None:
        """Fill the tree (pipeline.browse); only posts messages."""
        worker = get_current_worker()

        def tick() -> None:
            self.post_message(self.Progress())

        interruptible(
            lambda: pipeline.browse(
                self.inv, self.target, self.ftree, lambda: worker.is_cancelled, tick
            ),
            worker,
        )
        if worker.is_cancelled:
            raise LoadCancelled
        self.post_message(self.Progress())

    def on_browse_screen_progress(self, message: Progress) -> None:
        self.refresh_view()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker messages do not bubble: the app's handler is the one place failures go.
        handler = getattr(self.app, "on_worker_state_changed", None)
        if handler is not None:
            handler(event)

    # -- showing a dir --------------------------------------------------------------------

    @property
    def table(self) -> ReportTable:
        return self.query_one(ReportTable)

    def refresh_view(self, cursor: str | None = None, top: bool = False) -> None:
        """Show the current dir as known now; `cursor`: the row key to put the cursor on."""
        tree = self.ftree
        with tree.lock:
            if self.node.parent is None and self.node is not tree.root:
                self.node = tree.root  # the layer's tree was built anew
            entries = br.listing(tree, self.node)
            now = br.totals(tree, self.node)
            path = self.node.path()
            done, stopped = tree.done, tree.stopped
            notes = list(tree.notes)
            seen, folded = tree.seen, tree.folded
            marks = self.target.kind in ("layer", "container")
        rt = self.table
        rt.set_data(browse_table(entries, now.size, has_disk=tree.has_disk, marks=marks))
        if top:
            rt.table.move_cursor(row=0, animate=False)
        elif cursor is not None:
            keys = [r.key for r in rt.shown]
            if cursor in keys:
                rt.table.move_cursor(row=keys.index(cursor), animate=False)
        state = (
            line(("done", "green"))
            if done
            else line(("stopped", "red"))
            if stopped
            else line((f"reading… {seen} entries so far", "yellow"))
        )
        what = f"{size(now.size)}"
        if tree.has_disk:
            what += f" apparent (Docker's count), {size(now.disk)} on disk"
        self.query_one(".browse-path", Static).update(
            line(
                t(path, "bold"),
                f"   {what}  ·  {_items(now.items)}  ·  ",
                state,
            )
        )
        self._notes = notes
        self._folded = folded
        self._show_info(rt.cursor.item if rt.cursor is not None else None)

    def _show_info(self, item: object) -> None:
        pane = self.query_one(".browse-info", Static)
        parts: list[Inert] = []
        if isinstance(item, br.Entry):
            parts.append(self._describe(item))
        for note in self._notes:
            parts.append(line(("note: ", "dim"), (note, "dim")))
        folded = self._folded
        if folded:
            parts.append(
                line(
                    (
                        f"{folded} entries are summed in '… more' rows (the largest "
                        f"{br.MAX_CHILDREN} of a dir are kept)",
                        "dim",
                    )
                )
            )
        pane.update(Group(*parts))

    def _describe(self, e: br.Entry) -> Inert:
        if e.node is None:
            if e.kind == "pending":
                return line((e.name, "italic"), ": listed, their sizes are not known yet")
            hint = "Enter walks this dir again" if self.ftree.top is not None else "not kept"
            return line(
                (e.name, "italic"),
                f": {e.size:,} bytes in {e.items} entries, not kept in memory ({hint})",
            )
        path = self.node.path().rstrip("/") + "/" + e.name
        out = line(t(path, "bold"), "  ·  ", KIND_NAMES.get(e.kind, e.kind))
        if e.kind == br.WHITEOUT:
            what = "the layers below" if self.target.kind == "layer" else "the image"
            if e.removed:
                out.append(
                    f"  ·  deletes {_files(e.removed)} ({e.removed_bytes:,} bytes) of {what}: "
                    "their bytes stay in the image"
                )
            else:
                out.append(f"  ·  deletes this path of {what}")
            return out
        out.append(f"  ·  {e.size:,} bytes")
        if self.ftree.has_disk:
            out.append(f", {e.disk:,} on disk")
        if e.kind == br.DIR:
            out.append(f"  ·  {_items(e.items)}" + ("" if e.complete else " so far"))
        if e.mark:
            out.append("  ·  ").append(MARK_MEANING.get(e.mark, e.mark), "bold")
            if e.mark == "O" and e.removed:
                out.append(f" ({_files(e.removed)}, {e.removed_bytes:,} bytes)")
            elif e.removed:
                out.append(f"; replaces {_files(e.removed)} ({e.removed_bytes:,} bytes)")
        if e.note:
            out.append("  ·  ").append(e.note, "dim")
        return out

    @on(ReportTable.Highlighted)
    def _highlighted(self, event: ReportTable.Highlighted) -> None:
        self._show_info(event.item)

    @on(ReportTable.Selected)
    def _selected(self, event: ReportTable.Selected) -> None:
        e = event.item
        if not isinstance(e, br.Entry):
            return
        if e.node is not None and e.kind == br.DIR:
            self.node = e.node
            self.table.clear_filter()
            self.refresh_view(top=True)
        elif e.node is None and e.kind == "more" and self.ftree.top is not None:
            # Not kept in memory: walk this dir again, on its own (a new budget).
            top = self.ftree.top.rstrip("/") + self.node.path().rstrip("/")
            title = f"{self.target.title}: {self.node.path()}"
            self.app.push_screen(BrowseScreen(self.inv, br.Target("dir", top, None, title)))

    # -- actions --------------------------------------------------------------------------

    def action_up(self) -> None:
        parent = self.node.parent
        if parent is None:
            return
        child = self.node.name
        self.node = parent
        self.table.clear_filter()
        self.refresh_view(cursor=child)

    def action_back(self) -> None:
        rt = self.table
        if rt.filter_text or rt.has_class("filtering"):
            rt.clear_filter()
            return
        self.dismiss(None)

    def action_filter(self) -> None:
        self.table.start_filter()

    def _sort(self, key: str) -> None:
        rt = self.table
        if rt.data is None:
            return
        col = next(i for i, c in enumerate(rt.data.columns) if c.key == key)
        if rt.sort_column == col:
            rt.sort_toggle()
        else:
            rt.sort_by(col, reverse=key != "name")

    def action_sort_size(self) -> None:
        self._sort("size")

    def action_sort_name(self) -> None:
        self._sort("name")


__all__ = [
    "BrowseScreen",
    "container_target",
    "layer_target",
    "open_browser",
    "volume_target",
]
