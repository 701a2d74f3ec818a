"""Path rules shared by every writer: nothing this tool writes may land inside the data root.

:func:`inside` is the early, friendly check made on names before a run starts; the binding
check is made at write time on an open directory by :mod:`inspector.outputs`.
"""

from __future__ import annotations

import os


def identity(path: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of `path` (symlinks followed); None when it cannot be stat()ed."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def inside(path: str, root: str) -> bool:
    """Whether `path` is `root` or lies below it, symlinks resolved on both sides.

    Also true when an existing ancestor of `path` is the root's own directory reached
    another way (a bind mount of the root shows no symlink for realpath to resolve).
    """
    target = os.path.realpath(os.path.abspath(path))
    base = os.path.realpath(os.path.abspath(root))
    if target == base or target.startswith(base.rstrip("/") + "/"):
        return True
    root_id = identity(base)
    if root_id is None:
        return False
    # `target` is resolved, so its string prefixes are its real ancestors.
    p = target
    while True:
        if identity(p) == root_id:
            return True
        parent = os.path.dirname(p)
        if parent == p:
            return False
        p = parent
