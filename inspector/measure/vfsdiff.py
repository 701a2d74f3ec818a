"""Docker's naive diff size (archive.ChangesDirs + ChangesSize), used by vfs for SizeRw.

vfs keeps a full copy per layer, so the daemon compares a container's copy with its parent's
(the -init layer) and sums the sizes of added or modified non-directories. Port of moby's
pkg/archive changes_linux.go / changes.go: lstat only, hard links counted once.

Both trees are walked by directory descriptors (inspector.measure.dirfd): a dir a container
swaps for a symlink while we compare is never followed, on either side. Extended attributes
are read through ``/proc/self/fd/<dir>/<name>`` without following the last component, so even
they are read from the entry in the tree and nowhere else.
"""

from __future__ import annotations

import os
import stat

from inspector.errors import ReaderError
from inspector.measure.dirfd import MAX_OPEN_DIRS, DirNode, DirWalk, Swapped
from inspector.readers import fs

CAPABILITY = "security.capability"


def _cap(dirfd: int, name: str) -> bytes | None:
    try:
        return os.getxattr(f"/proc/self/fd/{dirfd}/{name}", CAPABILITY, follow_symlinks=False)
    except OSError:
        return None


def _different(old: os.stat_result, new: os.stat_result) -> bool:
    """moby statDifferent: mode/uid/gid/rdev, and for non-dirs mtime (ns) and size."""
    if (
        old.st_mode != new.st_mode
        or old.st_uid != new.st_uid
        or old.st_gid != new.st_gid
        or old.st_rdev != new.st_rdev
    ):
        return True
    if not stat.S_ISDIR(old.st_mode):
        return old.st_mtime_ns != new.st_mtime_ns or old.st_size != new.st_size
    return False


def _top(path: str, walk: DirWalk | None = None) -> tuple[DirWalk, DirNode] | None:
    """Open the top of one tree beneath the data root; None when it is not a readable dir."""
    try:
        st = fs.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            return None
        fd = fs.open_dir(path)
    except (OSError, ReaderError):
        return None
    w = walk or DirWalk(st.st_dev)
    node = DirNode(None, "", path, st.st_ino, True, True)
    w.hold(node, fd)
    got = os.fstat(fd)
    if got.st_ino != st.st_ino or got.st_dev != st.st_dev:
        w.close(node)
        return None
    return w, node


def changes_size(new_dir: str, old_dir: str | None) -> int:
    """Bytes of non-directories added or modified in `new_dir` relative to `old_dir`."""
    new_top = _top(new_dir)
    if new_top is None:
        return 0
    nw, nroot = new_top
    old_top = _top(old_dir) if old_dir is not None else None
    ow = old_top[0] if old_top is not None else DirWalk(0)
    size = 0
    seen: set[int] = set()
    # (dir in the new tree, the same dir in the old tree or None when all below is new)
    stack: list[tuple[DirNode, DirNode | None]] = [
        (nroot, old_top[1] if old_top is not None else None)
    ]
    try:
        while stack:
            new, old = stack.pop()
            try:
                nfd = nw.reach(new)
            except (OSError, Swapped):
                nfd = None
            nw.done_with_parent(new)
            ofd: int | None = None
            if old is not None:
                try:
                    ofd = ow.reach(old)
                except (OSError, Swapped):
                    ofd = None
                ow.done_with_parent(old)
            if nfd is None:
                if old is not None:
                    ow.close(old)
                continue
            try:
                names = os.listdir(nfd)
            except OSError:
                names = []
            for name in names:
                try:
                    nst = os.stat(name, dir_fd=nfd, follow_symlinks=False)
                except OSError:
                    continue
                changed = True
                old_child: DirNode | None = None
                if ofd is not None:
                    try:
                        ost = os.stat(name, dir_fd=ofd, follow_symlinks=False)
                    except OSError:
                        pass
                    else:
                        changed = _different(ost, nst) or _cap(ofd, name) != _cap(nfd, name)
                        if stat.S_ISDIR(ost.st_mode) and stat.S_ISDIR(nst.st_mode):
                            assert old is not None
                            old_child = DirNode(old, name, "", ost.st_ino, True, False)
                            old.pending += 1
                        # Children of a dir that replaced a file are all additions.
                if stat.S_ISDIR(nst.st_mode):
                    if nst.st_dev == nw.dev:
                        stack.append((DirNode(new, name, "", nst.st_ino, True, False), old_child))
                        new.pending += 1
                    elif old_child is not None and old is not None:
                        old.pending -= 1  # not entered: its old twin is not needed either
                    continue
                if not changed:
                    continue
                if nst.st_nlink > 1:
                    if nst.st_ino in seen:
                        continue
                    seen.add(nst.st_ino)
                size += nst.st_size
            if new.pending == 0 or nw.open > MAX_OPEN_DIRS:
                nw.close(new)
            if old is not None and (old.pending == 0 or ow.open > MAX_OPEN_DIRS):
                ow.close(old)
    finally:
        nw.close_all()
        ow.close_all()
    return size
