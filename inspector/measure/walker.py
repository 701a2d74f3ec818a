"""The size walker: one tree, iteratively, by directory descriptors, lstat only.

Docker's ``directory.Size`` rules (apparent bytes of non-directories, size 0 skipped, each
inode once) plus allocated bytes, the tar payload and hard links leaving the tree; the same
rules as the reference walker in tests/refwalk.py. It never follows a symlink, never enters a
mount point and never re-resolves a path (see inspector.measure.dirfd).
"""

from __future__ import annotations

import errno
import os
import stat

from inspector.errors import ReaderError
from inspector.measure.dirfd import MAX_OPEN_DIRS, DirNode, DirWalk, Swapped
from inspector.model import Skipped, Usage
from inspector.readers import fs

#: Docker's walk lstats every entry by its full path, which fails past the kernel's PATH_MAX
#: (4096 bytes with the NUL): `docker system df` then shows -1. The walker goes by directory
#: descriptors and could go deeper; it reports the same point as unreadable instead, so that
#: a size is either Docker's or unknown, never a third number.
PATH_MAX = 4096


def _top_error(path: str, e: Exception) -> Usage:
    reason = str(e).removeprefix(f"{path}: ") if isinstance(e, ReaderError) else None
    if reason is None:
        assert isinstance(e, OSError)
        reason = e.strerror or str(e)
    return Usage(unreadable=(Skipped(path, reason),))


def walk_tree(
    path: str,
    sub: str | None = None,
    skip: frozenset[str] = frozenset(),
    mounts: frozenset[str] = frozenset(),
) -> Usage:
    """Measure the tree at `path` (a :class:`inspector.model.Usage`); missing: zero.

    Same rules as the reference walker in tests/refwalk.py, plus the tar payload and hard links
    leaving the tree. `path` is reached beneath the data root (no symlink on the way is
    followed) and itself lstat'ed: a symlink is counted, never followed. Below it, every dir is
    opened relative to its parent's descriptor (see ``DirWalk.reach`` in
    inspector.measure.dirfd); `mounts` (absolute paths of mount points) and anything on
    another device are not entered.
    """
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
    apparent = payload = 0
    disk = blocks
    files = 1
    # Multi-link non-dirs: (dev, ino) -> [bytes, names not yet seen].
    links: dict[tuple[int, int], list[int]] = {}
    seen_ino: set[int] = set()  # directory.Size keys its map by inode number only
    unreadable: list[Skipped] = []
    s_isdir, s_isreg = stat.S_ISDIR, stat.S_ISREG
    lstat_at = os.stat
    stack: list[DirNode] = [first]
    try:
        while stack:
            node = stack.pop()
            current = node.path
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
                    continue  # a mount point (merged/, mounts/shm): another fs's bytes
                files += 1
                mode = st.st_mode
                if s_isdir(mode):
                    disk += st.st_blocks * 512
                    child_path = prefix + name
                    if child_path in mounts:
                        continue  # a bind mount from the same filesystem: not ours to count
                    child_counts = counts or (is_top and name == sub)
                    stack.append(DirNode(node, name, child_path, st.st_ino, child_counts, False))
                    node.pending += 1
                    continue
                size = st.st_size
                if st.st_nlink > 1:
                    key = (dev, st.st_ino)
                    seen = links.get(key)
                    if seen is None:
                        links[key] = [st.st_blocks * 512, st.st_nlink - 1]
                    else:
                        seen[1] -= 1
                    if counts and size > 0 and st.st_ino not in seen_ino:
                        seen_ino.add(st.st_ino)
                        apparent += size
                        if s_isreg(mode):
                            payload += size
                    continue
                disk += st.st_blocks * 512
                if counts and size > 0:
                    apparent += size
                    if s_isreg(mode):
                        payload += size
            if node.pending == 0 or w.open > MAX_OPEN_DIRS:
                w.close(node)  # reopened through `reach` if a child still needs it
    finally:
        w.close_all()
    leaving: list[tuple[int, int, int]] = []
    for (ldev, ino), (nbytes, left) in links.items():
        if left <= 0:
            disk += nbytes  # every name is in this tree: count it here, once
        else:
            leaving.append((ldev, ino, nbytes))
    return Usage(apparent, disk, files, tuple(unreadable), payload, tuple(leaving))
