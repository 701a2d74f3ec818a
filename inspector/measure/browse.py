"""The file browser's trees (ncdu-like): a layer's tar entries, or a walk of any dir.

Two ways to fill a :class:`FileTree`:

- :func:`fill_from_entries`: a layer's entries as ``docker save`` writes them (tar-split, or the
  diff-dir walk of :mod:`inspector.measure.layerfiles`); sizes are the tar's (a symlink or a
  hard link is 0 bytes), whiteouts become rows of their own, and :func:`apply_marks` later
  puts the added/modified/removed marks of :mod:`inspector.analysis.layermarks` on them.
- :func:`walk`: a container's writable layer, a volume's ``_data`` or any dir under the root,
  by directory descriptors (:mod:`inspector.measure.dirfd`: every dir opened relative to its
  parent, never through a symlink, never into a mount point or another filesystem), with
  Docker's ``directory.Size`` rules for the apparent bytes (non-dirs, each inode once) and
  ``du``'s for the allocated ones (dirs included, each inode once). In an overlay upper dir,
  whiteouts (char devices 0:0) and opaque dirs are marked.

A walk streams: another thread may call :func:`listing` (under ``tree.lock``) at any time and
gets what is known: finished dirs with their totals, the dir being walked with what it held
so far. Memory is per directory, not per file: a dir keeps its largest ``MAX_CHILDREN``
entries (the rest are summed in a "… N more" row), and past ``MAX_NODES`` kept nodes in the
whole tree a finished dir keeps only its totals (descend into it to walk it again). No
recursion on data anywhere: a 10,000-level tree is a loop like any other.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from inspector.errors import ReaderError
from inspector.measure.dirfd import MAX_OPEN_DIRS, DirNode, DirWalk, Swapped, opaque_dir
from inspector.measure.walker import PATH_MAX
from inspector.model import TarEntry
from inspector.readers import fs

#: Entries kept per directory (largest first); the rest are summed in one "… N more" row.
MAX_CHILDREN = 1000
#: Nodes kept in one tree (~200 bytes each). Past it, a dir that finishes keeps only its
#: totals and its own dirs keep SMALL_CHILDREN entries.
MAX_NODES = 300_000
SMALL_CHILDREN = 32
#: Names lstat'ed between two looks at the lock, the clock and the cancel flag.
CHUNK = 512
#: How often a walk calls its `tick` (seconds).
TICK_SECONDS = 0.2

# Node kinds.
DIR = "d"
FILE = "f"
LINK = "l"
HARDLINK = "h"
OTHER = "o"
WHITEOUT = "w"
MOUNT = "m"
TOO_DEEP = "p"

_WH = ".wh."
_WH_META = ".wh..wh."
_OPQ = ".wh..wh..opq"


class FileNode:
    """One entry of the browser's tree: a dir with its totals, or a leaf."""

    __slots__ = (
        "active",
        "aux",
        "children",
        "disk",
        "done",
        "index",
        "items",
        "kept",
        "kind",
        "listed",
        "mark",
        "more",
        "more_disk",
        "more_items",
        "more_size",
        "name",
        "note",
        "parent",
        "removed",
        "removed_bytes",
        "size",
        "waiting",
    )

    def __init__(self, name: str, kind: str, parent: FileNode | None = None) -> None:
        self.name = name
        self.kind = kind
        self.parent = parent
        self.size = 0
        """Apparent bytes (walks: Docker's rules; layers: the tar's), of the whole subtree
        for a dir (so far, while it is walked)."""
        self.disk = 0
        """Allocated bytes (walks only)."""
        self.items = 0
        """Entries below a dir (so far)."""
        self.mark = ""
        self.removed = 0
        """Files of the layers below that this entry removes (whiteouts, opaque dirs)."""
        self.removed_bytes = 0
        self.note = ""
        self.children: list[FileNode] = []
        self.more = 0
        """Entries not kept (summed here)."""
        self.more_size = 0
        self.more_disk = 0
        self.more_items = 0
        self.active: FileNode | None = None
        """The child dir being walked right now."""
        self.done = kind != DIR
        self.listed = False
        self.waiting = 0
        """Child dirs listed but not finished yet."""
        self.kept = 1
        """Nodes of its subtree kept in memory (itself included), once finished."""
        self.index = -1
        """Its tar entry (layers), for its mark."""
        self.aux = -1
        """The tar entry of its opaque marker (layers)."""

    def path(self) -> str:
        """The path from the top of the tree (``/`` for the top)."""
        parts: list[str] = []
        node: FileNode | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/" + "/".join(reversed(parts))


class Target(NamedTuple):
    """What to browse."""

    kind: str
    """``layer``, ``container`` (its writable layer), ``volume`` or ``dir``."""
    path: str | None
    """The dir to walk (a layer's diff dir, the writable layer's dir, a volume's _data)."""
    chain_id: str | None = None
    """A layer's chain ID: its tar entries are read instead of walking `path`."""
    title: str = ""
    """How the screen names it."""


class Entry(NamedTuple):
    """What one row of a listing shows (a copy: safe to keep outside the lock)."""

    node: FileNode | None
    """None for the "… N more" and "not walked yet" rows."""
    name: str
    kind: str
    """A node kind, or ``more`` / ``pending``."""
    size: int
    disk: int
    items: int
    mark: str
    removed: int
    removed_bytes: int
    note: str
    complete: bool


class Totals(NamedTuple):
    """A dir's totals as known now."""

    size: int
    disk: int
    items: int
    complete: bool


class FileTree:
    """A tree being filled by one worker and read by the screen (always under `lock`)."""

    def __init__(self, title: str, *, top: str | None = None, has_disk: bool = True) -> None:
        self.lock = threading.Lock()
        self.title = title
        self.top = top
        """The dir walked (None for a layer's entries): what a re-walk starts from."""
        self.has_disk = has_disk
        """Whether allocated bytes are known (walks, not tar entries)."""
        self.root = FileNode("", DIR)
        self.done = False
        self.stopped = False
        self.marked = False
        """Marks of the layers below were applied (layers)."""
        self.notes: list[str] = []
        self.source = ""
        """``walk``, ``tar-split`` or ``diff-walk``."""
        self.kept = 1
        self.seen = 0
        """Entries seen so far."""
        self.folded = 0
        """Entries summed in "… N more" rows instead of kept."""

    def note(self, text: str) -> None:
        """Add a note (said once)."""
        with self.lock:
            if text not in self.notes:
                self.notes.append(text)


# --------------------------------------------------------------------------- reading it


def _partial(node: FileNode) -> Totals:
    """A dir's totals now: what is finished plus the chain of dirs being walked below it."""
    size, disk, items = node.size, node.disk, node.items
    cur = node.active
    while cur is not None:
        size += cur.size
        disk += cur.disk
        items += cur.items
        cur = cur.active
    return Totals(size, disk, items, node.done)


def totals(tree: FileTree, node: FileNode) -> Totals:
    """`node`'s totals as known now (call under ``tree.lock``)."""
    return _partial(node)


def listing(tree: FileTree, node: FileNode) -> list[Entry]:
    """The rows of dir `node` as known now (call under ``tree.lock``)."""
    out: list[Entry] = []
    for c in node.children:
        t = _partial(c) if c.kind == DIR else Totals(c.size, c.disk, 0, True)
        out.append(
            Entry(
                c,
                c.name,
                c.kind,
                t.size,
                t.disk,
                t.items,
                c.mark,
                c.removed,
                c.removed_bytes,
                c.note,
                t.complete,
            )
        )
    if node.more:
        out.append(
            Entry(
                None,
                f"… {node.more} more",
                "more",
                node.more_size,
                node.more_disk,
                node.more_items,
                "",
                0,
                0,
                "",
                True,
            )
        )
    waiting = node.waiting - (1 if node.active is not None else 0)
    if waiting > 0:
        out.append(
            Entry(None, f"… {waiting} dirs not walked yet", "pending", 0, 0, 0, "", 0, 0, "", False)
        )
    return out


# --------------------------------------------------------------------------- keeping it small


def _fold(tree: FileTree, parent: FileNode, child: FileNode, kept: bool = True) -> None:
    """Sum `child` into `parent`'s "… N more" row (`kept`: it was counted in the tree)."""
    parent.more += 1
    parent.more_size += child.size
    parent.more_disk += child.disk
    parent.more_items += 1 + (child.items if child.kind == DIR else 0)
    if kept:
        tree.kept -= child.kept
    tree.folded += 1


def _trim(tree: FileTree, node: FileNode, final: bool = False) -> None:
    """Keep `node`'s largest finished children (and the one being walked).

    While a dir is listed its list may grow to twice the cap before it is cut back (one sort
    per cap entries, not one per entry); once it is finished (`final`) it keeps exactly the
    cap's largest, so what a "… N more" row sums does not depend on the listing order.
    """
    keep = MAX_CHILDREN if tree.kept <= MAX_NODES else SMALL_CHILDREN
    if len(node.children) <= (keep if final else 2 * keep):
        return
    movable = [c for c in node.children if c is not node.active]
    movable.sort(key=lambda c: (-c.size, c.name))
    kept = movable[:keep]
    for c in movable[keep:]:
        _fold(tree, node, c)
    if node.active is not None:
        kept.append(node.active)
    node.children = kept


def _collapse(tree: FileTree, node: FileNode) -> None:
    """Over the tree's budget: a finished dir keeps only its totals."""
    for c in node.children:
        _fold(tree, node, c)
    node.children = []
    node.kept = 1


def _attach(tree: FileTree, parent: FileNode, child: FileNode) -> bool:
    """Keep a leaf under `parent` (False: over budget, summed in "… N more" instead)."""
    if tree.kept >= MAX_NODES:
        _fold(tree, parent, child, kept=False)
        return False
    parent.children.append(child)
    tree.kept += 1
    _trim(tree, parent)
    return True


# --------------------------------------------------------------------------- a walk


class _Dir(DirNode):
    """A dir of the walk: the descriptor bookkeeping and the tree node it fills."""

    __slots__ = ("blocks", "fparent")

    def __init__(
        self, parent: DirNode | None, name: str, path: str, ino: int, fparent: FileNode | None
    ) -> None:
        super().__init__(parent, name, path, ino, True, parent is None)
        self.fparent = fparent
        self.blocks = 0


def _finish(tree: FileTree, node: FileNode) -> None:
    """`node` is listed and its dirs are done: add it to its parent, and so on upwards."""
    cur: FileNode | None = node
    while cur is not None and cur.listed and cur.waiting == 0 and not cur.done:
        cur.done = True
        _trim(tree, cur, final=True)
        cur.kept = 1 + sum(c.kept for c in cur.children)
        parent = cur.parent
        if parent is None:
            return
        parent.size += cur.size
        parent.disk += cur.disk
        parent.items += cur.items
        parent.waiting -= 1
        if parent.active is cur:
            parent.active = None
        if tree.kept > MAX_NODES:
            _collapse(tree, cur)
        _trim(tree, parent)
        cur = parent


def walk(
    tree: FileTree,
    path: str,
    *,
    mounts: frozenset[str] = frozenset(),
    overlay: bool = False,
    cancelled: Callable[[], bool] | None = None,
    tick: Callable[[], None] | None = None,
) -> None:
    """Fill `tree` from the dir at `path` (reached beneath the anchored data root).

    `mounts`: mount points (never entered, like anything on another filesystem); `overlay`:
    the dir is an overlay upper/diff dir (mark whiteouts and opaque dirs). Returns when done,
    or early (``tree.stopped``) once `cancelled()` says so; `tick` is called every
    TICK_SECONDS while walking. A top that cannot be read ends in ``tree.notes``.
    """
    root = tree.root
    try:
        top = fs.lstat(path)
    except FileNotFoundError:
        end(tree, f"{path} does not exist")
        return
    except (OSError, ReaderError) as e:
        end(tree, _reason(path, e))
        return
    if not stat.S_ISDIR(top.st_mode):
        end(tree, f"{path} is not a directory")
        return
    try:
        top_fd = fs.open_dir(path)
    except (OSError, ReaderError) as e:
        end(tree, _reason(path, e))
        return
    w = DirWalk(top.st_dev)
    first = _Dir(None, "", path, top.st_ino, None)
    w.hold(first, top_fd)
    with tree.lock:
        root.disk = top.st_blocks * 512
        tree.source = "walk"
    seen_ino: set[int] = set()  # Docker's directory.Size keys its map by inode number only
    seen_disk: set[tuple[int, int]] = set()
    stack: list[_Dir] = [first]
    last_tick = time.monotonic()
    try:
        while stack:
            if cancelled is not None and cancelled():
                tree.stopped = True
                return
            d = stack.pop()
            if d is first:
                fn = root
            else:
                assert d.fparent is not None
                fn = FileNode(d.name, DIR, d.fparent)
                fn.disk = d.blocks
                with tree.lock:
                    d.fparent.children.append(fn)
                    d.fparent.active = fn
                    tree.kept += 1
            try:
                fd = w.reach(d)
            except (FileNotFoundError, NotADirectoryError, Swapped):
                w.done_with_parent(d)
                with tree.lock:
                    fn.note = "changed while it was walked: not counted"
                    fn.listed = True
                    _finish(tree, fn)
                continue
            except OSError as e:
                w.done_with_parent(d)
                with tree.lock:
                    fn.note = f"unreadable: {e.strerror or e}"
                    fn.listed = True
                    _finish(tree, fn)
                continue
            assert fd is not None
            w.done_with_parent(d)
            if overlay and opaque_dir(fd):
                fn.mark = "O"
            try:
                names = os.listdir(fd)
            except OSError as e:
                with tree.lock:
                    fn.note = f"unreadable: {e.strerror or e}"
                    fn.listed = True
                    _finish(tree, fn)
                w.close(d)
                continue
            prefix = d.path + "/"
            room = PATH_MAX - 1 - len(os.fsencode(prefix))
            for start in range(0, len(names), CHUNK):
                if cancelled is not None and cancelled():
                    tree.stopped = True
                    return
                rows = _lstat_chunk(
                    names[start : start + CHUNK], fd, prefix, room, w.dev, mounts, overlay
                )
                with tree.lock:
                    for row in rows:
                        _add(tree, fn, d, row, stack, seen_ino, seen_disk)
                if tick is not None and time.monotonic() - last_tick >= TICK_SECONDS:
                    last_tick = time.monotonic()
                    tick()
            with tree.lock:
                fn.listed = True
                _finish(tree, fn)
            if d.pending == 0 or w.open > MAX_OPEN_DIRS:
                w.close(d)  # reopened through `reach` if a child still needs it
    finally:
        w.close_all()
        with tree.lock:
            tree.done = not tree.stopped
    if tick is not None:
        tick()


class _Row(NamedTuple):
    name: str
    st: os.stat_result | None
    kind: str
    note: str


def _lstat_chunk(
    names: Sequence[str],
    fd: int,
    prefix: str,
    room: int,
    dev: int,
    mounts: frozenset[str],
    overlay: bool,
) -> list[_Row]:
    """lstat a chunk of names (outside the lock: the screen keeps reading meanwhile)."""
    rows: list[_Row] = []
    for name in names:
        n = len(name)
        if n > room or (4 * n > room and len(os.fsencode(name)) > room):
            rows.append(_Row(name, None, TOO_DEEP, "path longer than PATH_MAX: not entered"))
            continue
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError as e:
            rows.append(_Row(name, None, OTHER, f"unreadable: {e.strerror or e}"))
            continue
        mode = st.st_mode
        if st.st_dev != dev:
            rows.append(_Row(name, None, MOUNT, "another filesystem is mounted here: not entered"))
        elif stat.S_ISDIR(mode):
            if prefix + name in mounts:
                rows.append(_Row(name, st, MOUNT, "a mount point: not entered"))
            else:
                rows.append(_Row(name, st, DIR, ""))
        elif stat.S_ISREG(mode):
            rows.append(_Row(name, st, HARDLINK if st.st_nlink > 1 else FILE, ""))
        elif stat.S_ISLNK(mode):
            rows.append(_Row(name, st, LINK, ""))
        elif overlay and stat.S_ISCHR(mode) and st.st_rdev == 0:
            rows.append(_Row(name, st, WHITEOUT, "whiteout: deletes this path of the image"))
        else:
            rows.append(_Row(name, st, OTHER, ""))
    return rows


def _add(
    tree: FileTree,
    fn: FileNode,
    d: _Dir,
    row: _Row,
    stack: list[_Dir],
    seen_ino: set[int],
    seen_disk: set[tuple[int, int]],
) -> None:
    """One listed name into the tree (under the lock)."""
    tree.seen += 1
    st = row.st
    if st is None:
        _attach(tree, fn, _leaf(row.name, row.kind, fn, note=row.note))
        return
    if row.kind == MOUNT:
        fn.items += 1  # counted as the size walker counts a bind mount point: an entry
        fn.disk += st.st_blocks * 512
        _attach(tree, fn, _leaf(row.name, MOUNT, fn, note=row.note))
        return
    fn.items += 1
    if row.kind == DIR:
        child = _Dir(d, row.name, f"{d.path}/{row.name}", st.st_ino, fn)
        child.blocks = st.st_blocks * 512
        stack.append(child)
        d.pending += 1
        fn.waiting += 1
        return
    size = disk = 0
    if st.st_nlink > 1:
        if st.st_size > 0 and st.st_ino not in seen_ino:
            seen_ino.add(st.st_ino)
            size = st.st_size
        key = (st.st_dev, st.st_ino)
        if key not in seen_disk:
            seen_disk.add(key)
            disk = st.st_blocks * 512
    else:
        size = st.st_size
        disk = st.st_blocks * 512
    fn.size += size
    fn.disk += disk
    leaf = _leaf(row.name, row.kind, fn, size, disk, row.note)
    if row.kind == WHITEOUT:
        leaf.mark = "D"
    elif row.kind == HARDLINK:
        leaf.note = f"{st.st_nlink} names (hard links): its bytes count once, at the first seen"
    _attach(tree, fn, leaf)


def _leaf(
    name: str, kind: str, parent: FileNode, size: int = 0, disk: int = 0, note: str = ""
) -> FileNode:
    node = FileNode(name, kind, parent)
    node.size = size
    node.disk = disk
    node.note = note
    return node


def _reason(path: str, e: Exception) -> str:
    if isinstance(e, ReaderError):
        return str(e)
    assert isinstance(e, OSError)
    if e.errno == errno.ENOTDIR:
        return f"{path} is not a directory"
    return f"{path}: {e.strerror or e}"


def end(tree: FileTree, note: str) -> None:
    """Nothing (more) to read: say why and mark the tree done."""
    with tree.lock:
        tree.notes.append(note)
        tree.root.listed = tree.root.done = True
        tree.done = True


# --------------------------------------------------------------------------- a layer's entries


def _components(name: str) -> list[str]:
    """A tar name's path components (``./a//b/`` → a, b; ``..`` climbs, never above the top)."""
    out: list[str] = []
    for c in name.split("/"):
        if not c or c == ".":
            continue
        if c == "..":
            if out:
                out.pop()
            continue
        out.append(c)
    return out


class _Agg:
    """Per-dir state of a layer's entries: totals, sub-dirs, files and whiteouts by name."""

    __slots__ = ("dirs", "files", "index", "items", "opaque", "size", "whiteouts")

    def __init__(self) -> None:
        self.size = 0
        self.items = 0
        self.dirs: list[str] = []
        self.files: dict[str, int] = {}
        self.whiteouts: dict[str, int] = {}
        self.index = -1
        self.opaque = -1


_KINDS = {"f": FILE, "h": HARDLINK, "l": LINK, "o": OTHER}


def fill_from_entries(tree: FileTree, entries: Sequence[TarEntry]) -> None:
    """Build `tree` from a layer's tar entries (the whole tree at once; see the module doc)."""
    aggs: dict[str, _Agg] = {"": _Agg()}

    def ensure(path: str) -> _Agg:
        got = aggs.get(path)
        if got is not None:
            return got
        missing = [path]
        parent = path.rpartition("/")[0]
        while parent not in aggs:
            missing.append(parent)
            parent = parent.rpartition("/")[0]
        for p in reversed(missing):
            aggs[p] = _Agg()
            aggs[p.rpartition("/")[0]].dirs.append(p)
        return aggs[path]

    for k, e in enumerate(entries):
        comps = _components(e.name)
        if not comps:
            aggs[""].index = k
            continue
        base = comps[-1]
        parent = "/".join(comps[:-1])
        if base == _OPQ:
            ensure(parent).opaque = k
        elif base.startswith(_WH_META):
            continue  # other AUFS metadata: not a file
        elif base.startswith(_WH):
            ensure(parent).whiteouts[base[len(_WH) :]] = k
        elif e.kind == "d":
            ensure("/".join(comps)).index = k
        else:
            ensure(parent).files[base] = k
    for agg in aggs.values():
        if agg.dirs and agg.files:
            # A file and a dir of one name in one layer: the dir is what overlay shows.
            for name in {p.rpartition("/")[2] for p in agg.dirs} & agg.files.keys():
                del agg.files[name]
        agg.size += sum(entries[k].size for k in agg.files.values())
        agg.items += len(agg.files) + len(agg.dirs) + len(agg.whiteouts)
    for path in sorted(aggs, key=lambda p: p.count("/") + (1 if p else 0), reverse=True):
        if not path:
            continue
        up = aggs[path.rpartition("/")[0]]
        up.size += aggs[path].size
        up.items += aggs[path].items

    root = FileNode("", DIR)
    kept = 1
    folded = 0
    queue: deque[tuple[FileNode, str]] = deque([(root, "")])
    while queue:
        node, path = queue.popleft()
        agg = aggs[path]
        node.size, node.items, node.index, node.aux = agg.size, agg.items, agg.index, agg.opaque
        node.listed = node.done = True
        cands: list[tuple[int, str, str, int | str]] = [
            (aggs[p].size, p.rpartition("/")[2], DIR, p) for p in agg.dirs
        ]
        cands += [
            (entries[k].size, n, _KINDS.get(entries[k].kind, OTHER), k)
            for n, k in agg.files.items()
        ]
        cands += [(0, n, WHITEOUT, k) for n, k in agg.whiteouts.items()]
        cands.sort(key=lambda c: (-c[0], c[1], c[2]))
        room = max(0, min(MAX_CHILDREN, MAX_NODES - kept)) if kept < MAX_NODES else 0
        for size, name, kind, ref in cands[:room]:
            child = FileNode(name, kind, node)
            child.size = size
            if kind == DIR:
                assert isinstance(ref, str)
                queue.append((child, ref))
            else:
                assert isinstance(ref, int)
                child.index = ref
                if kind == WHITEOUT:
                    child.mark = "D"
                    child.note = "whiteout: deletes this path of the layers below"
                elif kind == HARDLINK:
                    child.note = "hard link: 0 bytes in the tar (its target holds them)"
            node.children.append(child)
        kept += min(room, len(cands))
        for size, _, kind, ref in cands[room:]:
            node.more += 1
            node.more_size += size
            node.more_items += 1 + (aggs[ref].items if kind == DIR and isinstance(ref, str) else 0)
            folded += 1
    with tree.lock:
        tree.root = root
        tree.kept = kept
        tree.folded = folded
        tree.seen = len(entries)
        tree.done = True


def apply_marks(tree: FileTree, marks: Sequence[tuple[str, int, int]]) -> None:
    """Put each entry's mark (mark, files removed, bytes removed) on its node."""
    with tree.lock:
        stack = [tree.root]
        while stack:
            node = stack.pop()
            if 0 <= node.index < len(marks):
                node.mark, node.removed, node.removed_bytes = marks[node.index][:3]
            if 0 <= node.aux < len(marks):
                _, removed, removed_bytes = marks[node.aux][:3]
                if removed or node.mark != "A":
                    node.mark = "O"
                    node.removed, node.removed_bytes = removed, removed_bytes
            stack.extend(c for c in node.children if c.kind == DIR or c.index >= 0)
        tree.marked = True


def nodes(tree: FileTree) -> Iterable[FileNode]:
    """Every node kept (for tests and checks; call under ``tree.lock``)."""
    stack = [tree.root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children)


__all__ = [
    "MAX_CHILDREN",
    "MAX_NODES",
    "Entry",
    "FileNode",
    "FileTree",
    "Target",
    "Totals",
    "apply_marks",
    "end",
    "fill_from_entries",
    "listing",
    "nodes",
    "totals",
    "walk",
]
