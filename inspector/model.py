"""The model: what was read from a data root, as frozen dataclasses.

No I/O and no formatting here. Readers produce these records; `inventory` links them;
`analysis` computes sizes and findings from them; presenters render the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

#: A file or dir modified this recently (or after the scan began) may be a live daemon's work in
#: progress: readers skip it rather than report it broken, analysis does not judge it.
LIVE_SLACK_SECONDS = 2.0


class ImageStore(StrEnum):
    """Where the daemon keeps images."""

    GRAPHDRIVER = "graphdriver"
    CONTAINERD = "containerd"
    UNKNOWN = "unknown"


class Skipped(NamedTuple):
    """Something under the root that could not be read, and why: the one skip shape.

    Every reader returns these (a tuple, so tests and callers may unpack it as (path, reason));
    analysis decides what a skip means (an ``unreadable`` finding).
    """

    path: str
    """Absolute path (under the root as given) of the file or directory; for an entry of a
    database file, ``<file>:<key>``."""
    reason: str
    """Why it was skipped, in plain words."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Bytes held by a directory tree, measured with lstat only: the one walk-result shape.

    The walker returns it, the size cache stores it, the analysis reads it (also as the walk of
    an image layer's diff dir that ``--full`` compares with the recorded size).
    """

    apparent: int = 0
    """Docker's measure: st_size of non-directories, size 0 skipped, each inode once."""
    disk: int = 0
    """Allocated bytes (st_blocks * 512), each (dev, inode) once, directories included."""
    files: int = 0
    """Entries seen (files, links, dirs, specials)."""
    unreadable: tuple[Skipped, ...] = ()
    """Subtrees that could not be listed; the numbers above exclude them."""
    payload: int = 0
    """Tar payload bytes of the counted subtree (regular files, each inode once): what the
    naive diff and BuildKit record as a layer's size."""
    links: tuple[tuple[int, int, int], ...] = ()
    """(st_dev, st_ino, allocated bytes) of multi-link inodes with names outside the tree: not
    in `disk` yet; whoever assembles several trees counts each once per filesystem."""

    @property
    def complete(self) -> bool:
        """Whether every part of the tree was read (else nothing can be concluded from it)."""
        return not self.unreadable

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.apparent + other.apparent,
            self.disk + other.disk,
            self.files + other.files,
            self.unreadable + other.unreadable,
            self.payload + other.payload,
            self.links + other.links,
        )


ZERO = Usage(0, 0)


@dataclass(frozen=True, slots=True)
class RootInfo:
    """The data root and what kind of Docker installation wrote it."""

    path: str
    """The root as given on the command line, made absolute (not resolved further)."""
    storage_driver: str | None
    """Graphdriver name (overlay2, vfs, …) or None when no graphdriver data exists."""
    image_store: ImageStore
    """graphdriver or containerd (snapshotter) image store."""
    supported: bool
    """False when images live somewhere this tool cannot read yet."""
    notes: tuple[str, ...] = ()
    """Plain statements about the layout: unsupported drivers, both stores present, …"""
    other_drivers: tuple[str, ...] = ()
    """Other graphdriver directories holding data (left over from a driver switch)."""
    containerd_root: str | None = None
    """The containerd root whose ``moby`` namespace holds the image store (None: none)."""
    containerd_reason: str = ""
    """Why that containerd root was chosen, in plain words."""
    top: str = ""
    """The root as given, when the tree reported is another one under it (a userns-remap root
    ``<top>/<uid>.<gid>``); "" when it is `path` itself."""
    trees: tuple[Tree, ...] = ()
    """Every tree of Docker data found (data roots, graphdriver trees, the containerd store),
    which one the daemon uses and why (see inspector.trees)."""
    daemon_config: DaemonConfig | None = None
    """The daemon config read as evidence (``--daemon-config``), or None when none was read."""

    @property
    def given(self) -> str:
        """The root as given on the command line (absolute)."""
        return self.top or self.path


class TreeKind(StrEnum):
    """What a tree of Docker data is."""

    ROOT = "root"
    """A whole data root: the root as given, or a userns-remap root ``<uid>.<gid>`` in it."""
    GRAPHDRIVER = "graphdriver"
    """A graphdriver's layers ``<root>/<driver>/`` and metadata ``<root>/image/<driver>/``."""
    CONTAINERD = "containerd"
    """The containerd image store's data (see inspector.root for its detection)."""


@dataclass(frozen=True, slots=True)
class Tree:
    """A tree of Docker data found under the root as given, and whether the daemon uses it."""

    kind: TreeKind
    name: str
    """The driver name, the ``<uid>.<gid>`` of a remapped root, or "" for the root as given."""
    path: str
    """Its directory: the data root, ``<root>/<uid>.<gid>``, or ``<root>/<driver>``."""
    live: bool
    """Whether the daemon uses it (its data is what ``docker`` commands show)."""
    evidence: str
    """Which evidence decided, in plain words (a daemon config, a sign dockerd leaves)."""
    confidence: str = "certain"
    """certain | likely: how strong that evidence is."""
    holds: str = ""
    """What it holds, counted (layers, images, containers), for people."""
    parts: tuple[str, ...] = ()
    """The paths holding its data, each measured as a whole (a graphdriver tree: its layer dir,
    ``image/<driver>/`` and the dirs of containers created with that driver)."""
    skip: tuple[str, ...] = ()
    """Names directly under `path` that are not part of it (the remapped roots in a root)."""
    containers: tuple[str, ...] = ()
    """IDs of the containers created with this (inactive) driver: the daemon does not load them."""


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """What a dockerd config file (``daemon.json``) says about where its data is."""

    path: str
    applies: bool
    """Whether it describes the root being read (its data-root is that root)."""
    why: str
    """Why it applies or not, in plain words."""
    data_root: str | None = None
    """``data-root`` (or the legacy ``graph``); None when unset (default /var/lib/docker)."""
    userns_remap: str | None = None
    """``userns-remap`` (``default``, ``user``, ``user:group``, ``uid:gid``); None when unset."""
    storage_driver: str | None = None
    containerd_snapshotter: bool | None = None
    """``features.containerd-snapshotter``; None when unset."""
    remap_root: str | None = None
    """The ``<uid>.<gid>`` that `userns_remap` maps to (/etc/subuid, /etc/subgid), if known."""


@dataclass(frozen=True, slots=True)
class Mount:
    """A mount point inside the data root (from the kernel's mountinfo)."""

    path: str
    """Where it is mounted, under the root as given."""
    fstype: str
    source: str
    """The mounted device or pseudo-filesystem name (e.g. /dev/vda, shm, overlay)."""
    fs_root: str = "/"
    """The directory of `source` that is mounted (a bind mount's origin inside its fs)."""


@dataclass(frozen=True, slots=True)
class Layer:
    """A read-only image layer from image/<driver>/layerdb/sha256/<chain>."""

    chain_id: str
    """sha256:<hex> ChainID; also the layerdb directory name."""
    diff_id: str
    """sha256:<hex> digest of the uncompressed layer tar."""
    parent: str | None
    """ChainID of the parent layer; None for a base layer."""
    cache_id: str
    """Storage-driver directory name (64 hex, or 25 base-36 chars for BuildKit layers)."""
    size: int | None
    """Docker's recorded size of this layer alone (apparent bytes); None if unreadable."""
    metadata_dir: str
    """Path of the layerdb entry."""
    has_tar_split: bool = True
    """Whether tar-split.json.gz exists (needed by docker save/push)."""
    foreign: bool = False
    """descriptor.json present (Windows foreign layer)."""
    registry_digests: tuple[str, ...] = ()
    """Compressed blob digests this layer was pulled/pushed as (distribution/)."""
    snapshot_key: str = ""
    """containerd store: the snapshot key (the ChainID for image layers)."""


@dataclass(frozen=True, slots=True)
class RWLayerRef:
    """A read-write mount from layerdb/mounts/<name> (normally a container)."""

    name: str
    """Directory name: the container ID, or a BuildKit key during a build."""
    mount_id: str | None
    """Storage dir of the writable layer."""
    init_id: str | None
    """Storage dir of the -init layer, if any."""
    parent: str | None
    """ChainID of the image's top layer."""
    metadata_dir: str
    """Path of the layerdb mounts entry."""
    init_usage: int | None = None
    """containerd store: the recorded usage of the committed ``<id>-init`` snapshot."""


@dataclass(frozen=True, slots=True)
class RemovingLayer:
    """A layerdb entry renamed to <chain>-<random>-removing by an interrupted removal."""

    name: str
    metadata_dir: str
    cache_id: str | None
    size: int | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of an image's history."""

    created_by: str
    created: str | None
    empty_layer: bool
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Image:
    """An image from imagedb/content/sha256/<id>, with its references."""

    id: str
    """sha256:<hex> of the config bytes."""
    config_path: str
    diff_ids: tuple[str, ...]
    """rootfs.diff_ids, base first."""
    created: str | None = None
    os: str = ""
    architecture: str = ""
    history: tuple[HistoryEntry, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    parent: str | None = None
    """imagedb metadata parent (classic builder / commit)."""
    last_updated: str | None = None
    tags: tuple[str, ...] = ()
    """repo:tag references from repositories.json."""
    digests: tuple[str, ...] = ()
    """repo@sha256:… references from repositories.json."""
    id_verified: bool = True
    """False when sha256(config) does not equal the file name (Docker refuses such images)."""
    truncated: tuple[str, ...] = ()
    """What of its config was not kept (over the per-object limits), in plain words."""
    platforms: tuple[str, ...] = ()
    """containerd store: platforms whose image manifest is present locally (os/arch)."""
    manifests: tuple[ManifestRef, ...] = ()
    """containerd store: the manifests its target reaches, present or not."""
    target_content: tuple[tuple[str, int], ...] = ()
    """containerd store: (digest, size) of every present blob under the target, itself
    included (what ``docker system df`` counts once per digest)."""
    names: tuple[str, ...] = ()
    """containerd store: the image records' names (``docker.io/library/app:1``,
    ``moby-dangling@sha256:…``)."""


@dataclass(frozen=True, slots=True)
class StorageDir:
    """A directory directly under the storage driver's home (overlay2/<id>, vfs/dir/<id>)."""

    name: str
    path: str
    link: str | None = None
    """overlay2: content of the `link` file (short name in l/)."""
    lower: tuple[str, ...] = ()
    """overlay2: `lower` entries (l/<short>), nearest parent first."""
    has_diff: bool = True
    committed: bool = False
    has_work: bool = False
    mounted: bool = False
    """merged/ exists: the layer is mounted right now (daemon running)."""
    mtime: float = 0.0
    is_dir: bool = True
    problems: tuple[str, ...] = ()
    """Problems reading link/lower: bad characters, too long, unreadable."""


@dataclass(frozen=True, slots=True)
class ShortLink:
    """An overlay2/l/<short> symlink."""

    name: str
    path: str
    target: str | None
    """readlink() text; None when it is not a symlink."""
    target_dir: str | None
    """The overlay2 dir name it points to (from ../<id>/diff), or None if unparseable."""


@dataclass(frozen=True, slots=True)
class MountPoint:
    """A mount of a container (config.v2.json MountPoints)."""

    destination: str
    type: str
    name: str = ""
    source: str = ""
    driver: str = ""
    rw: bool = True


@dataclass(frozen=True, slots=True)
class LogFile:
    """A log file of a container (json-file: the live file and rotated .N / .N.gz)."""

    path: str
    size: int
    disk: int


@dataclass(frozen=True, slots=True)
class Container:
    """A container from containers/<id>/config.v2.json (+ hostconfig.json)."""

    id: str
    dir: str
    name: str
    """Without the leading slash."""
    image_id: str
    image_ref: str = ""
    """Config.Image: what the user typed."""
    state: str = "created"
    """Docker's State.Status word."""
    created: str | None = None
    driver: str = ""
    running_pid: int = 0
    exit_code: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[MountPoint, ...] = ()
    log_driver: str = "json-file"
    log_opts: Mapping[str, str] = field(default_factory=dict)
    log_path: str = ""
    logs: tuple[LogFile, ...] = ()
    auto_remove: bool = False
    truncated: tuple[str, ...] = ()
    """What of its config was not kept (over the per-object limits), in plain words."""


@dataclass(frozen=True, slots=True)
class Volume:
    """A volume from volumes/<name> and/or volumes/metadata.db."""

    name: str
    path: str
    driver: str = "local"
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    has_dir: bool = True
    in_metadata: bool = True
    truncated: tuple[str, ...] = ()
    """What of its metadata was not kept (over the per-object limits), in plain words."""

    @property
    def anonymous(self) -> bool:
        """Docker's rule: the v23+ label, or (older volumes) a 64-hex random name."""
        if "com.docker.volume.anonymous" in self.labels:
            return True
        return len(self.name) == 64 and all(c in "0123456789abcdef" for c in self.name)


@dataclass(frozen=True, slots=True)
class Plugin:
    """A managed plugin (``docker plugin install`` / ``create``): ``plugins/<id>/config.json``."""

    id: str
    """64 hex: its dir name and the API's ``Id``."""
    name: str
    """``plugin.Name`` (``vieux/sshfs:latest``): from the root, hostile, escape it."""
    path: str
    """``plugins/<id>``: its config and its unpacked ``rootfs``."""
    enabled: bool = False
    description: str = ""
    types: tuple[str, ...] = ()
    """``Config.Interface.Types`` (``docker.volumedriver/1.0``, …)."""
    blobs: tuple[tuple[str, int, int], ...] = ()
    """(path, st_size, allocated bytes) of its blobs present in ``plugins/storage/blobs``: its
    config, manifest and layers (``Config``, ``Manifest``, ``Blobsums``)."""


@dataclass(frozen=True, slots=True)
class BuildCacheRecord:
    """A BuildKit cache record (metadata_v2.db) as `docker system df -v` lists it.

    Field for field what the Engine API's ``/system/df`` ``BuildCache`` entry holds, so the
    report, the text summary and the TUI can show the same rows as the CLI.
    """

    id: str
    """The full record ID (the API's ``ID``); the CLI's table shows its first 12 characters."""
    snapshot: str | None
    size: int | None
    record_type: str = ""
    description: str = ""
    """``cache.description``: written from a Dockerfile, so hostile: escape before display."""
    in_use: bool = False
    shared: bool = False
    last_used: str | None = None
    """RFC 3339 UTC (``Z``), microsecond precision; None when never used."""
    created: str | None = None
    """RFC 3339 UTC (``Z``), microsecond precision; None when not recorded."""
    usage_count: int = 0
    parents: tuple[str, ...] = ()
    """Parent record IDs (the API's ``Parents``; 20.10's single ``Parent`` is the first)."""
    chain_id: str | None = None
    """The image layer (ChainID) its snapshot is, or was exported as (snapshots.db ``chainid``,
    or the record ID itself when it is ``sha256:…``); BuildKit holds that layer while the
    record exists, and the SHARED check of ``builder prune`` is made on it."""
    data_dir: str | None = None
    """The storage dir (``overlay2/<name>``) holding its snapshot's data (the active key, or
    the ``committed`` one); None when its data is an image layer's or unknown."""


@dataclass(frozen=True, slots=True)
class BuildKitInfo:
    """BuildKit state: which storage dirs it owns, and its cache records."""

    present: bool = False
    snapshot_keys: frozenset[str] = frozenset()
    """Top-level buckets of snapshots.db: storage dir names BuildKit owns (containerd store:
    the containerd snapshot keys its records name, ``cache.snapshot`` or the record ID)."""
    chain_ids: frozenset[str] = frozenset()
    """Layer ChainIDs BuildKit records (chainid keys): layers its cache still holds."""
    records: tuple[BuildCacheRecord, ...] = ()
    readable: bool = True
    """False when BuildKit's state exists but could not be read: ownership is then uncertain."""
    record_ids: frozenset[str] = frozenset()
    """containerd store: every record ID of BuildKit's ``metadata_v2.db`` (its containerd
    leases are named by them)."""

    @property
    def total(self) -> int:
        """Bytes of every listed record (``docker system df -v``'s sizes summed)."""
        return sum(r.size or 0 for r in self.records)

    @property
    def reclaimable(self) -> int:
        """What ``docker builder prune`` frees: records neither in use nor shared with images."""
        return sum(r.size or 0 for r in self.records if not r.in_use and not r.shared)


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """An image record of containerd's meta.db (``images/<name>``): a name and its target."""

    name: str
    digest: str
    """The target descriptor's digest (what containerd's GC keeps, with its children)."""
    media_type: str
    size: int | None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ingest:
    """A partial download of containerd's content store: ``ingest/<x>`` (a dir of its own)."""

    path: str
    ref: str = ""
    """Its ``ref`` file: the metadata layer's backend ref ``<namespace>/<n>/<ref>`` (hostile)."""
    mtime: float = 0.0
    data: int | None = None
    """Bytes received so far (st_size of its ``data`` file; None when it has none)."""
    total: int | None = None
    """Bytes expected (its ``total`` file), when known."""


@dataclass(frozen=True, slots=True)
class ContentBlob:
    """A blob of containerd's content store: its meta.db record and/or its file."""

    digest: str
    path: str
    """``<content>/blobs/<algo>/<hex>`` (whether or not the file exists)."""
    size: int | None
    """Size recorded in meta.db (None: the file has no record: an orphan)."""
    file_size: int | None
    """st_size of the file (None: no file)."""
    disk: int = 0
    """Allocated bytes of the file (st_blocks * 512)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    mtime: float = 0.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot of containerd's snapshotter (meta.db + the snapshotter's metadata.db)."""

    key: str
    """The key in the namespace: a ChainID, a container ID, ``<id>-init``, a BuildKit key."""
    kind: str
    """committed | active | view | unknown (no record in the snapshotter's metadata.db)."""
    parent: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    snapshot_id: str | None = None
    """The snapshotter's numeric ID: the dir ``snapshots/<id>`` (None when unknown)."""
    size: int | None = None
    """Usage recorded at commit (containerd's number for committed snapshots: st_blocks * 512
    of its ``fs``, each inode once, dirs included); None for active snapshots and views."""
    inodes: int | None = None
    backend_key: str = ""
    """``<namespace>/<n>/<key>``: the key in the snapshotter's own metadata.db."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A containerd lease: what it keeps alive (GC roots)."""

    id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    snapshots: tuple[str, ...] = ()
    """Snapshot keys of the image store's snapshotter it holds."""
    content: tuple[str, ...] = ()
    ingests: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ManifestRef:
    """One manifest an image's target reaches (itself, or an index entry)."""

    digest: str
    platform: str = ""
    """``os/arch[/variant]`` from the index entry or the config ("" when unknown)."""
    present: bool = False
    """The manifest blob is in the content store."""
    attestation: bool = False
    """A BuildKit attestation manifest (``vnd.docker.reference.type``): Docker skips it."""
    pseudo: bool = False
    """Not a runnable image (attestation, unknown/unknown, no layer of a layer type)."""
    config: str | None = None
    diff_ids: tuple[str, ...] = ()
    """rootfs.diff_ids of its config (() when the config is absent or unreadable)."""
    content: tuple[tuple[str, int], ...] = ()
    """(digest, descriptor size) of every present blob under it, itself first, in the order
    (and with the repeats) of containerd's walk: Docker sums these as the content size."""
    layers: tuple[str, ...] = ()
    """The manifest's ``layers`` digests in order, present or not (() when it cannot be
    read): BuildKit marks a cache record SHARED when its blob chain equals such a list."""


@dataclass(frozen=True, slots=True)
class ContainerdData:
    """What was read from a containerd root (the image store of Docker 29's default mode)."""

    root: str
    """containerd's root dir that was read."""
    reason: str
    """Why this root was read (given, Docker's own containerd, the system's)."""
    namespace: str = "moby"
    snapshotter: str = "overlayfs"
    content_dir: str = ""
    """``<root>/io.containerd.content.v1.content``."""
    snapshots_dir: str = ""
    """``<root>/io.containerd.snapshotter.v1.<snapshotter>/snapshots``."""
    blobs: Mapping[str, ContentBlob] = field(default_factory=dict)
    """Every blob: with a record in the namespace, or a file (orphans have no record)."""
    snapshots: Mapping[str, Snapshot] = field(default_factory=dict)
    """The namespace's snapshots of the snapshotter, by key."""
    foreign_snapshot_ids: frozenset[str] = frozenset()
    """Snapshot dirs the snapshotter knows that belong to other namespaces (never orphans)."""
    leases: Mapping[str, Lease] = field(default_factory=dict)
    containers: Mapping[str, str] = field(default_factory=dict)
    """containerd's container records: ID → snapshot key ("" for dockerd's)."""
    ingests: tuple[str, ...] = ()
    """``ingest/<ref>`` dirs: partial downloads."""
    other_namespaces: tuple[str, ...] = ()
    """Namespaces other than `namespace` in meta.db (``buildkit``, ``plugins.moby``, …)."""
    image_records: Mapping[str, ImageRecord] = field(default_factory=dict)
    """The namespace's image records by name (GC roots: their targets and gc.ref labels)."""
    foreign_blobs: frozenset[str] = frozenset()
    """Digests other namespaces have records of: their files are not orphans."""
    untracked_snapshots: Mapping[str, str] = field(default_factory=dict)
    """Snapshot dir ID → backend key, for the snapshotter's snapshots no namespace of meta.db
    knows (the metadata layer lost them)."""
    ingest_info: Mapping[str, Ingest] = field(default_factory=dict)
    """The ``ingest/<x>`` dirs (by path, as in `ingests`): what each was downloading."""
    ingest_records: Mapping[str, float | None] = field(default_factory=dict)
    """The namespace's ``content/ingests`` records (tracked partial downloads): the backend
    ref an ingest dir's ``ref`` file holds (``<namespace>/<n>/<ref>``) → when the record
    expires (seconds since the epoch; None: never)."""
    meta_mtime: float = 0.0
    """When meta.db or the snapshotter's metadata.db was last written (0 when unknown): a
    live containerd removes a snapshot's records first and its dir after (at its next
    collection, or once its transaction is synced), maybe seconds later."""


@dataclass(frozen=True, slots=True)
class OtherStore:
    """The image store the daemon does not use, when the root holds both (a host that
    switched between the graphdriver and the containerd image store): its images, listed."""

    image_store: ImageStore
    storage_driver: str
    """The graphdriver's name, or the snapshotter's."""
    path: str
    """Where it is: ``image/<driver>`` of the data root, or the containerd root."""
    evidence: str
    """Why the daemon uses the other store, in plain words."""
    images: Mapping[str, Image] = field(default_factory=dict)
    layers: Mapping[str, Layer] = field(default_factory=dict)
    containerd: ContainerdData | None = None
    skipped: tuple[Skipped, ...] = ()
    """What of it could not be read (it is not the daemon's: no findings are made of it)."""


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything read from one data root, linked by ID: what inventory.read() returns.

    Final once read: measuring adds nothing to it (see :class:`Measurements`).
    """

    root: RootInfo
    images: Mapping[str, Image]
    layers: Mapping[str, Layer]
    rw_layers: Mapping[str, RWLayerRef]
    storage_dirs: Mapping[str, StorageDir]
    short_links: Mapping[str, ShortLink]
    containers: Mapping[str, Container]
    volumes: Mapping[str, Volume]
    buildkit: BuildKitInfo = BuildKitInfo()
    removing_layers: tuple[RemovingLayer, ...] = ()
    layerdb_tmp: tuple[str, ...] = ()
    """Paths of staging leftovers in layerdb/tmp."""
    container_dirs_without_config: tuple[Skipped, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    driver_home: str = ""
    """Absolute path of the storage driver's layer directory (overlay2/ or vfs/dir/)."""
    scan_started: float = 0.0
    """time.time() when reading began: dirs changed after it are not judged as orphans."""
    mounts: tuple[Mount, ...] = ()
    """Mount points inside the root when it was read: never walked into."""
    containerd: ContainerdData | None = None
    """The containerd image store's records when one was read (images and layers above are
    then its images and unpacked layers)."""
    plugins: tuple[Plugin, ...] = ()
    """Managed plugins (``plugins/<id>/``)."""
    other_store: OtherStore | None = None
    """The image store the daemon does not use, when it holds images too."""

    def mount_at(self, path: str) -> Mount | None:
        """The mount whose mount point is exactly `path`, if any."""
        for m in self.mounts:
            if m.path == path:
                return m
        return None

    def referenced_dirs(self) -> set[str]:
        """Storage dir names something refers to: layers, RW mounts, removals, BuildKit."""
        refs = {layer.cache_id for layer in self.layers.values()}
        for m in self.rw_layers.values():
            refs.update(x for x in (m.mount_id, m.init_id) if x)
        refs.update(r.cache_id for r in self.removing_layers if r.cache_id)
        refs |= self.buildkit.snapshot_keys
        return refs


@dataclass(frozen=True, slots=True)
class Measurements:
    """What measuring a root's trees found: inspector.measure's result, next to the Inventory."""

    usage: Mapping[str, Usage] = field(default_factory=dict)
    """Usage by absolute path (storage dirs, volume dirs, container dirs, areas of the root);
    hard links counted once per filesystem across all of them."""
    full: bool = False
    """Every image layer was walked (``--full``): `layer_walks` is filled and judged."""
    layer_walks: Mapping[str, Usage] = field(default_factory=dict)
    """``--full`` only: cache-id → the walk of that image layer's dir, to compare with layerdb."""
    vfs_changes: Mapping[str, int] = field(default_factory=dict)
    """vfs only: container ID → naive-diff size of its writable layer against its -init copy."""

    def of(self, path: str | None) -> Usage:
        """Usage of `path` (zero when it was not measured)."""
        if path is None:
            return ZERO
        return self.usage.get(path, ZERO)


class TarEntry(NamedTuple):
    """One entry of a layer's tar, as ``docker save`` writes it (from tar-split or a walk)."""

    name: str
    """The tar header's name, as written (``etc/``, ``etc/.wh.x``); non-UTF-8 bytes are
    decoded with surrogateescape (os.fsdecode)."""
    size: int
    """The header's size: a regular file's length; 0 for dirs, symlinks and hard links."""
    kind: str
    """One letter: f regular, d directory, h hard link, l symlink, o other (device, FIFO)."""
    crc: int | None = None
    """CRC-64/ISO of the file's bytes (tar-split keeps one per file with a payload)."""


#: Where a layer's entry list came from.
SOURCE_TAR_SPLIT = "tar-split"
SOURCE_DIFF_WALK = "diff-walk"


@dataclass(frozen=True, slots=True)
class LayerFiles:
    """The entries of one image layer's tar, in tar order (what dive reads from ``docker save``)."""

    chain_id: str
    entries: tuple[TarEntry, ...]
    source: str = SOURCE_TAR_SPLIT
    """``tar-split`` (layerdb's tar-split.json.gz: exactly what docker save writes) or
    ``diff-walk`` (no usable tar-split: the diff dir walked the way Docker tars it)."""
    note: str = ""
    """Why the fallback was used, in plain words ("" for tar-split)."""
