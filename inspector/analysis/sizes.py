"""Docker's size numbers and sharing, computed from an Inventory (pure, no I/O)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable

from inspector.analysis.containerd import Ctrd
from inspector.analysis.results import ContainerRow, ImageRow, LayerRow, VolumeRow
from inspector.ids import chain_ids
from inspector.model import ImageStore, Inventory, Measurements, Volume


def storage_path(inv: Inventory, dir_name: str | None) -> str | None:
    """Absolute path of a storage-driver dir by name."""
    if not dir_name or not inv.driver_home:
        return None
    home = inv.driver_home
    if dir_name[0] == "/" or home[-1] == "/":
        return os.path.join(home, dir_name)
    return f"{home}/{dir_name}"  # os.path.join's result, without its cost (~30k calls)


def diff_path(inv: Inventory, dir_name: str | None) -> str | None:
    """The directory holding a layer's files (overlay2: <id>/diff; vfs: the dir itself)."""
    p = storage_path(inv, dir_name)
    if p is None:
        return None
    return p + "/diff" if inv.root.storage_driver == "overlay2" else p


def _usage(meas: Measurements, path: str | None) -> tuple[int | None, int]:
    if path is None:
        return None, 0
    u = meas.usage.get(path)
    if u is None:
        return None, 0
    return u.apparent, u.disk


def _complete(meas: Measurements, path: str, counted: str | None) -> bool:
    """Whether the walk of `path` read all of `counted` (its subtree Docker measures).

    Docker's directory.Size fails as a whole on any error but a vanished entry (e.g. a tree
    nested deeper than PATH_MAX): `docker system df` then shows -1 for the container or
    volume. A partial sum would be neither Docker's number nor the truth, so such a size is
    reported as unknown (None), with the unreadable subtree as its own finding.
    """
    u = meas.usage.get(path)
    if u is None or not u.unreadable:
        return True
    top = counted if counted is not None else path
    return not any(s.path == top or s.path.startswith(top + "/") for s in u.unreadable)


def mount_text(inv: Inventory, v: Volume) -> str | None:
    """What is mounted on a volume's data dir right now, in words; None when nothing is."""
    m = inv.mount_at(os.path.join(v.path, "_data")) or inv.mount_at(v.path)
    if m is None:
        return None
    device = v.options.get("device")
    if device and "bind" in v.options.get("o", "").split(","):
        return f"bind mount of {device}, not measured"
    origin = m.source if m.fs_root in ("", "/") else f"{m.source}:{m.fs_root}"
    return f"mount point ({m.fstype} {origin}), not measured"


class Sizes:
    """Per-object rows and the reference maps other analyses need."""

    def __init__(self, inv: Inventory, meas: Measurements | None = None) -> None:
        self.inv = inv
        self.meas = meas if meas is not None else Measurements()
        """What was measured (empty when sizes were not measured)."""
        self.ctrd: Ctrd | None = (
            Ctrd(inv, self.meas)
            if inv.containerd is not None and inv.root.image_store is ImageStore.CONTAINERD
            else None
        )
        """The containerd store's numbers, when that is the store read (else None)."""
        self.chains: dict[str, tuple[str, ...]] = {
            iid: chain_ids(img.diff_ids) for iid, img in inv.images.items()
        }
        self.children: dict[str, list[str]] = defaultdict(list)
        for iid, img in inv.images.items():
            if img.parent and img.parent in inv.images:
                self.children[img.parent].append(iid)
        self.containers_by_image: dict[str, list[str]] = defaultdict(list)
        for cid, c in inv.containers.items():
            self.containers_by_image[c.image_id].append(cid)
        # layer -> images (all images, intermediates too) and containers using it
        self.layer_images: dict[str, list[str]] = defaultdict(list)
        for iid in sorted(self.chains):
            for ch in self.chains[iid]:
                self.layer_images[ch].append(iid)
        self.layer_containers: dict[str, list[str]] = defaultdict(list)
        self._container_chains: dict[str, tuple[str, ...]] = {}
        for cid in sorted(inv.containers):
            for ch in self.container_chain(cid):
                self.layer_containers[ch].append(cid)

    def layer_size(self, chain_id: str) -> int:
        """Recorded size of one layer (0 when unknown)."""
        layer = self.inv.layers.get(chain_id)
        return layer.size or 0 if layer is not None else 0

    def container_chain(self, cid: str) -> tuple[str, ...]:
        """Image layers under a container: its RW layer's parent chain (else its image's)."""
        known = self._container_chains.get(cid)
        if known is None:
            known = self._container_chains[cid] = self._chain_of(cid)
        return known

    def _chain_of(self, cid: str) -> tuple[str, ...]:
        m = self.inv.rw_layers.get(cid)
        top = m.parent if m is not None else None
        if top is None:
            c = self.inv.containers.get(cid)
            return self.chains.get(c.image_id, ()) if c is not None else ()
        chain: list[str] = []
        seen: set[str] = set()
        while top is not None and top not in seen and len(chain) < 1000:
            seen.add(top)
            chain.append(top)
            layer = self.inv.layers.get(top)
            top = layer.parent if layer is not None else None
        chain.reverse()
        return tuple(chain)

    def is_tagged(self, iid: str) -> bool:
        """Whether the image has a tag or a digest reference."""
        img = self.inv.images[iid]
        return bool(img.tags or img.digests)

    def listed_images(self) -> list[str]:
        """Images `docker images` lists: referenced ones, and untagged ones with no children."""
        return [
            iid
            for iid in sorted(self.inv.images)
            if self.is_tagged(iid) or not self.children.get(iid)
        ]

    def image_rows(self) -> list[ImageRow]:
        """One row per image with Docker's Size and SharedSize."""
        if self.ctrd is not None:
            return self.ctrd.image_rows(self)
        listed = set(self.listed_images())
        refs: dict[str, int] = defaultdict(int)
        for iid in listed:
            for ch in self.chains[iid]:
                refs[ch] += 1
        rows: list[ImageRow] = []
        for iid in sorted(self.inv.images):
            img = self.inv.images[iid]
            chain = self.chains[iid]
            missing = tuple(ch for ch in chain if ch not in self.inv.layers)
            size = sum(self.layer_size(ch) for ch in chain)
            shared = sum(self.layer_size(ch) for ch in chain if refs[ch] > 1)
            # Freed by removing it: layers no other image (intermediates included) nor any
            # container uses. Untagged parents go too when this is their only child.
            owners = {iid} | set(self._untagged_ancestors(iid))
            free = sum(
                self.layer_size(ch)
                for ch in chain
                if set(self.layer_images[ch]) <= owners and not self.layer_containers.get(ch)
            )
            disk = 0
            for ch in chain:
                layer = self.inv.layers.get(ch)
                if layer is not None:
                    disk += _usage(self.meas, storage_path(self.inv, layer.cache_id))[1]
            tagged = self.is_tagged(iid)
            rows.append(
                ImageRow(
                    image=img,
                    chain=chain,
                    size=size,
                    shared_size=shared,
                    unique_size=size - shared,
                    containers=tuple(sorted(self.containers_by_image.get(iid, []))),
                    children=tuple(sorted(self.children.get(iid, []))),
                    dangling=not img.tags and not self.children.get(iid),
                    intermediate=not tagged and bool(self.children.get(iid)),
                    reclaimable=free,
                    disk_usage=disk,
                    missing_layers=missing,
                )
            )
        return rows

    def _untagged_ancestors(self, iid: str) -> Iterable[str]:
        """Untagged parents that `docker image rm` removes along with this image."""
        seen: set[str] = set()
        parent = self.inv.images[iid].parent
        while parent and parent in self.inv.images and parent not in seen:
            seen.add(parent)
            if self.is_tagged(parent) or len(self.children.get(parent, [])) > 1:
                break
            yield parent
            parent = self.inv.images[parent].parent

    def layer_rows(self) -> list[LayerRow]:
        """One row per layerdb layer, base-first order within ties by chain ID."""
        if self.ctrd is not None:
            return self.ctrd.layer_rows(self)
        rows: list[LayerRow] = []
        bk_only = self.buildkit_only_layers()
        for ch in sorted(self.inv.layers):
            layer = self.inv.layers[ch]
            sdir = storage_path(self.inv, layer.cache_id)
            d = self.inv.storage_dirs.get(layer.cache_id)
            measured, disk = _usage(self.meas, sdir)
            rows.append(
                LayerRow(
                    layer=layer,
                    diff_dir=diff_path(self.inv, layer.cache_id),
                    storage_dir=sdir,
                    link=d.link if d else None,
                    lower=d.lower if d else (),
                    size=layer.size or 0,
                    disk_usage=disk,
                    images=tuple(self.layer_images.get(ch, [])),
                    containers=tuple(self.layer_containers.get(ch, [])),
                    dir_exists=d is not None,
                    measured_size=measured,
                    buildkit_only=ch in bk_only,
                )
            )
        return rows

    def container_rows(self) -> list[ContainerRow]:
        """One row per container with Docker's SizeRw (apparent bytes of its upper dir)."""
        if self.ctrd is not None:
            return self.ctrd.container_rows(self)
        rows: list[ContainerRow] = []
        for cid in sorted(self.inv.containers):
            c = self.inv.containers[cid]
            m = self.inv.rw_layers.get(cid)
            rw_dir = diff_path(self.inv, m.mount_id) if m else None
            init_dir = diff_path(self.inv, m.init_id) if m and m.init_id else None
            size_rw: int | None = None
            disk = 0
            if m and m.mount_id and m.mount_id in self.inv.storage_dirs:
                apparent, disk = _usage(self.meas, storage_path(self.inv, m.mount_id))
                sdir = storage_path(self.inv, m.mount_id) or ""
                if not _complete(self.meas, sdir, diff_path(self.inv, m.mount_id)):
                    size_rw = None
                elif self.inv.root.storage_driver == "vfs":
                    size_rw = self.meas.vfs_changes.get(cid)
                else:
                    size_rw = apparent
            if m and m.init_id:
                disk += _usage(self.meas, storage_path(self.inv, m.init_id))[1]
            image_size = sum(self.layer_size(ch) for ch in self.container_chain(cid))
            virtual = None if size_rw is None else size_rw + image_size
            vols = tuple(sorted({mp.name for mp in c.mounts if mp.type == "volume" and mp.name}))
            rows.append(
                ContainerRow(
                    container=c,
                    rw_dir=rw_dir,
                    init_dir=init_dir,
                    size_rw=size_rw,
                    virtual_size=virtual,
                    disk_usage=disk,
                    log_size=sum(lf.size for lf in c.logs),
                    log_disk=sum(lf.disk for lf in c.logs),
                    volumes=vols,
                    image_present=c.image_id in self.inv.images,
                )
            )
        return rows

    def volume_users(self) -> dict[str, list[str]]:
        """Volume name → containers with a MountPoint naming it with a driver (Docker's refs)."""
        users: dict[str, list[str]] = defaultdict(list)
        for cid in sorted(self.inv.containers):
            names = {mp.name for mp in self.inv.containers[cid].mounts if mp.name and mp.driver}
            for n in sorted(names):
                users[n].append(cid)
        return users

    def volume_rows(self) -> list[VolumeRow]:
        """One row per volume with Docker's Size and RefCount."""
        users = self.volume_users()
        rows: list[VolumeRow] = []
        for name in sorted(self.inv.volumes):
            v = self.inv.volumes[name]
            size, disk = _usage(self.meas, v.path) if v.has_dir else (None, 0)
            if not _complete(self.meas, v.path, os.path.join(v.path, "_data")):
                size = None
            mounted = mount_text(self.inv, v)
            if mounted is not None:
                size = None  # its data lives elsewhere: never walked
            rows.append(
                VolumeRow(
                    volume=v,
                    size=size,
                    disk_usage=disk,
                    links=len(users.get(name, [])),
                    containers=tuple(users.get(name, [])),
                    in_docker_df=v.driver == "local" and not v.options,
                    mounted=mounted,
                )
            )
        return rows

    def _closure(self, starts: Iterable[str]) -> set[str]:
        """`starts` and every layer below them (parent chains, loop-safe)."""
        used: set[str] = set()
        for top in starts:
            cur: str | None = top
            while cur is not None and cur not in used:
                used.add(cur)
                layer = self.inv.layers.get(cur)
                cur = layer.parent if layer is not None else None
        return used

    def used_layers(self) -> set[str]:
        """Layers reachable from an image chain, a container's RW parent, or BuildKit."""
        starts = [ch for chain in self.chains.values() for ch in chain]
        starts += [m.parent for m in self.inv.rw_layers.values() if m.parent]
        return self._closure(starts) | self.buildkit_layers()

    def buildkit_layers(self) -> set[str]:
        """Layers BuildKit's cache holds (its chainid records and their parents)."""
        bk = self.inv.buildkit
        starts = [k for k in bk.snapshot_keys if k.startswith("sha256:")]
        return self._closure([*starts, *bk.chain_ids])

    def buildkit_only_layers(self) -> set[str]:
        """Layers only BuildKit's cache holds: no image (intermediates included) nor container."""
        return {
            ch
            for ch in self.buildkit_layers()
            if ch in self.inv.layers
            and not self.layer_images.get(ch)
            and not self.layer_containers.get(ch)
        }
