"""Safe, read-only file access under a hostile data root.

Every open uses O_NOFOLLOW (a symlink planted in place of a metadata file is refused, never
followed), O_NOATIME where the kernel allows it, and O_NONBLOCK so a FIFO can never block a
read. Reads are capped: a 2 GB config.v2.json costs at most ``cap`` bytes.
"""

from __future__ import annotations

import errno
import os
import stat
import time

from inspector.errors import ReaderError

#: Default cap for small metadata files (IDs, sizes, links).
SMALL = 4096
#: Default cap for JSON documents (image configs, container configs).
JSON_CAP = 16 * 1024 * 1024
#: An entry modified this recently may be half-written by a live daemon (the same slack as the
#: orphan_dir finding uses): a reader skips it rather than report it as broken.
LIVE_SLACK_SECONDS = 2.0

_BASE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_NOATIME = getattr(os, "O_NOATIME", 0)
_noatime_ok = True


def _open(path: str | bytes) -> int:
    """Open a regular file read-only without following a final symlink."""
    global _noatime_ok
    if _noatime_ok and _NOATIME:
        try:
            return os.open(path, _BASE_FLAGS | _NOATIME)
        except PermissionError:
            # O_NOATIME needs ownership or CAP_FOWNER: fall back silently, once.
            _noatime_ok = False
    return os.open(path, _BASE_FLAGS)


def read_bytes(path: str | bytes, cap: int = SMALL) -> bytes:
    """Read at most ``cap`` bytes of a regular file; raise ReaderError if it is larger.

    Raises FileNotFoundError unchanged (callers decide whether absence is normal) and
    ReaderError for anything else: a symlink, a non-regular file, a permission error, a file
    over the cap.
    """
    shown = os.fsdecode(path)
    try:
        fd = _open(path)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ReaderError(f"{shown}: is a symlink, not followed") from e
        raise ReaderError(f"{shown}: {e.strerror or e}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReaderError(f"{shown}: not a regular file")
        if st.st_size > cap:
            raise ReaderError(f"{shown}: {st.st_size} bytes, over the {cap}-byte cap for this file")
        chunks: list[bytes] = []
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


def lstat_or_none(path: str | bytes) -> os.stat_result | None:
    """lstat a path; None if it does not exist (it may vanish under a live daemon)."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None


def list_dir(path: str) -> list[str]:
    """Sorted names in a directory (never following a symlinked directory); [] if missing.

    ReaderError (naming the path) if it is not a directory or cannot be read, e.g. as a user
    who may not search its parent.
    """
    try:
        st = lstat_or_none(path)
    except OSError as e:
        raise ReaderError(f"{os.fsdecode(path)}: {e.strerror or e}") from e
    if st is None:
        return []
    if not stat.S_ISDIR(st.st_mode):
        raise ReaderError(f"{os.fsdecode(path)}: not a directory")
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise ReaderError(f"{os.fsdecode(path)}: {e.strerror or e}") from e
    return sorted(names)


def recently_changed(path: str, slack: float = LIVE_SLACK_SECONDS) -> bool:
    """True if `path` is gone or was modified within `slack` seconds: a live daemon at work."""
    try:
        st = os.lstat(path)
    except OSError:
        return True
    return st.st_mtime >= time.time() - slack
