"""Docker's naive diff size (archive.ChangesDirs + ChangesSize), used by vfs for SizeRw.

vfs keeps a full copy per layer, so the daemon compares a container's copy with its parent's
(the -init layer) and sums the sizes of added or modified non-directories. Port of moby's
pkg/archive changes_linux.go / changes.go: lstat only, hard links counted once.
"""

from __future__ import annotations

import os
import stat

CAPABILITY = "security.capability"


def _cap(path: str) -> bytes | None:
    try:
        return os.getxattr(path, CAPABILITY, follow_symlinks=False)
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


def changes_size(new_dir: str, old_dir: str | None) -> int:
    """Bytes of non-directories added or modified in `new_dir` relative to `old_dir`."""
    size = 0
    seen: set[int] = set()
    # (new path, old path or None when everything below is an addition)
    stack: list[tuple[str, str | None]] = [(new_dir, old_dir)]
    while stack:
        new, old = stack.pop()
        try:
            entries = list(os.scandir(new))
        except OSError:
            continue
        for entry in entries:
            try:
                nst = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            changed = True
            old_child: str | None = None
            if old is not None:
                old_child = os.path.join(old, entry.name)
                try:
                    ost = os.lstat(old_child)
                except OSError:
                    old_child = None
                else:
                    changed = _different(ost, nst) or _cap(old_child) != _cap(entry.path)
                    if not stat.S_ISDIR(ost.st_mode):
                        # Children of a dir that replaced a file are all additions.
                        old_child = None if stat.S_ISDIR(nst.st_mode) else old_child
            if stat.S_ISDIR(nst.st_mode):
                stack.append((entry.path, old_child))
                continue
            if not changed:
                continue
            if nst.st_nlink > 1:
                if nst.st_ino in seen:
                    continue
                seen.add(nst.st_ino)
            size += nst.st_size
    return size
