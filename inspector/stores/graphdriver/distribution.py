"""Read image/<driver>/distribution/: registry blob digests by layer DiffID (pull/push only)."""

from __future__ import annotations

import os

from inspector.errors import ReaderError
from inspector.ids import DIGEST, HEX64
from inspector.model import Skipped
from inspector.readers import fs


def read_distribution(image_dir: str) -> tuple[dict[str, tuple[str, ...]], list[Skipped]]:
    """Map DiffID → compressed blob digests it was pulled or pushed as."""
    base = os.path.join(image_dir, "distribution", "diffid-by-digest", "sha256")
    out: dict[str, list[str]] = {}
    skipped: list[Skipped] = []
    try:
        names = fs.list_dir(base)
    except ReaderError as e:
        return {}, [Skipped(base, str(e))]
    for name in names:
        path = os.path.join(base, name)
        if not HEX64.fullmatch(name):
            skipped.append(Skipped(path, "unexpected name (not a blob digest)"))
            continue
        try:
            diff = fs.read_text(path, 128)
        except FileNotFoundError:
            continue
        except ReaderError as e:
            skipped.append(Skipped(path, str(e)))
            continue
        if not DIGEST.fullmatch(diff):
            skipped.append(Skipped(path, "does not hold a sha256 DiffID"))
            continue
        out.setdefault(diff, []).append("sha256:" + name)
    return {k: tuple(sorted(v)) for k, v in out.items()}, skipped
