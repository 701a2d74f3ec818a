"""Assign every measured byte under the root to one category, and Docker's own totals."""

from __future__ import annotations

import os

from inspector.analysis import trees
from inspector.analysis.results import (
    Category,
    ContainerRow,
    Finding,
    ImageRow,
    Kind,
    Totals,
    VolumeRow,
)
from inspector.analysis.sizes import Sizes, storage_path
from inspector.model import Inventory, Usage

DESCRIPTIONS = {
    "image_layers": "layer dirs of images (what docker system df calls Images)",
    "container_layers": "containers' writable layers and their -init layers",
    "volumes": "volume directories",
    "logs": "container log files",
    "build_cache": "BuildKit snapshots, layers only its cache holds, its state under buildkit/",
    "orphans": "dirs and staging leftovers nothing references",
    "unused_layers": "layerdb layers no image uses (dangling layers)",
    "plugins": "managed plugins (docker plugin install): their rootfs and blobs under plugins/",
    "metadata": "image/, overlay2/l, containers' config files, volume metadata",
    "other": "everything else under the root (network/, containerd/, swarm/, …)",
    "inactive": "trees the daemon does not use: another storage driver's data, another data "
    "root (userns-remap)",
}


def dir_categories(inv: Inventory, sizes: Sizes, used: set[str] | None = None) -> dict[str, str]:
    """Storage dir name → its category, by what owns it (first owner wins; absent: orphans).

    `used`: :meth:`Sizes.used_layers` when the caller has it already.
    """
    used = sizes.used_layers() if used is None else used
    owner: dict[str, str] = {}
    # A layer only BuildKit's cache holds (its image removed) is build cache: `docker builder
    # prune` frees it, and `docker system df` counts it there, not under Images.
    bk_only = sizes.buildkit_only_layers()
    for ch, layer in inv.layers.items():
        cat = "unused_layers"
        if ch in bk_only:
            cat = "build_cache"
        elif ch in used:
            cat = "image_layers"
        owner.setdefault(layer.cache_id, cat)
    for m in inv.rw_layers.values():
        for x in (m.mount_id, m.init_id):
            if x:
                owner.setdefault(x, "container_layers")
    for r in inv.removing_layers:
        if r.cache_id:
            owner.setdefault(r.cache_id, "orphans")
    for k in inv.buildkit.snapshot_keys:
        owner.setdefault(k, "build_cache")
    return owner


def reconcile(
    inv: Inventory,
    sizes: Sizes,
    images: list[ImageRow],
    containers: list[ContainerRow],
    volumes: list[VolumeRow],
    findings: list[Finding],
) -> Totals:
    """Docker's df numbers plus a byte-for-byte breakdown of the root by category."""
    used = sizes.used_layers()
    image_layers = {ch for row in images if not row.intermediate for ch in row.chain}
    docker_images = sum(sizes.layer_size(ch) for ch in image_layers if ch in inv.layers)
    docker_containers = sum(r.size_rw or 0 for r in containers)
    docker_volumes = sum(r.size or 0 for r in volumes if r.in_docker_df)
    bk_total = inv.buildkit.total
    bk_reclaim = inv.buildkit.reclaimable
    logs = sum(r.log_size for r in containers)

    cats: dict[str, Usage] = {k: Usage(0, 0) for k in DESCRIPTIONS}
    owner = dir_categories(inv, sizes, used)
    for name, d in inv.storage_dirs.items():
        cat = owner.get(name, "orphans")
        cats[cat] = cats[cat] + sizes.meas.of(d.path)
    for v in inv.volumes.values():
        if v.has_dir:
            cats["volumes"] = cats["volumes"] + sizes.meas.of(v.path)
    for c in inv.containers.values():
        cu = sizes.meas.of(c.dir)
        lsz = sum(lf.size for lf in c.logs)
        ldisk = sum(lf.disk for lf in c.logs)
        cats["logs"] = cats["logs"] + Usage(lsz, ldisk)
        cats["metadata"] = cats["metadata"] + Usage(
            max(cu.apparent - lsz, 0), max(cu.disk - ldisk, 0)
        )
    for s in inv.container_dirs_without_config:
        cats["orphans"] = cats["orphans"] + sizes.meas.of(s.path)
    for plugin in inv.plugins:
        cats["plugins"] = cats["plugins"] + sizes.meas.of(plugin.path)
    staged = Usage(0, 0)
    for p in list(inv.layerdb_tmp) + [r.metadata_dir for r in inv.removing_layers]:
        staged = staged + sizes.meas.of(p)
    cats["orphans"] = cats["orphans"] + staged
    # Trees the daemon does not use (vfs/ beside overlay2/, another data root), each part whole.
    unused = trees.inactive_paths(inv)
    for p in sorted(unused):
        cats["inactive"] = cats["inactive"] + sizes.meas.of(p)
    root = inv.root.path
    # Parent dirs by string (the measured paths are normalised): 16,000 paths on a big host.
    parents = {path: path[: path.rfind("/")] or "/" for path in sizes.meas.usage}
    for path, u in sizes.meas.usage.items():
        if parents[path] != root or path in unused:
            continue
        name = os.path.basename(path)
        if name == "buildkit":
            cats["build_cache"] = cats["build_cache"] + u
        elif name == "plugins":
            cats["plugins"] = cats["plugins"] + u  # beside the plugins: storage/ (blobs), tmp/
        elif name in ("image", "containers", "volumes") or path == inv.driver_home:
            extra = u
            if name == "image":
                extra = Usage(max(u.apparent - staged.apparent, 0), max(u.disk - staged.disk, 0))
            cats["metadata"] = cats["metadata"] + extra
        elif inv.root.storage_driver and name == inv.root.storage_driver:
            cats["metadata"] = cats["metadata"] + u
        else:
            cats["other"] = cats["other"] + u
    if inv.driver_home and os.path.dirname(inv.driver_home) != root:
        cats["metadata"] = cats["metadata"] + sizes.meas.of(inv.driver_home)
    # The dirs on the way to an unused tree's parts deeper in (the containerd root beside a
    # graphdriver store: its meta.db and runtime state), measured around those parts.
    for path, u in sizes.meas.usage.items() if unused else ():
        if parents[path] != root and any(p.startswith(path + "/") for p in unused):
            cats["other"] = cats["other"] + u
    reclaimable = sum(f.bytes for f in findings if f.reclaimable and f.kind != Kind.UNREADABLE)
    categories = tuple(
        Category(name, u.apparent, u.disk, DESCRIPTIONS[name]) for name, u in cats.items()
    )
    return Totals(
        docker_images_size=docker_images,
        docker_containers_size=docker_containers,
        docker_volumes_size=docker_volumes,
        docker_build_cache_size=bk_total,
        build_cache_reclaimable=bk_reclaim,
        log_size=logs,
        reclaimable=reclaimable,
        disk_total=sum(u.disk for u in cats.values()),
        categories=categories,
    )


__all__ = ["dir_categories", "reconcile", "storage_path"]
