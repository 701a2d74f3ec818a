"""Findings of the containerd image store, on roots a real containerd 1.6 made.

The healthy root is the shared containerd scenario (containers, their ``-init`` snapshots,
BuildKit's records and leases, views): it must give none of these findings. The faulty root
is a copy of it into which each fault class was put, the way it happens: through containerd
(a snapshot kept by a lease or a ``containerd.io/gc.root`` label, an image removed and its
containerd stopped before its garbage collector ran, a download cut off, a container's snapshot
removed), then, once it stopped, on disk (a snapshot dir and a blob file containerd does not
know, a container's snapshot dir gone). Every number is containerd's own (``ctr``, its gRPC
API) or the reference walker's. Then containerd runs again on copies of that root: what it
frees by itself is what the findings say it frees, and their remedies work.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import refwalk
from containerdlab import (
    CtrScenario,
    CtrTruth,
    PrivateContainerd,
    chain_ids,
    gc_now,
    interrupted_ingest,
    oci_archive,
    platform_image,
    record_truth,
    top_chain,
)
from dockerlab import copy_tree

from inspector import pipeline
from inspector.analysis.results import Finding, Kind, Report

KINDS = {
    Kind.ORPHAN_SNAPSHOT,
    Kind.UNREFERENCED_SNAPSHOT,
    Kind.ORPHAN_CONTENT,
    Kind.UNREFERENCED_CONTENT,
    Kind.INCOMPLETE_DOWNLOAD,
    Kind.MISSING_SNAPSHOT,
}
SNAPSHOTS = "io.containerd.snapshotter.v1.overlayfs/snapshots"
BLOBS = "io.containerd.content.v1.content/blobs/sha256"
#: A snapshot ID containerd never gave (its IDs count up from 1).
ORPHAN_ID = "9999"
STRAY_LEASE = "strayb0000000000000000001"


def run(root: Path) -> Report:
    return pipeline.run(str(root), pipeline.Options(cache=False))


def of(report: Report, kind: Kind) -> dict[str, Finding]:
    return {f.path: f for f in report.findings if f.kind is kind}


# ------------------------------------------------------------------------ the healthy root


@pytest.fixture(scope="module")
def healthy(containerd_scenario: CtrScenario) -> Report:
    return run(containerd_scenario.data_root)


def test_healthy_root_has_no_containerd_finding(healthy: Report) -> None:
    assert not [(f.kind, f.path) for f in healthy.findings if f.kind in KINDS]


def test_every_snapshot_has_a_user(containerd_scenario: CtrScenario, healthy: Report) -> None:
    """Each snapshot containerd lists belongs to an image, a container or BuildKit."""
    sc = containerd_scenario
    assert healthy.inventory.containerd is not None
    from inspector.analysis.containerd import Ctrd

    assert healthy.measurements is not None
    owner = Ctrd(healthy.inventory, healthy.measurements).snapshot_owner()
    assert set(owner) == set(sc.truth.snapshots)
    for cid in sc.containers.values():
        assert owner[cid] == owner[f"{cid}-init"] == "container_layers"
    # BuildKit's records (a real BuildKit's metadata_v2.db) and their leases in containerd.
    assert len(sc.buildkit) >= 5
    for rid, key in sc.buildkit.items():
        assert owner[key] == "build_cache", rid
        assert rid in sc.truth.leases
    # Views belong with what they show: BuildKit's with its record, Docker's with the image.
    assert owner["bk-view"] == "build_cache"
    assert owner["docker-view"] == "image_layers"
    assert sc.truth.snapshots["docker-view"][1] == "View"
    cats = {c.name: c.disk for c in healthy.totals.categories}
    assert cats["build_cache"] >= sum(sc.truth.usage[k][0] for k in sc.buildkit.values())


def test_every_byte_is_in_a_category(containerd_scenario: CtrScenario, healthy: Report) -> None:
    """The categories add up to every allocated byte under the root (the containerd root
    inside it included), each inode once: what ``du`` counts below the root's own dir."""
    root = containerd_scenario.data_root
    below = sum(refwalk.measure(str(p)).disk for p in root.iterdir())
    assert sum(c.disk for c in healthy.totals.categories) == healthy.totals.disk_total == below
    ctrd = refwalk.measure(str(containerd_scenario.containerd_root)).disk
    cats = {c.name: c.disk for c in healthy.totals.categories}
    # Nothing of containerd's is left to "other": its dirs are content, snapshots (images,
    # containers, BuildKit) or metadata.
    assert cats["other"] < ctrd and cats["orphans"] == cats["unused_layers"] == 0


# ------------------------------------------------------------------------ the faulty root


@dataclass
class Faults:
    root: Path
    croot: Path
    truth: CtrTruth
    """containerd's view of it, recorded before it stopped (before the on-disk faults)."""
    ingest: tuple[str, int, int]
    """The cut-off download: ref, bytes received, bytes expected (containerd's statuses)."""
    gone_blobs: set[str]
    """Blobs of the image removed while its garbage collector did not run."""
    gone_chain: list[str]
    orphan_blob: Path
    containers: dict[str, str]
    job_dir: Path
    """The snapshot dir of the container whose snapshot record containerd removed."""


def _write(upper: Path, name: str, size: int) -> None:
    (upper / name).write_bytes(os.urandom(size))


def age(croot: Path, seconds: float = 3600) -> None:
    """Date every snapshot dir, blob file and download back: faults from the past.

    (What changed within two seconds of a scan is a live containerd's work and not judged.)
    """
    when = os.stat(croot).st_mtime - seconds
    for sub in (SNAPSHOTS, BLOBS, "io.containerd.content.v1.content/ingest"):
        top = croot / sub
        for entry in top.iterdir() if top.is_dir() else ():
            os.utime(entry, (when, when), follow_symlinks=False)
    # Its metadata too: written just now, it is a live containerd's, mid-removal.
    for db in ("io.containerd.metadata.v1.bolt/meta.db", f"{SNAPSHOTS}/../metadata.db"):
        os.utime(croot / db, (when, when))


@pytest.fixture(scope="module")
def faults(
    containerd_scenario: CtrScenario, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Faults]:
    sc = containerd_scenario
    base = tmp_path_factory.mktemp("ctrd-faults")
    root = base / "root"
    copy_tree(sc.data_root, root)
    croot = root / "containerd" / "daemon"
    chain = top_chain(croot, sc.manifests["busybox:base"])
    # Its garbage collector runs only when asked: it stops between a removal and a collection.
    lab = PrivateContainerd(base / "lab", croot, auto_gc=False)
    lab.start()
    try:
        g = lab.grpc
        # Kept by a gc.root label (ctr snapshots prepare adds one).
        lab.ctr("snapshots", "--snapshotter", "overlayfs", "prepare", "leak-gcroot", chain)
        _write(Path(g.mounts("leak-gcroot")[0].upper), "kept-by-label.bin", 50_000)
        # Kept by a lease (the leak class: the lease outlived its purpose).
        g.lease_create("leak-lease")
        _write(Path(g.prepare("leak-active", chain, lease="leak-lease")[0].upper), "a", 70_000)
        g.commit("leak-committed", "leak-active", lease="leak-lease")
        # A lease shaped like BuildKit's that BuildKit has no record of.
        g.lease_create(STRAY_LEASE, {"containerd.io/gc.flat": "2023-11-14T22:13:20Z"})
        _write(Path(g.prepare(STRAY_LEASE, chain, lease=STRAY_LEASE)[0].upper), "s", 30_000)
        # An image removed, and containerd stopped before its collector ran.
        gone = platform_image("amd64", [{"gone/a.bin": b"gone one\n" * 4000}, {"gone/b": b"2"}])
        oci_archive(base / "gone.tar", {"docker.io/library/gone:1": gone.manifest}, gone.blobs())
        lab.import_tar(base / "gone.tar")
        lab.ctr("images", "rm", "docker.io/library/gone:1")
        # A download cut off after its first MiB.
        payload = os.urandom(3_000_000)
        interrupted_ingest(lab, "pull-cut-off", payload, 1_500_000)
        received, total = g.statuses()["pull-cut-off"]
        # A container's snapshot removed through containerd (docker never does that): its
        # record goes at once, its dir with the next collection (which does not come).
        job_dir = Path(lab_upper(croot, sc.containers["job"])).parent
        lab.ctr("snapshots", "--snapshotter", "overlayfs", "rm", sc.containers["job"])
        truth = record_truth(lab)
    finally:
        lab.stop()
    # On disk, containerd stopped: a snapshot dir and a blob file it does not know; a
    # container's snapshot dir deleted.
    orphan = croot / SNAPSHOTS / ORPHAN_ID
    (orphan / "fs" / "data").mkdir(parents=True)
    _write(orphan / "fs" / "data", "orphan.bin", 40_000)
    (orphan / "work").mkdir()
    blob = os.urandom(5_000)
    orphan_blob = croot / BLOBS / hashlib.sha256(blob).hexdigest()
    orphan_blob.write_bytes(blob)
    fresh = sc.containers["fresh"]
    shutil.rmtree(Path(lab_upper(croot, fresh)).parent)
    age(croot)
    yield Faults(
        root=root,
        croot=croot,
        truth=truth,
        ingest=("pull-cut-off", received, total),
        gone_blobs={b.digest for b in gone.blobs()},
        gone_chain=chain_ids(gone.diff_ids),
        orphan_blob=orphan_blob,
        containers=dict(sc.containers),
        job_dir=job_dir,
    )


def lab_upper(croot: Path, key: str) -> str:
    """The ``fs`` dir of snapshot `key`, from the snapshotter's metadata (offline)."""
    from inspector.readers.bbolt import load_bolt
    from inspector.readers.containerd import parse_snapshotter_db

    db = croot / "io.containerd.snapshotter.v1.overlayfs" / "metadata.db"
    backend, _ = parse_snapshotter_db(load_bolt(str(db)), str(db))
    ids = [b.id for k, b in backend.items() if k.endswith(f"/{key}")]
    assert len(ids) == 1, (key, ids)
    return str(croot / SNAPSHOTS / ids[0] / "fs")


@pytest.fixture(scope="module")
def faulty(faults: Faults) -> Report:
    return run(faults.root)


def test_orphan_snapshot(faults: Faults, faulty: Report) -> None:
    found = of(faulty, Kind.ORPHAN_SNAPSHOT)
    path = str(faults.croot / SNAPSHOTS / ORPHAN_ID)
    # The dir containerd never made, and the one whose record it removed without collecting.
    assert set(found) == {path, str(faults.job_dir)}
    for p, f in found.items():
        assert f.bytes == refwalk.measure(os.path.join(p, "fs")).disk
        assert f.disk_usage == refwalk.measure(p).disk
        assert f.reclaimable and "metadata.db" in f.detail
        # containerd's own clean-up, or by hand with it stopped: never an rm while it runs.
        assert "rm -" not in f.remedy and "stop the daemons" in f.remedy
    assert found[path].confidence == "certain"
    lost = found[str(faults.job_dir)]
    assert lost.confidence == "likely" and "no namespace of containerd's meta.db" in lost.detail
    assert faults.containers["job"] in lost.detail


def test_no_orphan_while_containerd_writes_its_metadata(faults: Faults) -> None:
    """A live containerd removes a snapshot's records before its dir: while its metadata was
    written within the live slack, no snapshot dir is judged (the same root, at rest, has
    its two orphans: test_orphan_snapshot)."""
    meta = faults.croot / "io.containerd.metadata.v1.bolt" / "meta.db"
    st = meta.stat()
    os.utime(meta)  # just written
    try:
        live = run(faults.root)
    finally:
        os.utime(meta, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not of(live, Kind.ORPHAN_SNAPSHOT)
    assert of(live, Kind.ORPHAN_CONTENT)  # the rest is judged as before


def test_unreferenced_snapshots_and_what_keeps_them(faults: Faults, faulty: Report) -> None:
    found = {f.object_id: f for f in faulty.findings if f.kind is Kind.UNREFERENCED_SNAPSHOT}
    t = faults.truth
    want = {"leak-gcroot", "leak-committed", STRAY_LEASE, *faults.gone_chain}
    assert set(found) == want
    for key, f in found.items():
        # Bytes = containerd's usage of the snapshot; the path = its snapshots/<n> dir.
        assert f.bytes == t.usage[key][0], key
        assert Path(f.path).parent == faults.croot / SNAPSHOTS
        assert (Path(f.path) / "fs").is_dir()
        assert f.remedy.count("rm ") >= 1 and "ctr -a " in f.remedy
    assert t.snapshots["leak-gcroot"][1] == "Active"
    assert "containerd.io/gc.root label" in found["leak-gcroot"].detail
    assert found["leak-gcroot"].severity.value == "warning"
    assert "lease leak-lease" in found["leak-committed"].detail
    assert found["leak-committed"].severity.value == "warning"
    stray = found[STRAY_LEASE]
    assert stray.confidence == "low" and "BuildKit" in stray.detail
    for key in faults.gone_chain:
        f = found[key]
        assert "nothing keeps it" in f.detail and f.severity.value == "info", f.detail
    # The base image layer under the leaked snapshots is still an image's: not reported.
    assert not any(k.startswith("sha256:") and k not in faults.gone_chain for k in found)


def test_orphan_and_unreferenced_content(faults: Faults, faulty: Report) -> None:
    orphans = of(faulty, Kind.ORPHAN_CONTENT)
    assert list(orphans) == [str(faults.orphan_blob)]
    assert orphans[str(faults.orphan_blob)].bytes == 5_000
    unref = {f.object_id: f for f in faulty.findings if f.kind is Kind.UNREFERENCED_CONTENT}
    # The removed image's blobs (and the index ctr's import wrote); exactly what containerd's
    # collection frees: see test_containerd_frees_what_the_findings_say.
    assert faults.gone_blobs <= set(unref)
    for dgst, f in unref.items():
        assert dgst in faults.truth.content  # ctr content ls still lists them
        assert f.bytes == faults.truth.blob_sizes[dgst]
        assert f.path == str(faults.croot / BLOBS / dgst.removeprefix("sha256:"))
        assert "content rm " in f.remedy


def test_incomplete_download(faults: Faults, faulty: Report) -> None:
    found = of(faulty, Kind.INCOMPLETE_DOWNLOAD)
    assert len(found) == 1
    ((path, f),) = found.items()
    ref, received, total = faults.ingest
    assert Path(path).parent == faults.croot / "io.containerd.content.v1.content" / "ingest"
    assert received >= 1 << 20 and total == 3_000_000
    assert f.object_id == ref and f"{received} bytes received of {total}" in f.detail
    assert "tracks it as an active download until" in f.detail
    assert f.bytes == refwalk.measure(path).apparent and f.disk_usage == refwalk.measure(path).disk


def test_missing_snapshots(faults: Faults, faulty: Report) -> None:
    found = of(faulty, Kind.MISSING_SNAPSHOT)
    job, fresh = faults.containers["job"], faults.containers["fresh"]
    assert set(found) == {str(faults.root / "containers" / c) for c in (job, fresh)}
    assert job not in faults.truth.snapshots  # containerd removed it
    assert "meta.db has no snapshot" in found[str(faults.root / "containers" / job)].detail
    assert "does not exist" in found[str(faults.root / "containers" / fresh)].detail
    for f in found.values():
        assert f.severity.value == "error" and not f.reclaimable
        assert f.remedy.startswith("docker container rm -f ")


def test_no_false_positive_beside_the_faults(faults: Faults, faulty: Report) -> None:
    """BuildKit's snapshots, views, the -init of the container that lost its snapshot."""
    keys = {f.object_id for f in faulty.findings if f.kind is Kind.UNREFERENCED_SNAPSHOT}
    assert not keys & {"bk-view", "docker-view", f"{faults.containers['job']}-init"}
    assert not any(len(k or "") == 25 and k != STRAY_LEASE for k in keys)


def test_faults_in_every_face(faults: Faults, faulty: Report) -> None:
    """The JSON report validates with the new kinds; the audit counts them as orphan bytes."""
    import json

    import jsonschema

    from inspector.report import json_report

    doc = json.loads(json_report.render(faulty))
    jsonschema.validate(doc, json_report.schema())
    kinds = {f["kind"] for f in doc["findings"]}
    assert {k.value for k in KINDS} <= kinds

    from inspector.analysis.results import ORPHAN_KINDS
    from inspector.audit.checks import evaluate
    from inspector.audit.settings import AuditSettings

    settings = AuditSettings(max_orphan_bytes=0, max_build_cache=0)
    checks = {c.name: c for c in evaluate(settings, faulty, faulty.findings, None, None, False)}
    orphan = checks["max_orphan_bytes"]
    # Docker will not free these: snapshot dirs and blobs containerd lost, leaks kept by a
    # lease or a label, partial downloads (what containerd's own GC frees is not among them).
    mine = [f for f in faulty.findings if f.kind in ORPHAN_KINDS]
    assert {f.kind for f in mine} == KINDS - {Kind.UNREFERENCED_CONTENT, Kind.MISSING_SNAPSHOT}
    assert orphan.crossed and orphan.value == sum(f.bytes for f in mine) > 0
    assert str(faults.croot / SNAPSHOTS / ORPHAN_ID) in {o.path for o in orphan.offenders}
    cache = checks["max_build_cache"]
    cats = {c.name: c.disk for c in faulty.totals.categories}
    assert cache.crossed and cache.value == cats["build_cache"] > 0
    assert f"docker system df counts {faulty.totals.docker_build_cache_size} bytes" in cache.extra


# ------------------------------------------------------------------------ what containerd frees


def test_containerd_frees_what_the_findings_say(faults: Faults, tmp_path: Path) -> None:
    """containerd started on a copy: its first collection frees exactly the unreferenced
    objects nothing keeps (and, removing snapshots and content, the orphan dir and blob with
    them); what a lease or a label keeps, the tracked download and the lost snapshots stay."""
    root = tmp_path / "root"
    copy_tree(faults.root, root)
    croot = root / "containerd" / "daemon"
    before = run(root)
    lab = PrivateContainerd(tmp_path / "lab", croot)  # collects at start, as configured by default
    with lab:
        gc_now(lab)
        snapshots = set(lab.snapshots())
        content = set(lab.content_digests())
    age(croot)
    after = run(root)
    # The oracle: what containerd's collection removed is what the findings said it frees.
    gone_snaps = set(faults.truth.snapshots) - snapshots
    gone_content = set(faults.truth.content) - content
    said_snaps = {
        f.object_id
        for f in before.findings
        if f.kind is Kind.UNREFERENCED_SNAPSHOT and "nothing keeps it" in f.detail
    }
    said_content = {f.object_id for f in before.findings if f.kind is Kind.UNREFERENCED_CONTENT}
    assert gone_snaps == said_snaps and set(faults.gone_chain) <= gone_snaps
    assert gone_content == said_content and faults.gone_blobs <= gone_content
    assert not (croot / SNAPSHOTS / ORPHAN_ID).exists()
    # The dir whose record containerd removed goes with its collection too.
    assert not (root / faults.job_dir.relative_to(faults.root)).exists()
    assert not (croot / BLOBS / faults.orphan_blob.name).exists()
    left = {(f.kind, f.object_id) for f in after.findings if f.kind in KINDS}
    was = {(f.kind, f.object_id) for f in before.findings if f.kind in KINDS}
    freed = {
        (f.kind, f.object_id)
        for f in before.findings
        if f.kind in (Kind.ORPHAN_SNAPSHOT, Kind.ORPHAN_CONTENT, Kind.UNREFERENCED_CONTENT)
        or (f.kind is Kind.UNREFERENCED_SNAPSHOT and "nothing keeps it" in f.detail)
    }
    assert left == was - freed
    assert (Kind.UNREFERENCED_SNAPSHOT, "leak-gcroot") in left
    assert (Kind.INCOMPLETE_DOWNLOAD, faults.ingest[0]) in left


def test_orphans_survive_a_collection_and_go_with_a_removal(faults: Faults, tmp_path: Path) -> None:
    """shared/docker-format.md §11: a collection that removes nothing leaves the orphan dir and
    blob; the remedies' removals (a snapshot, a blob) make containerd delete them."""
    root = tmp_path / "root"
    copy_tree(faults.root, root)
    croot = root / "containerd" / "daemon"
    # Only the orphans: nothing else for a collection to free.
    lab = PrivateContainerd(tmp_path / "lab0", croot)
    with lab:
        gc_now(lab)
    orphan = croot / SNAPSHOTS / ORPHAN_ID
    (orphan / "fs").mkdir(parents=True)
    _write(orphan / "fs", "again.bin", 10_000)
    blob = os.urandom(3_000)
    blob_path = croot / BLOBS / hashlib.sha256(blob).hexdigest()
    blob_path.write_bytes(blob)
    age(croot)
    assert {f.kind for f in run(root).findings} >= {Kind.ORPHAN_SNAPSHOT, Kind.ORPHAN_CONTENT}
    lab = PrivateContainerd(tmp_path / "lab1", croot)
    with lab:
        gc_now(lab)
        assert orphan.is_dir() and blob_path.is_file()  # a collection freeing nothing
        # The remedy of a leaked snapshot, containerd's own removal, takes the orphan with it.
        lab.ctr("snapshots", "--snapshotter", "overlayfs", "rm", "leak-gcroot")
        gc_now(lab)
        assert not orphan.exists()
        # So does any removal of content, for blob files without a record.
        lab.ctr("content", "rm", lab.content_digests()[0])
        gc_now(lab)
        assert not blob_path.exists()


# ------------------------------------------------------------------------ the GC rules, by hand


def test_gc_marks_follow_containerds_rules() -> None:
    """Roots, label edges, parents, expired and flat leases (containerd metadata/gc.go)."""
    from inspector.analysis.containerd_gc import mark
    from inspector.model import ContainerdData, ContentBlob, ImageRecord, Lease, Snapshot

    def blob(d: str, **labels: str) -> ContentBlob:
        return ContentBlob(d, f"/b/{d}", 1, 1, labels=labels)

    def snap(k: str, parent: str | None = None, **labels: str) -> Snapshot:
        return Snapshot(k, "committed", parent, labels=labels, snapshot_id=k)

    ref = "containerd.io/gc.ref."
    data = ContainerdData(
        root="/r",
        reason="",
        blobs={
            "A": blob("A", **{ref + "content.config": "B"}),
            "B": blob("B", **{ref + "snapshot.overlayfs": "S2", ref + "snapshot.native": "N"}),
            "C": blob("C", **{ref + "content": "D"}),
            "D": blob("D"),
            "E": blob("E", **{"containerd.io/gc.root": ""}),
            "F": blob("F"),
        },
        snapshots={
            "S1": snap("S1"),
            "S2": snap("S2", "S1"),
            "S3": snap("S3"),
            "S4": snap("S4", "S5", **{"containerd.io/gc.root": ""}),
            "S5": snap("S5"),
            "S6": snap("S6"),
        },
        image_records={"x:1": ImageRecord("x:1", "A", "", 1)},
        leases={
            "old": Lease("old", {"containerd.io/gc.expire": "2020-01-01T00:00:00Z"}, ("S3",)),
            "flat": Lease("flat", {"containerd.io/gc.flat": "t"}, content=("C",)),
            "tmp": Lease("tmp", {"containerd.io/gc.expire": "2999-01-01T00:00:00Z"}, ("S6",)),
        },
    )
    m = mark(data, now=1_700_000_000)
    assert set(m.content) == {"A", "B", "C", "E"}  # D: a flat lease does not follow labels
    assert set(m.snapshots) == {"S1", "S2", "S4", "S5", "S6"}  # S3: its lease expired
    assert m.expired == {"old": "2020-01-01T00:00:00Z"}
    assert m.snapshots["S1"].text() == "image record x:1, through blob A"
    assert m.snapshots["S5"].text() == "the containerd.io/gc.root label of snapshot S4 above it"
    assert m.snapshots["S4"].text() == "its containerd.io/gc.root label"
    assert m.snapshots["S6"].text() == "lease tmp (until 2999-01-01T00:00:00Z, when it expires)"


# ------------------------------------------------------------------------ --full


def test_full_mode_checks_recorded_snapshot_usage(
    containerd_scenario: CtrScenario, tmp_path: Path
) -> None:
    """``--full``: the healthy root's committed snapshots hold what metadata.db recorded; a
    file added to one (after containerd stopped) is a size_mismatch at its fs dir."""
    sc = containerd_scenario
    full = pipeline.Options(full=True, cache=False)
    healthy = pipeline.run(str(sc.data_root), full)
    assert not [f for f in healthy.findings if f.kind is Kind.SIZE_MISMATCH]
    root = tmp_path / "root"
    copy_tree(sc.data_root, root)
    croot = root / "containerd" / "daemon"
    key = top_chain(croot, sc.manifests["tool:latest"])
    fs = Path(lab_upper(croot, key))
    _write(fs, "added-later.bin", 100_000)
    found = of(pipeline.run(str(root), full), Kind.SIZE_MISMATCH)
    assert list(found) == [str(fs)]
    f = found[str(fs)]
    assert f.object_id == key and f.bytes == refwalk.measure(str(fs)).disk
    assert str(sc.truth.usage[key][0]) in f.detail  # the usage containerd recorded
    assert f.bytes - sc.truth.usage[key][0] >= 100_000
