"""Read BuildKit's state under ``<root>/buildkit/`` (graphdriver mode, Docker's built-in builder).

Two bbolt files matter for disk usage:

* ``snapshots.db`` — moby's snapshotter adapter (``builder-next/adapters/snapshot``). One
  top-level bucket per snapshot key. An *active* key (bucket with a ``parent`` entry, written by
  ``Prepare``) is also the name of its graphdriver directory (``overlay2/<key>``); a *committed
  name* has ``committed`` (the active key holding the data) and/or ``chainid`` (the image layer
  it was exported as); ``sha256:<chainID>`` buckets stand for existing image layers.
* ``metadata_v2.db`` — BuildKit's cache records (``cache/metadata.go``): ``_main/<recordID>/``
  holds keys such as ``cache.description`` whose values are JSON ``{"value":…,"index":…}``.
  ``value`` is a Go ``json.RawMessage``, i.e. inline JSON (strings, ints, bools, string lists);
  none of the keys read here holds Go ``[]byte``, so nothing is base64-encoded. Timestamps are
  Unix nanoseconds. ``_external/<id>/`` holds raw protobuf blobs and ``_index`` search keys; both
  are ignored.

Which records ``docker system df -v`` lists, and their size and SHARED column, are reproduced
from the daemon's code (BuildKit ``cache/manager.go`` ``DiskUsage``/``markShared``, moby
``imagerefchecker``) and checked against a real 20.10 daemon; see :class:`BuildCacheRecord` and
:func:`shared_record_ids`. Whether a record is *in use* is not stored on disk: it is the daemon's
in-memory reference count (propagated to parents), non-zero only while a build holds the
record. After a daemon restart nothing is in use, so no in-use flag is reported and ACTIVE is
0. While a build runs, a live ``df`` can also differ in *which* twin of an equal-mutable pair
it lists (the in-use immutable one instead of the mutable one); at rest the rules here match.

With the containerd image store, BuildKit keeps its records in
``buildkit/containerd-<snapshotter>/metadata_v2.db`` (the same format) and its snapshots inside
containerd, namespace ``moby`` (BuildKit ``worker/containerd``): each record's snapshot is the
containerd snapshot key ``cache.snapshot`` (the record ID for a mutable one, a ChainID for a
layer it unpacked), held by a lease named by the record ID (``cache/manager.go``
``GetByBlob``/``New``). :func:`to_model_containerd` reads which snapshots those are and the
records ``docker system df -v`` lists, with the load and SHARED rules of that mode (BuildKit's
own image checker: a record's blob chain against the images' manifests).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from inspector import model
from inspector.errors import ReaderError
from inspector.ids import chain_ids
from inspector.model import Skipped
from inspector.readers.bbolt import DEFAULT_CAP, BoltBucket, load_bolt
from inspector.readers.fs import lstat_or_none

__all__ = [
    "BuildCacheRecord",
    "BuildCacheUsage",
    "BuildkitSnapshot",
    "BuildkitState",
    "blob_chain",
    "build_cache_usage",
    "containerd_records",
    "image_chain_ids",
    "image_layer_keys",
    "parse_cache_records",
    "parse_snapshots",
    "read_buildkit",
    "shared_in_containerd",
    "shared_record_ids",
    "to_model",
    "to_model_containerd",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Longest decimal size accepted from snapshots.db (int64 has 19 digits).
_MAX_SIZE_DIGITS = 20


@dataclass(frozen=True, slots=True)
class BuildkitSnapshot:
    """One top-level bucket of ``buildkit/snapshots.db``."""

    key: str
    """The bucket name: a 25-character BuildKit key, or ``sha256:<chainID>``."""
    parent: str | None
    """``parent`` (set by Prepare): parent key, a ``sha256:`` ChainID or ``""``; None if absent."""
    committed: str | None
    """``committed``: the active key whose graphdriver directory holds this committed name."""
    chain_id: str | None
    """``chainid``: the layer ChainID this snapshot was exported as (or an image layer's)."""
    is_committed: bool
    """``iscommitted`` is present: the active key has been committed."""
    size: int | None
    """``size``: the cached diff size in bytes; None if absent or not a decimal number."""

    @property
    def is_active_key(self) -> bool:
        """True if this bucket was created by Prepare, so ``<driver>/<key>`` is its directory."""
        return self.parent is not None

    @property
    def data_key(self) -> str:
        """The key whose graphdriver directory holds the data (``committed`` or the key)."""
        return self.committed or self.key


@dataclass(frozen=True, slots=True)
class BuildCacheRecord:
    """One BuildKit cache record: ``metadata_v2.db`` ``_main/<id>/``."""

    id: str
    """Record ID (25 lowercase base-36 characters); ``docker system df -v`` shows 12."""
    snapshot_key: str
    """``cache.snapshot`` or, when absent, the record ID: the key in ``snapshots.db``."""
    record_type: str
    """``cache.recordType`` (``regular``, ``source.local``, ``exec.cachemount``, …)."""
    description: str
    """``cache.description``; ``""`` if absent."""
    parent: str | None
    """``cache.parent``: the parent record's ID."""
    parents: tuple[str, ...]
    """All parent record IDs: ``cache.parent``, or ``cache.mergeParents`` / diff parents."""
    size: int | None
    """Bytes as df reports them (see :func:`parse_cache_records`); None if not recorded."""
    created_at: datetime | None
    """``cache.createdAt`` (UTC)."""
    last_used_at: datetime | None
    """``cache.lastUsedAt`` (UTC); None when unset or when ``cache.usageCount`` is absent."""
    usage_count: int
    """``cache.usageCount``; 0 if absent."""
    mutable: bool | None
    """True for a mutable snapshot (build context, cache mount); None if snapshots.db is unread."""
    equal_mutable: str | None
    """``cache.equalMutable``: this immutable record shares the data of that mutable record."""
    chain_id: str | None
    """``cache.chainID``: the layer ChainID BuildKit computed for this record."""
    deleted: bool
    """``cache.deleted``: pruned; the daemon removes it at its next start."""
    listed: bool
    """True if ``docker system df -v`` lists it: not deleted, not an equal-mutable duplicate,
    and its snapshot exists (records whose snapshot is gone are dropped at daemon start)."""
    blob: str | None = None
    """``cache.blob``: the digest of its compressed layer blob, once one was made."""
    merge: bool = False
    """Its parents are ``cache.mergeParents`` (a merge record)."""
    diff_upper: str | None = None
    """``cache.upperDiffParent`` (a diff record's upper side)."""
    diff: bool = False
    """A diff record (``cache.lowerDiffParent``/``cache.upperDiffParent``)."""
    committed: bool = False
    """``snapshot.committed``: an immutable record (else mutable, its snapshot its ID)."""
    blob_only: bool = False
    """``cache.blobonly``: its data is only the compressed blob so far (a lazy record)."""

    @property
    def short_id(self) -> str:
        """The 12-character CACHE ID shown by ``docker system df -v``."""
        return self.id[:12]


@dataclass(frozen=True, slots=True)
class BuildkitState:
    """Everything read from ``<root>/buildkit/``."""

    path: str
    """The ``buildkit`` directory."""
    present: bool
    """False if there is no ``buildkit`` directory (never built with BuildKit)."""
    snapshots: dict[str, BuildkitSnapshot] = field(default_factory=dict)
    """``snapshots.db`` top-level buckets by name, in key order."""
    records: dict[str, BuildCacheRecord] = field(default_factory=dict)
    """``metadata_v2.db`` cache records by ID, in key order (listed or not)."""
    skipped: list[Skipped] = field(default_factory=list)
    """(path, reason) for each file or entry that could not be read."""

    @property
    def bucket_names(self) -> frozenset[str]:
        """Every top-level bucket name of ``snapshots.db``."""
        return frozenset(self.snapshots)

    @property
    def graph_dirs(self) -> frozenset[str]:
        """Graphdriver directory names BuildKit owns: the active keys of ``snapshots.db``.

        Committed names and ``sha256:`` buckets are not directories; a ``committed`` target is
        included even if its own bucket is missing, since the data lives under that name.
        """
        dirs = {s.key for s in self.snapshots.values() if s.is_active_key}
        dirs.update(s.committed for s in self.snapshots.values() if s.committed)
        return frozenset(dirs)

    def listed_records(self) -> list[BuildCacheRecord]:
        """The records ``docker system df -v`` would list."""
        return [r for r in self.records.values() if r.listed]


@dataclass(frozen=True, slots=True)
class BuildCacheUsage:
    """The ``Build Cache`` row of ``docker system df`` (20.10 CLI arithmetic)."""

    total_count: int
    """TOTAL: listed records."""
    active_count: int
    """ACTIVE: records in use; always 0 offline (references live only in the daemon)."""
    size: int
    """SIZE: sum of the sizes of listed records that are not shared with an image."""
    reclaimable: int
    """RECLAIMABLE: SIZE minus in-use unshared records; equals SIZE offline."""


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def _decimal(raw: bytes | None) -> int | None:
    if raw is None or not 0 < len(raw) <= _MAX_SIZE_DIGITS or not raw.isdigit():
        return None
    return int(raw)


def parse_snapshots(
    root: BoltBucket, path: str = "snapshots.db"
) -> tuple[dict[str, BuildkitSnapshot], list[Skipped]]:
    """Decode an already-parsed ``snapshots.db`` (pure): (snapshots by key, skips)."""
    snapshots: dict[str, BuildkitSnapshot] = {}
    skipped: list[Skipped] = []
    for key, bucket in root.items():
        name = _text(key)
        if not isinstance(bucket, BoltBucket):
            skipped.append(Skipped(f"{path}: {name}", "a top-level value, expected a bucket"))
            continue
        parent = bucket.value(b"parent")
        committed = bucket.value(b"committed")
        chain_id = bucket.value(b"chainid")
        snapshots[name] = BuildkitSnapshot(
            key=name,
            parent=None if parent is None else _text(parent),
            committed=_text(committed) if committed else None,
            chain_id=_text(chain_id) if chain_id else None,
            is_committed=bucket.value(b"iscommitted") is not None,
            size=_decimal(bucket.value(b"size")),
        )
    return snapshots, skipped


# --- metadata_v2.db ----------------------------------------------------------------------------


def _int(v: object) -> int | None:
    # json gives bool for true/false, and bool is an int subclass: Go would refuse it.
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _size(v: object) -> int | None:
    n = _int(v)
    return n if n is not None and n >= 0 else None  # -1 is BuildKit's sizeUnknown


def _time(v: object) -> datetime | None:
    ns = _int(v)
    if not ns:  # Go treats 0 (and any unmarshal error) as "no time"
        return None
    try:
        return _EPOCH + timedelta(microseconds=ns // 1000)
    except OverflowError:
        return None


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _record_values(bucket: BoltBucket, where: str, skipped: list[Skipped]) -> dict[str, object]:
    """key -> decoded ``value`` for one record; undecodable entries become skips."""
    out: dict[str, object] = {}
    for key, raw in bucket.items():
        name = _text(key)
        if isinstance(raw, BoltBucket):
            skipped.append(Skipped(f"{where}/{name}", "a nested bucket, expected a JSON value"))
            continue
        if not raw:
            continue  # an empty value means "cleared" (e.g. cache.equalMutable after commit)
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            skipped.append(Skipped(f"{where}/{name}", f"invalid JSON: {e}"))
            continue
        if not isinstance(doc, dict):
            skipped.append(Skipped(f"{where}/{name}", f"JSON {type(doc).__name__}, not an object"))
            continue
        out[name] = doc.get("value")
    return out


def parse_cache_records(
    root: BoltBucket,
    snapshots: dict[str, BuildkitSnapshot] | None,
    path: str = "metadata_v2.db",
) -> tuple[dict[str, BuildCacheRecord], list[Skipped]]:
    """Decode an already-parsed ``metadata_v2.db`` (pure): (records by ID, skips).

    ``snapshots`` (None if snapshots.db could not be read) decides ``mutable``, whether a
    record's snapshot still exists, and the fallback size. Size follows the daemon: the
    record's ``snapshot.size``; else that of the immutable record sharing its data (its
    ``cache.equalMutable`` names this record); else the ``size`` cached in snapshots.db for
    the record's snapshot key; else None (the daemon would compute it). A stored -1 is
    BuildKit's "size unknown" marker and counts as absent.
    """
    skipped: list[Skipped] = []
    main = root.bucket(b"_main")
    if main is None:
        return {}, skipped
    raw: dict[str, dict[str, object]] = {}
    for key, bucket in main.items():
        rid = _text(key)
        if not isinstance(bucket, BoltBucket):
            skipped.append(Skipped(f"{path}: _main/{rid}", "a value, expected a record bucket"))
            continue
        raw[rid] = _record_values(bucket, f"{path}: _main/{rid}", skipped)

    # An immutable record with cache.equalMutable shares its mutable partner's data; df shows
    # only the mutable one, with the immutable one's size.
    partner_size: dict[str, int] = {}
    for values in raw.values():
        em = _str(values.get("cache.equalMutable"))
        size = _size(values.get("snapshot.size"))
        if em and size is not None:
            partner_size.setdefault(em, size)

    records: dict[str, BuildCacheRecord] = {}
    for rid, v in raw.items():
        snapshot_key = _str(v.get("cache.snapshot")) or rid
        snap = None if snapshots is None else snapshots.get(snapshot_key) or snapshots.get(rid)
        if snapshots is None:
            exists, mutable = True, None
        elif snapshot_key.startswith("sha256:"):
            exists, mutable = True, False  # an image layer, resolved through the layer store
        else:
            exists = snap is not None
            mutable = snap is not None and not snap.committed and not snap.chain_id

        size = _size(v.get("snapshot.size"))
        if size is None:
            size = partner_size.get(rid)
        if size is None and snap is not None:
            size = snap.size

        parent = _str(v.get("cache.parent")) or None
        parents: tuple[str, ...]
        merge = v.get("cache.mergeParents")
        is_merge = is_diff = False
        upper = _str(v.get("cache.upperDiffParent")) or None
        if parent:
            parents = (parent,)
        elif isinstance(merge, list) and all(isinstance(p, str) for p in merge):
            parents = tuple(p for p in merge if isinstance(p, str) and p)
            is_merge = True
        else:
            diff = (_str(v.get("cache.lowerDiffParent")), upper)
            parents = tuple(p for p in diff if p)
            is_diff = bool(parents)

        usage = _int(v.get("cache.usageCount"))
        equal_mutable = _str(v.get("cache.equalMutable")) or None
        deleted = v.get("cache.deleted") is True
        records[rid] = BuildCacheRecord(
            id=rid,
            snapshot_key=snapshot_key,
            record_type=_str(v.get("cache.recordType")) or "regular",
            description=_str(v.get("cache.description")) or "",
            parent=parent,
            parents=parents,
            size=size,
            created_at=_time(v.get("cache.createdAt")),
            # Go's getLastUsed ignores lastUsedAt when usageCount is missing or invalid.
            last_used_at=_time(v.get("cache.lastUsedAt")) if usage is not None else None,
            usage_count=usage or 0,
            mutable=mutable,
            equal_mutable=equal_mutable,
            chain_id=_str(v.get("cache.chainID")) or None,
            deleted=deleted,
            listed=exists and not deleted and equal_mutable is None,
            blob=_str(v.get("cache.blob")) or None,
            merge=is_merge,
            diff_upper=upper if is_diff else None,
            diff=is_diff,
            committed=v.get("snapshot.committed") is True,
            blob_only=v.get("cache.blobonly") is True,
        )
    return records, skipped


# --- reading the directory -----------------------------------------------------------------


def _load(path: str, skipped: list[Skipped], cap: int) -> BoltBucket | None:
    """Parse one bbolt file; None (and a skip unless it is simply absent) on failure."""
    try:
        return load_bolt(path, cap)
    except FileNotFoundError:
        return None
    except ReaderError as e:
        skipped.append(Skipped(path, str(e)))
        return None


def read_buildkit(root_dir: str, cap: int = DEFAULT_CAP) -> BuildkitState:
    """Read ``<root_dir>/buildkit/`` (``root_dir`` is the Docker data root). Never raises.

    A missing directory or file gives an empty state; an unreadable or corrupt database
    becomes a ``skipped`` (path, reason) entry.
    """
    path = os.path.join(root_dir, "buildkit")
    skipped: list[Skipped] = []
    try:
        st = lstat_or_none(path)
    except OSError as e:
        return BuildkitState(path, False, skipped=[Skipped(path, e.strerror or str(e))])
    if st is None:
        return BuildkitState(path, False)
    if not stat.S_ISDIR(st.st_mode):  # lstat: a symlinked buildkit/ is refused, not followed
        return BuildkitState(path, False, skipped=[Skipped(path, "not a directory")])

    snapshots: dict[str, BuildkitSnapshot] | None = None
    snap_root = _load(os.path.join(path, "snapshots.db"), skipped, cap)
    if snap_root is not None:
        snapshots, skips = parse_snapshots(snap_root, os.path.join(path, "snapshots.db"))
        skipped.extend(skips)

    records: dict[str, BuildCacheRecord] = {}
    md_path = os.path.join(path, "metadata_v2.db")
    md_root = _load(md_path, skipped, cap)
    if md_root is not None:
        records, skips = parse_cache_records(md_root, snapshots, md_path)
        skipped.extend(skips)
    return BuildkitState(path, True, snapshots or {}, records, skipped)


# --- sharing with images (the SHARED column) --------------------------------------------------


def image_chain_ids(diff_id_lists: Iterable[Sequence[str]]) -> frozenset[str]:
    """ChainIDs of every prefix of every image's ``rootfs.diff_ids``.

    ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)).
    """
    out: set[str] = set()
    for diff_ids in diff_id_lists:
        out.update(chain_ids(diff_ids))
    return frozenset(out)


def shared_record_ids(state: BuildkitState, image_chains: AbstractSet[str]) -> frozenset[str]:
    """IDs of listed records that ``docker system df -v`` marks SHARED.

    The daemon's rule (BuildKit ``markShared`` with moby's ``imagerefchecker``): a listed
    record is shared if its layer — the record ID itself when it is ``sha256:<chainID>``,
    else the ``chainid`` in its snapshots.db bucket (looked up by *record ID*) — is a prefix
    of some image's layer chain; then every ancestor along ``parent`` is shared too.
    ``image_chains`` must hold the ChainIDs of every prefix of every image (all images, tagged
    or dangling): see :func:`image_chain_ids`.
    """
    listed = {r.id: r for r in state.records.values() if r.listed}
    shared: set[str] = set()
    for rid in listed:
        if rid in shared:
            continue
        if rid.startswith("sha256:"):
            chain: str | None = rid
        else:
            snap = state.snapshots.get(rid)
            chain = snap.chain_id if snap else None
        if chain is None or chain not in image_chains:
            continue
        cur: str | None = rid
        while cur is not None and cur in listed and cur not in shared:
            shared.add(cur)
            cur = listed[cur].parent
    return frozenset(shared)


def build_cache_usage(state: BuildkitState, shared: AbstractSet[str]) -> BuildCacheUsage:
    """The ``docker system df`` Build Cache row, as the 20.10 CLI computes it, offline.

    SIZE is the sum over listed records not in ``shared`` (unknown sizes count 0); nothing is
    in use offline, so ACTIVE is 0 and RECLAIMABLE equals SIZE.
    """
    listed = state.listed_records()
    size = sum(r.size or 0 for r in listed if r.id not in shared)
    return BuildCacheUsage(total_count=len(listed), active_count=0, size=size, reclaimable=size)


# --- the inventory's view ------------------------------------------------------------------


def _rfc3339(when: datetime | None) -> str | None:
    """`when` as Go's RFC3339Nano writes a UTC time (the API's and config files' form):
    ``Z``, fraction without trailing zeros. Only microseconds: :func:`_time` dropped the rest."""
    if when is None:
        return None
    when = when.astimezone(UTC)
    frac = f"{when.microsecond:06d}".rstrip("0")
    base = when.replace(tzinfo=None).isoformat(timespec="seconds")  # 4-digit year, always
    return base + (f".{frac}" if frac else "") + "Z"


def _record_chain(state: BuildkitState, rid: str) -> str | None:
    """The layer a record stands for, looked up as moby's imagerefchecker does (by record ID:
    the ID itself when it is ``sha256:…``, else its snapshots.db bucket's ``chainid``)."""
    if rid.startswith("sha256:"):
        return rid
    snap = state.snapshots.get(rid)
    return snap.chain_id if snap is not None else None


def _data_dir(state: BuildkitState, key: str) -> str | None:
    """The graphdriver dir holding snapshot `key`'s data (see BuildkitState.graph_dirs)."""
    snap = state.snapshots.get(key)
    if snap is None or not (snap.is_active_key or snap.committed):
        return None
    return snap.data_key


def to_model(
    root_dir: str, image_diff_ids: Iterable[Sequence[str]] = ()
) -> tuple[model.BuildKitInfo, list[Skipped]]:
    """Read ``<root_dir>/buildkit/`` into the inventory model. Never raises.

    ``image_diff_ids`` (every image's ``rootfs.diff_ids``) decides the SHARED flag; without it
    no record is shared. ``records`` holds only what ``docker system df -v`` lists.
    """
    state = read_buildkit(root_dir)
    shared = shared_record_ids(state, image_chain_ids(image_diff_ids))
    # Ownership of storage dirs hangs on snapshots.db: if it (or buildkit/) exists but could
    # not be read, say so rather than let its directories look like orphans.
    snap_path = os.path.join(state.path, "snapshots.db")
    readable = not any(path in (state.path, snap_path) for path, _ in state.skipped)
    records = tuple(
        model.BuildCacheRecord(
            id=r.id,
            snapshot=r.snapshot_key,
            size=r.size,
            record_type=r.record_type,
            description=r.description,
            in_use=False,  # only the daemon's memory knows; nothing is in use at rest
            shared=r.id in shared,
            last_used=_rfc3339(r.last_used_at),
            created=_rfc3339(r.created_at),
            usage_count=r.usage_count,
            parents=r.parents,
            chain_id=_record_chain(state, r.id),
            data_dir=_data_dir(state, r.snapshot_key),
        )
        for r in state.listed_records()
    )
    info = model.BuildKitInfo(
        present=state.present,
        snapshot_keys=state.bucket_names,
        chain_ids=frozenset(s.chain_id for s in state.snapshots.values() if s.chain_id),
        records=records,
        readable=readable,
    )
    return info, list(state.skipped)


def _loads(records: Mapping[str, BuildCacheRecord], data: model.ContainerdData) -> dict[str, bool]:
    """Which records BuildKit's cache manager loads at start (the rest it deletes).

    BuildKit ``cache/manager.go`` ``getRecord`` (as vendored by moby 29.7): a deleted record
    goes; a mutable one (not ``snapshot.committed``, not a merge or diff) needs its snapshot,
    whose key is its ID; a lazy one (``cache.blobonly``) needs its blob in the content store;
    an equal-mutable twin whose mutable is gone needs its own snapshot; and every record needs
    its parents loaded. Immutable snapshots are not looked at.
    """
    loaded: dict[str, bool] = {}
    for rid in records:
        stack = [rid]
        while stack and len(stack) <= len(records) + 1:
            cur = stack[-1]
            if cur in loaded:
                stack.pop()
                continue
            r = records.get(cur)
            if r is None:
                loaded[cur] = False
                stack.pop()
                continue
            deps = [p for p in r.parents if p not in loaded and p not in stack]
            twin = r.equal_mutable
            if twin and twin not in loaded and twin not in stack:
                deps.append(twin)
            if deps:
                stack.extend(deps)
                continue
            stack.pop()
            ok = not r.deleted and all(loaded.get(p, False) for p in r.parents)
            if ok and twin and not loaded.get(twin, False):
                ok = r.snapshot_key in data.snapshots
            elif ok and not twin and not r.committed and not (r.merge or r.diff):
                ok = cur in data.snapshots
            if ok and r.blob_only and r.blob:
                b = data.blobs.get(r.blob)
                ok = b is not None and b.size is not None
            loaded[cur] = ok
        for cur in stack:  # a parent loop: Go would recurse until it fails
            loaded.setdefault(cur, False)
    return loaded


def blob_chain(records: Mapping[str, BuildCacheRecord], rid: str) -> tuple[str, ...]:
    """BuildKit ``layerDigestChain``: the blob digests of a record's layers, lowest first.

    A layer record: its parent's chain and its own blob (``""`` while it has none); a merge:
    its parents' chains one after the other; a diff: its own blob, or its upper parent's
    chain when it has none. Parent loops and missing parents end the chain.
    """
    out: list[str] = []
    todo: list[tuple[str, bool]] = [(rid, False)]
    seen = 0
    while todo and seen < 10 * (len(records) + 1):
        seen += 1
        cur, expanded = todo.pop()
        r = records.get(cur)
        if r is None:
            continue
        if expanded:
            out.append(r.blob or "")
        elif r.diff:
            if r.blob is None and r.diff_upper:
                todo.append((r.diff_upper, False))
            else:
                out.append(r.blob or "")
        elif r.merge:
            todo.extend((p, False) for p in reversed(r.parents))
        else:
            todo.append((cur, True))
            if r.parent:
                todo.append((r.parent, False))
    return tuple(out)


def image_layer_keys(images: Iterable[model.Image]) -> frozenset[str]:
    """The layer lists BuildKit's image checker registers (``snapshot/imagerefchecker``).

    Every present manifest under every image record's target: its ``layers`` digests joined
    (the whole list only, not its prefixes); an empty list registers nothing.
    """
    keys = set()
    for img in images:
        for m in img.manifests:
            if m.present and m.layers:
                keys.add("".join(m.layers))
    return frozenset(keys)


def shared_in_containerd(
    records: Mapping[str, BuildCacheRecord], listed: AbstractSet[str], image_keys: AbstractSet[str]
) -> frozenset[str]:
    """Listed records ``docker system df -v`` marks SHARED in the containerd image store.

    BuildKit ``markShared`` with its own image checker: a record whose blob chain, joined,
    is exactly some image manifest's layer list is shared, and so is every ancestor of it.
    """
    shared: set[str] = set()
    for rid in sorted(listed):
        if rid in shared or "".join(blob_chain(records, rid)) not in image_keys:
            continue
        todo = [rid]
        while todo:
            cur = todo.pop()
            if cur in listed and cur not in shared:
                shared.add(cur)
                todo.extend(records[cur].parents)
    return frozenset(shared)


def containerd_records(
    records: Mapping[str, BuildCacheRecord],
    data: model.ContainerdData,
    images: Iterable[model.Image] = (),
) -> tuple[model.BuildCacheRecord, ...]:
    """The records ``docker system df -v`` lists in the containerd image store (pure).

    Those BuildKit loads (:func:`_loads`) but an equal-mutable twin; SHARED by
    :func:`shared_in_containerd`; the size from the metadata, else the usage containerd
    recorded for a committed snapshot (what BuildKit would ask it), else None.
    """
    loaded = _loads(records, data)
    listed = {rid for rid, r in records.items() if loaded.get(rid) and not r.equal_mutable}
    shared = shared_in_containerd(records, listed, image_layer_keys(images))
    rows: list[model.BuildCacheRecord] = []
    for rid in sorted(listed):
        r = records[rid]
        snap = data.snapshots.get(r.snapshot_key)
        size = r.size
        if size is None and snap is not None and snap.kind == "committed":
            size = snap.size
        own = snap is not None and not r.snapshot_key.startswith("sha256:")
        rows.append(
            model.BuildCacheRecord(
                id=rid,
                snapshot=r.snapshot_key,
                size=size,
                record_type=r.record_type,
                description=r.description,
                in_use=False,  # only the daemon's memory knows; nothing is in use at rest
                shared=rid in shared,
                last_used=_rfc3339(r.last_used_at),
                created=_rfc3339(r.created_at),
                usage_count=r.usage_count,
                parents=r.parents,
                chain_id=r.snapshot_key if r.snapshot_key.startswith("sha256:") else r.chain_id,
                data_dir=snap.snapshot_id if own and snap is not None else None,
            )
        )
    return tuple(rows)


def to_model_containerd(
    root_dir: str,
    data: model.ContainerdData,
    images: Iterable[model.Image] = (),
    cap: int = DEFAULT_CAP,
) -> tuple[model.BuildKitInfo, list[Skipped]]:
    """BuildKit's state in the containerd image store (Docker 29's default). Never raises.

    ``<root_dir>/buildkit/containerd-<snapshotter>/metadata_v2.db`` holds the records;
    their snapshots live in containerd (`data`, namespace moby). ``snapshot_keys`` and
    ``record_ids`` name every record, deleted ones too (BuildKit removes those, with their
    leases, at its next start: until then they hold their snapshots). ``records`` are those
    ``docker system df -v`` lists (:func:`containerd_records`). ``readable`` is False when
    the file exists but cannot be read (ownership is then unknown).
    """
    path = os.path.join(root_dir, "buildkit")
    skipped: list[Skipped] = []
    try:
        st = lstat_or_none(path)
    except OSError as e:
        return model.BuildKitInfo(readable=False), [Skipped(path, e.strerror or str(e))]
    if st is None:
        return model.BuildKitInfo(), skipped
    if not stat.S_ISDIR(st.st_mode):
        return model.BuildKitInfo(readable=False), [Skipped(path, "not a directory")]
    md_path = os.path.join(path, f"containerd-{data.snapshotter}", "metadata_v2.db")
    md_root = _load(md_path, skipped, cap)
    records: dict[str, BuildCacheRecord] = {}
    if md_root is not None:
        records, skips = parse_cache_records(md_root, None, md_path)
        skipped.extend(skips)
    rows = containerd_records(records, data, images)
    info = model.BuildKitInfo(
        present=True,
        snapshot_keys=frozenset(r.snapshot_key for r in records.values()),
        chain_ids=frozenset(r.chain_id for r in records.values() if r.chain_id),
        records=rows,
        readable=not any(s.path == md_path for s in skipped),
        record_ids=frozenset(records),
    )
    return info, skipped
