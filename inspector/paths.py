"""Path rules shared by every writer: nothing this tool writes may land inside the data root."""

from __future__ import annotations

import os


def inside(path: str, root: str) -> bool:
    """Whether `path` is `root` or lies below it, symlinks resolved on both sides."""
    target = os.path.realpath(os.path.abspath(path))
    base = os.path.realpath(os.path.abspath(root))
    return target == base or target.startswith(base.rstrip("/") + "/")
