"""Readers → one linked Inventory, then (optionally) measure the bytes of every area."""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from collections.abc import Callable

from inspector.errors import ReaderError
from inspector.model import (
    BuildKitInfo,
    Image,
    ImageStore,
    Inventory,
    Layer,
    RemovingLayer,
    RootInfo,
    RWLayerRef,
    ShortLink,
    Skipped,
    StorageDir,
    Usage,
)
from inspector.readers import fs, walk
from inspector.readers.buildkit import to_model
from inspector.readers.containers import read_containers
from inspector.readers.distribution import read_distribution
from inspector.readers.imagedb import read_imagedb
from inspector.readers.layerdb import read_layerdb
from inspector.readers.references import read_references
from inspector.readers.storage import StorageArea, read_overlay2, read_vfs
from inspector.readers.volumes import read_volumes
from inspector.root import open_root

#: Top-level entries of the root with a dedicated reader/category.
KNOWN_AREAS = ("image", "containers", "volumes", "buildkit")

Progress = Callable[[str, int, int], None]
"""Callback (stage, done, total) for long measurements; must be cheap and thread-safe."""


def _read_buildkit(root: str, images: dict[str, Image]) -> tuple[BuildKitInfo, list[Skipped]]:
    # Image rootfs chains decide which cache records are "shared" with images.
    return to_model(root, [img.diff_ids for img in images.values()])


def _storage_area(info: RootInfo) -> StorageArea | None:
    if info.storage_driver == "overlay2":
        return read_overlay2(os.path.join(info.path, "overlay2"))
    if info.storage_driver == "vfs":
        return read_vfs(os.path.join(info.path, "vfs"))
    return None


def read(path: str) -> Inventory:
    """Read all metadata of the root at `path` (no tree walks: fast, sizes come later)."""
    started = time.time()
    info = open_root(path)
    root = info.path
    skipped: list[Skipped] = []
    images: dict[str, Image] = {}
    layers: dict[str, Layer] = {}
    rw: dict[str, RWLayerRef] = {}
    removing: tuple[RemovingLayer, ...] = ()
    tmp: tuple[str, ...] = ()
    dirs: dict[str, StorageDir] = {}
    links: dict[str, ShortLink] = {}
    home = ""
    if info.storage_driver and info.image_store is ImageStore.GRAPHDRIVER and info.supported:
        image_dir = os.path.join(root, "image", info.storage_driver)
        ldb = read_layerdb(os.path.join(image_dir, "layerdb"))
        layers, rw, skipped = ldb.layers, ldb.mounts, skipped + ldb.skipped
        removing, tmp = tuple(ldb.removing), tuple(ldb.tmp)
        blobs, sk = read_distribution(image_dir)
        skipped += sk
        layers = {
            k: dataclasses.replace(v, registry_digests=blobs[v.diff_id])
            if v.diff_id in blobs
            else v
            for k, v in layers.items()
        }
        imgs, sk = read_imagedb(os.path.join(image_dir, "imagedb"))
        skipped += sk
        refs, sk = read_references(image_dir)
        skipped += sk
        for iid, img in imgs.items():
            tags, digests = refs.get(iid, ([], []))
            images[iid] = dataclasses.replace(img, tags=tuple(tags), digests=tuple(digests))
        area = _storage_area(info)
        if area is not None:
            dirs, links, home = area.dirs, area.links, area.home
            skipped += area.skipped
    carea = read_containers(os.path.join(root, "containers"))
    skipped += carea.skipped
    varea = read_volumes(os.path.join(root, "volumes"))
    skipped += varea.skipped
    bk, sk = _read_buildkit(root, images)
    skipped += sk
    inv = Inventory(
        root=info,
        images=images,
        layers=layers,
        rw_layers=rw,
        storage_dirs=dirs,
        short_links=links,
        containers=carea.containers,
        volumes=varea.volumes,
        buildkit=bk,
        removing_layers=removing,
        layerdb_tmp=tmp,
        container_dirs_without_config=tuple(carea.without_config),
        skipped=tuple(skipped),
        driver_home=home,
        scan_started=started,
    )
    return _recheck_orphans(inv)


def _recheck_orphans(inv: Inventory) -> Inventory:
    """Under a live daemon a dir can appear before its layerdb entry: read references again.

    Only runs when there are candidates; the second reading's references are merged in, so a
    layer registered while we were reading is not reported as an orphan.
    """
    candidates = set(inv.storage_dirs) - inv.referenced_dirs()
    if not candidates or not inv.root.storage_driver:
        return inv
    image_dir = os.path.join(inv.root.path, "image", inv.root.storage_driver)
    again = read_layerdb(os.path.join(image_dir, "layerdb"))
    layers = dict(inv.layers)
    for k, v in again.layers.items():
        layers.setdefault(k, v)
    rw = dict(inv.rw_layers)
    for k, m in again.mounts.items():
        rw.setdefault(k, m)
    bk, _ = _read_buildkit(inv.root.path, dict(inv.images))
    buildkit = dataclasses.replace(
        inv.buildkit, snapshot_keys=inv.buildkit.snapshot_keys | bk.snapshot_keys
    )
    # Dirs that vanished since the first reading are gone, not orphans.
    dirs = {
        n: d for n, d in inv.storage_dirs.items() if n not in candidates or os.path.lexists(d.path)
    }
    return dataclasses.replace(
        inv, layers=layers, rw_layers=rw, buildkit=buildkit, storage_dirs=dirs
    )


def _top_level(root: str) -> list[str]:
    try:
        return fs.list_dir(root)
    except ReaderError:
        return []


def measure(
    inv: Inventory,
    progress: Progress | None = None,
    *,
    full: bool = False,
    cache: bool = True,
) -> Inventory:
    """Walk the root's trees and attach their Usage (keyed by absolute path).

    Default: committed image layers are not walked (recorded sizes; disk usage from the size
    cache). `full` walks everything; `cache=False` neither reads nor writes the size cache.
    See inspector.scan.
    """
    from inspector import scan

    return scan.measure(inv, progress, full=full, cache=cache)


def _measure_beside(area: str, usage: dict[str, Usage]) -> Usage:
    """Usage of the entries of `area` that were not measured on their own."""
    skip = frozenset(os.path.basename(p) for p in usage if os.path.dirname(p) == area)
    return walk.measure(area, None, skip)


def _vfs_container_sizes(inv: Inventory) -> dict[str, int]:
    from inspector.readers.vfsdiff import changes_size

    out: dict[str, int] = {}
    for cid in inv.containers:
        m = inv.rw_layers.get(cid)
        if m is None or not m.mount_id:
            continue
        new = os.path.join(inv.driver_home, m.mount_id)
        old = os.path.join(inv.driver_home, m.init_id) if m.init_id else None
        st = fs.lstat_or_none(new)
        if st is None or not stat.S_ISDIR(st.st_mode):
            continue
        out[cid] = changes_size(new, old)
    return out


def build(path: str, with_sizes: bool = True, progress: Progress | None = None) -> Inventory:
    """Read the root at `path` and, unless told not to, measure it."""
    inv = read(path)
    return measure(inv, progress) if with_sizes else inv
