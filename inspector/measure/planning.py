"""Which trees of a data root to measure, in the order their usage is assembled."""

from __future__ import annotations

import os
from typing import NamedTuple

from inspector.errors import ReaderError
from inspector.model import Inventory
from inspector.readers import fs


class Job(NamedTuple):
    """One tree to measure."""

    path: str
    sub: str | None = None
    """Count `apparent` only under this top-level subdir (overlay2 `diff`, volume `_data`)."""
    skip: frozenset[str] = frozenset()
    """Top-level names not entered (measured by jobs of their own)."""
    shared: bool = True
    """Takes part in once-per-filesystem hard-link counting (False for nested trees)."""
    layer: str | None = None
    """Cache-id when this is a committed image layer's dir (immutable, cacheable)."""
    mounts: frozenset[str] = frozenset()
    """Mount points inside the root (never entered; one set shared by every job)."""


def _top_level(root: str) -> list[str]:
    try:
        return fs.list_dir(root)
    except ReaderError:
        return []


def _immutable_dirs(inv: Inventory) -> set[str]:
    """Names of committed image layers' storage dirs that nothing else writes to."""
    mutable: set[str] = set()
    for m in inv.rw_layers.values():
        mutable.update(x for x in (m.mount_id, m.init_id) if x)
    # A layer being removed is about to change; a dir that is also someone's mount too.
    mutable.update(r.cache_id for r in inv.removing_layers if r.cache_id)
    return {
        layer.cache_id
        for layer in inv.layers.values()
        if layer.cache_id not in mutable and layer.cache_id in inv.storage_dirs
    }


def _inactive(inv: Inventory, taken: set[str]) -> list[Job]:
    """The parts of the trees the daemon does not use, each whole (see inspector.trees).

    A graphdriver's leftover dirs (``vfs/``, ``image/vfs/``, its containers' dirs) and other
    data roots (a remapped root; the root as given, without its remapped roots, when a remapped
    root is the one reported: outside the reported root, under the root as given).
    """
    jobs: list[Job] = []
    for tree in inv.root.trees:
        if tree.live:
            continue
        for p in tree.parts:
            if p in taken:
                continue
            taken.add(p)
            jobs.append(Job(p, None, frozenset(tree.skip) if p == tree.path else frozenset()))
    return jobs


def plan(inv: Inventory) -> list[Job]:
    """Every tree to measure, in the order usage is assembled (the same trees as before).

    Per-object dirs first (storage dirs, volumes, container dirs, staging leftovers), then
    each top-level area of the root with the per-object dirs it contains left out.
    """
    jobs: list[Job] = []
    driver = inv.root.storage_driver
    from inspector.measure.containerd import beside_jobs, store_jobs

    ctrd_jobs, ctrd_parts = store_jobs(inv)  # containerd's snapshots (none in graphdriver mode)
    jobs += ctrd_jobs
    if inv.driver_home and inv.containerd is None:
        sub = "diff" if driver == "overlay2" else None
        immutable = _immutable_dirs(inv)
        for name in sorted(inv.storage_dirs):
            d = inv.storage_dirs[name]
            jobs.append(Job(d.path, sub, layer=name if name in immutable else None))
    jobs += [Job(v.path, "_data") for _, v in sorted(inv.volumes.items()) if v.has_dir]
    jobs += [Job(c.dir) for _, c in sorted(inv.containers.items())]
    jobs += [Job(s.path) for s in inv.container_dirs_without_config]
    jobs += [Job(p.path) for p in inv.plugins]  # plugins/<id>: config and unpacked rootfs
    # Inside image/, which is measured whole too: keep their hard links to themselves.
    jobs += [Job(p, shared=False) for p in inv.layerdb_tmp]
    jobs += [Job(r.metadata_dir, shared=False) for r in inv.removing_layers]
    jobs += _inactive(inv, {j.path for j in jobs})
    own = {j.path for j in jobs}
    unused = {p for t in inv.root.trees if not t.live for p in t.parts}
    measured_dirs = {os.path.dirname(p) for p in own}
    root = inv.root.path

    def beside(area: str) -> Job:
        skip = frozenset(os.path.basename(p) for p in own if os.path.dirname(p) == area)
        return Job(area, None, skip)

    for name in _top_level(root):
        path = os.path.join(root, name)
        if path in own:
            continue  # a tree the daemon does not use (vfs/ beside overlay2/): measured above
        if inv.containerd is not None and inv.containerd.root.startswith(path + "/"):
            # containerd/: down to its snapshots, blobs and ingests, measured on their own.
            jobs += beside_jobs(path, ctrd_parts)
            continue
        deeper = [p for p in unused if p.startswith(path + "/") and os.path.dirname(p) != path]
        if deeper:
            # containerd/ of a graphdriver root: its unused image store is measured whole,
            # apart (inactive), the rest of the dir around it.
            jobs += beside_jobs(path, deeper)
            continue
        if path in measured_dirs or path == inv.driver_home:
            # containers/, volumes/, overlay2/: only what is beside the per-ID dirs.
            jobs.append(beside(path))
        elif driver and name == driver and inv.driver_home and inv.driver_home != path:
            # vfs/: the per-layer dirs live one level deeper, in vfs/dir/.
            jobs.append(beside(inv.driver_home))
            jobs.append(Job(path, None, frozenset({"dir"})))
        else:
            jobs.append(Job(path))
    if inv.containerd is not None and not inv.containerd.root.startswith(root + "/"):
        jobs += beside_jobs(inv.containerd.root, ctrd_parts)  # /var/lib/containerd
    mounts = frozenset(m.path for m in inv.mounts)
    return [j._replace(mounts=mounts) for j in jobs] if mounts else jobs
