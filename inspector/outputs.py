"""Every file docker-inspector writes goes through here, and never lands inside a data root.

Names checked when a run starts can be changed by someone else before the write, minutes
later (a slow scan): a destination replaced by a symlink into the root, or its directory
replaced by one. So the binding check is made at write time, on the directory rather than
on the name:

1. the destination's directory is opened (``O_DIRECTORY``), and where it really is is read
   from the descriptor: ``/proc/self/fd/N`` (Linux) compared with the root's resolved path,
   and a walk up its ``..`` chain comparing each directory's (st_dev, st_ino) with the root
   directory's, which also catches a bind mount of the root elsewhere and needs no /proc.
   Inside a root: :class:`OutputRefused` (a UsageError: exit 2, one line).
2. A fresh temp file is created relative to that descriptor with
   ``O_CREAT|O_EXCL|O_NOFOLLOW``: nothing that already exists there (a planted symlink or
   hard link under a guessed temp name) is ever opened.
3. The data is written and fsync()ed, the directory is checked again, and the temp file is
   rename()d over the name relative to the same descriptor. rename(2) replaces whatever the
   name is (a symlink, a hard link to a file in the root) instead of writing through it; a
   directory at the name fails with EISDIR.

Directories the tool creates (state dir, cache dir) are made one level at a time relative to
the deepest existing ancestor, which is checked first, and each new level is opened with
``O_NOFOLLOW`` and checked again.

Modes (before the umask): reports, TUI exports and Prometheus files 0644, like any command's
output; the audit state, the lock and the size cache 0600 (they name containers and volumes),
and created dirs 0700.

Limit: only the root directory's own identity is compared, so a bind mount of a directory
*below* the root, mounted outside it, is not recognised.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from inspector.errors import UsageError
from inspector.paths import identity

#: Mode of reports, exports and Prometheus files (the umask applies).
PUBLIC_MODE = 0o644
#: Mode of the audit state, the lock and the size cache.
PRIVATE_MODE = 0o600
#: Mode of directories this tool creates.
DIR_MODE = 0o700
#: Most levels walked up from a directory before giving up (a loop would be a kernel bug).
MAX_DEPTH = 4096

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# O_PATH needs no read permission on the ancestors, only the search permission the path
# lookup that reached the directory needed anyway.
_UP_FLAGS = os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class OutputRefused(UsageError):
    """A destination is inside an inspected data root (or where it is cannot be checked)."""


@dataclass(frozen=True, slots=True)
class _Root:
    given: str
    real: str
    ident: tuple[int, int] | None


def _roots(roots: Iterable[str]) -> list[_Root]:
    out = []
    for r in roots:
        real = os.path.realpath(os.path.abspath(r))
        out.append(_Root(r, real, identity(real)))
    return out


def _fd_path(fd: int) -> str | None:
    """The absolute path the kernel knows for `fd`; None without /proc or if unreachable."""
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    # "(unreachable)/…" and other non-paths: leave the decision to the identity walk.
    if not where.startswith("/"):
        return None
    return where.removesuffix(" (deleted)")


def _ancestors(fd: int) -> Iterator[tuple[int, int]]:
    """(st_dev, st_ino) of the directory behind `fd`, then of each directory above it."""
    st = os.fstat(fd)
    prev = (st.st_dev, st.st_ino)
    yield prev
    cur = os.open("..", _UP_FLAGS, dir_fd=fd)
    try:
        for _ in range(MAX_DEPTH):
            st = os.fstat(cur)
            key = (st.st_dev, st.st_ino)
            if key == prev:  # "/" is its own parent
                return
            yield key
            nxt = os.open("..", _UP_FLAGS, dir_fd=cur)
            os.close(cur)
            cur, prev = nxt, key
        raise OSError(errno.ELOOP, "directory tree too deep to check")
    finally:
        os.close(cur)


def _containing_root(fd: int, roots: Sequence[_Root]) -> tuple[_Root, str | None] | None:
    """The root the directory behind `fd` is or lies in, and its kernel path; None if none."""
    where = _fd_path(fd)
    if where is not None:
        for r in roots:
            if where == r.real or where.startswith(r.real.rstrip("/") + "/"):
                return r, where
    by_ident = {r.ident: r for r in roots if r.ident is not None}
    if by_ident:
        for key in _ancestors(fd):
            if key in by_ident:
                return by_ident[key], where
    return None


def check_dir(
    fd: int,
    roots: Iterable[str],
    *,
    label: str,
    shown: str,
    hint: str = "",
    refused: type[OutputRefused] = OutputRefused,
) -> None:
    """Raise `refused` if the directory open as `fd` is a data root or inside one.

    The message reads "`label` `shown` is inside the data root ROOT`hint`".
    """
    rs = _roots(roots)
    try:
        found = _containing_root(fd, rs)
    except OSError as e:
        # Fail closed: a directory whose place cannot be established takes no output.
        raise refused(
            f"{label} {shown}: cannot check that it is outside the data root "
            f"({e.strerror or e}); docker-inspector never writes there"
        ) from e
    if found is None:
        return
    root, where = found
    full = os.path.abspath(shown)
    # Name where it leads when that is not what the name says (a symlink, a swapped dir).
    now = (
        f" (its directory is {where})"
        if where and where not in (full, os.path.dirname(full))
        else ""
    )
    raise refused(f"{label} {shown} is inside the data root {root.given}{now}{hint}")


def open_dir(
    path: str,
    roots: Iterable[str],
    *,
    label: str,
    shown: str | None = None,
    hint: str = "",
    refused: type[OutputRefused] = OutputRefused,
) -> int:
    """Open directory `path` (symlinks followed) and check where it really is; its fd.

    OSError when it cannot be opened; `refused` when it is inside a root.
    """
    fd = os.open(path, _DIR_FLAGS)
    try:
        check_dir(fd, roots, label=label, shown=shown or path, hint=hint, refused=refused)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_dirs(
    path: str,
    roots: Iterable[str],
    *,
    label: str,
    shown: str | None = None,
    mode: int = DIR_MODE,
    hint: str = "",
    refused: type[OutputRefused] = OutputRefused,
) -> int:
    """Create directory `path` as needed (like ``mkdir -p``), never inside a root; its fd.

    The deepest existing ancestor is opened and checked, then each missing level is made
    relative to its checked parent, opened with O_NOFOLLOW and checked in turn.
    """
    roots = list(roots)
    shown = shown or path
    top = os.path.abspath(path)
    missing: list[str] = []
    while not os.path.lexists(top):
        top, name = os.path.split(top)
        missing.append(name)
    fd = open_dir(top, roots, label=label, shown=shown, hint=hint, refused=refused)
    try:
        for name in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, mode, dir_fd=fd)
            nxt = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            fd, old = nxt, fd
            os.close(old)
            check_dir(fd, roots, label=label, shown=shown, hint=hint, refused=refused)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_stream(dir_fd: int, name: str, data: bytes) -> bool:
    """Write into the character device or FIFO `name` (``-o /dev/null``, a named pipe).

    Such a destination is written in place, never replaced (renaming over /dev/null would
    turn it into a file). Opened with O_NOFOLLOW and checked again once open: if it was
    swapped for anything else meanwhile, False, and the caller replaces it instead.
    """
    fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            return False
        _write_all(fd, data)
        return True
    finally:
        os.close(fd)


def write_at(
    dir_fd: int,
    name: str,
    data: bytes,
    roots: Iterable[str],
    *,
    label: str,
    shown: str,
    mode: int = PUBLIC_MODE,
    hint: str = "",
    refused: type[OutputRefused] = OutputRefused,
    tmp_prefix: str | None = None,
    tmp_suffix: str = ".tmp",
) -> None:
    """Replace `name` in the directory open as `dir_fd` by a file holding `data`.

    Via a fresh O_EXCL|O_NOFOLLOW temp file (``tmp_prefix`` + random + ``tmp_suffix``,
    default ``.NAME.<random>.tmp``) and rename(2); the directory is checked against `roots`
    right before the rename. OSError (IsADirectoryError when `name` is a directory) or
    `refused`; the temp file never outlives a failure.
    """
    roots = list(roots)
    if not name or name in (".", "..") or "/" in name:
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), shown)
    with contextlib.suppress(FileNotFoundError):
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), shown)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            if _write_stream(dir_fd, name, data):
                return
        elif not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file, character device or FIFO", shown)
    prefix = f".{name[:40]}." if tmp_prefix is None else tmp_prefix
    for _ in range(100):
        tmp = f"{prefix}{secrets.token_hex(8)}{tmp_suffix}"
        try:
            fd = os.open(tmp, _TMP_FLAGS, mode, dir_fd=dir_fd)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(errno.EEXIST, "no unused temporary file name", shown)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        # Again just before the name changes: the descriptor is fixed, but be strict.
        check_dir(dir_fd, roots, label=label, shown=shown, hint=hint, refused=refused)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    # Durability of the rename itself; the new file is complete either way.
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)


def write_file(
    path: str,
    data: bytes,
    roots: Iterable[str],
    *,
    label: str,
    mode: int = PUBLIC_MODE,
    hint: str = "",
    refused: type[OutputRefused] = OutputRefused,
) -> None:
    """Replace file `path` by one holding `data`, never inside a root (see the module doc).

    OSError when it cannot be written (IsADirectoryError: `path` is a directory);
    `refused` when its directory is, at write time, a data root or inside one.
    """
    roots = list(roots)
    parent, name = os.path.split(os.path.abspath(path))
    if not name:
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    dir_fd = open_dir(parent, roots, label=label, shown=path, hint=hint, refused=refused)
    try:
        write_at(
            dir_fd, name, data, roots, label=label, shown=path, mode=mode, hint=hint,
            refused=refused,
        )  # fmt: skip
    finally:
        os.close(dir_fd)


def write_cache(
    directory: str,
    name: str,
    data: bytes,
    roots: Iterable[str],
    *,
    label: str,
    hint: str = "",
    refused: type[OutputRefused] = OutputRefused,
    tmp_suffix: str = ".tmp",
) -> None:
    """Replace the private file `name` in the cache dir `directory`, made as needed.

    Mode 0600; the temp file is ``.tmp-<random><tmp_suffix>``, the name the size cache's
    tidying removes when a run was killed. OSError or `refused`, as :func:`write_at`.
    """
    roots = list(roots)
    dir_fd = make_dirs(directory, roots, label=label, hint=hint, refused=refused)
    try:
        write_at(
            dir_fd, name, data, roots, label=label, shown=directory, mode=PRIVATE_MODE,
            hint=hint, refused=refused, tmp_prefix=".tmp-", tmp_suffix=tmp_suffix,
        )  # fmt: skip
    finally:
        os.close(dir_fd)


__all__ = [
    "DIR_MODE",
    "PRIVATE_MODE",
    "PUBLIC_MODE",
    "OutputRefused",
    "check_dir",
    "make_dirs",
    "open_dir",
    "write_at",
    "write_cache",
    "write_file",
]
