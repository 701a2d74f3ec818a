"""Walking a directory tree by descriptors: every dir is opened relative to its parent.

Shared by the size walker (inspector.scan) and vfs's naive diff. Opening by a re-resolved
path would follow a symlink that a container swapped in for one of its dirs after it was
listed (``mv dir x; ln -s / dir``) and walk the host; opening each name relative to the
parent's descriptor with ``O_NOFOLLOW|O_DIRECTORY`` and checking the inode the listing showed
cannot leave the tree.
"""

from __future__ import annotations

import os

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

#: Directory descriptors a walk keeps open at most. Only ancestors with siblings still to
#: visit hold one; past the budget (a hostile tree both wide and 10,000 levels deep) a dir's
#: descriptor is closed and opened again when needed, each step checked against the inode
#: first seen, so a swap is still caught.
MAX_OPEN_DIRS = 256


class DirNode:
    """A directory of the walk: how to reach it again, and its descriptor while needed."""

    __slots__ = ("counts", "fd", "ino", "is_top", "name", "parent", "path", "pending", "settle")

    def __init__(
        self, parent: DirNode | None, name: str, path: str, ino: int, counts: bool, is_top: bool
    ) -> None:
        self.parent = parent
        self.name = name
        self.path = path
        self.ino = ino
        self.counts = counts
        self.is_top = is_top
        self.fd = -1
        self.pending = 0
        """Children not opened yet (they need this descriptor)."""
        self.settle: list[int] | None = None
        """Its identity when its totals may be kept for the next run (see walker.Settled)."""


class DirWalk:
    """Descriptor bookkeeping of one walk: open relative to the parent, never by path."""

    def __init__(self, dev: int) -> None:
        self.dev = dev
        self.live: set[DirNode] = set()

    @property
    def open(self) -> int:
        """Descriptors held right now."""
        return len(self.live)

    def hold(self, d: DirNode, fd: int) -> None:
        d.fd = fd
        self.live.add(d)

    def close(self, d: DirNode) -> None:
        if d.fd >= 0:
            os.close(d.fd)
            d.fd = -1
            self.live.discard(d)

    def close_all(self) -> None:
        for d in list(self.live):
            self.close(d)

    def reach(self, d: DirNode) -> int | None:
        """d's descriptor, opened beneath its nearest open ancestor; None if it was swapped.

        Each step opens one name with O_NOFOLLOW|O_DIRECTORY relative to its parent's
        descriptor and checks (st_dev, st_ino) against what the parent's listing showed: a
        dir replaced by a symlink fails to open, a dir replaced by another dir (or by a mount)
        has another inode. Either way the walk never leaves the tree.
        """
        chain: list[DirNode] = []
        cur: DirNode | None = d
        while cur is not None and cur.fd < 0:
            chain.append(cur)
            cur = cur.parent
        if cur is None:
            return None  # the top is closed only when nothing below needs it
        for node in reversed(chain):
            assert node.parent is not None
            fd = os.open(node.name, _DIR_FLAGS, dir_fd=node.parent.fd)
            st = os.fstat(fd)
            if st.st_ino != node.ino or st.st_dev != self.dev:
                os.close(fd)
                raise Swapped(node.path)
            self.hold(node, fd)
        return d.fd

    def done_with_parent(self, d: DirNode) -> None:
        """d is open: its parent needs its descriptor for one child fewer."""
        p = d.parent
        if p is not None:
            p.pending -= 1
            if p.pending <= 0:
                self.close(p)


class Swapped(Exception):
    """A directory changed identity between its listing and its opening."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


#: overlayfs marks an opaque dir (it hides everything below it) with one of these xattrs,
#: ``trusted.`` as root, ``user.`` in rootless and userxattr mounts.
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


def opaque_dir(fd: int) -> bool:
    """Whether the dir open as `fd` is an overlayfs opaque dir (read by fd: no path lookup)."""
    for attr in OPAQUE_XATTRS:
        try:
            if os.getxattr(fd, attr) == b"y":
                return True
        except OSError:
            continue
    return False
