"""Findings of the containerd image store: leaked snapshots and content, partial downloads.

Pure functions over an Inventory whose images live in containerd (see inspector.analysis.
containerd). Each kind has one pinned path (README "Findings"):

- ``orphan_snapshot``: a ``snapshots/<n>`` dir the snapshotter's ``metadata.db`` does not know
  (or knows while no namespace of meta.db does): that dir;
- ``unreferenced_snapshot``: a snapshot no image chain, container or BuildKit record uses
  (views aside): its ``snapshots/<n>`` dir; the detail says what keeps it alive (a lease, a
  ``containerd.io/gc.root`` label) or that containerd's GC frees it;
- ``orphan_content``: a blob file no namespace of meta.db has a record of: the file;
- ``unreferenced_content``: a blob record nothing reaches (what containerd's GC frees): the file;
- ``incomplete_download``: an ``ingest/<x>`` dir: that dir;
- ``missing_snapshot``: a container whose snapshot is gone: ``containers/<id>``;
- ``size_mismatch`` (``--full``): a committed image snapshot whose ``fs`` no longer holds the
  usage recorded at commit: that ``fs`` dir.

Which of these persist when containerd stops and starts (containerd 1.6; shared/docker-format.md
§11): a snapshot dir or blob file containerd does not know survives its GC passes and is
deleted only the next time containerd removes a snapshot (resp. content); a partial download
survives GC while a lease or an ingest record holds it; unreferenced records are what its next
collection frees (it runs when containerd starts, and after every removal). Remedies are
``docker``/``ctr`` commands, or a manual procedure with containerd stopped — never an ``rm``
while it runs.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime

from inspector.analysis.containerd import Ctrd, buildkit_shaped, fs_dir, snapshot_dir
from inspector.analysis.containerd_gc import GC_ROOT
from inspector.analysis.results import Finding, Kind, Severity
from inspector.model import LIVE_SLACK_SECONDS, Inventory, Usage

#: Where dockerd's own containerd listens (``<exec-root>/containerd/containerd.sock``, exec root
#: /var/run/docker by default); the system containerd's default socket needs no ``-a``.
DOCKERD_CONTAINERD_SOCK = "/var/run/docker/containerd/containerd.sock"
#: Snapshot categories that mean "in use" (see Ctrd.snapshot_owner).
USED = frozenset({"image_layers", "container_layers", "build_cache"})
#: Container states whose snapshot may be gone on purpose (a removal in progress or failed).
REMOVING_STATES = frozenset({"dead", "removing"})


def q(word: str) -> str:
    """`word` quoted for a POSIX shell (names are hostile)."""
    return shlex.quote(word)


def dockerds_own(ctrd: Ctrd) -> bool:
    """Whether the containerd is the one dockerd starts itself (its root in the data root)."""
    return ctrd.data.root == os.path.join(ctrd.inv.root.path, "containerd", "daemon")


def ctr(ctrd: Ctrd) -> str:
    """The ``ctr`` command line that talks to this containerd, in namespace moby."""
    sock = f"-a {DOCKERD_CONTAINERD_SOCK} " if dockerds_own(ctrd) else ""
    return f"ctr {sock}-n {q(ctrd.data.namespace)}"


def manual(ctrd: Ctrd, path: str) -> str:
    """Removing a path containerd does not track, by hand (only with containerd stopped)."""
    stop = (
        "systemctl stop docker docker.socket, which stops its own containerd too"
        if dockerds_own(ctrd)
        else "systemctl stop docker docker.socket containerd"
    )
    return (
        f"By hand: stop the daemons ({stop}); back up {q(path)}, run docker-inspector again to "
        "confirm the finding, then delete that path only and start them again. WARNING: "
        "deleting anything under containerd's root while containerd runs corrupts its store."
    )


def _utc(when: float) -> str:
    """Seconds since the epoch as RFC 3339 UTC (what containerd's labels write)."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Ctx:
    """What every producer needs: the inventory, its containerd numbers, the live slack."""

    def __init__(self, inv: Inventory, ctrd: Ctrd) -> None:
        self.inv = inv
        self.ctrd = ctrd
        self.data = ctrd.data
        self.meas = ctrd.meas

    def recent(self, mtime: float) -> bool:
        """Changed while (or just before) the scan: a live containerd's work, not judged."""
        start = self.inv.scan_started
        return bool(start) and mtime >= start - LIVE_SLACK_SECONDS

    def snapshot_usage(self, snapshot_id: str) -> tuple[Usage, bool]:
        """(the dir's measured bytes, fs and the rest, whether it was measured)."""
        path = snapshot_dir(self.data, snapshot_id) or ""
        fs = fs_dir(self.data, snapshot_id) or ""
        u = self.meas.of(fs) + self.meas.of(path)
        return u, path in self.meas.usage or fs in self.meas.usage


def orphan_snapshots(c: _Ctx) -> Iterator[Finding]:
    """``snapshots/<n>`` dirs the snapshotter's metadata.db does not know."""
    data = c.data
    known = {s.snapshot_id for s in data.snapshots.values() if s.snapshot_id}
    known |= data.foreign_snapshot_ids
    for name in sorted(c.inv.storage_dirs):
        d = c.inv.storage_dirs[name]
        if name in known or c.recent(d.mtime) or c.recent(data.meta_mtime):
            # A dir just changed, or metadata containerd just wrote: a live containerd
            # removes a snapshot's records first and its dir after (at its next collection,
            # or once its transaction is synced: seconds under load). Not judged now.
            continue
        u, measured = c.snapshot_usage(name)
        fs_u = c.meas.of(fs_dir(data, name))
        if name in data.untracked_snapshots:
            why = (
                f"the snapshotter's metadata.db has a snapshot with this ID (key "
                f"{data.untracked_snapshots[name]}), but no namespace of containerd's meta.db "
                "names it: containerd's metadata lost track of it"
            )
            conf = "likely"
        elif name.startswith("new-"):
            why = (
                "a staging dir of the overlayfs snapshotter (snapshots/new-*): creating a "
                "snapshot was interrupted before the dir was renamed to its ID"
            )
            conf = "certain"
        else:
            why = f"the {data.snapshotter} snapshotter's metadata.db has no snapshot with ID {name}"
            conf = "certain"
        yield Finding(
            Kind.ORPHAN_SNAPSHOT,
            Severity.WARNING,
            d.path,
            fs_u.disk,
            u.disk,
            f"{why}; no image, container or lease can use it (counted: containerd's usage of "
            "its fs/, i.e. allocated bytes)",
            "containerd deletes it itself the next time it removes any snapshot (its snapshotter "
            "then removes every dir its metadata.db does not know): e.g. docker container rm of "
            "a container you no longer need, or docker image prune; a restart alone does not. "
            + manual(c.ctrd, d.path),
            confidence=conf,
            object_id=name,
            bytes_known=measured,
        )


def _children(c: _Ctx, key: str) -> list[str]:
    return sorted(k for k, s in c.data.snapshots.items() if s.parent == key)


def unreferenced_snapshots(c: _Ctx) -> Iterator[Finding]:
    """Snapshots Docker does not use (no image chain, container or BuildKit record)."""
    data = c.data
    owner = c.ctrd.snapshot_owner()
    marks = c.ctrd.gc_marks()
    bk = c.inv.buildkit
    for key in sorted(data.snapshots):
        s = data.snapshots[key]
        if owner.get(key) in USED or s.kind == "view" or s.snapshot_id is None:
            continue  # a view is a short-lived read-only mount (docker cp, export): not a leak
        d = c.inv.storage_dirs.get(s.snapshot_id)
        if d is None or c.recent(d.mtime):
            continue
        keeper = marks.snapshots.get(key)
        u, measured = c.snapshot_usage(s.snapshot_id)
        usage = c.ctrd.usage(key)
        conf = "likely"
        if keeper is None:
            expired = sorted(lid for lid in marks.expired if key in data.leases[lid].snapshots)
            alive = (
                "nothing keeps it: containerd's garbage collector removes it at its next run "
                "(when containerd starts, or after any removal)"
            )
            if expired:
                alive = (
                    f"lease {expired[0]} that held it has expired: containerd's garbage "
                    "collector removes it at its next run"
                )
            sev = Severity.INFO
        else:
            alive = "kept alive by " + keeper.text()
            sev = Severity.INFO if keeper.expires else Severity.WARNING
            lease = data.leases.get(keeper.name) if keeper.kind == "lease" else None
            if lease is not None and bk.readable and buildkit_shaped(lease.id, lease.labels):
                alive += (
                    "; the lease is shaped like BuildKit's (a record ID, flat) but BuildKit's "
                    "metadata_v2.db has no such record"
                )
                conf = "low"
        above = _children(c, key)
        first = (
            f", after the snapshots on top of it ({', '.join(above[:5])}: findings too)"
            if above
            else ""
        )
        remedy = (
            f"Remove it with containerd's own command{first}: {ctr(c.ctrd)} "
            f"snapshots --snapshotter {q(data.snapshotter)} rm {q(key)}"
        )
        if keeper is not None and keeper.kind == "lease" and not keeper.via:
            remedy += (
                "; or drop what holds it, if the lease holds nothing else you need: "
                f"{ctr(c.ctrd)} leases rm {q(keeper.name)}"
            )
        if keeper is None or keeper.expires:
            remedy = (
                "Nothing to do: containerd frees it by itself (see the detail). Or now: " + remedy
            )
        yield Finding(
            Kind.UNREFERENCED_SNAPSHOT,
            sev,
            d.path,
            usage or 0,
            u.disk,
            f"snapshot {key} ({s.kind}, dir {s.snapshot_id}) is in no image's layer chain and is "
            f"no container's or BuildKit record's; {alive}",
            remedy,
            confidence=conf,
            object_id=key,
            bytes_known=usage is not None and measured,
        )


def orphan_content(c: _Ctx) -> Iterator[Finding]:
    """Blob files no namespace of meta.db has a record of."""
    data = c.data
    for dgst in sorted(data.blobs):
        b = data.blobs[dgst]
        if b.size is not None or b.file_size is None or dgst in data.foreign_blobs:
            continue
        if c.recent(b.mtime):
            continue  # a download finishing: the file is renamed in before its record is made
        yield Finding(
            Kind.ORPHAN_CONTENT,
            Severity.WARNING,
            b.path,
            b.file_size,
            b.disk,
            f"blob file {dgst} has no record in any namespace of containerd's meta.db: "
            "containerd does not know it (ctr content ls does not list it) and nothing can use "
            "it",
            "containerd deletes it itself the next time its garbage collector removes any "
            "content (every blob file without a record goes then): e.g. after docker image rm or "
            "docker image prune of an image whose blobs go; a restart alone does not. "
            + manual(c.ctrd, b.path),
            object_id=dgst,
        )


def unreferenced_content(c: _Ctx) -> Iterator[Finding]:
    """Blob records nothing reaches: what containerd's garbage collector frees next."""
    data = c.data
    marks = c.ctrd.gc_marks()
    for dgst in sorted(data.blobs):
        b = data.blobs[dgst]
        if b.size is None or b.file_size is None or dgst in marks.content:
            continue
        if c.recent(b.mtime):
            continue
        expired = sorted(lid for lid in marks.expired if dgst in data.leases[lid].content)
        why = f"; lease {expired[0]} that held it has expired" if expired else ""
        yield Finding(
            Kind.UNREFERENCED_CONTENT,
            Severity.INFO,
            b.path,
            b.file_size,
            b.disk,
            f"blob {dgst} has a record, but no image, container, lease or other blob references "
            f"it, and it has no {GC_ROOT} label{why}: containerd's garbage collector deletes it "
            "at its next run (when containerd starts, or after any removal)",
            "Nothing to do: containerd frees it by itself. Or now: "
            f"{ctr(c.ctrd)} content rm {q(dgst)}",
            confidence="likely",
            object_id=dgst,
        )


def incomplete_downloads(c: _Ctx) -> Iterator[Finding]:
    """``ingest/<x>`` dirs: downloads that were started and not finished."""
    data = c.data
    marks = c.ctrd.gc_marks()
    for path in sorted(data.ingest_info):
        ing = data.ingest_info[path]
        if c.recent(ing.mtime):
            continue  # a download in progress
        u = c.meas.of(path)
        got = "" if ing.data is None else f"{ing.data} bytes received"
        if got and ing.total:
            got += f" of {ing.total}"
        # The ref file holds the metadata layer's backend ref: <namespace>/<n>/<ref>.
        ns, _, rest = ing.ref.partition("/")
        ref = rest.partition("/")[2] or ing.ref
        keeper = marks.ingests.get(ref) if ns == data.namespace else None
        expires = data.ingest_records.get(ing.ref)
        if ns != data.namespace and ref != ing.ref:
            held = f"it belongs to namespace {ns}, whose records are not read"
        elif keeper is not None:
            held = f"containerd keeps it while {keeper.text()} holds it"
        elif ing.ref in data.ingest_records and (
            expires is None or not c.inv.scan_started or expires > c.inv.scan_started
        ):
            until = "" if expires is None else f" until {_utc(expires)}"
            held = (
                f"containerd's meta.db tracks it as an active download{until}; then its next "
                "content clean-up aborts it"
            )
        else:
            held = (
                "no record of meta.db tracks it (any more): containerd aborts it at its next "
                "content clean-up (after its garbage collector removes any content)"
            )
        yield Finding(
            Kind.INCOMPLETE_DOWNLOAD,
            Severity.WARNING,
            path,
            u.apparent,
            u.disk,
            f"partial download {ref or '(no ref file)'!r}"
            + (f" ({got})" if got else "")
            + f"; {held}",
            "If a docker pull (or load) was interrupted, run it again: containerd resumes this "
            "download from the bytes it has and the partial file goes when it completes. "
            f"{ctr(c.ctrd)} content active lists the downloads in progress. "
            + manual(c.ctrd, path),
            object_id=ref or os.path.basename(path),
            bytes_known=path in c.meas.usage,
        )


def missing_snapshots(c: _Ctx) -> Iterator[Finding]:
    """Containers whose snapshot is gone (their filesystem is lost)."""
    data = c.data
    for cid in sorted(c.inv.containers):
        ctr_ = c.inv.containers[cid]
        if ctr_.state in REMOVING_STATES:
            continue  # Docker removes the snapshot before the container's dir on purpose
        s = data.snapshots.get(cid)
        if s is None:
            why = (
                f"containerd's meta.db has no snapshot {cid} (namespace {data.namespace}, "
                f"snapshotter {data.snapshotter})"
            )
        elif s.snapshot_id is None:
            why = (
                f"meta.db names its snapshot (backend key {s.backend_key}), but the "
                f"{data.snapshotter} snapshotter's metadata.db has no such snapshot"
            )
        elif s.snapshot_id not in c.inv.storage_dirs:
            why = f"its snapshot dir {snapshot_dir(data, s.snapshot_id)} does not exist"
        elif not c.inv.storage_dirs[s.snapshot_id].has_diff:
            why = f"its snapshot dir {snapshot_dir(data, s.snapshot_id)} has no fs/"
        else:
            continue
        yield Finding(
            Kind.MISSING_SNAPSHOT,
            Severity.ERROR,
            ctr_.dir,
            0,
            0,
            f"container {ctr_.name} ({ctr_.state}) has lost its filesystem: {why}; it cannot "
            "start again",
            f"docker container rm -f {q(cid[:12])}, then create it again from its image "
            f"({ctr_.image_ref or ctr_.image_id or 'unknown'}); what it wrote is gone",
            object_id=cid,
            reclaimable=False,
        )


def size_mismatches(c: _Ctx) -> Iterator[Finding]:
    """``--full``: committed image snapshots whose ``fs`` no longer holds their recorded usage.

    The snapshotter records a snapshot's usage when it is committed (containerd's
    ``fs.DiskUsage``: st_blocks * 512 of its ``fs``, each inode once, directories included)
    and never again: a committed snapshot does not change.
    """
    data = c.data
    for ch in sorted(c.inv.layers):
        layer = c.inv.layers[ch]
        walk = c.meas.layer_walks.get(layer.cache_id)
        if layer.size is None or walk is None or not walk.complete or walk.disk == layer.size:
            continue
        path = fs_dir(data, layer.cache_id) or ""
        u, _ = c.snapshot_usage(layer.cache_id)
        yield Finding(
            Kind.SIZE_MISMATCH,
            Severity.WARNING,
            path,
            walk.disk,
            u.disk,
            f"snapshot {ch} (dir {layer.cache_id}): the {data.snapshotter} snapshotter's "
            f"metadata.db records its usage as {layer.size} bytes (measured when it was "
            f"committed), but its fs/ holds {walk.disk} allocated bytes now "
            f"({walk.disk - layer.size:+d}). A committed snapshot never changes: files in it "
            "were changed, added or lost since (disk corruption, an interrupted restore, a "
            "manual edit), or the root was copied onto another filesystem, which allocates "
            "differently.",
            "If the root was not copied: remove the images that use this layer (docker image "
            "rm …) and pull them again, and check the filesystem (fsck). After a copy onto "
            "another filesystem the recorded numbers are the old filesystem's: nothing is wrong.",
            confidence="likely",
            object_id=ch,
            reclaimable=False,
        )


def findings(inv: Inventory, ctrd: Ctrd) -> Iterator[Finding]:
    """Every containerd-store finding (one producer after another, each in path order)."""
    c = _Ctx(inv, ctrd)
    yield from orphan_snapshots(c)
    yield from unreferenced_snapshots(c)
    yield from orphan_content(c)
    yield from unreferenced_content(c)
    yield from incomplete_downloads(c)
    yield from missing_snapshots(c)
    if ctrd.meas.full:
        yield from size_mismatches(c)


__all__ = [
    "findings",
    "incomplete_downloads",
    "missing_snapshots",
    "orphan_content",
    "orphan_snapshots",
    "size_mismatches",
    "unreferenced_content",
    "unreferenced_snapshots",
]
