"""The daemon's stores, replayed: what removing images, containers, volumes or build cache frees.

A :class:`World` is a mutable copy of what a graphdriver-mode dockerd holds in memory after
it loaded a root: image references, image parents, containers, the layer store's reference
counts, volume references and BuildKit's cache records. Its methods do what the daemon's do
(moby 20.10 to 28, read from the source at those tags), so that the prune preview and ``explain``
can say, before anything runs, which objects go and which bytes are released:

- **layers** (``layer/layer_store.go``): a layer is referenced once by every image whose top
  layer it is, once by every child layer, once by every read-write layer (a container's, a
  build step's) whose parent it is, and once by BuildKit when one of its cache records is that
  layer (``builder-next/adapters/snapshot``). Releasing the last reference deletes the layer
  and releases its parent; a layer nothing references (a ``dangling_layer``) is never released
  by any command. What a deletion frees is each deleted layer's recorded size: exactly what
  ``image prune`` adds up as SpaceReclaimed (``daemon/images/image_prune.go``).
- **images** (``daemon/images/image_delete.go``): ``ImageDelete`` by reference and by ID,
  ``imageDeleteHelper`` with its hard and soft conflicts and the pruning of untagged parents,
  the reference store's lexical order (``reference/store.go``) and its clean-up of digest
  references when the last tag of a repository goes.
- **containers** (``daemon/delete.go``): removing one releases its read-write layer (its dir
  and the ``-init`` dir go), its container dir (config, logs) and its volume references;
  anonymous volumes stay unless ``-v``.
- **build cache** (BuildKit ``cache/manager.go`` ``prune``): see :meth:`World.prune_builder`.

Pure: the numbers come from the Report (recorded sizes, SizeRw, volume sizes, measured disk
usage); nothing is read here.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from inspector.analysis.dockerdf import ACTIVE_STATES
from inspector.analysis.results import Report
from inspector.analysis.sizes import storage_path
from inspector.model import BuildCacheRecord, ImageStore

#: BuildKit record types ``builder prune`` keeps unless ``--all`` (cache/manager.go prune).
KEPT_TYPES = frozenset({"internal", "frontend"})

_DOCKER_HUB = "docker.io"


@dataclass(frozen=True, slots=True, order=True)
class Ref:
    """One reference of the reference store (``repositories.json``)."""

    full: str
    """The normalized form (``docker.io/library/app:1``): the store sorts by it."""
    familiar: str
    """As Docker prints it (``app:1``)."""
    name: str
    """The normalized repository name (``docker.io/library/app``)."""
    canonical: bool
    """A digest reference (``app@sha256:…``), not a tag."""


def parse_ref(familiar: str) -> Ref:
    """A familiar reference as repositories.json keeps it, normalized like distribution does."""
    canonical = "@" in familiar
    if canonical:
        name, _, rest = familiar.partition("@")
        suffix = "@" + rest
    else:
        slash = familiar.rfind("/")
        colon = familiar.rfind(":")
        if colon > slash:
            name, suffix = familiar[:colon], familiar[colon:]
        else:
            name, suffix = familiar, ":latest"
    first, sep, _ = name.partition("/")
    if not sep:
        full_name = f"{_DOCKER_HUB}/library/{name}"
    elif "." in first or ":" in first or first == "localhost":
        full_name = name
    else:
        full_name = f"{_DOCKER_HUB}/{name}"
    return Ref(full_name + suffix, familiar, full_name, canonical)


@dataclass(slots=True)
class Journal:
    """What a series of removals did, in the order the daemon would do it."""

    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    """Image IDs deleted."""
    untagged: list[str] = field(default_factory=list)
    """References removed (familiar form), of deleted images and of images that stay."""
    layers: list[str] = field(default_factory=list)
    """ChainIDs deleted from the layer store."""
    volumes: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    """Build-cache record IDs removed."""
    dirs: list[str] = field(default_factory=list)
    """Paths removed from disk: storage dirs, container dirs, volume dirs."""
    reported: int = 0
    """What the daemon adds up as SpaceReclaimed for these removals."""
    unknown: list[str] = field(default_factory=list)
    """What is in `reported` as 0 because its size is not known offline."""


class World:
    """A root's objects as the daemon holds them; removals change it (see the module doc)."""

    def __init__(self, report: Report) -> None:
        inv = report.inventory
        self.report = report
        self.inv = inv
        self.graphdriver = inv.root.image_store is ImageStore.GRAPHDRIVER and bool(inv.driver_home)
        rows = {r.image.id: r for r in report.images}
        self.refs: dict[str, list[Ref]] = {
            iid: sorted(parse_ref(x) for x in (*img.tags, *img.digests))
            for iid, img in inv.images.items()
        }
        self.parent: dict[str, str | None] = {
            iid: img.parent if img.parent in inv.images else None for iid, img in inv.images.items()
        }
        self.children: dict[str, set[str]] = defaultdict(set)
        for iid, p in self.parent.items():
            if p is not None:
                self.children[p].add(iid)
        self.top: dict[str, str | None] = {}
        for iid in inv.images:
            chain = rows[iid].chain if iid in rows else ()
            self.top[iid] = chain[-1] if chain and chain[-1] in inv.layers else None
        self.containers: dict[str, str] = {cid: c.image_id for cid, c in inv.containers.items()}
        self.running = {cid for cid, c in inv.containers.items() if c.state in ACTIVE_STATES}
        self.volume_users: dict[str, set[str]] = defaultdict(set)
        for cid, c in inv.containers.items():
            for mp in c.mounts:
                if mp.name and mp.driver:
                    self.volume_users[mp.name].add(cid)
        self.volumes = dict(inv.volumes)
        self.records: dict[str, BuildCacheRecord] = {r.id: r for r in inv.buildkit.records}
        # The layer store's reference counts.
        self.rc: Counter[str] = Counter()
        for top in self.top.values():
            if top is not None:
                self.rc[top] += 1
        for layer in inv.layers.values():
            if layer.parent is not None and layer.parent in inv.layers:
                self.rc[layer.parent] += 1
        for m in inv.rw_layers.values():
            if m.parent is not None and m.parent in inv.layers:
                self.rc[m.parent] += 1
        # BuildKit's holds: one per layer some record is; layers its snapshots name that no
        # listed record is (a build's leftovers) stay held whatever is pruned.
        self.held_by: dict[str, set[str]] = defaultdict(set)
        for r in self.records.values():
            if r.chain_id is not None and r.chain_id in inv.layers:
                self.held_by[r.chain_id].add(r.id)
        held = set(self.held_by) | {c for c in inv.buildkit.chain_ids if c in inv.layers}
        held |= {k for k in inv.buildkit.snapshot_keys if k in inv.layers}
        for ch in held:
            self.rc[ch] += 1
        self.layer_dirs = {ch: layer.cache_id for ch, layer in inv.layers.items()}
        self.journal = Journal()

    # ------------------------------------------------------------------ layers

    def _release(self, chain: str | None, count: bool = False) -> None:
        """Drop one reference of `chain`; at zero the layer goes and its parent is released.

        `count`: add the deleted layers' sizes to SpaceReclaimed (image deletions do; a
        container's or a build record's removal reports its own size instead).
        """
        while chain is not None and chain in self.rc:
            self.rc[chain] -= 1
            if self.rc[chain] > 0:
                return
            del self.rc[chain]
            layer = self.inv.layers[chain]
            self.journal.layers.append(chain)
            if not count:
                pass
            elif layer.size is None:
                self.journal.unknown.append(f"layer {chain}")
            else:
                self.journal.reported += layer.size
            path = storage_path(self.inv, layer.cache_id)
            if path is not None and layer.cache_id in self.inv.storage_dirs:
                self.journal.dirs.append(path)
            chain = layer.parent if layer.parent in self.inv.layers else None

    def layer_alive(self, chain: str) -> bool:
        """Whether the layer is still in the layer store."""
        return chain in self.rc or (chain in self.inv.layers and chain not in self.journal.layers)

    # ------------------------------------------------------------------ containers

    def remove_container(self, cid: str, *, count_size: bool = True) -> None:
        """``docker container rm`` (the container is not running, or ``-f``): its dirs go."""
        if cid not in self.containers:
            return
        del self.containers[cid]
        self.running.discard(cid)
        for users in self.volume_users.values():
            users.discard(cid)
        j = self.journal
        j.containers.append(cid)
        c = self.inv.containers[cid]
        j.dirs.append(c.dir)
        row = next((r for r in self.report.containers if r.container.id == cid), None)
        if count_size:
            if row is None or row.size_rw is None:
                j.unknown.append(f"container {cid}")
            else:
                j.reported += row.size_rw
        m = self.inv.rw_layers.get(cid)
        if m is None:
            return
        for dir_id in (m.mount_id, m.init_id):
            path = storage_path(self.inv, dir_id)
            if path is not None and dir_id in self.inv.storage_dirs:
                j.dirs.append(path)
        self._release(m.parent if m.parent in self.inv.layers else None)

    def prune_containers(self) -> None:
        """``docker container prune``: every container that is not running (paused and
        restarting ones run), SpaceReclaimed = their SizeRw (daemon/prune.go)."""
        for cid in sorted(self.containers):
            if cid not in self.running:
                self.remove_container(cid)

    # ------------------------------------------------------------------ images

    def _using(self, iid: str) -> list[str]:
        return sorted(cid for cid, img in self.containers.items() if img == iid)

    def _conflict(self, iid: str, soft: bool, refs: bool = True) -> tuple[bool, bool] | None:
        """checkImageDeleteConflict: (hard, used) of the first conflict, or None.

        Hard: child images, a running container; soft (`soft`): a reference (`refs`), a
        stopped container.
        """
        if self.children.get(iid):
            return True, False
        users = self._using(iid)
        if any(c in self.running for c in users):
            return True, True
        if not soft:
            return None
        if refs and self.refs.get(iid):
            return False, False
        if users:
            return False, True
        return None

    def _dangling(self, iid: str) -> bool:
        return not self.refs.get(iid) and not self.children.get(iid)

    def _untag(self, iid: str, ref: Ref) -> None:
        self.refs[iid].remove(ref)
        self.journal.untagged.append(ref.familiar)

    def _delete_helper(self, iid: str, force: bool, prune: bool, quiet: bool) -> bool:
        """imageDeleteHelper: True when deleted (or quietly kept), False on a conflict."""
        conflict = self._conflict(iid, soft=not force)
        if conflict is not None:
            _hard, used = conflict
            return quiet and (not self._dangling(iid) or used)
        parent = self.parent.get(iid)
        for ref in list(self.refs.get(iid, [])):
            self._untag(iid, ref)
        # image store Delete: the image goes, its parent loses a child, its top layer a ref.
        del self.refs[iid]
        self.parent.pop(iid, None)
        for child in self.children.pop(iid, set()):
            self.parent[child] = None
        if parent is not None:
            self.children[parent].discard(iid)
        self.journal.images.append(iid)
        self._release(self.top.pop(iid, None), count=True)
        if prune and parent is not None and parent in self.refs:
            self._delete_helper(parent, False, True, True)
        return True

    def delete_by_ref(self, iid: str, ref: Ref) -> bool:
        """``ImageDelete(ref, force=false, prune=true)``; False on a conflict (nothing done)."""
        refs = self.refs.get(iid)
        if refs is None or ref not in refs:
            return False  # gone already ("No such image"): not a conflict, nothing done
        if _single_reference(refs) and self._using(iid):
            return False
        self._untag(iid, ref)
        if not ref.canonical and not any(
            not r.canonical and r.name == ref.name for r in self.refs[iid]
        ):
            for r in [r for r in self.refs[iid] if r.canonical and r.name == ref.name]:
                self._untag(iid, r)
        if self.refs[iid]:
            return True
        return self._delete_helper(iid, False, True, True)

    def delete_by_id(self, iid: str, force: bool = False) -> bool:
        """``ImageDelete(<id>, force, prune=true)`` (``docker image rm [-f] <id>``); False on
        a conflict (nothing done)."""
        if iid not in self.refs:
            return False
        refs = self.refs[iid]
        if _single_reference(refs):
            if self._conflict(iid, soft=not force, refs=False) is not None:
                return False
            for ref in list(refs):
                self._untag(iid, ref)
        return self._delete_helper(iid, force, True, False)

    def prune_images(self, all_images: bool) -> None:
        """``docker image prune [-a]`` (daemon/images/image_prune.go).

        Dangling only: the heads (images without children) that have no tag; with ``-a``:
        every image but untagged ones with children. Each is deleted by its references (all
        of them, in order: a used image keeps its last one) or by ID, quietly skipping
        conflicts; SpaceReclaimed is the recorded size of every layer deleted. The daemon walks
        a Go map (random order); the outcome does not depend on it.
        """
        if all_images:
            pool = sorted(self.refs)
        else:
            pool = sorted(iid for iid in self.refs if not self.children.get(iid))
        top = [iid for iid in pool if self.refs[iid] or not self.children.get(iid)]
        for iid in top:
            if iid not in self.refs:
                continue  # deleted as an untagged parent of an earlier one
            refs = list(self.refs[iid])
            if refs:
                if not all_images and any(not r.canonical for r in refs):
                    continue
                for ref in refs:
                    self.delete_by_ref(iid, ref)
            else:
                self.delete_by_id(iid)

    def remove_image_fully(self, iid: str) -> None:
        """``docker image rm -f`` of every reference, then the ID (its containers removed
        first by the caller): the image goes unless it has child images."""
        if iid not in self.refs or self.children.get(iid):
            return
        for ref in list(self.refs[iid]):
            self._untag(iid, ref)
        self._delete_helper(iid, True, True, False)

    # ------------------------------------------------------------------ volumes

    def prune_volumes(self, anonymous_only: bool) -> None:
        """``docker volume prune``: local volumes without options that no container
        references; Docker >= 23 (API >= 1.42) only those labelled anonymous unless ``-a``.
        SpaceReclaimed = their directory.Size (volume/service/service.go)."""
        rows = {r.volume.name: r for r in self.report.volumes}
        for name in sorted(self.volumes):
            v = self.volumes[name]
            if v.driver != "local" or v.options or self.volume_users.get(name):
                continue
            if anonymous_only and "com.docker.volume.anonymous" not in v.labels:
                continue
            self.remove_volume(name, rows.get(name))

    def remove_volume(self, name: str, row: object = None) -> None:
        """``docker volume rm`` of an unused volume."""
        v = self.volumes.pop(name, None)
        if v is None:
            return
        j = self.journal
        j.volumes.append(name)
        size = getattr(row, "size", None)
        if size is None:
            j.unknown.append(f"volume {name}")
        else:
            j.reported += size
        if v.has_dir:
            j.dirs.append(v.path)

    # ------------------------------------------------------------------ build cache

    def _images_chains(self) -> set[str]:
        """Every prefix ChainID of every image still present (imagerefchecker's lchain)."""
        rows = {r.image.id: r for r in self.report.images}
        return {ch for iid in self.refs if iid in rows for ch in rows[iid].chain}

    def prune_builder(self, all_records: bool) -> None:
        """``docker builder prune [-a]`` (BuildKit cache/manager.go ``prune``, in a loop).

        A record goes when nothing holds it (no child record left; nothing is in use at rest)
        and, without ``--all``, when its type is not internal/frontend and its layer is not a
        prefix of any image's chain (the check is made against the images present then).
        SpaceReclaimed = the records' sizes. Its dir goes with it unless an image layer lives
        there; the layer BuildKit held is released.
        """
        chains = self._images_chains()
        self._remove_records(
            lambda r: all_records or (r.record_type not in KEPT_TYPES and r.chain_id not in chains)
        )

    def remove_records(self, ids: Iterable[str]) -> None:
        """``docker builder prune --filter id=…`` of these records (children before parents)."""
        wanted = set(ids)
        self._remove_records(lambda r: r.id in wanted)

    def _remove_records(self, doomed_if: Callable[[BuildCacheRecord], bool]) -> None:
        j = self.journal
        layer_dirs = set(self.layer_dirs.values())
        while True:
            parents = {p for r in self.records.values() for p in r.parents}
            doomed = [
                r for rid, r in sorted(self.records.items()) if rid not in parents and doomed_if(r)
            ]
            if not doomed:
                return
            for r in doomed:
                del self.records[r.id]
                j.records.append(r.id)
                if r.size is None:
                    j.unknown.append(f"build cache record {r.id}")
                else:
                    j.reported += r.size
                if (
                    r.data_dir
                    and r.data_dir not in layer_dirs
                    and r.data_dir in self.inv.storage_dirs
                ):
                    path = storage_path(self.inv, r.data_dir)
                    if path is not None:
                        j.dirs.append(path)
                if r.chain_id is not None and r.chain_id in self.held_by:
                    holders = self.held_by[r.chain_id]
                    holders.discard(r.id)
                    if not holders:
                        del self.held_by[r.chain_id]
                        self._release(r.chain_id)

    # ------------------------------------------------------------------ results

    def disk(self, paths: Iterable[str]) -> int | None:
        """Allocated bytes of `paths` as measured (None when the root was not measured)."""
        meas = self.report.measurements
        if meas is None:
            return None
        seen: set[str] = set()
        total = 0
        for p in paths:
            if p in seen:
                continue
            seen.add(p)
            total += meas.of(p).disk
        return total


def _single_reference(refs: list[Ref]) -> bool:
    """isSingleReference: at most one tag, and every reference in that tag's repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Ref | None = None
    canonical_names: set[str] = set()
    for r in refs:
        if r.canonical:
            canonical_names.add(r.name)
        elif single is None:
            single = r
        else:
            return False
    if single is None:
        single = refs[0]
    return len(canonical_names) == 1 and single.name in canonical_names


def dir_name(path: str) -> str:
    """The last component of a path (a storage dir's name)."""
    return os.path.basename(path.rstrip("/"))


__all__ = ["KEPT_TYPES", "Journal", "Ref", "World", "dir_name", "parse_ref"]
