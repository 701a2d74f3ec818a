"""Reference walker for tests: the plain single-threaded rules that inspector.scan must match.

Rules (see shared/docker-format.md §4 "How sizes are computed"):
- lstat only: a symlink is never followed, it counts the length of its target string;
- never crosses into another filesystem (live mounts such as merged/ or mounts/shm);
- never opens a file: only directory listings and lstat;
- iterative with an explicit stack, so depth is unbounded by Python's recursion limit;
- Docker's apparent size skips directories and zero-size entries and counts each inode once;
- disk usage is st_blocks*512 with each (dev, inode) once, directories included, like du.
Only inodes with more than one link are remembered, so memory stays bounded by hard links.
"""

from __future__ import annotations

import os
import stat

from inspector.model import Skipped, Usage


def measure(
    path: str, apparent_sub: str | None = None, skip_names: frozenset[str] = frozenset()
) -> Usage:
    """Measure the tree at `path`.

    `apparent` counts only entries under `path/apparent_sub` when it is given (e.g. the
    `diff` dir of an overlay2 layer), `disk` always counts the whole tree. Top-level names in
    `skip_names` are not entered at all. A missing `path` measures as zero.
    """
    try:
        top = os.lstat(path)
    except FileNotFoundError:
        return Usage(0, 0)
    except OSError as e:
        return Usage(0, 0, 0, (Skipped(path, e.strerror or str(e)),))
    dev = top.st_dev
    disk = top.st_blocks * 512
    if not stat.S_ISDIR(top.st_mode):
        app = 0 if apparent_sub is not None else top.st_size
        return Usage(app, disk, 1)
    apparent = 0
    files = 1
    seen_disk: set[tuple[int, int]] = set()
    seen_app: set[int] = set()
    unreadable: list[Skipped] = []
    sub_path = os.path.join(path, apparent_sub) if apparent_sub is not None else None
    # Stack items: (directory path, whether it counts for `apparent`).
    stack: list[tuple[str, bool]] = [(path, apparent_sub is None)]
    first = True
    while stack:
        current, counts = stack.pop()
        try:
            it = os.scandir(current)
        except FileNotFoundError:
            continue  # vanished under a live daemon: Docker ignores it too
        except OSError as e:
            unreadable.append(Skipped(current, e.strerror or str(e)))
            continue
        with it:
            while True:
                try:
                    entry = next(it)
                except StopIteration:
                    break
                except OSError as e:
                    unreadable.append(Skipped(current, e.strerror or str(e)))
                    break
                if first and entry.name in skip_names:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    unreadable.append(Skipped(entry.path, e.strerror or str(e)))
                    continue
                if st.st_dev != dev:
                    continue  # a mount point: another filesystem's bytes
                files += 1
                is_dir = stat.S_ISDIR(st.st_mode)
                if st.st_nlink > 1 and not is_dir:
                    key = (st.st_dev, st.st_ino)
                    if key not in seen_disk:
                        seen_disk.add(key)
                        disk += st.st_blocks * 512
                else:
                    disk += st.st_blocks * 512
                if is_dir:
                    child_counts = counts or (sub_path is not None and entry.path == sub_path)
                    stack.append((entry.path, child_counts))
                    continue
                if counts and st.st_size > 0:
                    if st.st_nlink > 1:
                        if st.st_ino in seen_app:
                            continue
                        seen_app.add(st.st_ino)
                    apparent += st.st_size
        first = False
    return Usage(apparent, disk, files, tuple(unreadable))


def file_usage(path: str) -> tuple[int, int] | None:
    """(apparent, disk) of one non-directory entry via lstat; None if it does not exist."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_size, st.st_blocks * 512
