"""The read stage: readers → one linked, final Inventory (no tree walks: see inspector.measure)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from inspector import stores, trees
from inspector.errors import ReaderError
from inspector.ids import HEX64
from inspector.model import (
    LIVE_SLACK_SECONDS,
    BuildKitInfo,
    Image,
    ImageStore,
    Inventory,
    OtherStore,
    RootInfo,
    Skipped,
)
from inspector.options import DEFAULT_DAEMON_CONFIG
from inspector.readers import fs
from inspector.readers.buildkit import to_model, to_model_containerd
from inspector.readers.containers import read_containers, read_one
from inspector.readers.entrycache import EntryCache
from inspector.readers.mounts import mounts_under
from inspector.readers.plugins import read_plugins
from inspector.readers.volumes import NOT_VOLUMES, read_volumes
from inspector.root import SUPPORTED_DRIVERS, open_root, with_driver, with_store_config

#: Top-level entries of the root with a dedicated reader/category.
KNOWN_AREAS = ("image", "containers", "volumes", "buildkit")


class Glance(NamedTuple):
    """What four directory listings say about a root, before any metadata file is read.

    Entries found, not objects read: a corrupt entry is counted here and becomes a finding
    in the report. None where the listing says nothing (the containerd store keeps images
    and layers elsewhere; a dir that cannot be listed).
    """

    images: int | None
    """Image configs in ``image/<driver>/imagedb/content/sha256``."""
    layers: int | None
    """ChainID entries in ``image/<driver>/layerdb/sha256``."""
    containers: int | None
    """Container dirs in ``containers/``."""
    volumes: int | None
    """Volume dirs in ``volumes/`` (``metadata.db`` and ``backingFsBlockDev`` left out)."""


def glance(
    path: str,
    containerd_root: str | None = None,
    daemon_config: str | None = DEFAULT_DAEMON_CONFIG,
) -> Glance:
    """Count images, layers, containers and volumes from four listings (milliseconds).

    The same tree as :func:`read` (userns-remap root, storage driver); every listing is
    resolved beneath the root like every other read.
    """
    located = trees.locate(path, daemon_config)
    if located.root is None:
        return Glance(None, None, None, None)
    with fs.anchored(located.top):
        info = open_root(located.reported, containerd_root)
        info = with_store_config(info, located.config)
        forced = trees.forced_driver(info, trees.drivers(located))
        if forced:
            info = with_driver(info, forced)
        with fs.anchored(info.path):
            return _glance(info)


def _count(path: str, keep: Callable[[str], bool]) -> int | None:
    try:
        return sum(1 for name in fs.list_dir(path) if keep(name))
    except ReaderError:
        return None


def _glance(info: RootInfo) -> Glance:
    images = layers = None
    if info.image_store is ImageStore.GRAPHDRIVER and info.storage_driver:
        meta = os.path.join(info.path, "image", info.storage_driver)
        images = _count(os.path.join(meta, "imagedb", "content", "sha256"), _hex64)
        layers = _count(os.path.join(meta, "layerdb", "sha256"), _hex64)
    containers = _count(os.path.join(info.path, "containers"), _hex64)
    volumes = _count(
        os.path.join(info.path, "volumes"),
        lambda n: n not in NOT_VOLUMES,
    )
    return Glance(images, layers, containers, volumes)


def _hex64(name: str) -> bool:
    return HEX64.fullmatch(name) is not None


def _read_buildkit(root: str, images: Mapping[str, Image]) -> tuple[BuildKitInfo, list[Skipped]]:
    # Image rootfs chains decide which cache records are "shared" with images.
    return to_model(root, [img.diff_ids for img in images.values()])


def read(
    path: str,
    containerd_root: str | None = None,
    daemon_config: str | None = DEFAULT_DAEMON_CONFIG,
    cache: bool = False,
) -> Inventory:
    """Read all metadata of the root at `path` (no tree walks: fast, sizes come later).

    Every path is resolved beneath the root (see inspector.readers.fs): a symlink anywhere
    inside it is reported as a skipped entry, never followed. `containerd_root`: the
    containerd root holding the image store (``--containerd-root``; None: detected).
    The tree read is the one the daemon uses (a userns-remap root under `path`, its storage
    driver), decided with `daemon_config` as evidence (see inspector.trees). `cache`: reuse
    the records of metadata entries unchanged since the last run, and save this run's (see
    inspector.readers.entrycache; the faces pass False for ``--no-cache``).
    """
    started = time.time()
    located = trees.locate(path, daemon_config)
    if located.root is None:
        info = open_root(path, containerd_root)  # not listable: it says why
        with fs.anchored(info.path):
            return _read(info, started)
    with fs.anchored(located.top):
        choice = trees.drivers(located)
        info = open_root(located.reported, containerd_root)
        # Both stores present: the daemon config's features.containerd-snapshotter decides.
        info = with_store_config(info, located.config)
        forced = trees.forced_driver(info, choice)
        if forced:
            info = with_driver(info, forced)
        info = trees.attach(info, located, choice)
        entries = EntryCache.open(info.path) if cache else None
        with fs.anchored(info.path):
            inv = _read(info, started, entries)
        if entries is not None:
            entries.save()
        return inv


def _read(info: RootInfo, started: float, entries: EntryCache | None = None) -> Inventory:
    root = info.path
    store = stores.reader_for(info, entries)
    contents = store.read(info)
    skipped = list(contents.skipped)
    carea = read_containers(os.path.join(root, "containers"), entries)
    skipped += carea.skipped
    # Containers of another storage driver: the daemon does not load them (its data, aside).
    containers, info = trees.set_aside(info, carea.containers)
    varea = read_volumes(os.path.join(root, "volumes"))
    skipped += varea.skipped
    if contents.containerd is not None:
        # Its snapshots live in containerd: which of them BuildKit holds, and its records.
        bk, sk = to_model_containerd(root, contents.containerd, contents.images.values())
    else:
        bk, sk = _read_buildkit(root, contents.images)
    skipped += sk
    plugins, sk = read_plugins(root)
    skipped += sk
    inv = Inventory(
        root=info,
        images=contents.images,
        layers=contents.layers,
        rw_layers=contents.rw_layers,
        storage_dirs=contents.storage_dirs,
        short_links=contents.short_links,
        containers=containers,
        volumes=varea.volumes,
        buildkit=bk,
        removing_layers=contents.removing_layers,
        layerdb_tmp=contents.layerdb_tmp,
        container_dirs_without_config=tuple(carea.without_config),
        skipped=tuple(skipped),
        driver_home=contents.driver_home,
        scan_started=started,
        mounts=mounts_under(info.given),
        containerd=contents.containerd,
        plugins=tuple(plugins),
        other_store=_other_store(info),
    )
    # Under a live daemon, what the readers caught mid-change is read again (see each).
    inv = _recheck_containers(inv)
    return store.recheck(inv, lambda: _read_buildkit(root, inv.images)[0].snapshot_keys)


def _other_store(info: RootInfo) -> OtherStore | None:
    """The image store the daemon does not use, read too when it holds images.

    A host that switched keeps the other store's images, invisible to ``docker images``:
    the containerd store's (in the containerd root found beside a graphdriver root), or the
    graphdriver's (``image/<driver>/`` beside a containerd store). Read with the same
    readers; what cannot be read is kept with it, not made into findings.
    """
    if info.image_store is ImageStore.GRAPHDRIVER and info.containerd_root:
        other = dataclasses.replace(
            info, image_store=ImageStore.CONTAINERD, storage_driver=None, supported=True
        )
        evidence = f"the daemon uses the graphdriver store ({info.storage_driver})"
        path = info.containerd_root
    elif info.image_store is ImageStore.CONTAINERD and info.other_drivers:
        driver = next((d for d in info.other_drivers if d in SUPPORTED_DRIVERS), None)
        if driver is None:
            return None
        other = dataclasses.replace(
            info, image_store=ImageStore.GRAPHDRIVER, storage_driver=driver, supported=True
        )
        evidence = f"the daemon uses the containerd image store ({info.containerd_reason})"
        path = os.path.join(info.path, "image", driver)
    else:
        return None
    contents = stores.reader_for(other).read(other)
    if not contents.images:
        return None
    kind = other.image_store
    return OtherStore(
        image_store=kind,
        storage_driver=(
            contents.containerd.snapshotter if contents.containerd else other.storage_driver or ""
        ),
        path=path,
        evidence=evidence,
        images=contents.images,
        layers=contents.layers,
        containerd=contents.containerd,
        skipped=contents.skipped,
    )


#: How long to wait before looking again at a container dir a live daemon may be changing.
RECHECK_PAUSE_SECONDS = 0.2


def _recheck_containers(inv: Inventory) -> Inventory:
    """Container dirs without a usable config, looked at again (a live daemon at work).

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
            live = inv.scan_started and st.st_mtime >= inv.scan_started - LIVE_SLACK_SECONDS
            (recent if live and attempt == 0 else keep).append(s)
        if not recent:
            break
        todo = recent
        time.sleep(RECHECK_PAUSE_SECONDS)
    order = {s.path: i for i, s in enumerate(inv.container_dirs_without_config)}
    keep.sort(key=lambda s: order[s.path])
    return dataclasses.replace(inv, containers=found, container_dirs_without_config=tuple(keep))
