"""Which trees of a data root to measure, in the order their usage is assembled."""

from __future__ import annotations

import os
from typing import NamedTuple

from inspector.errors import ReaderError
from inspector.measure.walker import Settled
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
    """Its storage dir's name when it is immutable (a committed image layer's or a container's
    init layer's dir: cacheable, see :func:`_immutable_dirs`)."""
    mounts: frozenset[str] = frozenset()
    """Mount points inside the root (never entered; one set shared by every job)."""
    settled: Settled | None = None
    """Dirs whose totals may come from the last run (see :func:`settled_dirs`)."""


def _top_level(root: str) -> list[str]:
    try:
        return fs.list_dir(root)
    except ReaderError:
        return []


def init_dirs(inv: Inventory) -> set[str]:
    """Names of containers' ``-init`` layer dirs: Docker writes them once, when it creates
    the container (its /etc/hosts, resolv.conf, … placeholders), and only mounts them
    read-only after (moby's layer store: initMount)."""
    return {m.init_id for m in inv.rw_layers.values() if m.init_id}


def _immutable_dirs(inv: Inventory) -> set[str]:
    """Names of the storage dirs that nothing writes to any more: committed image layers'
    and containers' init layers'."""
    mutable: set[str] = {m.mount_id for m in inv.rw_layers.values() if m.mount_id}
    # A layer being removed is about to change; a dir that is also someone's mount too.
    mutable.update(r.cache_id for r in inv.removing_layers if r.cache_id)
    names = {layer.cache_id for layer in inv.layers.values()} | init_dirs(inv)
    return {n for n in names if n not in mutable and n in inv.storage_dirs}


def settled_dirs(inv: Inventory) -> tuple[frozenset[str], frozenset[str]]:
    """Where a walk may take a dir's totals from the last run (walker.Settled): parents of
    such dirs, and such dirs themselves. Docker writes every file of its image metadata to a
    temp name and renames it into place (a layerdb entry is a dir renamed into place), and
    adds or removes the symlinks of overlay2's ``l/``; nothing there is edited in place."""
    driver = inv.root.storage_driver
    if not driver or inv.containerd is not None:
        return frozenset(), frozenset()
    meta = os.path.join(inv.root.path, "image", driver)
    parents = {
        os.path.join(meta, "layerdb", "sha256"),
        os.path.join(meta, "imagedb", "metadata", "sha256"),
    }
    dirs = {os.path.join(meta, "imagedb", "content", "sha256")}
    if driver == "overlay2" and inv.driver_home:
        dirs.add(os.path.join(inv.driver_home, "l"))
    return frozenset(parents), frozenset(dirs)


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
    # Per-object dirs by the dir they are in (one split per path: 8,000 on a big host).
    inside: dict[str, set[str]] = {}
    for p in own:
        head, _, tail = p.rpartition("/")
        inside.setdefault(head or "/", set()).add(tail)
    measured_dirs = inside.keys()
    root = inv.root.path

    def beside(area: str) -> Job:
        return Job(area, None, frozenset(inside.get(area, ())))

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
