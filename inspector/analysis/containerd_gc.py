"""What keeps containerd's objects from its garbage collector (pure, no I/O).

containerd deletes a content blob or a snapshot when no *root* reaches it (containerd
``metadata/gc.go``, the same rules in 1.6 and 2.x for what Docker uses):

- roots: every image record (its target blob, and its ``containerd.io/gc.ref.*`` labels);
  every container record with a snapshotter (its snapshot key); every lease that has not
  expired (``containerd.io/gc.expire``, RFC 3339) with the blobs, snapshots and ingests it
  lists; every blob or snapshot labelled ``containerd.io/gc.root``;
- edges: a blob's ``containerd.io/gc.ref.content[.<name>]`` and
  ``containerd.io/gc.ref.snapshot.<snapshotter>[/<name>]`` labels (the unpacked chain of an
  image hangs on its config blob's snapshot label); a snapshot's parent, and its labels;
- a *flat* lease (``containerd.io/gc.flat``, BuildKit's) keeps its objects and their parent
  snapshots, not what their labels reference.

:func:`mark` walks from the roots once and says, for every object reached, which root
reached it first (a :class:`Keeper`): that is "what keeps it alive" in the findings. An
object no root reaches is what the next collection frees.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from inspector.model import ContainerdData

GC_ROOT = "containerd.io/gc.root"
GC_EXPIRE = "containerd.io/gc.expire"
GC_FLAT = "containerd.io/gc.flat"
REF_CONTENT = "containerd.io/gc.ref.content"
REF_SNAPSHOT = "containerd.io/gc.ref.snapshot."
#: Objects visited at most (a hostile meta.db cannot make the walk endless).
MAX_VISITS = 2_000_000


@dataclass(frozen=True, slots=True)
class Keeper:
    """The root that keeps an object from containerd's garbage collector."""

    kind: str
    """image | container | lease | label: an image record, a container record, a lease, or
    a ``containerd.io/gc.root`` label."""
    name: str
    """The image name, container ID, lease ID, or the labelled object (``snapshot <key>``,
    ``blob <digest>``)."""
    via: str = ""
    """The object the root holds directly, when the kept object hangs below it ("" when the
    root holds this object itself)."""
    expires: str = ""
    """A lease's ``containerd.io/gc.expire`` ("" when it never expires)."""

    def text(self) -> str:
        """In words, for a finding's detail."""
        if self.kind == "label":
            what = (
                f"its {GC_ROOT} label"
                if not self.via
                else f"the {GC_ROOT} label of {self.name} above it"
            )
            return what
        if self.kind == "lease":
            what = f"lease {self.name}"
            if self.expires:
                what += f" (until {self.expires}, when it expires)"
        elif self.kind == "image":
            what = f"image record {self.name}"
        else:
            what = f"containerd's container record {self.name}"
        return what + (f", through {self.via}" if self.via else "")


@dataclass(frozen=True, slots=True)
class Marks:
    """What containerd's garbage collector would keep, and by which root."""

    snapshots: dict[str, Keeper] = field(default_factory=dict)
    """Snapshot key (of the store's snapshotter) → its keeper."""
    content: dict[str, Keeper] = field(default_factory=dict)
    """Blob digest → its keeper."""
    ingests: dict[str, Keeper] = field(default_factory=dict)
    """Ingest ref → the lease holding it."""
    expired: dict[str, str] = field(default_factory=dict)
    """Lease ID → its expiry, for leases past it (no longer roots)."""


def _expiry(value: str) -> datetime | None:
    """An RFC 3339 time as Go's time.Parse accepts it (None when unparseable: no expiry)."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _refs(labels: Mapping[str, str], snapshotter: str) -> tuple[list[str], list[str]]:
    """(blob digests, snapshot keys of `snapshotter`) a labels map references."""
    blobs: list[str] = []
    snaps: list[str] = []
    for k in sorted(labels):
        v = labels[k]
        if k == REF_CONTENT or (k.startswith(REF_CONTENT) and k[len(REF_CONTENT)] in "./"):
            blobs.append(v)
        elif k.startswith(REF_SNAPSHOT):
            name = k[len(REF_SNAPSHOT) :].split("/", 1)[0]
            if name == snapshotter:
                snaps.append(v)
    return blobs, snaps


def mark(data: ContainerdData, now: float) -> Marks:
    """Walk containerd's references from its roots (see the module doc).

    `now` (seconds since the epoch; 0: unknown) decides which leases have expired.
    """
    marks = Marks()
    # (type, key, keeper, flat): "c" a blob, "s" a snapshot.
    todo: deque[tuple[str, str, Keeper, bool]] = deque()
    sn = data.snapshotter

    for name in sorted(data.image_records):
        rec = data.image_records[name]
        k = Keeper("image", name)
        todo.append(("c", rec.digest, k, False))
        blobs, snaps = _refs(rec.labels, sn)
        todo.extend(("c", d, replace(k, via="its labels"), False) for d in blobs)
        todo.extend(("s", s, replace(k, via="its labels"), False) for s in snaps)
    for cid in sorted(data.containers):
        if data.containers[cid]:
            todo.append(("s", data.containers[cid], Keeper("container", cid), False))
    when = datetime.fromtimestamp(now, UTC) if now else None
    for lid in sorted(data.leases):
        lease = data.leases[lid]
        exp_text = lease.labels.get(GC_EXPIRE, "")
        exp = _expiry(exp_text) if exp_text else None
        if exp is not None and when is not None and when > exp:
            marks.expired[lid] = exp_text
            continue
        k = Keeper("lease", lid, expires=exp_text if exp is not None else "")
        flat = GC_FLAT in lease.labels
        todo.extend(("c", d, k, flat) for d in lease.content)
        todo.extend(("s", s, k, flat) for s in lease.snapshots)
        for ref in lease.ingests:
            marks.ingests.setdefault(ref, k)
    for dgst in sorted(data.blobs):
        if GC_ROOT in data.blobs[dgst].labels:
            todo.append(("c", dgst, Keeper("label", f"blob {dgst}"), False))
    for key in sorted(data.snapshots):
        if GC_ROOT in data.snapshots[key].labels:
            todo.append(("s", key, Keeper("label", f"snapshot {key}"), False))

    visits = 0
    while todo and visits < MAX_VISITS:
        visits += 1
        typ, key, keeper, flat = todo.popleft()
        if typ == "c":
            if key in marks.content:
                continue
            marks.content[key] = keeper
            blob = data.blobs.get(key)
            if blob is None or flat:
                continue
            below = replace(keeper, via=keeper.via or f"blob {key}")
            blobs, snaps = _refs(blob.labels, sn)
            todo.extend(("c", d, below, False) for d in blobs)
            todo.extend(("s", s, below, False) for s in snaps)
        else:
            if key in marks.snapshots:
                continue
            marks.snapshots[key] = keeper
            snap = data.snapshots.get(key)
            if snap is None:
                continue
            below = replace(keeper, via=keeper.via or f"snapshot {key}")
            if snap.parent:
                todo.append(("s", snap.parent, below, flat))
            if not flat:
                blobs, snaps = _refs(snap.labels, sn)
                todo.extend(("c", d, below, False) for d in blobs)
                todo.extend(("s", s, below, False) for s in snaps)
    return marks


__all__ = ["GC_EXPIRE", "GC_FLAT", "GC_ROOT", "Keeper", "Marks", "mark"]
