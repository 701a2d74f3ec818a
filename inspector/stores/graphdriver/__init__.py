"""The graphdriver image store: ``image/<driver>/`` metadata and the driver's layer dirs.

Readers, one per on-disk source: :mod:`.layerdb` (layers, writable layers, removal and
staging leftovers), :mod:`.imagedb` (image configs), :mod:`.references` (tags and digests),
:mod:`.distribution` (registry blob digests) and :mod:`.storage` (``overlay2/<id>`` with
``l/``, or ``vfs/dir/<id>``). :class:`GraphdriverStore` puts them together.
"""

from __future__ import annotations

import dataclasses
import os
import time

from inspector.errors import ReaderError
from inspector.model import Inventory, RootInfo, ShortLink, Skipped, StorageDir
from inspector.readers import forked, fs
from inspector.readers.entrycache import EntryCache, Outcome, Section
from inspector.stores import BuildkitKeys, StoreContents
from inspector.stores.graphdriver.distribution import read_distribution
from inspector.stores.graphdriver.imagedb import read_imagedb
from inspector.stores.graphdriver.layerdb import read_layerdb
from inspector.stores.graphdriver.references import read_references
from inspector.stores.graphdriver.storage import StorageArea, read_overlay2, read_vfs

#: How long to wait before looking again at a mount a live daemon may be releasing.
RECHECK_PAUSE_SECONDS = 0.2


#: A storage home with at least this many subdirs is read by a forked reader, beside layerdb
#: (its st_nlink counts them on ext4 and xfs; 1 where a filesystem does not count them).
#: Below it, forking and pickling (~5 ms) would cost more than reading ~1 ms per 10 dirs.
FORK_MIN_DIRS = 500


def _idle_core() -> bool:
    """Whether a core was free over the last minute (load average + this process < CPUs).

    The split pays only with a core to spare: on a busy 2-core host the child waits for CPU,
    the read takes as long as in one process and the pickling adds CPU (benchmarks/README.md).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return False
    return load + 1 <= cpus


def _fork_worth_it(info: RootInfo) -> bool:
    if info.storage_driver != "overlay2" or not _idle_core():
        return False
    try:
        st = fs.lstat(os.path.join(info.path, "overlay2"))
    except (OSError, ReaderError):
        return False  # the reader says why, here
    return st.st_nlink == 1 or st.st_nlink - 2 >= FORK_MIN_DIRS


def _storage_area(
    info: RootInfo, cache: Section[StorageDir] | None, links: Section[ShortLink] | None
) -> tuple[StorageArea | None, tuple[Outcome, Outcome] | None]:
    """The driver's dirs, and what the cache gave and took (sent up by a forked reader)."""
    area = None
    if info.storage_driver == "overlay2":
        area = read_overlay2(os.path.join(info.path, "overlay2"), cache, links)
    elif info.storage_driver == "vfs":
        area = read_vfs(os.path.join(info.path, "vfs"))
    if cache is None or links is None:
        return area, None
    return area, (cache.outcome(), links.outcome())


class GraphdriverStore:
    """overlay2 and vfs (the drivers whose layer dirs this tool reads)."""

    def __init__(self, cache: EntryCache | None = None) -> None:
        self.cache = cache

    def read(self, info: RootInfo) -> StoreContents:
        """layerdb, distribution, imagedb, repositories.json and the driver's dirs."""
        assert info.storage_driver is not None
        image_dir = os.path.join(info.path, "image", info.storage_driver)
        skipped: list[Skipped] = []
        dirs = self.cache.section("overlay2", StorageDir) if self.cache else None
        links = self.cache.section("shortlinks", ShortLink) if self.cache else None
        # The layer dirs (7,000 on a big host, half of stage 1) are read on an idle core, if
        # there is one, while layerdb, distribution and imagedb are read here. Not when the
        # metadata cache holds them: then the dirs are one lstat each, cheaper than a fork.
        fork = _fork_worth_it(info) and not dirs
        pending = forked.start(
            lambda: _storage_area(info, dirs, links), fork, (StorageDir, ShortLink)
        )
        try:
            return self._read(info, image_dir, skipped, pending, (dirs, links))
        finally:
            pending.close()

    def _read(
        self,
        info: RootInfo,
        image_dir: str,
        skipped: list[Skipped],
        pending: forked.Pending[tuple[StorageArea | None, tuple[Outcome, Outcome] | None]],
        sections: tuple[Section[StorageDir] | None, Section[ShortLink] | None],
    ) -> StoreContents:
        ldb = read_layerdb(os.path.join(image_dir, "layerdb"), self.cache)
        skipped += ldb.skipped
        blobs, sk = read_distribution(image_dir)
        skipped += sk
        layers = {
            k: dataclasses.replace(v, registry_digests=blobs[v.diff_id])
            if v.diff_id in blobs
            else v
            for k, v in ldb.layers.items()
        }
        imgs, sk = read_imagedb(os.path.join(image_dir, "imagedb"), self.cache)
        skipped += sk
        refs, sk = read_references(image_dir)
        skipped += sk
        images = {}
        for iid, img in imgs.items():
            tags, digests = refs.get(iid, ([], []))
            images[iid] = dataclasses.replace(img, tags=tuple(tags), digests=tuple(digests))
        area, outcomes = pending.result()
        dirs, links = sections
        if dirs is not None and links is not None and outcomes is not None:
            dirs.absorb(outcomes[0])  # a forked reader's hits and new entries (else its own)
            links.absorb(outcomes[1])
        if area is not None:
            skipped += area.skipped
        return StoreContents(
            images=images,
            layers=layers,
            rw_layers=ldb.mounts,
            storage_dirs=area.dirs if area else {},
            short_links=area.links if area else {},
            removing_layers=tuple(ldb.removing),
            layerdb_tmp=tuple(ldb.tmp),
            driver_home=area.home if area else "",
            skipped=tuple(skipped),
        )

    def recheck(self, inv: Inventory, buildkit_keys: BuildkitKeys) -> Inventory:
        """Under a live daemon, read again what a first pass may have caught mid-change.

        The readers run one after the other, so a layer made or removed during the scan can
        look half-made: a layer dir before its layerdb entry (an orphan), a layerdb entry
        whose dir was deleted a moment later (a missing dir). Only suspicious entries are
        re-read: layerdb is read again when a dir is unreferenced or a referenced dir is
        missing; new entries are merged only if their dirs were seen (else they would look
        missing), and entries gone from the second reading whose dirs are missing are dropped
        (removed); a mount whose dirs are missing is looked at once more after a short pause
        (a container being removed loses its dirs before its layerdb mount); layerdb/tmp
        staging entries that vanished are dropped.
        """
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
        layers = {
            k: v for k, v in inv.layers.items() if k not in missing_layers or k in again.layers
        }
        for k, v in again.layers.items():
            if v.cache_id in dirs_seen:
                layers.setdefault(k, v)
        rw = {
            k: v for k, v in inv.rw_layers.items() if k not in missing_mounts or k in again.mounts
        }
        for k, m in again.mounts.items():
            if m.mount_id in dirs_seen:
                rw.setdefault(k, m)
        # Releasing a container's RW layer deletes its dirs first and its layerdb mount last:
        # a mount still there without its dirs may be a removal in progress. Look once more.
        survivors = [rw[k] for k in missing_mounts if k in rw]
        if survivors:
            time.sleep(RECHECK_PAUSE_SECONDS)
            for m in survivors:
                if not fs.exists(m.metadata_dir):
                    del rw[m.name]
        buildkit = inv.buildkit
        if candidates:
            buildkit = dataclasses.replace(
                inv.buildkit, snapshot_keys=inv.buildkit.snapshot_keys | buildkit_keys()
            )
        inv = dataclasses.replace(inv, layers=layers, rw_layers=rw, buildkit=buildkit)
        # Unreferenced dirs that vanished since the first reading are gone, not orphans (this
        # includes the dirs of entries dropped above: their removal finished meanwhile).
        refs = inv.referenced_dirs()
        dirs = {n: d for n, d in dirs_seen.items() if n in refs or fs.exists(d.path)}
        return dataclasses.replace(inv, storage_dirs=dirs)


__all__ = ["GraphdriverStore"]
