"""`docker system df`'s summary table, cell for cell, as the docker CLI computes it.

The daemon's ``/system/df`` gives lists (images, containers, volumes, build-cache records)
and ``LayersSize``; the table's TOTAL, ACTIVE, SIZE and RECLAIMABLE are computed from them by
the client. Read from docker/cli ``cli/command/formatter/disk_usage.go`` and
``cli/command/system/df.go`` (v20.10.24 to v28.5: the same formulas) and from the v29 client
(``moby/client`` ``system_disk_usage.go``, for daemons older than API 1.52):

- Images: TOTAL = the images ``/system/df`` lists (what ``docker images`` shows: intermediate
  images of the classic builder are not listed); ACTIVE = those with a container; SIZE =
  ``LayersSize`` (each layer of a listed image once); RECLAIMABLE = SIZE minus, over the
  active images, ``Size - SharedSize``. The v29 client instead sums ``Size - SharedSize``
  over the images *without* a container, which leaves out the layers an unused image shares
  with another unused one: 20.10's formula is followed here (it is what Debian's and every
  client up to 28 prints). The containerd image store exists only on Docker >= 24 and is
  the default from 29, whose daemon computes the row itself (API 1.52, moby
  ``daemon/disk_usage.go``): there SIZE is moby's ``ImageDiskUsage`` and RECLAIMABLE the
  sum of ``Size - SharedSize`` over the images with a runnable manifest and no container;
  its Build Cache SIZE sums every record, shared ones too (``Builder.DiskUsage``).
- Containers: TOTAL = all containers; ACTIVE = running, paused or restarting; SIZE = the sum
  of ``SizeRw``; RECLAIMABLE = the sum over the inactive ones. A container Docker cannot
  measure (its walk fails, e.g. a tree deeper than PATH_MAX) has ``SizeRw`` -1, and the CLI
  adds that -1 as it is.
- Local Volumes: the volumes ``/system/df`` lists (local, created without options); ACTIVE =
  those with a reference; SIZE = the sum of their sizes, skipping Docker's -1 (unmeasurable);
  RECLAIMABLE = the same over the unreferenced ones.
- Build Cache: TOTAL = the records; ACTIVE = those in use; SIZE = the sum over the records
  *not shared* with images; RECLAIMABLE = SIZE minus the in-use, not-shared ones.
- The percentage after RECLAIMABLE (not for Build Cache) is ``reclaimable * 100 / size`` in
  Go's integer division, printed only when SIZE > 0.

A cell is None (unknown, never 0) when what it counts was not read or not measured: a
``--no-sizes`` report, an area of the root this user cannot read, an unsupported image store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from inspector.analysis.results import ContainerRow, Report, VolumeRow
from inspector.analysis.sizes import storage_path
from inspector.model import ImageStore, Inventory, Measurements

#: Container states the CLI counts as active.
ACTIVE_STATES = ("running", "paused", "restarting")

#: What Docker's own walk fails on (then /system/df says -1): lstat's ENAMETOOLONG.
_DOCKER_FAILS = "name too long"


@dataclass(frozen=True, slots=True)
class DfRow:
    """One row of the `docker system df` table, in bytes and counts; None where unknown."""

    total: int | None
    """TOTAL: how many objects of this type the table counts."""
    active: int | None
    """ACTIVE: how many of them are in use."""
    size: int | None
    """SIZE in bytes."""
    reclaimable: int | None
    """RECLAIMABLE in bytes."""
    shows_percent: bool = True
    """Whether the CLI prints a percentage after RECLAIMABLE (not for Build Cache)."""

    @property
    def percent(self) -> int | None:
        """The CLI's ``(reclaimable*100)/size`` (Go integer division), when it prints one."""
        if not self.shows_percent or self.size is None or self.reclaimable is None:
            return None
        if self.size <= 0:
            return None
        q = abs(self.reclaimable) * 100 // self.size
        return q if self.reclaimable >= 0 else -q  # Go truncates toward zero

    def as_dict(self) -> dict[str, int | None]:
        """The JSON form (``docker_df.<type>``)."""
        return {
            "total": self.total,
            "active": self.active,
            "size": self.size,
            "reclaimable": self.reclaimable,
        }


@dataclass(frozen=True, slots=True)
class DockerDf:
    """The four rows of `docker system df`."""

    images: DfRow
    containers: DfRow
    volumes: DfRow
    build_cache: DfRow

    def rows(self) -> tuple[tuple[str, str, DfRow], ...]:
        """(JSON key, the CLI's TYPE, row), in the CLI's order."""
        return (
            ("images", "Images", self.images),
            ("containers", "Containers", self.containers),
            ("volumes", "Local Volumes", self.volumes),
            ("build_cache", "Build Cache", self.build_cache),
        )

    def as_dict(self) -> dict[str, dict[str, int | None]]:
        """The JSON form (``docker_df``)."""
        return {key: row.as_dict() for key, _, row in self.rows()}


def _unread(inv: Inventory, *areas: str) -> bool:
    """Whether a reader could not read one of `areas` itself (or a directory above it)."""
    for s in inv.skipped:
        for a in areas:
            if a == s.path or a.startswith(s.path.rstrip("/") + "/"):
                return True
    return False


def _docker_fails(meas: Measurements | None, top: str | None) -> bool:
    """Whether Docker's own walk of `top` fails too (its size is -1 in /system/df).

    Only a subtree the kernel refuses to resolve (deeper than PATH_MAX) is that; a subtree
    this user may not read is ours alone, and leaves the size unknown.
    """
    if meas is None or top is None:
        return False
    prefix = top.rstrip("/") + "/"
    found = [
        s
        for u in meas.usage.values()
        for s in u.unreadable
        if s.path == top or s.path.startswith(prefix)
    ]
    return bool(found) and all(_DOCKER_FAILS in s.reason for s in found)


def _images(report: Report) -> DfRow:
    inv = report.inventory
    info = inv.root
    listed = [r for r in report.images if r.listed]
    active = [r for r in listed if r.containers]
    if info.image_store is ImageStore.CONTAINERD and inv.containerd is not None:
        # Every number is containerd's (descriptor sizes, recorded snapshot usage): known
        # without a walk; unknown only when its metadata could not be read.
        meta = os.path.join(inv.containerd.root, "io.containerd.metadata.v1.bolt", "meta.db")
        if not info.supported or _unread(inv, meta):
            return DfRow(None, None, None, None)
        # Docker 29's daemon computes this row itself (moby daemon/disk_usage.go
        # imageDiskUsage, API >= 1.52, which the v29 CLI prints): an image with no runnable
        # manifest has Containers -1 and counts neither as active nor as reclaimable; the
        # others are active with a container, else reclaimable by Size - SharedSize.
        counted = [r for r in listed if any(not m.pseudo for m in r.image.manifests)]
        active = [r for r in counted if r.containers]
        idle = sum(r.size - r.shared_size for r in counted if not r.containers)
        return DfRow(len(listed), len(active), report.totals.docker_images_size, idle)
    driver_dir = os.path.join(info.path, "image", info.storage_driver or "")
    if not info.supported or _unread(
        inv,
        os.path.join(driver_dir, "imagedb", "content", "sha256"),
        os.path.join(driver_dir, "layerdb", "sha256"),
    ):
        return DfRow(None, None, None, None)
    unknown = any(
        ch not in inv.layers or inv.layers[ch].size is None for r in listed for ch in r.chain
    )
    if unknown:
        return DfRow(len(listed), len(active), None, None)
    size = report.totals.docker_images_size
    used = sum(r.size - r.shared_size for r in active)
    return DfRow(len(listed), len(active), size, size - used)


def _container_size(report: Report, r: ContainerRow) -> int | None:
    """Docker's SizeRw of one container: -1 where Docker's walk fails, None when unknown."""
    if r.size_rw is not None:
        return r.size_rw
    m = report.inventory.rw_layers.get(r.container.id)
    top = storage_path(report.inventory, m.mount_id) if m is not None else None
    return -1 if _docker_fails(report.measurements, top) else None


def _containers(report: Report) -> DfRow:
    inv = report.inventory
    if _unread(inv, os.path.join(inv.root.path, "containers")):
        return DfRow(None, None, None, None)
    rows = report.containers
    active = [r for r in rows if r.container.state in ACTIVE_STATES]
    sizes = [(r, _container_size(report, r)) for r in rows]
    known = [s for _, s in sizes if s is not None]
    size = sum(known) if len(known) == len(sizes) else None
    idle = [s for r, s in sizes if r.container.state not in ACTIVE_STATES]
    reclaimable = sum(s for s in idle if s is not None) if None not in idle else None
    return DfRow(len(rows), len(active), size, reclaimable)


def _volume_size(report: Report, r: VolumeRow) -> int | None:
    """A df volume's size; -1 where Docker's walk fails, None when unknown."""
    if r.size is not None:
        return r.size
    return -1 if _docker_fails(report.measurements, r.volume.path) else None


def _volumes(report: Report) -> DfRow:
    inv = report.inventory
    vdir = os.path.join(inv.root.path, "volumes")
    db = os.path.join(vdir, "metadata.db")
    # metadata.db says which volumes df lists (driver, options); one name Docker would refuse
    # (skipped with that reason) is not a reason to know nothing.
    db_unread = any(s.path == db and not s.reason.startswith("volume name ") for s in inv.skipped)
    if db_unread or _unread(inv, vdir):
        return DfRow(None, None, None, None)
    rows = [r for r in report.volumes if r.in_docker_df]
    active = [r for r in rows if r.links]
    sizes = [(r, _volume_size(report, r)) for r in rows]
    # The CLI skips Docker's -1 (a volume it could not measure) in both sums.
    size: int | None = None
    reclaimable: int | None = None
    if all(s is not None for _, s in sizes):
        size = sum(s for _, s in sizes if s is not None and s != -1)
        reclaimable = sum(s for r, s in sizes if s is not None and s != -1 and not r.links)
    return DfRow(len(rows), len(active), size, reclaimable)


def _build_cache(report: Report) -> DfRow:
    bk = report.inventory.buildkit
    if not bk.readable:
        return DfRow(None, None, None, None, shows_percent=False)
    records = bk.records
    in_use = sum(1 for r in records if r.in_use)
    if report.inventory.containerd is not None and report.inventory.root.supported:
        # Docker 29's daemon sums this row itself (moby builder-next Builder.DiskUsage, API
        # 1.52): SIZE over every record, shared ones too; RECLAIMABLE the unused unshared.
        if any(r.size is None for r in records):
            return DfRow(len(records), in_use, None, None, shows_percent=False)
        size = sum(r.size or 0 for r in records)
        free = sum(r.size or 0 for r in records if not r.in_use and not r.shared)
        return DfRow(len(records), in_use, size, free, shows_percent=False)
    private = [r for r in records if not r.shared]
    if any(r.size is None for r in private):
        return DfRow(len(records), in_use, None, None, shows_percent=False)
    size = sum(r.size or 0 for r in private)
    busy = sum(r.size or 0 for r in private if r.in_use)
    return DfRow(len(records), in_use, size, size - busy, shows_percent=False)


def docker_df(report: Report) -> DockerDf:
    """The `docker system df` table of `report`'s root, as the docker CLI computes it."""
    return DockerDf(
        images=_images(report),
        containers=_containers(report),
        volumes=_volumes(report),
        build_cache=_build_cache(report),
    )


def human_size(n: int) -> str:
    """The CLI's go-units HumanSize: 4 significant digits, decimal units ("173MB", "0B")."""
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    value = float(n)
    i = 0
    while value >= 1000.0 and i < len(units) - 1:
        value /= 1000.0
        i += 1
    return f"{value:.4g}{units[i]}"


def cells(row: DfRow) -> tuple[str, str, str, str]:
    """TOTAL, ACTIVE, SIZE, RECLAIMABLE as `docker system df` prints them ("unknown" if so)."""

    def text(v: int | None, sized: bool) -> str:
        if v is None:
            return "unknown"
        return human_size(v) if sized else str(v)

    reclaim = text(row.reclaimable, True)
    if row.percent is not None:
        reclaim += f" ({row.percent}%)"
    return text(row.total, False), text(row.active, False), text(row.size, True), reclaim


__all__ = ["ACTIVE_STATES", "DfRow", "DockerDf", "cells", "docker_df", "human_size"]
