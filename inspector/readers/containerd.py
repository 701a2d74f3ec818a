"""containerd's bbolt files: ``meta.db`` (namespaced metadata) and a snapshotter's ``metadata.db``.

Both are read with :func:`inspector.readers.bbolt.load_bolt` (never locked). Layouts, from
containerd ``core/metadata/buckets.go`` and ``core/snapshots/storage/bolt.go`` (the same in
1.6 and 2.x; see shared/docker-format.md §8):

``io.containerd.metadata.v1.bolt/meta.db``::

    v1/<namespace>/images/<name>/target/{digest,mediatype,size}, labels/, annotations/
    v1/<namespace>/content/blob/<digest>/{size, labels/}
    v1/<namespace>/content/ingests/<ref>/{ref (backend ref), expireat, expected}
    v1/<namespace>/snapshots/<snapshotter>/<key>/{name, parent, children/, labels/}
    v1/<namespace>/leases/<id>/{labels/, snapshots/<snapshotter>/<key>, content/<digest>,
                                ingests/<ref>}
    v1/<namespace>/containers/<id>/{image, snapshotter, snapshotKey, runtime/, labels/, …}

``name`` of a snapshot is its backend key ``<namespace>/<n>/<key>``, the key in the
snapshotter's own ``metadata.db``::

    v1/snapshots/<backend key>/{id (uvarint), kind (byte: 1 view, 2 active, 3 committed),
                                parent (backend key), size, inodes (zigzag varints,
                                committed only), labels/}

Sizes in meta.db (a target's, a blob's) are Go ``binary.PutVarint`` zigzag varints (containerd
``metadata/images.go`` ``encodeInt``), not uvarints: 588 is stored as ``98 09``.

Everything here is hostile input: names and values are decoded with ``surrogateescape``,
cut to the per-object limits, numbers bounds-checked; a malformed record becomes a
:class:`Skipped` naming ``<file>:<bucket path>``, never an exception.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from inspector.errors import ReaderError
from inspector.model import ImageRecord, Lease, Skipped
from inspector.readers import fs, limits
from inspector.readers.bbolt import BoltBucket, BoltError, load_bolt

__all__ = [
    "KINDS",
    "ImageRecord",
    "MetaNamespace",
    "SnapshotRecord",
    "all_backend_keys",
    "foreign_blobs",
    "go_time",
    "namespaces",
    "parse_meta",
    "parse_snapshotter_db",
    "uvarint",
    "zigzag",
]

#: The snapshotter's kind byte (core/snapshots/storage: KindView=1, KindActive=2, KindCommitted=3).
KINDS = {1: "view", 2: "active", 3: "committed"}
#: Longest varint accepted (a uint64 takes 10 bytes).
_MAX_VARINT = 10


def uvarint(raw: bytes) -> int | None:
    """Go's binary.Uvarint of the whole value (None when malformed or trailing bytes)."""
    result = shift = 0
    for i, b in enumerate(raw[:_MAX_VARINT]):
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result if i == len(raw) - 1 and result < 1 << 64 else None
        shift += 7
    return None


def zigzag(raw: bytes) -> int | None:
    """Go's binary.Varint (zigzag) of the whole value (None when malformed)."""
    u = uvarint(raw)
    if u is None:
        return None
    return (u >> 1) ^ -(u & 1)


#: Seconds from Go's zero time (January 1, year 1, UTC) to the Unix epoch.
_GO_EPOCH = 62_135_596_800


def go_time(raw: bytes | None) -> float | None:
    """A Go ``time.MarshalBinary`` value (version 1 or 2) as seconds since the epoch."""
    if raw is None or len(raw) not in (15, 16) or raw[0] not in (1, 2):
        return None
    sec = int.from_bytes(raw[1:9], "big", signed=True)
    nsec = int.from_bytes(raw[9:13], "big")
    return sec - _GO_EPOCH + nsec / 1e9


def _size(raw: bytes | None) -> int | None:
    """A size of meta.db: Go's binary.PutVarint (zigzag; metadata ``encodeInt``), >= 0."""
    n = zigzag(raw) if raw is not None else None
    return n if n is not None and n >= 0 else None


def _text(raw: bytes) -> str:
    return limits.cut(raw.decode("utf-8", "surrogateescape"))


def _labels(bucket: BoltBucket | None, where: str, notes: list[str]) -> dict[str, str]:
    if bucket is None:
        return {}
    raw = {k.decode("utf-8", "surrogateescape"): v for k, v in bucket.values().items()}
    return limits.str_map(
        {k: v.decode("utf-8", "surrogateescape") for k, v in raw.items()}, where, notes
    )


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One snapshot: meta.db's view, completed by the snapshotter's metadata.db."""

    key: str
    backend_key: str
    parent: str | None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetaNamespace:
    """What one namespace of meta.db holds (for one snapshotter)."""

    images: dict[str, ImageRecord] = field(default_factory=dict)
    blobs: dict[str, tuple[int | None, dict[str, str]]] = field(default_factory=dict)
    """digest → (recorded size, labels)."""
    ingests: tuple[str, ...] = ()
    ingest_refs: dict[str, float | None] = field(default_factory=dict)
    """Backend ref of each ingest record (what its ``ingest/<x>/ref`` file says) → when the
    record expires (seconds since the epoch; None: never)."""
    snapshots: dict[str, SnapshotRecord] = field(default_factory=dict)
    leases: dict[str, Lease] = field(default_factory=dict)
    containers: dict[str, str] = field(default_factory=dict)
    """container ID → snapshot key (empty for dockerd's)."""
    backend_keys: frozenset[str] = frozenset()
    """Backend keys of this namespace's snapshots of every snapshotter named `snapshotter`."""
    notes: tuple[str, ...] = ()
    """What was cut (over the per-object limits)."""


def namespaces(root: BoltBucket) -> list[str]:
    """The namespaces of a meta.db (``v1/<ns>``)."""
    v1 = root.bucket(b"v1")
    if v1 is None:
        return []
    return sorted(k.decode("utf-8", "surrogateescape") for k in v1.buckets())


def _names(bucket: BoltBucket | None) -> tuple[str, ...]:
    if bucket is None:
        return ()
    return tuple(_text(k) for k in bucket)


def parse_meta(
    root: BoltBucket, shown: str, namespace: str, snapshotter: str
) -> tuple[MetaNamespace, list[Skipped]]:
    """The records of `namespace` (snapshots of `snapshotter` only) in a parsed meta.db."""
    skipped: list[Skipped] = []
    notes: list[str] = []
    v1 = root.bucket(b"v1")
    ns = v1.bucket(namespace.encode()) if v1 is not None else None
    if ns is None:
        return MetaNamespace(), skipped
    where = f"{shown}:v1/{namespace}"

    images: dict[str, ImageRecord] = {}
    for key, b in (ns.bucket(b"images") or BoltBucket()).buckets().items():
        name = _text(key)
        target = b.bucket(b"target")
        digest = target.value(b"digest") if target is not None else None
        if target is None or not digest:
            skipped.append(Skipped(f"{where}/images/{name}", "no target digest"))
            continue
        mt = target.value(b"mediatype") or b""
        size = target.value(b"size")
        images[name] = ImageRecord(
            name=name,
            digest=_text(digest),
            media_type=_text(mt),
            size=_size(size),
            labels=_labels(b.bucket(b"labels"), f"image {name} labels", notes),
        )

    blobs: dict[str, tuple[int | None, dict[str, str]]] = {}
    content = ns.bucket(b"content")
    blob_bucket = content.bucket(b"blob") if content is not None else None
    for key, b in (blob_bucket or BoltBucket()).buckets().items():
        dgst = _text(key)
        raw = b.value(b"size")
        bsize = _size(raw)
        if raw is not None and bsize is None:
            skipped.append(Skipped(f"{where}/content/blob/{dgst}", "size is not a varint >= 0"))
        blobs[dgst] = (bsize, _labels(b.bucket(b"labels"), f"blob {dgst[:19]} labels", notes))
    ingest_bucket = content.bucket(b"ingests") if content is not None else None
    ingests = _names(ingest_bucket)
    ingest_refs: dict[str, float | None] = {}
    for b in (ingest_bucket or BoltBucket()).buckets().values():
        bref = b.value(b"ref")
        if bref:
            ingest_refs[_text(bref)] = go_time(b.value(b"expireat"))

    snapshots: dict[str, SnapshotRecord] = {}
    sbucket = ns.bucket(b"snapshots")
    backend: set[str] = set()
    for sn_name, sn in (sbucket or BoltBucket()).buckets().items():
        for key, b in sn.buckets().items():
            bname = b.value(b"name")
            if bname:
                backend.add(_text(bname))
            if sn_name != snapshotter.encode():
                continue
            k = _text(key)
            if not bname:
                skipped.append(Skipped(f"{where}/snapshots/{snapshotter}/{k}", "no backend name"))
                continue
            parent = b.value(b"parent")
            snapshots[k] = SnapshotRecord(
                key=k,
                backend_key=_text(bname),
                parent=_text(parent) if parent else None,
                labels=_labels(b.bucket(b"labels"), f"snapshot {k[:30]} labels", notes),
            )

    leases: dict[str, Lease] = {}
    for key, b in (ns.bucket(b"leases") or BoltBucket()).buckets().items():
        lid = _text(key)
        snaps = b.bucket(b"snapshots")
        mine = snaps.bucket(snapshotter.encode()) if snaps is not None else None
        leases[lid] = Lease(
            id=lid,
            labels=_labels(b.bucket(b"labels"), f"lease {lid[:30]} labels", notes),
            snapshots=_names(mine),
            content=_names(b.bucket(b"content")),
            ingests=_names(b.bucket(b"ingests")),
        )

    containers: dict[str, str] = {}
    for key, b in (ns.bucket(b"containers") or BoltBucket()).buckets().items():
        sk = b.value(b"snapshotKey") or b""
        sn_of = b.value(b"snapshotter") or b""
        containers[_text(key)] = _text(sk) if sn_of in (b"", snapshotter.encode()) else ""
    return (
        MetaNamespace(
            images=images,
            blobs=blobs,
            ingests=ingests,
            ingest_refs=ingest_refs,
            snapshots=snapshots,
            leases=leases,
            containers=containers,
            backend_keys=frozenset(backend),
            notes=tuple(notes),
        ),
        skipped,
    )


def foreign_blobs(root: BoltBucket, namespace: str) -> frozenset[str]:
    """Digests with a content record in a namespace other than `namespace` (shared files)."""
    out: set[str] = set()
    v1 = root.bucket(b"v1")
    for name, ns in (v1 or BoltBucket()).buckets().items():
        if name == namespace.encode():
            continue
        content = ns.bucket(b"content")
        blob = content.bucket(b"blob") if content is not None else None
        out.update(_text(k) for k in (blob or BoltBucket()).buckets())
    return frozenset(out)


def all_backend_keys(root: BoltBucket, snapshotter: str) -> frozenset[str]:
    """Backend keys of `snapshotter`'s snapshots in every namespace of a meta.db."""
    out: set[str] = set()
    v1 = root.bucket(b"v1")
    for ns in (v1 or BoltBucket()).buckets().values():
        sb = ns.bucket(b"snapshots")
        sn = sb.bucket(snapshotter.encode()) if sb is not None else None
        for b in (sn or BoltBucket()).buckets().values():
            name = b.value(b"name")
            if name:
                out.add(_text(name))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class BackendSnapshot:
    """One entry of the snapshotter's metadata.db (``v1/snapshots/<backend key>``)."""

    backend_key: str
    id: str
    kind: str
    parent: str | None
    size: int | None
    inodes: int | None


def parse_snapshotter_db(
    root: BoltBucket, shown: str
) -> tuple[dict[str, BackendSnapshot], list[Skipped]]:
    """The snapshotter's records by backend key (IDs are the ``snapshots/<id>`` dir names)."""
    skipped: list[Skipped] = []
    out: dict[str, BackendSnapshot] = {}
    v1 = root.bucket(b"v1")
    sb = v1.bucket(b"snapshots") if v1 is not None else None
    for key, b in (sb or BoltBucket()).buckets().items():
        bk = _text(key)
        raw_id = b.value(b"id")
        sid = uvarint(raw_id) if raw_id is not None else None
        if sid is None:
            skipped.append(Skipped(f"{shown}:v1/snapshots/{bk}", "no numeric id"))
            continue
        kind_raw = b.value(b"kind") or b""
        kind = KINDS.get(kind_raw[0], "unknown") if len(kind_raw) == 1 else "unknown"
        parent = b.value(b"parent")
        size_raw = b.value(b"size")
        inodes_raw = b.value(b"inodes")
        size = zigzag(size_raw) if size_raw is not None else None
        inodes = zigzag(inodes_raw) if inodes_raw is not None else None
        if size is not None and size < 0:
            skipped.append(Skipped(f"{shown}:v1/snapshots/{bk}", f"negative size {size}"))
            size = None
        out[bk] = BackendSnapshot(
            backend_key=bk,
            id=str(sid),
            kind=kind,
            parent=_text(parent) if parent else None,
            size=size,
            inodes=inodes,
        )
    return out, skipped


#: The system containerd's root (Docker CE packages: dockerd uses it when
#: ``/run/containerd/containerd.sock`` exists).
SYSTEM_ROOT = "/var/lib/containerd"
#: The default data root: only its daemon may use the system containerd's image store.
DEFAULT_DATA_ROOT = "/var/lib/docker"
META_DB = "io.containerd.metadata.v1.bolt/meta.db"


def moby_image_count(ctrd_root: str, namespace: str = "moby") -> int | None:
    """Image records in the namespace of ``<ctrd_root>/…/meta.db`` (None: no readable meta.db).

    The caller has anchored a root holding `ctrd_root` (see inspector.readers.fs).
    """
    try:
        tree = load_bolt(os.path.join(ctrd_root, META_DB))
    except (FileNotFoundError, NotADirectoryError, BoltError):
        return None
    v1 = tree.bucket(b"v1")
    ns = v1.bucket(namespace.encode()) if v1 is not None else None
    imgs = ns.bucket(b"images") if ns is not None else None
    return len(imgs.buckets()) if imgs is not None else 0


def _count_outside(path: str) -> int | None:
    """moby_image_count of a root outside the data root (anchored for the read)."""
    try:
        with fs.anchored(path):
            return moby_image_count(path)
    except (OSError, ReaderError):
        return None


def find_root(
    data_root: str, explicit: str | None, snapshotter_in_use: bool
) -> tuple[str | None, str, int]:
    """(containerd root holding the image store, why it was chosen, its moby image records).

    ``--containerd-root`` wins. Else dockerd's own containerd (``<data-root>/containerd/
    daemon``, moby ``containerdRootDir``) when it holds images of namespace ``moby``. Else,
    when the containers use a snapshotter driver or the data root is the default one, the
    system containerd's ``/var/lib/containerd`` if its meta.db is readable (dockerd uses the
    system containerd whenever its socket exists). Else dockerd's own one if it has a meta.db
    at all (an empty store), else none.
    """
    if explicit:
        path = os.path.abspath(explicit)
        n = moby_image_count(path) if _under(path, data_root) else _count_outside(path)
        return path, "given with --containerd-root", n or 0
    own = os.path.join(data_root, "containerd", "daemon")
    n_own = moby_image_count(own)
    if n_own:
        return own, f"dockerd's own containerd ({n_own} image records in namespace moby)", n_own
    why = []
    if snapshotter_in_use:
        why.append("the containers use a snapshotter driver")
    if os.path.realpath(data_root) == DEFAULT_DATA_ROOT:
        why.append(f"{DEFAULT_DATA_ROOT} is the default data root")
    if why and not _under(SYSTEM_ROOT, data_root):
        n_sys = _count_outside(SYSTEM_ROOT)
        if n_sys is not None:
            mine = "no" if n_own is None else "no image records in"
            return (
                SYSTEM_ROOT,
                f"the system containerd's root: {'; '.join(why)}, and {own} has {mine} "
                "containerd metadata",
                n_sys,
            )
    if n_own is not None:
        return own, "dockerd's own containerd (no image records in namespace moby)", 0
    return None, "", 0


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")
