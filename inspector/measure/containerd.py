"""What to measure of a containerd root (the image store of Docker 29's default mode).

Per snapshot two trees: ``snapshots/<id>/fs`` (containerd's usage of the snapshot: its
allocated bytes, each inode once, dirs included, exactly what ``ctr snapshots usage`` says)
and the rest of ``snapshots/<id>`` (the dir itself, ``work/``). A committed image layer's
``fs`` is immutable: it is cached like a graphdriver layer (by its snapshot ID). Partial
downloads (``ingest/<ref>``) are trees of their own. Content blobs are not walked: the read
stage lstat'ed each (bytes and allocated bytes). Everything else of the containerd root
(meta.db, metadata.db, the dirs on the way) is measured by "beside" jobs that leave those
trees out, so each byte is counted once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

from inspector.measure.planning import Job
from inspector.model import Inventory
from inspector.readers import fs


def _under(path: str, root: str) -> bool:
    return path.startswith(root.rstrip("/") + "/")


@contextlib.contextmanager
def anchored(inv: Inventory) -> Iterator[None]:
    """Anchor the containerd root too when it lies outside the data root."""
    data = inv.containerd
    if data is None or data.root == inv.root.path or _under(data.root, inv.root.path):
        yield
        return
    with fs.anchored(data.root):
        yield


def store_jobs(inv: Inventory) -> tuple[list[Job], set[str]]:
    """(the per-object jobs, the paths other jobs must leave out: those and the blob files)."""
    data = inv.containerd
    if data is None:
        return [], set()
    immutable = {
        layer.cache_id for layer in inv.layers.values() if layer.cache_id in inv.storage_dirs
    }
    for m in inv.rw_layers.values():
        immutable.discard(m.mount_id or "")
    jobs: list[Job] = []
    parts: set[str] = set()
    for name in sorted(inv.storage_dirs):
        d = inv.storage_dirs[name]
        parts.add(d.path)
        if d.is_dir and d.has_diff:
            fs_path = os.path.join(d.path, "fs")
            jobs.append(Job(fs_path, layer=name if name in immutable else None))
            jobs.append(Job(d.path, None, frozenset({"fs"})))
        else:
            jobs.append(Job(d.path))
    for p in data.ingests:
        parts.add(p)
        jobs.append(Job(p))
    parts.update(b.path for b in data.blobs.values() if b.file_size is not None)
    return jobs, parts


def beside_jobs(top: str, parts: Iterable[str]) -> list[Job]:
    """Jobs measuring `top` without `parts` (paths under it, measured elsewhere).

    One job per directory on the way from `top` to a part, each leaving out its children
    that lead to a part.
    """
    skips: dict[str, set[str]] = {}
    for p in parts:
        if not _under(p, top):
            continue
        cur = p
        while cur != top:
            parent = os.path.dirname(cur)
            skips.setdefault(parent, set()).add(os.path.basename(cur))
            cur = parent
    if not skips:
        return [Job(top)]
    return [Job(d, None, frozenset(names)) for d, names in sorted(skips.items())]


__all__ = ["anchored", "beside_jobs", "store_jobs"]
