"""Read /proc/self/mountinfo: the mount points inside a data root, which walks never enter.

A running daemon mounts over parts of its root (``overlay2/<id>/merged``, ``containers/<id>/
mounts/shm``, a bind volume's ``_data``), and an administrator (or an attacker who got root
once) can bind-mount anything there, ``/`` included. A mount from another filesystem is told by
its device number; a bind mount from the *same* filesystem is not, so the walk needs this list.
"""

from __future__ import annotations

import os
import re

from inspector.model import Mount

MOUNTINFO = "/proc/self/mountinfo"
#: A host with thousands of containers has a long mountinfo; beyond this it is not trusted.
CAP = 64 * 1024 * 1024
_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as \\ooo."""
    raw = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)
    # The kernel escapes bytes, not characters: undo the decode so names stay os.fsdecode'd.
    return os.fsdecode(raw.encode("latin-1", "surrogateescape"))


def parse_mountinfo(text: str, root: str) -> tuple[Mount, ...]:
    """Mount points strictly below `root` (a resolved path), as paths under `root`."""
    base = root.rstrip("/")
    out: list[Mount] = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        fields = pre.split(" ")
        if not sep or len(fields) < 5:
            continue
        point = _unescape(fields[4])
        if not point.startswith(base + "/"):
            continue
        tail = post.split(" ")
        out.append(
            Mount(
                path=point,
                fstype=tail[0] if tail else "",
                source=_unescape(tail[1]) if len(tail) > 1 else "",
                fs_root=_unescape(fields[3]),
            )
        )
    out.sort(key=lambda m: m.path)
    return tuple(out)


def mounts_under(root: str, mountinfo: str = MOUNTINFO) -> tuple[Mount, ...]:
    """Mount points inside the data root `root` (as given), read once from the kernel.

    Paths come back under `root` as given (which may hold a symlink, e.g. /var/lib/docker on
    another disk); the kernel lists them by their resolved path. Empty when the kernel's list
    cannot be read (not Linux, no /proc): the device check of the walk still applies.
    """
    try:
        with open(mountinfo, "rb") as fh:
            data = fh.read(CAP)
    except OSError:
        return ()
    real = os.path.realpath(root).rstrip("/")
    given = os.path.abspath(root).rstrip("/")
    found = parse_mountinfo(data.decode("latin-1"), real)
    if real == given:
        return found
    return tuple(Mount(given + m.path[len(real) :], m.fstype, m.source, m.fs_root) for m in found)
