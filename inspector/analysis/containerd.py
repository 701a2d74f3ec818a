"""Docker's numbers and containerd's truth for the containerd image store (pure, no I/O).

Docker's numbers follow moby at docker-v29.7.2-150-gb985e231 (``daemon/containerd/
image_list.go`` ``Images``/``multiPlatformSummary``/``computeSharedSize``,
``image_manifest.go``, ``image_snapshot.go``, ``service.go`` ``ImageDiskUsage`` and
``GetContainerLayerSize``, ``daemon/disk_usage.go``); the same code since Docker 28 in its
essentials. In this mode every size Docker shows is containerd's snapshot *usage*
(allocated bytes: st_blocks * 512, each inode once, directories included) plus descriptor
sizes of content blobs — no apparent bytes anywhere:

- image ``size``: over every manifest its target reaches (attestations and absent platforms
  included), the descriptor sizes of the present blobs under it (the manifest itself, its
  config, its layers; an index blob is not counted), plus, for each runnable manifest whose
  config is present, the usage of its snapshot chain (0 when its top snapshot, or any below
  it, is missing: not unpacked);
- ``shared_size``: the usage of each of its chain snapshots (all platforms, repeats kept)
  that another listed image also has, plus the descriptor size of each of its blobs (once)
  another listed image also has; ``unique_size`` = size - shared;
- container ``SizeRw``: the usage of its active snapshot (a walk of ``snapshots/<id>/fs``);
  ``SizeRootFs``: that plus the usage of the chain below it (``-init`` and the image);
- ``docker system df`` images total: every snapshot of an unpacked present manifest's chain
  once, plus every present blob under every image's target once (indexes included).

containerd's truth beside it: an image's ``content_size`` (every present blob reachable from
the target, each once, its file's bytes), ``unpacked_size`` (the local platform's chain), and
the host totals: content store vs snapshots, the bytes of layers stored twice.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from inspector.analysis import trees as analysis_trees
from inspector.analysis.containerd_gc import GC_FLAT, Marks, mark
from inspector.analysis.results import (
    Category,
    ContainerRow,
    Finding,
    ImageRow,
    Kind,
    LayerRow,
    Totals,
    VolumeRow,
)
from inspector.ids import BUILDKIT_ID, chain_ids
from inspector.model import ContainerdData, Image, Inventory, Measurements, Usage

if TYPE_CHECKING:
    from inspector.analysis.sizes import Sizes

#: Longest parent chain followed (containerd refuses nothing, so a hostile loop is cut here).
MAX_CHAIN = 1000
#: The label the classic builder puts on an image record: its parent image (moby).
PARENT_LABEL = "org.mobyproject.image.parent"
#: The label of the leases BuildKit holds during a build (deleted at its next start).
BUILDKIT_TEMPORARY = "buildkit/lease.temporary"


def buildkit_shaped(lease_id: str, labels: Mapping[str, str]) -> bool:
    """A lease as BuildKit makes them: named by a record ID (25 base-36 chars), flat."""
    return bool(BUILDKIT_ID.fullmatch(lease_id)) and GC_FLAT in labels


DESCRIPTIONS = {
    "image_content": "content store blobs images reference (compressed layers, manifests, "
    "configs): the first copy of every layer",
    "image_layers": "unpacked snapshots of image layers: the second copy",
    "container_layers": "containers' writable snapshots and their -init snapshots",
    "volumes": "volume directories",
    "logs": "container log files",
    "build_cache": "BuildKit's state under buildkit/",
    "unused_content": "blobs with a record that no image, lease or other blob references "
    "(containerd's GC frees them)",
    "unused_layers": "snapshots no image chain or container uses (kept by a lease or a label)",
    "orphans": "snapshot dirs, blob files and partial downloads containerd does not know",
    "metadata": "meta.db, the snapshotter's metadata.db, containers' config files, …",
    "inactive": "a storage driver's data the daemon no longer uses (left from before the "
    "switch to the containerd image store)",
    "other": "everything else under the root and the containerd root",
}


def fs_dir(data: ContainerdData, snapshot_id: str | None) -> str | None:
    """``snapshots/<id>/fs``: the snapshot's own files."""
    if not snapshot_id:
        return None
    return os.path.join(data.snapshots_dir, snapshot_id, "fs")


def snapshot_dir(data: ContainerdData, snapshot_id: str | None) -> str | None:
    """``snapshots/<id>``."""
    return os.path.join(data.snapshots_dir, snapshot_id) if snapshot_id else None


class Ctrd:
    """Containerd-store numbers of one inventory (and its measurements)."""

    def __init__(self, inv: Inventory, meas: Measurements) -> None:
        assert inv.containerd is not None
        self.inv = inv
        self.data: ContainerdData = inv.containerd
        self.meas = meas
        self._marks: Marks | None = None

    # ---------------------------------------------------------------- snapshots

    def usage(self, key: str) -> int | None:
        """containerd's ``Usage`` of one snapshot (None: no such snapshot, or not measured).

        Committed: recorded at commit. Active: a walk of its fs dir. View: nothing recorded (0).
        """
        s = self.data.snapshots.get(key)
        if s is None or s.snapshot_id is None:
            return None
        if s.kind == "committed":
            return s.size or 0
        if s.kind == "active":
            path = fs_dir(self.data, s.snapshot_id)
            u = self.meas.usage.get(path) if path else None
            if u is None or u.unreadable:
                return None
            return u.disk
        return 0

    def chain_total(self, key: str) -> tuple[int, bool]:
        """(usage summed along the parent chain from `key`, whether every snapshot existed).

        moby ``calculateSnapshotTotalUsage``: on a missing ancestor the sum so far comes back
        with NotFound.
        """
        total = 0
        cur: str | None = key
        seen: set[str] = set()
        while cur and cur not in seen and len(seen) < MAX_CHAIN:
            seen.add(cur)
            u = self.usage(cur)
            s = self.data.snapshots.get(cur)
            if u is None or s is None:
                return total, False
            total += u
            cur = s.parent
        return total, True

    def unpacked(self, diff_ids: Sequence[str]) -> int:
        """moby ``SnapshotUsage``: the chain's total, 0 when not (completely) unpacked."""
        if not diff_ids:
            return 0
        total, ok = self.chain_total(chain_ids(diff_ids)[-1])
        return total if ok else 0

    # ---------------------------------------------------------------- images

    def blob_bytes(self, digest: str) -> int:
        """Bytes of a blob's file (its record's size when the file is missing)."""
        b = self.data.blobs.get(digest)
        if b is None:
            return 0
        return b.file_size if b.file_size is not None else (b.size or 0)

    def content_size(self, img: Image) -> int:
        """containerd's truth: every present blob under the target, once, by its file."""
        return sum(self.blob_bytes(d) for d in {d for d, _ in img.target_content})

    def local_unpacked(self, img: Image) -> int:
        """The unpacked size of the platform Docker shows (the image's own diff_ids)."""
        return self.unpacked(img.diff_ids)

    def docker_size(self, img: Image) -> int:
        """Docker's Size (``multiPlatformSummary.TotalSize``)."""
        total = 0
        for m in img.manifests:
            total += sum(size for _, size in m.content)
            if not m.pseudo and m.diff_ids:
                total += self.unpacked(m.diff_ids)
        return total

    def all_chain_ids(self, img: Image) -> list[str]:
        """``AllChainIDs``: the chains of every runnable manifest with a config, repeats kept."""
        out: list[str] = []
        for m in img.manifests:
            if not m.pseudo and m.diff_ids:
                out.extend(chain_ids(m.diff_ids))
        return out

    def listed(self) -> list[str]:
        """Images ``docker images`` lists: dangling ones named as a parent are hidden."""
        parents = {img.parent for img in self.inv.images.values() if img.parent}
        return [
            iid
            for iid in sorted(self.inv.images)
            if self.inv.images[iid].tags or iid not in parents
        ]

    def shared_sizes(self, listed: Sequence[str]) -> dict[str, int]:
        """moby ``computeSharedSize`` over the listed images."""
        layers: dict[str, int] = defaultdict(int)
        blobs: dict[str, int] = defaultdict(int)
        chains = {iid: self.all_chain_ids(self.inv.images[iid]) for iid in listed}
        contents = {
            iid: [c for m in self.inv.images[iid].manifests for c in m.content] for iid in listed
        }
        for iid in listed:
            for ch in chains[iid]:
                layers[ch] += 1
            for d in {d for d, _ in contents[iid]}:
                blobs[d] += 1
        out: dict[str, int] = {}
        for iid in listed:
            shared = sum(self.usage(ch) or 0 for ch in chains[iid] if layers[ch] > 1)
            seen: set[str] = set()
            for d, size in contents[iid]:
                if blobs[d] > 1 and d not in seen:
                    seen.add(d)
                    shared += size
            out[iid] = shared
        return out

    def image_rows(self, sizes: Sizes) -> list[ImageRow]:
        """One row per image (by target digest) with Docker's numbers and containerd's."""
        listed = self.listed()
        shared = self.shared_sizes(listed)
        hidden = set(self.inv.images) - set(listed)
        containers = sizes.containers_by_image
        rows: list[ImageRow] = []
        for iid in sorted(self.inv.images):
            img = self.inv.images[iid]
            size = self.docker_size(img)
            sh = shared.get(iid, 0)
            users = tuple(sorted(containers.get(iid, [])))
            rows.append(
                ImageRow(
                    image=img,
                    chain=chain_ids(img.diff_ids),
                    size=size,
                    shared_size=sh,
                    unique_size=size - sh,
                    containers=users,
                    children=(),
                    dangling=not img.tags,
                    intermediate=iid in hidden,
                    reclaimable=0 if users else size - sh,
                    disk_usage=self.content_size(img) + self.local_unpacked(img),
                    content_size=self.content_size(img),
                    unpacked_size=self.local_unpacked(img),
                )
            )
        return rows

    def df_images_total(self) -> int:
        """``docker system df`` Images SIZE (moby ``ImageDiskUsage``)."""
        total = 0
        seen_snap: set[str] = set()
        seen_blob: set[str] = set()
        for img in self.inv.images.values():
            for m in img.manifests:
                if not m.present or not m.diff_ids:
                    continue
                cur: str | None = chain_ids(m.diff_ids)[-1]
                if cur not in self.data.snapshots:
                    continue  # not unpacked
                while cur and cur not in seen_snap and len(seen_snap) < 10 * MAX_CHAIN:
                    seen_snap.add(cur)
                    u = self.usage(cur)
                    s = self.data.snapshots.get(cur)
                    if u is None or s is None:
                        break
                    total += u
                    cur = s.parent
            for d, size in img.target_content:
                if d not in seen_blob:
                    seen_blob.add(d)
                    total += size
        return total

    # ---------------------------------------------------------------- layers, containers

    def layer_rows(self, sizes: Sizes) -> list[LayerRow]:
        """One row per committed image-layer snapshot (containerd's usage as its size)."""
        rows: list[LayerRow] = []
        for ch in sorted(self.inv.layers):
            layer = self.inv.layers[ch]
            sid = layer.cache_id or None
            d = self.inv.storage_dirs.get(layer.cache_id) if sid else None
            walked = self.meas.usage.get(fs_dir(self.data, sid) or "")
            rows.append(
                LayerRow(
                    layer=layer,
                    diff_dir=fs_dir(self.data, sid),
                    storage_dir=snapshot_dir(self.data, sid),
                    link=None,
                    lower=(),
                    size=layer.size or 0,
                    disk_usage=layer.size or 0,
                    images=tuple(sizes.layer_images.get(ch, [])),
                    containers=tuple(sizes.layer_containers.get(ch, [])),
                    dir_exists=d is not None,
                    measured_size=walked.disk if walked is not None else None,
                    snapshot_key=layer.snapshot_key,
                )
            )
        return rows

    def container_rows(self, sizes: Sizes) -> list[ContainerRow]:
        """One row per container: SizeRw = containerd's usage of its active snapshot."""
        rows: list[ContainerRow] = []
        for cid in sorted(self.inv.containers):
            c = self.inv.containers[cid]
            m = self.inv.rw_layers.get(cid)
            rw = self.usage(cid) if m is not None else None
            parent_total = 0
            s = self.data.snapshots.get(cid)
            if s is not None and s.parent:
                parent_total, _ = self.chain_total(s.parent)
            vols = tuple(sorted({mp.name for mp in c.mounts if mp.type == "volume" and mp.name}))
            rows.append(
                ContainerRow(
                    container=c,
                    rw_dir=fs_dir(self.data, m.mount_id) if m else None,
                    init_dir=fs_dir(self.data, m.init_id) if m else None,
                    size_rw=rw,
                    virtual_size=None if rw is None else rw + parent_total,
                    disk_usage=rw or 0,
                    log_size=sum(lf.size for lf in c.logs),
                    log_disk=sum(lf.disk for lf in c.logs),
                    volumes=vols,
                    image_present=c.image_id in self.inv.images,
                )
            )
        return rows

    # ---------------------------------------------------------------- references

    def image_blobs(self) -> set[str]:
        """Every blob reachable from an image's target (present ones)."""
        return {d for img in self.inv.images.values() for d, _ in img.target_content}

    def gc_blobs(self) -> set[str]:
        """Blobs containerd's GC keeps: from images, leases, and gc.ref labels, transitively."""
        keep = set(self.image_blobs())
        for lease in self.data.leases.values():
            keep.update(lease.content)
        todo = list(keep)
        while todo:
            b = self.data.blobs.get(todo.pop())
            if b is None:
                continue
            for k, v in b.labels.items():
                if k.startswith("containerd.io/gc.ref.content") and v not in keep:
                    keep.add(v)
                    todo.append(v)
        return keep

    def buildkit_leases(self) -> list[str]:
        """IDs of the leases BuildKit holds its snapshots with.

        Those named by a record of its ``metadata_v2.db`` (``cache/manager.go``), and its
        temporary ones (``buildkit/lease.temporary``, made during a build). When its metadata
        cannot be read, every lease shaped like BuildKit's (a 25-character ID, flat) counts:
        what BuildKit may hold is never called unreferenced.
        """
        bk = self.inv.buildkit
        out: list[str] = []
        for lid in sorted(self.data.leases):
            lease = self.data.leases[lid]
            mine = lid in bk.record_ids or BUILDKIT_TEMPORARY in lease.labels
            if mine or (not bk.readable and buildkit_shaped(lid, lease.labels)):
                out.append(lid)
        return out

    def snapshot_owner(self) -> dict[str, str]:
        """Snapshot key → category (image_layers, container_layers, build_cache, unused_layers).

        What Docker uses: the chains of every manifest of every image (all platforms), each
        container's snapshot and its ``-init``; then what BuildKit holds (its records' snapshot
        keys and its leases' snapshots); each with every snapshot below it.
        """
        owner: dict[str, str] = {}
        used_chain: set[str] = set()
        for img in self.inv.images.values():
            for m in img.manifests:
                if m.diff_ids:
                    used_chain.update(chain_ids(m.diff_ids))
        for cid in self.inv.containers:
            for key in (cid, f"{cid}-init"):
                if key in self.data.snapshots:
                    owner[key] = "container_layers"
        held = set(self.inv.buildkit.snapshot_keys)
        for lid in self.buildkit_leases():
            held.update(self.data.leases[lid].snapshots)
        # Everything below a used snapshot is used too (first user wins: containers, images,
        # then BuildKit).
        starts = [(k, "image_layers") for k in list(owner) + sorted(used_chain)]
        starts += [(k, "build_cache") for k in sorted(held)]
        for key, cat in starts:
            cur: str | None = key
            n = 0
            while cur and n < MAX_CHAIN:
                n += 1
                s = self.data.snapshots.get(cur)
                if s is None:
                    break
                owner.setdefault(cur, cat)
                cur = s.parent
        for key, s in self.data.snapshots.items():
            # A view is a read-only mount of its parent (docker cp, an export, a build step
            # reading a record): it belongs with what it shows.
            if s.kind == "view" and key not in owner and s.parent in owner:
                owner[key] = owner[s.parent]
            owner.setdefault(key, "unused_layers")
        return owner

    def gc_marks(self) -> Marks:
        """What containerd's garbage collector keeps, and by which root (computed once)."""
        if self._marks is None:
            self._marks = mark(self.data, self.inv.scan_started)
        return self._marks


def reconcile(
    inv: Inventory,
    ctrd: Ctrd,
    images: list[ImageRow],
    containers: list[ContainerRow],
    volumes: list[VolumeRow],
    findings: list[Finding],
) -> Totals:
    """Docker's df numbers, and every measured byte under both roots in one category."""
    data = ctrd.data
    meas = ctrd.meas
    cats: dict[str, Usage] = {k: Usage(0, 0) for k in DESCRIPTIONS}
    owner = ctrd.snapshot_owner()
    by_id = {s.snapshot_id: key for key, s in data.snapshots.items() if s.snapshot_id}
    for name, d in inv.storage_dirs.items():
        key = by_id.get(name)
        if key is not None:
            cat = owner.get(key, "unused_layers")
        elif name in data.foreign_snapshot_ids:
            cat = "other"
        else:
            cat = "orphans"
        u = meas.of(os.path.join(d.path, "fs")) + meas.of(d.path)
        cats[cat] = cats[cat] + Usage(u.apparent, u.disk)
    keep = ctrd.gc_blobs()
    reach = ctrd.image_blobs()
    for b in data.blobs.values():
        if b.file_size is None:
            continue
        if b.size is None:
            cat = "orphans"
        elif b.digest in reach:
            cat = "image_content"
        elif b.digest in keep:
            cat = "other"
        else:
            cat = "unused_content"
        cats[cat] = cats[cat] + Usage(b.file_size, b.disk)
    for p in data.ingests:
        cats["orphans"] = cats["orphans"] + meas.of(p)
    for v in inv.volumes.values():
        if v.has_dir:
            cats["volumes"] = cats["volumes"] + meas.of(v.path)
    for c in inv.containers.values():
        cu = meas.of(c.dir)
        lsz = sum(lf.size for lf in c.logs)
        ldisk = sum(lf.disk for lf in c.logs)
        cats["logs"] = cats["logs"] + Usage(lsz, ldisk)
        cats["metadata"] = cats["metadata"] + Usage(
            max(cu.apparent - lsz, 0), max(cu.disk - ldisk, 0)
        )
    for s in inv.container_dirs_without_config:
        cats["orphans"] = cats["orphans"] + meas.of(s.path)
    # A graphdriver's data left from before the switch (overlay2/, image/overlay2/, the
    # containers made with it), each part measured whole.
    unused = analysis_trees.inactive_paths(inv)
    for p in sorted(unused):
        cats["inactive"] = cats["inactive"] + meas.of(p)
    # Everything else measured: the dirs on the way to the per-object trees (meta.db and
    # metadata.db live there), and the other areas of the data root.
    own = {os.path.join(d.path, "fs") for d in inv.storage_dirs.values()}
    own |= {d.path for d in inv.storage_dirs.values()} | set(data.ingests)
    own |= {v.path for v in inv.volumes.values()} | {c.dir for c in inv.containers.values()}
    own |= {s.path for s in inv.container_dirs_without_config} | unused
    for path, u in meas.usage.items():
        if path in own:
            continue
        if path == data.root or path.startswith(data.root + "/"):
            cats["metadata"] = cats["metadata"] + u
        elif os.path.basename(path) == "buildkit" and os.path.dirname(path) == inv.root.path:
            cats["build_cache"] = cats["build_cache"] + u
        elif _on_way(path, inv.root.path, data.root) or os.path.basename(path) in (
            "containers",
            "volumes",
            "image",
        ):
            cats["metadata"] = cats["metadata"] + u
        else:
            cats["other"] = cats["other"] + u
    reclaimable = sum(f.bytes for f in findings if f.reclaimable and f.kind != Kind.UNREADABLE)
    listed = [r for r in images if r.listed]
    return Totals(
        docker_images_size=ctrd.df_images_total(),
        docker_containers_size=sum(r.size_rw or 0 for r in containers),
        docker_volumes_size=sum(r.size or 0 for r in volumes if r.in_docker_df),
        docker_build_cache_size=inv.buildkit.total,
        build_cache_reclaimable=inv.buildkit.reclaimable,
        log_size=sum(r.log_size for r in containers),
        reclaimable=reclaimable,
        disk_total=sum(u.disk for u in cats.values()),
        categories=tuple(
            Category(name, u.apparent, u.disk, DESCRIPTIONS[name]) for name, u in cats.items()
        ),
        containerd=store_totals(ctrd, listed),
    )


def _on_way(path: str, root: str, ctrd_root: str) -> bool:
    """Whether `path` is a dir between the data root and the containerd root."""
    return path != root and ctrd_root.startswith(path.rstrip("/") + "/")


def store_totals(ctrd: Ctrd, rows: Sequence[ImageRow]) -> Mapping[str, int]:
    """Content store vs snapshots: the "stored twice" bytes made visible."""
    data = ctrd.data
    content = sum(b.file_size or 0 for b in data.blobs.values() if b.size is not None)
    content_disk = sum(b.disk for b in data.blobs.values() if b.size is not None)
    snaps = sum(ctrd.usage(k) or 0 for k in data.snapshots)
    image_snaps = sum(s.size or 0 for k, s in data.snapshots.items() if k in ctrd.inv.layers)
    # A layer is stored twice when its compressed blob is in the content store and its
    # unpacked snapshot exists.
    twice_blobs: set[str] = set()
    twice_snaps: set[str] = set()
    for ch, layer in ctrd.inv.layers.items():
        for d in layer.registry_digests:
            if d in data.blobs and data.blobs[d].size is not None:
                twice_blobs.add(d)
                twice_snaps.add(ch)
    return {
        "content_bytes": content,
        "content_disk_usage": content_disk,
        "snapshot_bytes": snaps,
        "image_snapshot_bytes": image_snaps,
        "stored_twice_compressed_bytes": sum(ctrd.blob_bytes(d) for d in twice_blobs),
        "stored_twice_unpacked_bytes": sum(
            data.snapshots[c].size or 0 for c in twice_snaps if c in data.snapshots
        ),
        "images_content_size": sum(r.content_size or 0 for r in rows),
    }


__all__ = ["DESCRIPTIONS", "Ctrd", "fs_dir", "reconcile", "snapshot_dir", "store_totals"]
