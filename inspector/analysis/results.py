"""What analysis produces: rows per object, findings, and the reconciliation of the root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from inspector.model import Container, Image, Inventory, Layer, Volume


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


#: Kinds whose bytes are garbage Docker itself will not free (the audit's "orphan bytes").
ORPHAN_KINDS = frozenset(
    {
        Kind.ORPHAN_DIR,
        Kind.LEFTOVER_REMOVING_DIR,
        Kind.INCOMPLETE_LAYER,
        Kind.DANGLING_LAYER,
        Kind.CONTAINER_WITHOUT_CONFIG,
    }
)


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


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


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
    measured: bool
    options: Mapping[str, object] = field(default_factory=dict)
