"""Readers → one linked Inventory, then (optionally) measure the bytes of every area."""

from __future__ import annotations

import dataclasses
import os
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
)
from inspector.readers import fs
from inspector.readers.buildkit import to_model
from inspector.readers.containers import read_containers, read_one
from inspector.readers.distribution import read_distribution
from inspector.readers.imagedb import read_imagedb
from inspector.readers.layerdb import read_layerdb
from inspector.readers.mounts import mounts_under
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
    """Read all metadata of the root at `path` (no tree walks: fast, sizes come later).

    Every path is resolved beneath the root (see inspector.readers.fs): a symlink anywhere
    inside it is reported as a skipped entry, never followed.
    """
    started = time.time()
    info = open_root(path)
    with fs.anchored(info.path):
        return _read(info, started)


def _read(info: RootInfo, started: float) -> Inventory:
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
        mounts=mounts_under(root),
    )
    return _recheck_orphans(inv)


#: How long to wait before looking again at a container dir a live daemon may be changing.
RECHECK_PAUSE_SECONDS = 0.2


def _recheck_orphans(inv: Inventory) -> Inventory:
    """Under a live daemon, read again what a first pass may have caught mid-change.

    The readers run one after the other, so an object created or removed during the scan can
    look half-made: a layer dir before its layerdb entry (an orphan), a layerdb entry whose
    dir was deleted a moment later (a missing dir), a container dir whose config is not
    written yet or already deleted. Only suspicious entries are re-read:

    - layerdb is read again when a dir is unreferenced or a referenced dir is missing; new
      entries are merged only if their dirs were seen (else they would look missing), and
      entries gone from the second reading whose dirs are missing are dropped (removed); a
      mount whose dirs are missing is looked at once more after a short pause (a container
      being removed loses its dirs before its layerdb mount);
    - container dirs without a config are looked at again: gone → dropped, config written
      since → read; one modified within the live slack (a daemon at work) once more after a
      short pause;
    - layerdb/tmp staging entries that vanished are dropped.
    """
    inv = _recheck_containers(inv)
    tmp = tuple(p for p in inv.layerdb_tmp if fs.exists(p))
    if tmp != inv.layerdb_tmp:
        inv = dataclasses.replace(inv, layerdb_tmp=tmp)
    if not inv.root.storage_driver:
        return inv
    dirs_seen = inv.storage_dirs
    candidates = set(dirs_seen) - inv.referenced_dirs()
    missing_layers = {ch for ch, lay in inv.layers.items() if lay.cache_id not in dirs_seen}
    missing_mounts = {
        n
        for n, m in inv.rw_layers.items()
        if any(x and x not in dirs_seen for x in (m.mount_id, m.init_id))
    }
    if not (candidates or missing_layers or missing_mounts):
        return inv
    image_dir = os.path.join(inv.root.path, "image", inv.root.storage_driver)
    again = read_layerdb(os.path.join(image_dir, "layerdb"))
    layers = {k: v for k, v in inv.layers.items() if k not in missing_layers or k in again.layers}
    for k, v in again.layers.items():
        if v.cache_id in dirs_seen:
            layers.setdefault(k, v)
    rw = {k: v for k, v in inv.rw_layers.items() if k not in missing_mounts or k in again.mounts}
    for k, m in again.mounts.items():
        if m.mount_id in dirs_seen:
            rw.setdefault(k, m)
    # Releasing a container's RW layer deletes its dirs first and its layerdb mount last: a
    # mount still there without its dirs may be a removal in progress. Look once more.
    survivors = [rw[k] for k in missing_mounts if k in rw]
    if survivors:
        time.sleep(RECHECK_PAUSE_SECONDS)
        for m in survivors:
            if not fs.exists(m.metadata_dir):
                del rw[m.name]
    buildkit = inv.buildkit
    if candidates:
        bk, _ = _read_buildkit(inv.root.path, dict(inv.images))
        buildkit = dataclasses.replace(
            inv.buildkit, snapshot_keys=inv.buildkit.snapshot_keys | bk.snapshot_keys
        )
    inv = dataclasses.replace(inv, layers=layers, rw_layers=rw, buildkit=buildkit)
    # Unreferenced dirs that vanished since the first reading are gone, not orphans (this
    # includes the dirs of entries dropped above: their removal finished meanwhile).
    refs = inv.referenced_dirs()
    dirs = {n: d for n, d in dirs_seen.items() if n in refs or fs.exists(d.path)}
    return dataclasses.replace(inv, storage_dirs=dirs)


def _recheck_containers(inv: Inventory) -> Inventory:
    """Container dirs without a usable config, looked at again (see _recheck_orphans).

    A dir modified within the live slack may be one the daemon is creating (config not
    written yet) or removing (config already deleted): it is looked at once more after a
    short pause, so that such a moment is not reported as a container without config.
    """
    if not inv.container_dirs_without_config:
        return inv
    found = dict(inv.containers)
    todo = list(inv.container_dirs_without_config)
    keep: list[Skipped] = []
    for attempt in range(2):
        recent: list[Skipped] = []
        for s in todo:
            try:
                st = fs.lstat_or_none(s.path)
            except ReaderError:
                st = None
            if st is None:
                continue  # removed while we read
            try:
                found[os.path.basename(s.path)] = read_one(s.path)
                continue  # its config was written while we read
            except (FileNotFoundError, ReaderError):
                pass
            live = inv.scan_started and st.st_mtime >= inv.scan_started - fs.LIVE_SLACK_SECONDS
            (recent if live and attempt == 0 else keep).append(s)
        if not recent:
            break
        todo = recent
        time.sleep(RECHECK_PAUSE_SECONDS)
    order = {s.path: i for i, s in enumerate(inv.container_dirs_without_config)}
    keep.sort(key=lambda s: order[s.path])
    return dataclasses.replace(inv, containers=found, container_dirs_without_config=tuple(keep))


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


def build(path: str, with_sizes: bool = True, progress: Progress | None = None) -> Inventory:
    """Read the root at `path` and, unless told not to, measure it."""
    inv = read(path)
    return measure(inv, progress) if with_sizes else inv
