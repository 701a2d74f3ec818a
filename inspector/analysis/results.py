"""What analysis produces: rows per object, findings, and the reconciliation of the root.

Also what checking a Report produces: the audit's result (checks, growth, the daemon's view
and its differences). Those types live here, beside Report, so that the audit that makes them
and the presenters that show them (inspector/report/) both import them from below, and
neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from inspector.model import Container, Image, Inventory, Layer, Measurements, Volume


class Severity(StrEnum):
    """How much a finding matters."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Kind(StrEnum):
    """Finding kinds: part of the JSON contract."""

    ORPHAN_DIR = "orphan_dir"
    MISSING_DIFF_DIR = "missing_diff_dir"
    BROKEN_LINK = "broken_link"
    LEFTOVER_REMOVING_DIR = "leftover_removing_dir"
    DANGLING_LAYER = "dangling_layer"
    INCOMPLETE_LAYER = "incomplete_layer"
    CONTAINER_WITHOUT_CONFIG = "container_without_config"
    CONTAINER_MISSING_IMAGE = "container_missing_image"
    MISSING_LAYER = "missing_layer"
    UNUSED_VOLUME = "unused_volume"
    DANGLING_IMAGE = "dangling_image"
    LARGE_LOG = "large_log"
    BUILD_CACHE = "build_cache"
    UNREADABLE = "unreadable"
    SIZE_MISMATCH = "size_mismatch"
    DAEMON_MISMATCH = "daemon_mismatch"
    TRUNCATED = "truncated"
    INACTIVE_ROOT = "inactive_root"
    INACTIVE_DRIVER_DATA = "inactive_driver_data"
    # Advice from the data (info): see inspector/analysis/advice.py.
    LARGE_WRITABLE_LAYER = "large_writable_layer"
    UNBOUNDED_LOG = "unbounded_log"
    PLUGIN = "plugin"
    # The containerd image store (see inspector/analysis/containerd_findings.py).
    ORPHAN_SNAPSHOT = "orphan_snapshot"
    UNREFERENCED_SNAPSHOT = "unreferenced_snapshot"
    ORPHAN_CONTENT = "orphan_content"
    UNREFERENCED_CONTENT = "unreferenced_content"
    INCOMPLETE_DOWNLOAD = "incomplete_download"
    MISSING_SNAPSHOT = "missing_snapshot"


#: Kinds whose bytes are garbage Docker itself will not free (the audit's "orphan bytes").
ORPHAN_KINDS = frozenset(
    {
        Kind.ORPHAN_DIR,
        Kind.LEFTOVER_REMOVING_DIR,
        Kind.INCOMPLETE_LAYER,
        Kind.DANGLING_LAYER,
        Kind.CONTAINER_WITHOUT_CONFIG,
        Kind.INACTIVE_ROOT,
        Kind.INACTIVE_DRIVER_DATA,
        Kind.ORPHAN_SNAPSHOT,
        Kind.UNREFERENCED_SNAPSHOT,
        Kind.ORPHAN_CONTENT,
        Kind.INCOMPLETE_DOWNLOAD,
    }
)

#: Kinds whose finding holds a whole tree the daemon does not use.
INACTIVE_KINDS = frozenset({Kind.INACTIVE_ROOT, Kind.INACTIVE_DRIVER_DATA})


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem or a reclaimable item, with its evidence and a safe remedy."""

    kind: Kind
    severity: Severity
    path: str
    """The one path scripts can rely on for this kind (see README)."""
    bytes: int
    """Apparent bytes held, counted the way Docker counts sizes."""
    disk_usage: int
    """Allocated bytes held."""
    detail: str
    """The evidence: what was checked and which reference is missing."""
    remedy: str
    """A docker command, or a manual procedure with its warning. Never run by this tool."""
    confidence: str = "certain"
    """certain | likely | low (e.g. a dir that may belong to BuildKit)."""
    object_id: str | None = None
    """Image, container, layer or volume the finding is about, when there is one."""
    reclaimable: bool = True
    """Whether acting on the remedy frees `bytes`."""
    count: int = 1
    """How many findings this one stands for (> 1 when many of one kind were grouped)."""
    examples: tuple[str, ...] = ()
    """Grouped findings: the paths of the largest ones."""
    bytes_known: bool = True
    """False when `bytes` and `disk_usage` come from a walk that was not made (--no-sizes) or
    could not finish: they are then 0 here and shown as unknown, never as 0."""


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def counted(findings: Sequence[Finding], root: str) -> list[Finding]:
    """`findings` whose bytes add up without counting a byte twice.

    When the whole root reported is itself unused (an ``inactive_root`` finding with its path),
    the findings about what is inside it are part of that finding's bytes and are left out.
    """
    if not any(f.kind is Kind.INACTIVE_ROOT and f.path == root for f in findings):
        return list(findings)
    prefix = root.rstrip("/") + "/"
    return [
        f
        for f in findings
        if f.kind in INACTIVE_KINDS or not (f.path == root or f.path.startswith(prefix))
    ]


def finding_order(f: Finding) -> tuple[int, int, str, str]:
    """The one findings order: reclaimable bytes first (largest first), severity, kind, path."""
    return (-f.bytes if f.reclaimable else 1, _SEVERITY_RANK[f.severity], f.kind, f.path)


@dataclass(frozen=True, slots=True)
class ImageRow:
    """An image with Docker's size numbers."""

    image: Image
    chain: tuple[str, ...]
    """ChainIDs of its layers, base first."""
    size: int
    """Sum of the recorded sizes of its layers (Docker's Size)."""
    shared_size: int
    """Bytes of its layers that another listed image also uses (Docker's SharedSize)."""
    unique_size: int
    containers: tuple[str, ...]
    """IDs of containers created from this image."""
    children: tuple[str, ...]
    dangling: bool
    """Untagged and without child images: what `docker images -f dangling=true` shows."""
    intermediate: bool
    """Untagged with child images (classic-builder step): hidden by `docker images`."""
    reclaimable: int
    """Bytes removing this image alone would free (layers no other image or container uses)."""
    disk_usage: int
    """Allocated bytes of its layer dirs."""
    missing_layers: tuple[str, ...] = ()
    content_size: int | None = None
    """containerd store: bytes of every present blob reachable from its target, once each."""
    unpacked_size: int | None = None
    """containerd store: containerd's usage of the local platform's snapshot chain."""

    @property
    def listed(self) -> bool:
        """Whether `docker images` / `docker system df` lists it."""
        return not self.intermediate


@dataclass(frozen=True, slots=True)
class LayerRow:
    """A layer with where it lives and who uses it."""

    layer: Layer
    diff_dir: str | None
    storage_dir: str | None
    link: str | None
    lower: tuple[str, ...]
    size: int
    disk_usage: int
    images: tuple[str, ...]
    containers: tuple[str, ...]
    dir_exists: bool
    measured_size: int | None = None
    """Apparent bytes of the diff dir as walked (None if not walked)."""
    buildkit_only: bool = False
    """Held only by BuildKit's cache (no image or container uses it, e.g. its image was
    removed and the cache kept): build cache, not an image layer; `docker builder prune`
    frees it."""
    snapshot_key: str | None = None
    """containerd store: the layer's snapshot key (its ChainID)."""


@dataclass(frozen=True, slots=True)
class ContainerRow:
    """A container with Docker's SizeRw and its logs."""

    container: Container
    rw_dir: str | None
    init_dir: str | None
    size_rw: int | None
    virtual_size: int | None
    disk_usage: int
    log_size: int
    log_disk: int
    volumes: tuple[str, ...]
    image_present: bool


@dataclass(frozen=True, slots=True)
class VolumeRow:
    """A volume with Docker's size and reference count."""

    volume: Volume
    size: int | None
    """directory.Size of _data (None for volumes without a local dir)."""
    disk_usage: int
    links: int
    containers: tuple[str, ...]
    in_docker_df: bool
    """`docker system df` lists only local volumes created without options."""
    mounted: str | None = None
    """Set when its data is a mount point (e.g. `-o o=bind`): what is mounted; not measured."""


@dataclass(frozen=True, slots=True)
class Category:
    """A slice of the reconciliation."""

    name: str
    apparent: int
    disk: int
    description: str


@dataclass(frozen=True, slots=True)
class Totals:
    """Root-wide numbers."""

    docker_images_size: int
    """`docker system df` LayersSize: recorded sizes of all layers any image references."""
    docker_containers_size: int
    docker_volumes_size: int
    docker_build_cache_size: int
    build_cache_reclaimable: int
    log_size: int
    reclaimable: int
    """Bytes findings say can be freed."""
    disk_total: int
    """Allocated bytes under the root (sum of the categories)."""
    categories: tuple[Category, ...] = ()
    containerd: Mapping[str, int] = field(default_factory=dict)
    """containerd store: content store vs snapshot bytes (see analysis.containerd)."""


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the presenters need."""

    inventory: Inventory
    images: tuple[ImageRow, ...]
    layers: tuple[LayerRow, ...]
    containers: tuple[ContainerRow, ...]
    volumes: tuple[VolumeRow, ...]
    findings: tuple[Finding, ...]
    totals: Totals
    measurements: Measurements | None = None
    """What measuring found; None when sizes were not measured (``--no-sizes``, first view)."""
    options: Mapping[str, object] = field(default_factory=dict)
    other_images: tuple[ImageRow, ...] = ()
    """The images of the image store the daemon does not use (Inventory.other_store), with
    the numbers of their own store."""

    @property
    def measured(self) -> bool:
        """Whether the trees were walked (else only recorded sizes are known)."""
        return self.measurements is not None


# ---------------------------------------------------------------------------- audit results
#
# Made by inspector.audit (checks, growth) and inspector.daemon (DaemonView, Mismatch); shown
# by inspector.report (audit_text, audit_json, prometheus).


@dataclass(frozen=True, slots=True)
class FsUsage:
    """The filesystem holding the root, as df shows it."""

    size: int
    used: int
    avail: int

    @property
    def percent(self) -> float:
        """df's Use%: used / (used + available to unprivileged users), unrounded."""
        denom = self.used + self.avail
        return self.used * 100.0 / denom if denom else 0.0


@dataclass(frozen=True, slots=True)
class ObjectGrowth:
    """Growth of one container or volume; `previous` None when it is new since then."""

    id: str
    name: str
    previous: int | None
    current: int

    @property
    def growth(self) -> int:
        """Bytes added since the previous run (negative: freed)."""
        return self.current - (self.previous or 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "name": self.name,
            "previous": self.previous,
            "current": self.current,
            "growth": self.growth,
        }


@dataclass(frozen=True, slots=True)
class Growth:
    """What changed since the previous run of the same root."""

    previous_time: float
    interval: float
    total_disk: int
    """Change of the allocated bytes under the root (what --max-growth compares)."""
    categories: Mapping[str, tuple[int, int]]
    """Category → (apparent growth, disk growth)."""
    containers: tuple[ObjectGrowth, ...]
    volumes: tuple[ObjectGrowth, ...]


@dataclass(frozen=True, slots=True)
class Offender:
    """One thing that contributes to a check's value."""

    label: str
    """What it is, for people (may hold hostile text: clean() it before printing)."""
    value: int
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """One threshold or --fail-on kind, evaluated."""

    name: str
    """max_orphan_bytes, …, or fail_on:<kind>."""
    what: str
    unit: str
    """bytes | percent | findings."""
    value: int | float | None
    """None when it cannot be measured (no previous run for growth, no statvfs)."""
    limit: int | float | None
    """None when not configured (shown with --verbose only)."""
    offenders: tuple[Offender, ...] = ()
    extra: str = ""
    """More numbers for the line (e.g. the findings' bytes)."""

    @property
    def configured(self) -> bool:
        """Whether a limit was set for it."""
        return self.limit is not None

    @property
    def crossed(self) -> bool:
        """Value greater than the limit (for --fail-on: any finding)."""
        return self.limit is not None and self.value is not None and self.value > self.limit

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "description": self.what,
            "unit": self.unit,
            "value": self.value,
            "limit": self.limit,
            "configured": self.configured,
            "crossed": self.crossed,
            "offenders": [
                {"label": o.label, "value": o.value, "path": o.path} for o in self.offenders
            ],
        }


@dataclass(frozen=True, slots=True)
class DaemonView:
    """What the daemon said, as plain JSON-like data (no SDK objects)."""

    host: str
    """The address asked (unix:///…, tcp://…)."""
    root_dir: str
    """`DockerRootDir` from /info."""
    driver: str
    """`Driver` (storage driver) from /info."""
    server_version: str
    df: Mapping[str, Any]
    """`/system/df`."""
    images: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Image ID → inspect output, for the listed images."""
    history: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    """Image ID → `/images/<id>/history` (newest first, as the API returns it)."""
    containers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Container ID → inspect output."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One difference between the daemon and the offline view."""

    object_type: str
    """system | daemon | image | layer | container | volume."""
    object_id: str
    name: str
    """Tag, container or volume name (for people); may be empty."""
    field: str
    """The API field compared (Size, SizeRw, UpperDir, present, …)."""
    daemon: int | str | None
    offline: int | str | None
    path: str
    """The offline file or directory the number comes from."""

    def label(self) -> str:
        """What differs, for people (hostile names included: clean() before printing)."""
        short = self.object_id.removeprefix("sha256:")[:12]
        if self.object_type == "system":
            return "docker system df"
        if self.object_type == "daemon":
            return "daemon"
        if self.object_type == "layer":
            return f"layer {short} (in image {self.name})"
        if self.object_type == "volume":
            return f"volume {self.name}"
        return f"{self.object_type} {self.name} ({short})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "object_type": self.object_type,
            "object_id": self.object_id,
            "name": self.name,
            "field": self.field,
            "daemon": self.daemon,
            "offline": self.offline,
            "path": self.path,
        }


@dataclass(frozen=True, slots=True)
class AuditResult:
    """Everything one audit run found: what the presenters (text, JSON, Prometheus) show.

    The settings are not kept: each check carries its own limit, which is all a presenter
    shows of them (and keeping them would make this module import the audit's config).
    """

    report: Report
    checks: tuple[Check, ...]
    findings: tuple[Finding, ...]
    """The report's findings plus daemon mismatches."""
    fs: FsUsage | None
    growth: Growth | None
    scan_seconds: float
    finished_at: float
    mismatches: tuple[Mismatch, ...] = ()
    daemon: DaemonView | None = None
    notes: tuple[str, ...] = ()
    growth_tracked: bool = True
    """False when no state is kept between runs (neither --max-growth nor --state-dir)."""

    @property
    def crossed(self) -> tuple[Check, ...]:
        """The checks that fail the audit."""
        return tuple(c for c in self.checks if c.crossed)
