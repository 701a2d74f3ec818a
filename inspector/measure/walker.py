"""The size walker: one tree, iteratively, by directory descriptors, lstat only.

Docker's ``directory.Size`` rules (apparent bytes of non-directories, size 0 skipped, each
inode once) plus allocated bytes, the tar payload and hard links leaving the tree; the same
rules as the reference walker in tests/refwalk.py. It never follows a symlink, never enters a
mount point and never re-resolves a path (see inspector.measure.dirfd).

A big tree can also be walked in parts (see inspector.measure.split): its first levels are
listed here by :func:`split_tree`, the subdirs found below them are walked by
:func:`walk_piece` (in other processes), and the parts are merged into the same Usage.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from inspector.errors import ReaderError
from inspector.measure.dirfd import MAX_OPEN_DIRS, DirNode, DirWalk, Swapped
from inspector.model import Skipped, Usage
from inspector.readers import fs

#: Docker's walk lstats every entry by its full path, which fails past the kernel's PATH_MAX
#: (4096 bytes with the NUL): `docker system df` then shows -1. The walker goes by directory
#: descriptors and could go deeper; it reports the same point as unreadable instead, so that
#: a size is either Docker's or unknown, never a third number.
PATH_MAX = 4096

Link = tuple[int, int, int, int, int, int, int]
"""A multi-link inode not resolved within a part of a tree: (st_dev, st_ino, allocated
bytes, st_nlink at first sight, names seen, apparent bytes if a name was in the counted area
else 0, tar payload bytes likewise)."""


class Part(NamedTuple):
    """What one part of a split tree holds; merged by inspector.measure.split."""

    apparent: int
    disk: int
    files: int
    unreadable: tuple[Skipped, ...]
    payload: int
    links: tuple[Link, ...]


SETTLED_FIELDS = 9
"""A settled dir's record: st_dev, st_ino, st_mtime_ns, st_ctime_ns, counted (0 or 1) — its
identity — then apparent, allocated bytes, entries and tar payload of what it holds."""


class Settled(NamedTuple):
    """Dirs whose totals a walk takes from the last run while their identity is unchanged.

    Only dirs that hold no subdir and whose writer replaces files rather than editing them
    (Docker's image metadata: every file there is written to a temp name and renamed, or in a
    dir renamed into place), so that any change to what they hold changes the dir's mtime
    or ctime. A file edited in place there, or given a hard link from elsewhere (Docker does
    neither), is not seen until ``--no-cache`` or ``--full`` (as with the size cache's layers).
    """

    parents: frozenset[str]
    """Dirs whose subdirs may be settled (``image/overlay2/layerdb/sha256``)."""
    dirs: frozenset[str]
    """Dirs that may be settled themselves (``overlay2/l``)."""
    known: Mapping[str, Sequence[int]]
    """Path -> record (SETTLED_FIELDS ints) of the last run."""
    before_ns: int
    """Only a dir changed before this time (ns) is recorded (one changed just now may change
    again within its timestamps' granularity)."""


class Found:
    """What a walk learned about settled dirs: new records, the known ones it used, and the
    entries those held (counted, not walked)."""

    __slots__ = ("files", "records", "used")

    def __init__(self) -> None:
        self.records: list[tuple[str, list[int]]] = []
        self.used: list[str] = []
        self.files = 0

    def __getstate__(self) -> tuple[list[tuple[str, list[int]]], list[str], int]:
        return self.records, self.used, self.files

    def __setstate__(self, state: tuple[list[tuple[str, list[int]]], list[str], int]) -> None:
        self.records, self.used, self.files = state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Found) and self.__getstate__() == other.__getstate__()

    __hash__ = None  # type: ignore[assignment]

    def add(self, other: Found) -> None:
        self.records += other.records
        self.used += other.used
        self.files += other.files


class _Acc:
    """Running totals of one walk (or one part of a walk)."""

    __slots__ = ("apparent", "disk", "files", "found", "links", "payload", "unreadable")

    def __init__(self, disk: int, files: int, found: Found | None = None) -> None:
        self.apparent = 0
        self.payload = 0
        self.disk = disk
        self.files = files
        # Multi-link non-dirs: (dev, ino) -> [bytes, nlink, names seen, apparent, payload].
        # directory.Size keys its map by inode number only; every entry counted has the
        # tree's st_dev, so (dev, ino) is the same key.
        self.links: dict[tuple[int, int], list[int]] = {}
        self.unreadable: list[Skipped] = []
        self.found = found


def _top_error(path: str, e: Exception) -> Usage:
    reason = str(e).removeprefix(f"{path}: ") if isinstance(e, ReaderError) else None
    if reason is None:
        assert isinstance(e, OSError)
        reason = e.strerror or str(e)
    return Usage(unreadable=(Skipped(path, reason),))


class _Top(NamedTuple):
    walk: DirWalk
    node: DirNode
    acc: _Acc


def _open_top(path: str, sub: str | None, mounts: frozenset[str]) -> Usage | _Top:
    """The top of a walk, opened and checked; or its whole Usage (not a dir, gone, unreadable)."""
    try:
        top = fs.lstat(path)
    except FileNotFoundError:
        return Usage()
    except (OSError, ReaderError) as e:
        return _top_error(path, e)
    blocks = top.st_blocks * 512
    if not stat.S_ISDIR(top.st_mode):
        counted = sub is None and top.st_size > 0
        app = top.st_size if counted else 0
        pay = app if stat.S_ISREG(top.st_mode) else 0
        if top.st_nlink > 1:
            return Usage(app, 0, 1, payload=pay, links=((top.st_dev, top.st_ino, blocks),))
        return Usage(app, blocks, 1, payload=pay)
    if path in mounts:
        return Usage(files=1)  # a mount point: another filesystem's bytes
    dev = top.st_dev
    try:
        top_fd = fs.open_dir(path)
    except FileNotFoundError:
        return Usage()
    except (OSError, ReaderError) as e:
        return _top_error(path, e)
    w = DirWalk(dev)
    first = DirNode(None, "", path, top.st_ino, sub is None, True)
    w.hold(first, top_fd)
    st_top = os.fstat(top_fd)
    if st_top.st_ino != top.st_ino or st_top.st_dev != dev:
        w.close(first)
        return Usage()  # replaced or mounted over since its lstat: as if it had vanished
    return _Top(w, first, _Acc(blocks, 1))


def walk_tree(
    path: str,
    sub: str | None = None,
    skip: frozenset[str] = frozenset(),
    mounts: frozenset[str] = frozenset(),
    settled: Settled | None = None,
    found: Found | None = None,
) -> Usage:
    """Measure the tree at `path` (a :class:`inspector.model.Usage`); missing: zero.

    Same rules as the reference walker in tests/refwalk.py, plus the tar payload and hard links
    leaving the tree. `path` is reached beneath the data root (no symlink on the way is
    followed) and itself lstat'ed: a symlink is counted, never followed. Below it, every dir is
    opened relative to its parent's descriptor (see ``DirWalk.reach`` in
    inspector.measure.dirfd); `mounts` (absolute paths of mount points) and anything on
    another device are not entered. `settled`: dirs whose totals may come from the last run
    (see :class:`Settled`); what it learns about them is added to `found`.
    """
    top = _open_top(path, sub, mounts)
    if isinstance(top, Usage):
        return top
    w, first, acc = top
    acc.found = found
    try:
        _descend(w, [first], acc, sub, skip, mounts, -1, settled)
    finally:
        w.close_all()
    leaving: list[tuple[int, int, int]] = []
    apparent, payload, disk = acc.apparent, acc.payload, acc.disk
    for (ldev, ino), (nbytes, nlink, seen, app, pay) in acc.links.items():
        apparent += app
        payload += pay
        if seen >= nlink:
            disk += nbytes  # every name is in this tree: count it here, once
        else:
            leaving.append((ldev, ino, nbytes))
    # Sorted, so that a tree walked in parts gives the very same Usage.
    return Usage(
        apparent, disk, acc.files, sorted_skips(acc.unreadable), payload, tuple(sorted(leaving))
    )


def sorted_skips(skips: list[Skipped]) -> tuple[Skipped, ...]:
    """Skip records in path order (the walk's order depends on how it was split)."""
    if len(skips) < 2:
        return tuple(skips)
    return tuple(sorted(skips, key=lambda s: (s.path, s.reason)))


class Split(NamedTuple):
    """A tree's first levels, listed: their part, and the subdirs left to walk."""

    head: Part
    pieces: list[DirNode]
    walk: DirWalk
    """Holds the descriptors the pieces are opened beneath: close it when they are done."""


def split_tree(
    path: str,
    sub: str | None,
    skip: frozenset[str],
    mounts: frozenset[str],
    want: int,
    max_dirs: int,
    max_entries: int,
    settled: Settled | None = None,
    found: Found | None = None,
) -> Split | Usage:
    """List the tree at `path` breadth-first until `want` subdirs are left to walk, or
    `max_dirs` dirs or more than `max_entries` entries were listed, or none is left; its
    Usage when it is not a dir or nothing is left (then it was walked whole here)."""
    top = _open_top(path, sub, mounts)
    if isinstance(top, Usage):
        return top
    w, first, acc = top
    acc.found = found
    frontier: list[DirNode] = [first]
    listed = 0
    try:
        # The top is always listed here (its skip and sub rules apply to its names only).
        while frontier and (
            listed == 0 or (len(frontier) < want and listed < max_dirs and acc.files <= max_entries)
        ):
            # Breadth-first: the next dir to list is the oldest found.
            stack = [frontier.pop(0)]
            _descend(w, stack, acc, sub, skip, mounts, 1, settled)
            frontier += stack
            listed += 1
    except BaseException:
        w.close_all()
        raise
    if not frontier:
        w.close_all()
    return Split(_part(acc), frontier, w)


def walk_piece(
    node: DirNode,
    dev: int,
    mounts: frozenset[str],
    settled: Settled | None = None,
    found: Found | None = None,
) -> Part:
    """Walk one subdir left by :func:`split_tree` (beneath its parent's open descriptor)."""
    w = DirWalk(dev)
    acc = _Acc(0, 0, found)
    try:
        # Not the top: its entries are counted by node.counts, no top-level skip applies.
        _descend(w, [node], acc, None, frozenset(), mounts, -1, settled)
    finally:
        w.close_all()
    return _part(acc)


def _part(acc: _Acc) -> Part:
    apparent, payload, disk = acc.apparent, acc.payload, acc.disk
    open_links: list[Link] = []
    for (ldev, ino), (nbytes, nlink, seen, app, pay) in acc.links.items():
        if seen >= nlink:
            # Every name is in this part: no other part can see this inode.
            apparent += app
            payload += pay
            disk += nbytes
        else:
            open_links.append((ldev, ino, nbytes, nlink, seen, app, pay))
    return Part(apparent, disk, acc.files, tuple(acc.unreadable), payload, tuple(open_links))


def _descend(
    w: DirWalk,
    stack: list[DirNode],
    acc: _Acc,
    sub: str | None,
    skip: frozenset[str],
    mounts: frozenset[str],
    limit: int,
    settled: Settled | None = None,
) -> None:
    """List the dirs on `stack` depth-first (at most `limit` of them; -1: all), adding what
    they hold to `acc`; the subdirs not listed yet are left on `stack`."""
    dev = w.dev
    apparent, payload, disk, files = acc.apparent, acc.payload, acc.disk, acc.files
    links = acc.links
    unreadable = acc.unreadable
    s_isdir, s_isreg = stat.S_ISDIR, stat.S_ISREG
    lstat_at = os.stat
    listed = 0
    found = acc.found
    if found is None:
        settled = None  # nowhere to say what was used or learned
    try:
        while stack and listed != limit:
            node = stack.pop()
            current = node.path
            ident = node.settle
            if ident is not None:
                # What it holds, from the totals before and after its listing.
                before = (apparent, disk, files, payload, len(unreadable))
                clean = True
            try:
                fd = w.reach(node)
            except (FileNotFoundError, NotADirectoryError):
                w.done_with_parent(node)
                continue  # vanished under a live daemon: Docker ignores it too
            except Swapped:
                # Replaced by another dir, or mounted over (a container starting): not ours to
                # enter, and like a vanished entry not worth a finding (Docker skips it too).
                w.done_with_parent(node)
                continue
            except OSError as e:
                # ELOOP: a dir replaced by a symlink after its listing; never followed.
                w.done_with_parent(node)
                unreadable.append(Skipped(current, e.strerror or str(e)))
                continue
            assert fd is not None
            w.done_with_parent(node)
            listed += 1
            try:
                names = os.listdir(fd)
            except OSError as e:
                unreadable.append(Skipped(current, e.strerror or str(e)))
                w.close(node)
                continue
            prefix = current + "/"
            # Bytes left for a name (a char is 1 to 4 bytes): most names need no encoding.
            room = PATH_MAX - 1 - len(os.fsencode(prefix))
            counts, is_top = node.counts, node.is_top
            # Subdirs that may be settled: all of this dir's, or those named in settled.dirs.
            settle_all = settled is not None and current in settled.parents
            settle_some = settled.dirs if settled is not None else frozenset()
            for name in names:
                if is_top and name in skip:
                    continue
                n = len(name)
                if n > room or (4 * n > room and len(os.fsencode(name)) > room):
                    # Docker's lstat of this path fails: so does its whole size.
                    unreadable.append(Skipped(current, os.strerror(errno.ENAMETOOLONG)))
                    break
                try:
                    st = lstat_at(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    unreadable.append(Skipped(prefix + name, e.strerror or str(e)))
                    continue
                if st.st_dev != dev:
                    if ident is not None:
                        clean = False  # what is mounted may change, the dir would not
                    continue  # a mount point (merged/, mounts/shm): another fs's bytes
                files += 1
                mode = st.st_mode
                if s_isdir(mode):
                    disk += st.st_blocks * 512
                    child_path = prefix + name
                    if child_path in mounts:
                        continue  # a bind mount from the same filesystem: not ours to count
                    child_counts = counts or (is_top and name == sub)
                    child = DirNode(node, name, child_path, st.st_ino, child_counts, False)
                    if (settle_all or child_path in settle_some) and settled and found:
                        me = [
                            st.st_dev,
                            st.st_ino,
                            st.st_mtime_ns,
                            st.st_ctime_ns,
                            1 if child_counts else 0,
                        ]
                        rec = settled.known.get(child_path)
                        if rec is not None and list(rec[:5]) == me:
                            apparent += rec[5]
                            disk += rec[6]
                            files += rec[7]
                            payload += rec[8]
                            found.used.append(child_path)
                            found.files += rec[7]
                            continue
                        if max(st.st_mtime_ns, st.st_ctime_ns) < settled.before_ns:
                            child.settle = me
                    stack.append(child)
                    node.pending += 1
                    continue
                size = st.st_size
                if ident is not None and st.st_nlink > 1:
                    clean = False  # its other names are counted elsewhere: not its own
                if st.st_nlink > 1:
                    key = (dev, st.st_ino)
                    seen = links.get(key)
                    if seen is None:
                        seen = links[key] = [st.st_blocks * 512, st.st_nlink, 1, 0, 0]
                    else:
                        seen[2] += 1
                    if counts and size > 0 and not seen[3]:
                        seen[3] = size
                        if s_isreg(mode):
                            seen[4] = size
                    continue
                disk += st.st_blocks * 512
                if counts and size > 0:
                    apparent += size
                    if s_isreg(mode):
                        payload += size
            # A leaf listed whole, every entry its own: keep its totals for the next run.
            if ident is not None and found is not None and clean and node.pending == 0:
                whole = len(unreadable) == before[4]
                record = [
                    *ident,
                    apparent - before[0],
                    disk - before[1],
                    files - before[2],
                    payload - before[3],
                ]
                if whole:
                    found.records.append((current, record))
            if node.pending == 0 or w.open > MAX_OPEN_DIRS:
                w.close(node)  # reopened through `reach` if a child still needs it
    finally:
        acc.apparent, acc.payload, acc.disk, acc.files = apparent, payload, disk, files
