"""Safe, read-only file access under a hostile data root.

Every path under an inspected root is resolved *beneath* that root's directory descriptor,
component by component, refusing every symlink on the way (not only the last component, which
is all ``O_NOFOLLOW`` guards): a metadata dir swapped for a symlink to an outside tree
(``image/overlay2 -> /tmp/evil``, ``containers/<id> -> /``) is reported, never followed. The
kernel does it in one call where it has ``openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)``
(Linux >= 5.6); elsewhere each component is opened with ``O_NOFOLLOW`` relative to the last.

The pipeline registers the root with :func:`anchored` for as long as it reads; while any root
is registered, a path outside every registered root is refused too (a name from metadata such
as ``../../etc`` or ``/etc`` joined to a root path cannot lead the readers out). Without a
registered root (unit tests of single readers) a path is opened as before: ``O_NOFOLLOW`` on
the last component only.

Files are opened ``O_RDONLY|O_NONBLOCK`` (a FIFO never blocks a read) and ``O_NOATIME`` where
the kernel allows it; reads are capped: a 2 GB config.v2.json costs at most ``cap`` bytes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from inspector.errors import ReaderError
from inspector.model import LIVE_SLACK_SECONDS

#: Default cap for small metadata files (IDs, sizes, links).
SMALL = 4096
#: Default cap for JSON documents (image configs, container configs).
JSON_CAP = 16 * 1024 * 1024

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BASE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)
_PATH = getattr(os, "O_PATH", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_noatime_ok = True

# openat2(2): struct open_how and the RESOLVE_* flags (linux/openat2.h).
_SYS_OPENAT2 = 437  # the same number on every architecture (the unified syscall table)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RESOLVE = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


_openat2_ok: bool | None = None  # None: not probed yet
_syscall: Any = None
#: One open_how per flags value, built once (the metadata readers make ~40k calls on a big host).
_HOWS: dict[int, Any] = {}


def _openat2_raw(dirfd: int, rel: str, flags: int) -> int:
    """openat2(dirfd, rel, flags, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS): the fd, or -errno."""
    how = _HOWS.get(flags)
    if how is None:
        how = _HOWS[flags] = ctypes.byref(_OpenHow(flags, 0, _RESOLVE))
    fd: int = _syscall(_SYS_OPENAT2, dirfd, os.fsencode(rel), how, 24)
    return fd if fd >= 0 else -ctypes.get_errno()


def _openat2(dirfd: int, rel: str, flags: int) -> int:
    """Like _openat2_raw, raising OSError on failure."""
    fd = _openat2_raw(dirfd, rel, flags)
    if fd < 0:
        raise OSError(-fd, os.strerror(-fd), rel)
    return fd


def _probe_openat2(dirfd: int) -> bool:
    """Whether openat2 works here (kernel >= 5.6 and no seccomp filter refusing it)."""
    global _openat2_ok, _syscall
    if _openat2_ok is None:
        try:
            fn = ctypes.CDLL(None, use_errno=True).syscall
            fn.restype = ctypes.c_long
            fn.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
            _syscall = fn
            os.close(_openat2(dirfd, ".", _PATH | os.O_DIRECTORY | _CLOEXEC))
            _openat2_ok = True
        except (OSError, AttributeError):
            _openat2_ok = False  # ENOSYS, or EPERM from a container's seccomp profile
    return _openat2_ok


class _Anchor:
    """A registered data root: its path as given and a descriptor of the directory."""

    __slots__ = ("fd", "path", "users")

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.users = 1


_ANCHORS: dict[str, _Anchor] = {}
_LOCK = threading.Lock()
#: The registered anchors with the prefix each path must start with; replaced whole on every
#: change, so a reader takes it without the lock.
_ACTIVE: tuple[tuple[_Anchor, str], ...] = ()


def _publish() -> None:
    global _ACTIVE
    _ACTIVE = tuple((a, a.path.rstrip("/") + "/") for a in _ANCHORS.values())


@contextlib.contextmanager
def anchored(root: str) -> Iterator[None]:
    """Resolve every path under `root` beneath it (see the module doc) inside the block.

    The root itself is the operator's choice and may be a symlink (``/var/lib/docker`` on
    another disk); it is followed once, here. Nested use for the same root is fine.
    """
    key = os.path.abspath(root)
    with _LOCK:
        anchor = _ANCHORS.get(key)
        if anchor is not None:
            anchor.users += 1
        else:
            try:
                fd = os.open(key, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
            except OSError as e:
                raise ReaderError(f"{key}: {e.strerror or e}") from e
            _probe_openat2(fd)
            anchor = _ANCHORS[key] = _Anchor(key, fd)
            _publish()
    try:
        yield
    finally:
        with _LOCK:
            anchor.users -= 1
            if anchor.users == 0:
                del _ANCHORS[key]
                _publish()
                os.close(anchor.fd)


def anchored_roots() -> list[str]:
    """The roots registered right now (for diagnostics and tests)."""
    with _LOCK:
        return list(_ANCHORS)


class PathEscape(ReaderError):
    """A path leaves the data root or crosses a symlink inside it: it is not followed."""


def _anchor_for(path: str) -> tuple[_Anchor, str] | None:
    """(the registered root holding `path`, the path relative to it), or None when unanchored.

    PathEscape when roots are registered but `path` is under none of them, or when its
    relative part holds `.`, `..` or empty components (a name read from metadata).
    """
    active = _ACTIVE
    if not active:
        return None
    for a, prefix in active:
        if path.startswith(prefix):
            rel = path[len(prefix) :]
            # Only a name starting with "." or an empty name can be "", "." or "..".
            if (rel.startswith(".") or "/." in rel or "//" in rel or rel.endswith("/")) and any(
                p in ("", ".", "..") for p in rel.split("/")
            ):
                raise PathEscape(f"{path}: not a plain path below the data root: not read")
            return a, rel
        if path == a.path:
            return a, "."
    raise PathEscape(f"{path}: outside the data root being read: not read")


def _which_symlink(anchor: _Anchor, rel: str) -> str | None:
    """The first component of `rel` that is a symlink (for the error message), if any."""
    cur = os.dup(anchor.fd)
    try:
        parts = rel.split("/")
        for i, part in enumerate(parts):
            try:
                st = os.stat(part, dir_fd=cur, follow_symlinks=False)
            except OSError:
                return None
            if stat.S_ISLNK(st.st_mode):
                return "/".join(parts[: i + 1])
            if i == len(parts) - 1 or not stat.S_ISDIR(st.st_mode):
                return None
            try:
                nxt = os.open(part, _PATH | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC, dir_fd=cur)
            except OSError:
                return None
            os.close(cur)
            cur = nxt
        return None
    finally:
        os.close(cur)


def _escape_error(anchor: _Anchor, rel: str, path: str, e: OSError) -> OSError | ReaderError:
    """The error to raise for a failed beneath-resolution of `rel`."""
    if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
        link = _which_symlink(anchor, rel)
        if link is not None:
            if link == rel:
                return ReaderError(f"{path}: is a symlink, not followed")
            return PathEscape(
                f"{path}: {os.path.join(anchor.path, link)} is a symlink inside the data root: "
                "not followed"
            )
        if e.errno == errno.EXDEV:
            return PathEscape(f"{path}: leaves the data root: not followed")
    return e


def _open_beneath(path: str, flags: int) -> int:
    """Open `path` with `flags`, beneath its registered root when there is one.

    Raises FileNotFoundError unchanged, ReaderError/PathEscape for symlinks and escapes, and
    OSError for the rest. The last component is never followed either (O_NOFOLLOW).
    """
    found = _anchor_for(path)
    if found is None:
        return os.open(path, flags | os.O_NOFOLLOW)
    anchor, rel = found
    if _openat2_ok:
        # No exception on the common misses (ENOENT): one is built only to be raised.
        fd = _openat2_raw(anchor.fd, rel, flags | os.O_NOFOLLOW)
        if fd >= 0:
            return fd
        e = OSError(-fd, os.strerror(-fd), path)
        if -fd not in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
            raise e
        raise _escape_error(anchor, rel, path, e)
    try:
        return _walk_open(anchor.fd, rel, flags | os.O_NOFOLLOW)
    except OSError as e:
        raise _escape_error(anchor, rel, path, e) from e


def _walk_open(rootfd: int, rel: str, flags: int) -> int:
    """The fallback of openat2: one O_NOFOLLOW open per component, each relative to the last."""
    parts = rel.split("/")
    cur = rootfd
    try:
        for part in parts[:-1]:
            nxt = os.open(part, _PATH | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC, dir_fd=cur)
            if cur != rootfd:
                os.close(cur)
            cur = nxt
        return os.open(parts[-1], flags, dir_fd=cur)
    finally:
        if cur != rootfd:
            os.close(cur)


def open_file(path: str | bytes) -> int:
    """Open a regular file read-only, beneath its root, never through a symlink."""
    global _noatime_ok
    p = os.fsdecode(path)
    if _noatime_ok and _NOATIME:
        try:
            return _open_beneath(p, _BASE_FLAGS | _NOATIME)
        except PermissionError:
            # O_NOATIME needs ownership or CAP_FOWNER: fall back silently, once.
            _noatime_ok = False
    return _open_beneath(p, _BASE_FLAGS)


def open_dir(path: str) -> int:
    """A descriptor of the directory `path` (beneath its root, never through a symlink).

    FileNotFoundError when missing; ReaderError for a symlink anywhere on the way; OSError
    (e.g. ENOTDIR, EACCES) otherwise. The caller closes it.
    """
    return _open_beneath(path, _DIR_FLAGS)


def open_regular(path: str | bytes, cap: int | None = None) -> tuple[int, os.stat_result]:
    """Open a regular file read-only beneath its root: (descriptor, its fstat); caller closes.

    The one way readers open a file to stream it (bbolt pages, tar-split): FileNotFoundError
    unchanged; ReaderError naming the file for a symlink (as the file or on the way to it), a
    non-regular file, a file over `cap` bytes, or any other error.
    """
    shown = os.fsdecode(path)
    try:
        fd = open_file(path)
    except (FileNotFoundError, ReaderError):
        raise
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ReaderError(f"{shown}: is a symlink, not followed") from e
        raise ReaderError(f"{shown}: {e.strerror or e}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReaderError(f"{shown}: not a regular file")
        if cap is not None and st.st_size > cap:
            raise ReaderError(f"{shown}: {st.st_size} bytes, over the {cap}-byte cap for this file")
    except ReaderError:
        os.close(fd)
        raise
    except OSError as e:
        os.close(fd)
        raise ReaderError(f"{shown}: {e.strerror or e}") from e
    return fd, st


def read_bytes(path: str | bytes, cap: int = SMALL) -> bytes:
    """Read at most ``cap`` bytes of a regular file; raise ReaderError if it is larger.

    Raises FileNotFoundError unchanged (callers decide whether absence is normal) and
    ReaderError for anything else: a symlink (as the file or on the way to it), a non-regular
    file, a permission error, a file over the cap.
    """
    fd, _ = open_regular(path, cap)
    return read_fd(fd, os.fsdecode(path), cap)


def read_fd(fd: int, shown: str, cap: int) -> bytes:
    """Read an open regular file up to `cap` bytes, then close it (ReaderError otherwise;
    `shown`: its path in messages)."""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReaderError(f"{shown}: not a regular file")
        if st.st_size > cap:
            raise ReaderError(f"{shown}: {st.st_size} bytes, over the {cap}-byte cap for this file")
        if st.st_size < 65536:
            # Small metadata (IDs, sizes, links): one read of one byte more than the file has.
            # A short read of a regular file means its end, so nothing more is needed.
            data = os.read(fd, st.st_size + 1)
            if len(data) <= st.st_size:
                return data
            chunks = [data]
            left = cap + 1 - len(data)
        else:
            chunks = []
            left = cap + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > cap:
            raise ReaderError(f"{shown}: grew past the {cap}-byte cap while being read")
        return data
    except OSError as e:
        raise ReaderError(f"{shown}: {e.strerror or e}") from e
    finally:
        os.close(fd)


def read_text(path: str | bytes, cap: int = SMALL) -> str:
    """Read a small ASCII/UTF-8 metadata file, stripped of surrounding whitespace."""
    data = read_bytes(path, cap)
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        raise ReaderError(f"{os.fsdecode(path)}: not valid UTF-8") from e


def read_optional_text(path: str | bytes, cap: int = SMALL) -> str | None:
    """Like read_text, but None when the file does not exist."""
    try:
        return read_text(path, cap)
    except FileNotFoundError:
        return None


def lstat(path: str) -> os.stat_result:
    """lstat `path` without following a symlink anywhere on the way (beneath its root).

    FileNotFoundError when missing (or a component is not a directory); ReaderError when a
    component on the way is a symlink; other OSErrors unchanged.
    """
    if _anchor_for(path) is None:
        return os.lstat(path)
    try:
        fd = _open_beneath(path, _PATH | _CLOEXEC)
    except NotADirectoryError as e:
        raise FileNotFoundError(e.errno, e.strerror, path) from e
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def lstat_with_entry(path: str, name: str) -> tuple[os.stat_result, os.stat_result]:
    """lstat `path` (as :func:`lstat`) and its entry `name`, with `path` resolved once.

    For a few thousand layer dirs at a time (the size cache's identity of each dir and its
    diff/): one open beneath the root instead of two. `name` is one component, never
    followed. Errors as :func:`lstat` (for `path`: a symlink or a file there is returned as
    such, and then `name` raises NotADirectoryError) and FileNotFoundError for `name`.
    """
    if not name or "/" in name or name in (".", ".."):
        raise PathEscape(f"{path}/{name}: not a single name: not read")
    if _anchor_for(path) is None:
        return os.lstat(path), os.lstat(os.path.join(path, name))
    try:
        fd = _open_beneath(path, _PATH | _CLOEXEC)
    except NotADirectoryError as e:
        raise FileNotFoundError(e.errno, e.strerror, path) from e
    try:
        return os.fstat(fd), os.stat(name, dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(fd)


def lstat_dirs_with_entry(
    parent: str, names: Iterable[str], entry: str
) -> dict[str, tuple[os.stat_result, os.stat_result] | None]:
    """:func:`lstat_with_entry` of many dirs of one parent: `parent` is opened once (beneath
    its root) and each name relative to it, one component, never followed.

    name -> (its lstat, its `entry`'s lstat), or None when either cannot be taken (not a dir,
    a symlink, missing, unreadable). ReaderError/OSError when `parent` cannot be opened.
    """
    if not entry or "/" in entry or entry in (".", ".."):
        raise PathEscape(f"{parent}/{entry}: not a single name: not read")
    out: dict[str, tuple[os.stat_result, os.stat_result] | None] = {}
    pfd = open_dir(parent)
    flags = _PATH | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
    try:
        for name in names:
            if not name or "/" in name or name in (".", ".."):
                out[name] = None
                continue
            try:
                fd = os.open(name, flags, dir_fd=pfd)
            except OSError:
                out[name] = None  # a symlink or a file is no dir (O_NOFOLLOW|O_DIRECTORY)
                continue
            try:
                out[name] = (os.fstat(fd), os.stat(entry, dir_fd=fd, follow_symlinks=False))
            except OSError:
                out[name] = None
            finally:
                os.close(fd)
    finally:
        os.close(pfd)
    return out


def lstat_or_none(path: str | bytes) -> os.stat_result | None:
    """lstat a path; None if it does not exist (it may vanish under a live daemon).

    ReaderError when a component on the way is a symlink (it is not followed).
    """
    try:
        return lstat(os.fsdecode(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def exists(path: str) -> bool:
    """Whether `path` exists (a symlink counts as existing; nothing is followed)."""
    try:
        return lstat_or_none(path) is not None
    except (OSError, ReaderError):
        return True  # there, but not readable as we would like: not gone


def readlink(path: str) -> str:
    """The target text of the symlink `path` (never followed); OSError when it is not one."""
    parent, name = os.path.split(path)
    if _anchor_for(path) is None:
        return os.readlink(path)
    fd = open_dir(parent)
    try:
        return os.readlink(name, dir_fd=fd)
    finally:
        os.close(fd)


def list_dir(path: str) -> list[str]:
    """Sorted names in a directory (never following a symlink on the way); [] if missing.

    ReaderError (naming the path) if it is not a directory or cannot be read, e.g. as a user
    who may not search its parent, or if it or a component on the way is a symlink.
    """
    try:
        fd = open_dir(path)
    except (FileNotFoundError, ReaderError) as e:
        if isinstance(e, ReaderError):
            raise
        return []
    except OSError as e:
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            raise ReaderError(f"{os.fsdecode(path)}: not a directory") from e
        raise ReaderError(f"{os.fsdecode(path)}: {e.strerror or e}") from e
    try:
        names = os.listdir(fd)
    except OSError as e:
        raise ReaderError(f"{os.fsdecode(path)}: {e.strerror or e}") from e
    finally:
        os.close(fd)
    return sorted(names)


class Dir:
    """An open directory under the root: its entries are read relative to its descriptor.

    For readers that look at several files of one dir (a layerdb entry, an overlay2 layer
    dir): the dir is resolved beneath the root once, and each name is opened with O_NOFOLLOW
    relative to it, so no path is resolved again. Names must be single components.
    """

    __slots__ = ("fd", "path")

    def __init__(self, path: str, parent: Dir | None = None) -> None:
        """Open `path` (beneath its root; with `parent`, as one name relative to that open
        dir, which saves resolving the whole path again): FileNotFoundError when it is gone,
        ReaderError for anything else (a symlink included: it is never followed).
        """
        self.path = path
        self.fd = -1
        try:
            if parent is None:
                self.fd = open_dir(path)
            else:
                name = os.path.basename(path)
                parent._name(name)  # a single component, or PathEscape
                self.fd = os.open(name, _DIR_FLAGS, dir_fd=parent.fd)
        except (FileNotFoundError, ReaderError):
            raise
        except OSError as e:
            if e.errno in (errno.ENOTDIR, errno.ELOOP):
                raise ReaderError(f"{path}: not a directory") from e
            raise ReaderError(f"{path}: {e.strerror or e}") from e

    def sub(self, name: str) -> Dir:
        """The entry `name` of this dir, opened as a dir (see __init__ for the errors)."""
        return Dir(f"{self.path}/{name}", self)

    def readlink(self, name: str) -> str:
        """The target text of the symlink `name` (OSError when it is not one)."""
        self._name(name)
        return os.readlink(name, dir_fd=self.fd)

    def __enter__(self) -> Dir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _name(self, name: str) -> str:
        if not name or "/" in name or name in (".", ".."):
            raise PathEscape(f"{self.path}/{name}: not a single name: not read")
        return f"{self.path}/{name}"

    def read_bytes(self, name: str, cap: int = SMALL) -> bytes:
        """Like :func:`read_bytes` for the entry `name` of this dir."""
        global _noatime_ok
        shown = self._name(name)
        flags = _BASE_FLAGS | (_NOATIME if _noatime_ok else 0)
        try:
            try:
                fd = os.open(name, flags, dir_fd=self.fd)
            except PermissionError:
                if not flags & _NOATIME:
                    raise
                _noatime_ok = False
                fd = os.open(name, _BASE_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            raise
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ReaderError(f"{shown}: is a symlink, not followed") from e
            raise ReaderError(f"{shown}: {e.strerror or e}") from e
        return read_fd(fd, shown, cap)

    def read_text(self, name: str, cap: int = SMALL) -> str | None:
        """Like :func:`read_optional_text` for the entry `name` (None when it is missing)."""
        try:
            data = self.read_bytes(name, cap)
        except FileNotFoundError:
            return None
        try:
            return data.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise ReaderError(f"{self._name(name)}: not valid UTF-8") from e

    def lstat(self, name: str) -> os.stat_result | None:
        """lstat of the entry `name`, None when it is missing."""
        self._name(name)
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def kinds(self) -> dict[str, bool]:
        """Entry name → whether it is a directory (never following a symlink), from one
        listing: the file type comes with the names, so no entry is stat'ed.
        """
        try:
            with os.scandir(self.fd) as it:
                return {e.name: e.is_dir(follow_symlinks=False) for e in it}
        except OSError as e:
            raise ReaderError(f"{self.path}: {e.strerror or e}") from e

    def names(self) -> list[str]:
        """Sorted entry names (ReaderError when the dir cannot be listed)."""
        try:
            return sorted(os.listdir(self.fd))
        except OSError as e:
            raise ReaderError(f"{self.path}: {e.strerror or e}") from e


def recently_changed(path: str, slack: float = LIVE_SLACK_SECONDS) -> bool:
    """True if `path` is gone or was modified within `slack` seconds: a live daemon at work."""
    try:
        st = lstat(path)
    except (OSError, ReaderError):
        return True
    return st.st_mtime >= time.time() - slack


#: ASCII decimal digits only: str.isdigit() accepts "²" and "٣", which int() rejects or
#: reads as another number.
_DECIMAL = frozenset("0123456789")


def parse_decimal(text: str, max_digits: int = 20) -> int | None:
    """A non-negative decimal number of ASCII digits, or None for anything else."""
    if not text or len(text) > max_digits or not set(text) <= _DECIMAL:
        return None
    return int(text)
