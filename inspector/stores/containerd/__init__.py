"""The containerd image store (Docker 29's default on fresh installs), read offline.

Where it is: the containerd root that :mod:`inspector.root` chose (``--containerd-root``,
``<data-root>/containerd/daemon`` of dockerd's own containerd, or the system's
``/var/lib/containerd``), namespace ``moby``, the snapshotter named by the containers'
``Driver`` (``overlayfs`` by default). What is read (shared/docker-format.md §8):

- ``io.containerd.metadata.v1.bolt/meta.db``: images, content records, snapshots, leases,
  containers (:mod:`inspector.readers.containerd`);
- ``io.containerd.content.v1.content``: ``blobs/<algo>/<hex>`` (lstat of each: bytes and
  allocated bytes, no walk) and ``ingest/`` (partial downloads);
- ``io.containerd.snapshotter.v1.<snapshotter>``: ``metadata.db`` (IDs, kinds, parents,
  recorded usage) and the ``snapshots/<id>`` dirs;
- images (:mod:`.images`): target → index → manifests → config → diff_ids → ChainIDs =
  snapshot keys → ``snapshots/<id>/fs``.

The model it fills: ``images`` by target digest; ``layers`` = committed snapshots keyed by
ChainID (``cache_id`` is the snapshot's dir name, ``size`` containerd's recorded usage);
``rw_layers`` = containers' active snapshots on their ``-init`` parent; ``storage_dirs`` =
the ``snapshots/<id>`` dirs; everything else in :class:`inspector.model.ContainerdData`.
A root outside the data root (``/var/lib/containerd``) is anchored too: its paths are
resolved beneath it, never through a symlink.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import time
from collections.abc import Iterator

from inspector.errors import ReaderError
from inspector.ids import DIGEST
from inspector.model import (
    ContainerdData,
    ContentBlob,
    Ingest,
    Inventory,
    Layer,
    RootInfo,
    RWLayerRef,
    Skipped,
    Snapshot,
    StorageDir,
)
from inspector.readers import fs, limits
from inspector.readers.bbolt import BoltError, load_bolt
from inspector.readers.containerd import (
    BackendSnapshot,
    MetaNamespace,
    all_backend_keys,
    foreign_blobs,
    namespaces,
    parse_meta,
    parse_snapshotter_db,
)
from inspector.stores import BuildkitKeys, StoreContents
from inspector.stores.containerd.images import BlobReader, read_images

NAMESPACE = "moby"
DEFAULT_SNAPSHOTTER = "overlayfs"
META_DB = os.path.join("io.containerd.metadata.v1.bolt", "meta.db")
CONTENT = "io.containerd.content.v1.content"


def snapshotter_dir(root: str, snapshotter: str) -> str:
    """``<root>/io.containerd.snapshotter.v1.<snapshotter>``."""
    return os.path.join(root, f"io.containerd.snapshotter.v1.{snapshotter}")


@contextlib.contextmanager
def anchored_outside(data_root: str, ctrd_root: str) -> Iterator[None]:
    """Anchor `ctrd_root` too when it is not under the data root (read beneath it)."""
    if ctrd_root == data_root or ctrd_root.startswith(data_root.rstrip("/") + "/"):
        yield
        return
    with fs.anchored(ctrd_root):
        yield


def _blobs(
    content_dir: str, records: dict[str, tuple[int | None, dict[str, str]]]
) -> tuple[dict[str, ContentBlob], list[Skipped]]:
    """Every blob: its record (if any) and its file (lstat only, never read here)."""
    skipped: list[Skipped] = []
    files: dict[str, tuple[int, int, float]] = {}
    blobs_dir = os.path.join(content_dir, "blobs")
    try:
        algos = fs.list_dir(blobs_dir)
    except ReaderError as e:
        algos = []
        skipped.append(Skipped(blobs_dir, str(e)))
    for algo in algos:
        adir = os.path.join(blobs_dir, algo)
        try:
            with fs.Dir(adir) as d:
                for name in d.names():
                    st = d.lstat(name)
                    if st is None:
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        skipped.append(Skipped(os.path.join(adir, name), "not a regular file"))
                        continue
                    files[f"{algo}:{name}"] = (st.st_size, st.st_blocks * 512, st.st_mtime)
        except FileNotFoundError:
            continue
        except (OSError, ReaderError) as e:
            skipped.append(Skipped(adir, str(e)))
    out: dict[str, ContentBlob] = {}
    for dgst in sorted(set(records) | set(files)):
        algo, _, hexd = dgst.partition(":")
        size, labels = records.get(dgst, (None, {}))
        f = files.get(dgst)
        out[dgst] = ContentBlob(
            digest=dgst,
            path=os.path.join(blobs_dir, algo, hexd),
            size=size if dgst in records else None,
            file_size=f[0] if f else None,
            disk=f[1] if f else 0,
            labels=labels,
            mtime=f[2] if f else 0.0,
        )
    return out, skipped


def _snapshot_dirs(home: str) -> tuple[dict[str, StorageDir], list[Skipped]]:
    """``snapshots/<id>``: each dir with its fs/ and work/ (lstat only)."""
    dirs: dict[str, StorageDir] = {}
    skipped: list[Skipped] = []
    try:
        names = fs.list_dir(home)
    except ReaderError as e:
        return dirs, [Skipped(home, str(e))]
    for name in names:
        path = os.path.join(home, name)
        try:
            st = fs.lstat_or_none(path)
        except ReaderError as e:
            skipped.append(Skipped(path, str(e)))
            continue
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            dirs[name] = StorageDir(name, path, has_diff=False, mtime=st.st_mtime, is_dir=False)
            continue
        has_fs = has_work = False
        try:
            with fs.Dir(path) as d:
                fst = d.lstat("fs")
                has_fs = fst is not None and stat.S_ISDIR(fst.st_mode)
                has_work = d.lstat("work") is not None
        except (OSError, ReaderError) as e:
            skipped.append(Skipped(path, str(e)))
        dirs[name] = StorageDir(name, path, has_diff=has_fs, has_work=has_work, mtime=st.st_mtime)
    return dirs, skipped


#: An ingest's ``ref`` file is a name (a few hundred bytes at most in practice).
REF_CAP = 4096


def _ingests(content_dir: str) -> tuple[dict[str, Ingest], list[Skipped]]:
    """``ingest/<x>``: each partial download's ref, bytes received and expected (lstat/reads)."""
    ingest = os.path.join(content_dir, "ingest")
    try:
        names = fs.list_dir(ingest)
    except ReaderError as e:
        return {}, [Skipped(ingest, str(e))]
    out: dict[str, Ingest] = {}
    skipped: list[Skipped] = []
    for name in names:
        path = os.path.join(ingest, name)
        try:
            st = fs.lstat_or_none(path)
        except ReaderError as e:
            skipped.append(Skipped(path, str(e)))
            continue
        if st is None:
            continue  # finished (renamed into blobs/) while we read
        ref = ""
        data: int | None = None
        total: int | None = None
        if stat.S_ISDIR(st.st_mode):
            try:
                ref = limits.cut(fs.read_optional_text(os.path.join(path, "ref"), REF_CAP) or "")
                raw_total = fs.read_optional_text(os.path.join(path, "total"))
                total = fs.parse_decimal(raw_total) if raw_total else None
                dst = fs.lstat_or_none(os.path.join(path, "data"))
                data = dst.st_size if dst is not None and stat.S_ISREG(dst.st_mode) else None
            except (OSError, ReaderError) as e:
                skipped.append(Skipped(path, str(e)))
        out[path] = Ingest(path=path, ref=ref, mtime=st.st_mtime, data=data, total=total)
    return out, skipped


def _snapshots(meta: MetaNamespace, backend: dict[str, BackendSnapshot]) -> dict[str, Snapshot]:
    out: dict[str, Snapshot] = {}
    for key, rec in meta.snapshots.items():
        b = backend.get(rec.backend_key)
        out[key] = Snapshot(
            key=key,
            kind=b.kind if b is not None else "unknown",
            parent=rec.parent,
            labels=rec.labels,
            snapshot_id=b.id if b is not None else None,
            size=b.size if b is not None and b.kind == "committed" else None,
            inodes=b.inodes if b is not None and b.kind == "committed" else None,
            backend_key=rec.backend_key,
        )
    return out


class ContainerdStore:
    """Reads the ``moby`` namespace of a containerd root (see the module doc)."""

    def read(self, info: RootInfo) -> StoreContents:
        """meta.db, the content store, the snapshotter's metadata.db and dirs, the images."""
        root = info.containerd_root
        if not root:
            return StoreContents()
        with anchored_outside(info.path, root):
            return self._read(info, root)

    def _read(self, info: RootInfo, root: str) -> StoreContents:
        skipped: list[Skipped] = []
        snapshotter = (
            info.storage_driver
            if info.storage_driver in ("overlayfs", "native")
            else DEFAULT_SNAPSHOTTER
        )
        meta_path = os.path.join(root, META_DB)
        meta = MetaNamespace()
        others: tuple[str, ...] = ()
        known: frozenset[str] | None = None  # every namespace's backend keys (None: unread)
        shared_blobs: frozenset[str] = frozenset()
        try:
            tree = load_bolt(meta_path)
            meta, sk = parse_meta(tree, meta_path, NAMESPACE, snapshotter)
            skipped += sk
            others = tuple(n for n in namespaces(tree) if n != NAMESPACE)
            known = all_backend_keys(tree, snapshotter)
            shared_blobs = foreign_blobs(tree, NAMESPACE)
        except FileNotFoundError:
            skipped.append(Skipped(meta_path, "missing: no containerd metadata to read"))
        except BoltError as e:
            skipped.append(Skipped(meta_path, str(e)))
        sdir = snapshotter_dir(root, snapshotter)
        sdb = os.path.join(sdir, "metadata.db")
        backend: dict[str, BackendSnapshot] = {}
        try:
            backend, sk = parse_snapshotter_db(load_bolt(sdb), sdb)
            skipped += sk
        except FileNotFoundError:
            pass  # no snapshot was ever made
        except BoltError as e:
            skipped.append(Skipped(sdb, str(e)))
        content_dir = os.path.join(root, CONTENT)
        blobs, sk = _blobs(content_dir, meta.blobs)
        skipped += sk
        ingest_info, sk = _ingests(content_dir)
        skipped += sk
        home = os.path.join(sdir, "snapshots")
        dirs, sk = _snapshot_dirs(home)
        skipped += sk
        snapshots = _snapshots(meta, backend)
        mine = {s.snapshot_id for s in snapshots.values() if s.snapshot_id}
        # A snapshot of the snapshotter that no namespace of meta.db names was lost by the
        # metadata layer; without a readable meta.db nothing can be said, so all are foreign.
        untracked = {
            b.id: b.backend_key
            for b in backend.values()
            if known is not None and b.backend_key not in known and b.id not in mine
        }
        foreign = frozenset(b.id for b in backend.values() if b.id not in mine) - set(untracked)

        reader = BlobReader(content_dir, lambda d: d in meta.blobs)
        images = read_images(meta.images, reader)
        skipped += reader.skipped

        # DiffID of each ChainID, and the compressed blobs each DiffID was pulled as.
        diff_of: dict[str, str] = {}
        for img in images.values():
            for m in img.manifests:
                chain: str | None = None
                for d in m.diff_ids:
                    chain = d if chain is None else _chain(chain, d)
                    diff_of.setdefault(chain, d)
        compressed: dict[str, list[str]] = {}
        for b in blobs.values():
            u = b.labels.get("containerd.io/uncompressed")
            if u:
                compressed.setdefault(u, []).append(b.digest)

        layers: dict[str, Layer] = {}
        rw: dict[str, RWLayerRef] = {}
        for key, s in sorted(snapshots.items()):
            where = f"{sdb}:v1/snapshots/{s.backend_key}"
            if s.kind == "committed" and DIGEST.fullmatch(key):
                diff = diff_of.get(key, "")
                layers[key] = Layer(
                    chain_id=key,
                    diff_id=diff,
                    parent=s.parent,
                    cache_id=s.snapshot_id or "",
                    size=s.size,
                    metadata_dir=where,
                    registry_digests=tuple(sorted(compressed.get(diff, ()))) if diff else (),
                    snapshot_key=key,
                )
            elif s.kind == "active" and s.parent == f"{key}-init":
                init = snapshots.get(s.parent)
                rw[key] = RWLayerRef(
                    name=key,
                    mount_id=s.snapshot_id,
                    init_id=init.snapshot_id if init is not None else None,
                    parent=init.parent if init is not None else None,
                    metadata_dir=where,
                    init_usage=init.size if init is not None else None,
                )
        data = ContainerdData(
            root=root,
            reason=info.containerd_reason,
            namespace=NAMESPACE,
            snapshotter=snapshotter,
            content_dir=content_dir,
            snapshots_dir=home,
            blobs=blobs,
            snapshots=snapshots,
            foreign_snapshot_ids=foreign,
            leases=meta.leases,
            containers=meta.containers,
            ingests=tuple(ingest_info),
            other_namespaces=others,
            image_records=meta.images,
            foreign_blobs=shared_blobs,
            untracked_snapshots=untracked,
            ingest_info=ingest_info,
            ingest_records=meta.ingest_refs,
            meta_mtime=max(_mtime(meta_path), _mtime(sdb)),
        )
        return StoreContents(
            images=images,
            layers=layers,
            rw_layers=rw,
            storage_dirs=dirs,
            driver_home=home,
            skipped=tuple(skipped),
            containerd=data,
        )

    def recheck(self, inv: Inventory, buildkit_keys: BuildkitKeys) -> Inventory:
        """Under a live containerd, read again what the first reading may have caught mid-change.

        containerd makes a snapshot's dir (``snapshots/new-*``, renamed to its ID) before the
        snapshotter's record commits, renames a blob's file out of ``ingest/`` before meta.db
        records it, and deletes records before dirs and files. So a dir or blob file no record
        names, and a snapshot record whose dir is gone, are looked at once more after a short
        pause: records a second reading has for them are taken (they were being made); what is
        gone by then was being removed. Partial downloads that finished meanwhile are dropped.
        """
        data = inv.containerd
        if data is None:
            return inv
        ingest_info = {p: i for p, i in data.ingest_info.items() if fs.exists(p)}
        if len(ingest_info) != len(data.ingest_info):
            data = dataclasses.replace(data, ingest_info=ingest_info, ingests=tuple(ingest_info))
            inv = dataclasses.replace(inv, containerd=data)
        # A dir only the snapshotter's metadata.db knows may be a removal in progress too.
        named = _known_ids(data) - set(data.untracked_snapshots)
        odd_dirs = {n for n in inv.storage_dirs if n not in named}
        odd_blobs = {
            d
            for d, b in data.blobs.items()
            if b.size is None and b.file_size is not None and d not in data.foreign_blobs
        }
        lost = {
            k
            for k, s in data.snapshots.items()
            if s.snapshot_id is not None and s.snapshot_id not in inv.storage_dirs
        }
        if not (odd_dirs or odd_blobs or lost):
            return inv
        time.sleep(RECHECK_PAUSE_SECONDS)
        again = self.read(inv.root)
        d2 = again.containerd
        if d2 is None:
            return inv
        snapshots = dict(data.snapshots)
        for k, s in d2.snapshots.items():
            if k not in snapshots and s.snapshot_id in odd_dirs:
                snapshots[k] = s
        for k in lost - set(d2.snapshots):
            del snapshots[k]
        blobs = dict(data.blobs)
        for d in odd_blobs:
            b2 = d2.blobs.get(d)
            if b2 is not None and b2.size is not None:
                blobs[d] = dataclasses.replace(b2, file_size=blobs[d].file_size)
            elif not fs.exists(blobs[d].path):
                del blobs[d]
        data = dataclasses.replace(
            data,
            snapshots=snapshots,
            blobs=blobs,
            foreign_snapshot_ids=data.foreign_snapshot_ids | (d2.foreign_snapshot_ids & odd_dirs),
            foreign_blobs=data.foreign_blobs | d2.foreign_blobs,
            untracked_snapshots={
                i: k for i, k in data.untracked_snapshots.items() if i in d2.untracked_snapshots
            },
        )
        known = _known_ids(data)
        dirs = {n: d for n, d in inv.storage_dirs.items() if n in known or fs.exists(d.path)}
        layers = {k: v for k, v in inv.layers.items() if k in snapshots}
        layers |= {k: v for k, v in again.layers.items() if k not in layers and v.cache_id in dirs}
        rw = {k: v for k, v in inv.rw_layers.items() if k in snapshots}
        rw |= {k: v for k, v in again.rw_layers.items() if k not in rw and v.mount_id in dirs}
        return dataclasses.replace(
            inv, containerd=data, storage_dirs=dirs, layers=layers, rw_layers=rw
        )


#: How long to wait before reading the store again under a live containerd.
RECHECK_PAUSE_SECONDS = 0.2


def _mtime(path: str) -> float:
    """A file's mtime beneath the root (0.0 when it cannot be seen)."""
    try:
        st = fs.lstat_or_none(path)
    except (OSError, ReaderError):
        return 0.0
    return st.st_mtime if st is not None else 0.0


def _known_ids(data: ContainerdData) -> set[str]:
    """Snapshot dir IDs some metadata names (this namespace's, others', the snapshotter's)."""
    known = {s.snapshot_id for s in data.snapshots.values() if s.snapshot_id}
    return known | data.foreign_snapshot_ids | set(data.untracked_snapshots)


def _chain(parent: str, diff: str) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(f"{parent} {diff}".encode()).hexdigest()


__all__ = ["ContainerdStore", "anchored_outside", "snapshotter_dir"]
