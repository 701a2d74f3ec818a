"""A manifest of every path under a data root: proof that a command changed nothing there.

:func:`take` records, for each path (the root itself included): its type, mode, owner,
size, mtime and ctime (ns), inode and link count, device number, symlink target and extended
attributes. Regular files also get their sha256, except inside layer contents (``diff/`` of
an overlay2 layer dir, a ``vfs/dir/<id>`` copy) and volume contents (``volumes/<v>/_data``):
those can be huge, so there only the stat facts are kept. A ctime that did not move proves no
write, chmod, chown, xattr change or link happened to that inode.

Regular files' atimes are kept apart (:attr:`Manifest.atimes`): reading a file without
O_NOATIME moves its atime (relatime does so whenever atime <= mtime or ctime, which holds in
a fresh copy), so comparing them proves every file was opened with O_NOATIME. Files are
hashed with O_NOATIME themselves, so taking a manifest moves no atime. Directory atimes are
not compared: listing a directory may move its atime, and that is not a write.

Trees are walked with paths relative to an open directory (``dir_fd``), so a tree nested
deeper than PATH_MAX is recorded too.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_NOATIME = getattr(os, "O_NOATIME", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Manifest:
    """Entries by path relative to the root (``""`` is the root itself)."""

    root: str
    entries: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    atimes: dict[str, int] = field(default_factory=dict)
    """atime (ns) of each regular file."""
    hashed: int = 0
    """Regular files whose contents were hashed (metadata files)."""


def _content_dir(rel: str) -> bool:
    """Whether `rel` is a directory of container- or image-written contents (not hashed)."""
    parts = rel.split("/")
    if len(parts) >= 3 and parts[0] == "overlay2" and parts[2] == "diff":
        return True
    if len(parts) >= 3 and parts[0] == "volumes" and parts[2] == "_data":
        return True
    return len(parts) >= 3 and parts[0] == "vfs" and parts[1] == "dir"


def _xattrs(name: str, dir_fd: int) -> tuple[tuple[str, bytes], ...]:
    # os.listxattr has no dir_fd: go through /proc/self/fd, which names the directory only.
    path = f"/proc/self/fd/{dir_fd}/{name}"
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    out = []
    for n in sorted(names):
        try:
            out.append((n, os.getxattr(path, n, follow_symlinks=False)))
        except OSError:
            out.append((n, b"<unreadable>"))
    return tuple(out)


def _sha256(name: str, dir_fd: int) -> str:
    try:
        fd = os.open(name, _FILE_FLAGS | _NOATIME, dir_fd=dir_fd)
    except PermissionError:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    try:
        h = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
        return h.hexdigest()
    finally:
        os.close(fd)


def _children(fd: int) -> Iterator[str]:
    try:
        names = os.listdir(fd)
    except FileNotFoundError:
        return
    yield from sorted(names)


def take_atimes(root: str | os.PathLike[str]) -> dict[str, int]:
    """Only the atimes of regular files (nothing is read): cheap, usable on a live root."""
    return take(root, hash_files=False).atimes


def take(root: str | os.PathLike[str], *, hash_files: bool = True) -> Manifest:
    """Record every path under `root` (which should not change while this runs).

    Entries that vanish during the walk (a live daemon) are left out.
    """
    top = os.fspath(root)
    m = Manifest(top)
    st = os.lstat(top)
    m.entries[""] = _describe(st, None, (), None)
    # Explicit stack of (open dir fd, relative path): no recursion, no path length limit.
    root_fd = os.open(top, _DIR_FLAGS)
    stack: list[tuple[int, str]] = [(root_fd, "")]
    while stack:
        fd, rel_dir = stack.pop()
        try:
            for name in _children(fd):
                rel = f"{rel_dir}/{name}" if rel_dir else name
                try:
                    est = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    mode = est.st_mode
                    target = os.readlink(name, dir_fd=fd) if stat.S_ISLNK(mode) else None
                    digest = None
                    if stat.S_ISREG(mode):
                        m.atimes[rel] = est.st_atime_ns
                        if hash_files and not _content_dir(rel):
                            digest = _sha256(name, fd)
                            m.hashed += 1
                    m.entries[rel] = _describe(est, target, _xattrs(name, fd), digest)
                    if stat.S_ISDIR(mode) and est.st_dev == st.st_dev:
                        stack.append((os.open(name, _DIR_FLAGS, dir_fd=fd), rel))
                except FileNotFoundError:
                    continue
        finally:
            os.close(fd)
    return m


def _describe(
    st: os.stat_result,
    target: str | None,
    xattrs: tuple[tuple[str, bytes], ...],
    digest: str | None,
) -> tuple[Any, ...]:
    kind = stat.S_IFMT(st.st_mode)
    # A directory's size is its allocation, which only changes with its entries.
    return (
        kind,
        stat.S_IMODE(st.st_mode),
        st.st_uid,
        st.st_gid,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        st.st_nlink,
        st.st_rdev,
        target,
        xattrs,
        digest,
    )


_FIELDS = (
    "type",
    "mode",
    "uid",
    "gid",
    "size",
    "mtime_ns",
    "ctime_ns",
    "inode",
    "nlink",
    "rdev",
    "link target",
    "xattrs",
    "sha256",
)


def differences(before: Manifest, after: Manifest, limit: int = 20) -> list[str]:
    """Human-readable differences (added, removed, changed paths); [] if identical."""
    out: list[str] = []
    for rel in sorted(set(before.entries) | set(after.entries)):
        a = before.entries.get(rel)
        b = after.entries.get(rel)
        if a == b:
            continue
        shown = rel or "(the root itself)"
        if a is None:
            out.append(f"added: {shown!r}")
        elif b is None:
            out.append(f"removed: {shown!r}")
        else:
            what = [f"{f} {x!r} -> {y!r}" for f, x, y in zip(_FIELDS, a, b, strict=True) if x != y]
            out.append(f"changed: {shown!r}: " + "; ".join(what))
        if len(out) >= limit:
            out.append("…")
            break
    return out


def atime_differences(before: Manifest, after: Manifest, limit: int = 20) -> list[str]:
    """Regular files whose atime moved between the two manifests."""
    out = [
        f"atime moved: {rel!r}"
        for rel in sorted(set(before.atimes) & set(after.atimes))
        if before.atimes[rel] != after.atimes[rel]
    ]
    return out[:limit] + (["…"] if len(out) > limit else [])
