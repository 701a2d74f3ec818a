"""The containerd image store read offline: every number against containerd's own.

The root is the shared containerd scenario (``containerd_scenario`` in conftest.py): made by a
private containerd 1.6 the way Docker 29 makes it, containerd's numbers recorded with ``ctr``
before it stopped. Expected values are computed here independently, from ``ctr``'s output and
the blob files, following the rules written in inspector/analysis/containerd.py (moby's).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import refwalk
from containerdlab import CtrScenario, chain_ids
from dockerlab import copy_tree

from inspector import pipeline
from inspector.analysis.results import Report
from inspector.report import json_report
from inspector.report import text as text_report

INDEX = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@pytest.fixture(scope="module")
def report(containerd_scenario: CtrScenario) -> Report:
    return pipeline.run(str(containerd_scenario.data_root), pipeline.Options(cache=False))


def _blob(sc: CtrScenario, dgst: str) -> dict[str, Any]:
    path = sc.containerd_root / "io.containerd.content.v1.content/blobs/sha256" / dgst[7:]
    doc: dict[str, Any] = json.loads(path.read_bytes())
    return doc


def _present_under(sc: CtrScenario, desc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every present descriptor under `desc` (itself included), read from the blob files."""
    out: list[dict[str, Any]] = []
    todo = [desc]
    while todo:
        d = todo.pop()
        if d["digest"] not in sc.truth.content:
            continue
        out.append(d)
        mt = d.get("mediaType", "")
        if "manifest" in mt or mt in INDEX:
            doc = _blob(sc, d["digest"])
            todo += doc.get("manifests", []) + ([doc["config"]] if "config" in doc else [])
            todo += doc.get("layers", [])
    return out


def _target(sc: CtrScenario, iid: str) -> dict[str, Any]:
    raw = (
        sc.containerd_root / "io.containerd.content.v1.content/blobs/sha256" / iid[7:]
    ).read_bytes()
    mt = json.loads(raw).get("mediaType", "application/vnd.docker.distribution.manifest.v2+json")
    return {"digest": iid, "mediaType": mt, "size": len(raw)}


def _chain_usage(sc: CtrScenario, top: str) -> int | None:
    """Usage summed down the parent chain as ctr reports it (None: not unpacked)."""
    total, cur = 0, top
    while cur:
        if cur not in sc.truth.usage:
            return None
        total += sc.truth.usage[cur][0]
        cur = sc.truth.snapshots[cur][0]
    return total


def _diff_ids(sc: CtrScenario, manifest: str) -> list[str]:
    return list(_blob(sc, _blob(sc, manifest)["config"]["digest"])["rootfs"]["diff_ids"])


def test_store_is_read_and_said_so(containerd_scenario: CtrScenario, report: Report) -> None:
    sc = containerd_scenario
    info = report.inventory.root
    assert info.image_store.value == "containerd" and info.supported
    assert info.containerd_root == str(sc.containerd_root)
    assert "dockerd's own containerd" in info.containerd_reason
    doc = json.loads(json_report.render(report))
    jsonschema.validate(doc, json_report.schema())
    assert doc["schema_version"] == 2 and doc["image_store"] == "containerd"
    assert doc["containerd"]["root"] == str(sc.containerd_root)
    assert doc["storage_driver"] == "overlayfs"
    text = text_report.render(report)
    assert str(sc.containerd_root) in text
    # No finding on this healthy root but the dangling image (Docker's own dangling state),
    # logs without rotation (the harness writes json-file logs with no max-size) and the
    # build cache's information (BuildKit's records, as in the graphdriver store).
    kinds = {"dangling_image", "unbounded_log", "build_cache"}
    assert {f.kind.value for f in report.findings} <= kinds, [
        (f.kind, f.path) for f in report.findings
    ]


def test_images_by_target_digest(containerd_scenario: CtrScenario, report: Report) -> None:
    sc = containerd_scenario
    rows = {r.image.id: r for r in report.images}
    assert set(rows) == set(sc.images.values())
    for name, iid in sc.images.items():
        r = rows[iid]
        if name == "<dangling>":
            assert r.image.tags == () and r.dangling
        else:
            assert r.image.tags == (name,)
    assert rows[sc.images["multi:1"]].image.platforms == ("linux/amd64",)
    att = [m for m in rows[sc.images["multi:1"]].image.manifests if m.attestation]
    assert len(att) == 1 and att[0].pseudo and att[0].present
    arm = [
        m
        for m in rows[sc.images["multi:1"]].image.manifests
        if m.digest == sc.absent["arm64-manifest"]
    ]
    assert len(arm) == 1 and not arm[0].present


def test_layers_are_snapshots_with_ctr_usage(
    containerd_scenario: CtrScenario, report: Report
) -> None:
    sc = containerd_scenario
    committed = {k for k, (_, kind) in sc.truth.snapshots.items() if kind == "Committed"}
    image_keys = {k for k in committed if k.startswith("sha256:")}
    assert {r.layer.chain_id for r in report.layers} == image_keys
    for r in report.layers:
        assert r.snapshot_key == r.layer.chain_id
        assert r.disk_usage == sc.truth.usage[r.snapshot_key][0], r.snapshot_key
        assert r.diff_dir is not None and Path(r.diff_dir).is_dir()
        assert Path(r.diff_dir).name == "fs" and Path(r.diff_dir).parent.parent.name == "snapshots"
        # The walk of its fs dir gives containerd's number too (recorded at commit).
        assert r.measured_size == r.disk_usage, r.snapshot_key


def test_containers_usage_is_ctrs(containerd_scenario: CtrScenario, report: Report) -> None:
    sc = containerd_scenario
    rows = {r.container.id: r for r in report.containers}
    assert set(rows) == set(sc.containers.values())
    for cid, r in rows.items():
        usage = sc.truth.usage[cid][0]
        assert r.size_rw == usage and r.disk_usage == usage, r.container.name
        assert r.rw_dir is not None and Path(r.rw_dir).name == "fs"
        below = _chain_usage(sc, f"{cid}-init")
        assert below is not None and r.virtual_size == usage + below
    web = rows[sc.containers["web"]]
    assert (
        web.rw_dir is not None and (Path(web.rw_dir) / "srv" / "sparse").stat().st_size == 1 << 20
    )


def test_image_sizes(containerd_scenario: CtrScenario, report: Report) -> None:
    """content_size, unpacked_size (containerd's truth) and Docker's Size."""
    sc = containerd_scenario
    rows = {r.image.id: r for r in report.images}
    for name, iid in sc.images.items():
        r = rows[iid]
        target = _target(sc, iid)
        present = {d["digest"] for d in _present_under(sc, target)}
        assert r.content_size == sum(sc.truth.blob_sizes[d] for d in present), name
        diff_ids = _diff_ids(sc, sc.manifests[name])
        unpacked = _chain_usage(sc, chain_ids(diff_ids)[-1]) or 0
        assert r.unpacked_size == unpacked, name
        # Docker: per manifest, the present blobs under it + its chain's usage (runnable only).
        docker = 0
        manifests = [target] if target["mediaType"] not in INDEX else _blob(sc, iid)["manifests"]
        for m in manifests:
            docker += sum(d["size"] for d in _present_under(sc, m))
            runnable = "vnd.docker.reference.type" not in m.get("annotations", {})
            if runnable and m["digest"] in sc.truth.content:
                docker += _chain_usage(sc, chain_ids(_diff_ids(sc, m["digest"]))[-1]) or 0
        assert r.size == docker, name
    assert rows[sc.images["nounpack:1"]].unpacked_size == 0
    assert rows[sc.images["multi:1"]].unpacked_size > 0


def test_shared_sizes(containerd_scenario: CtrScenario, report: Report) -> None:
    """moby computeSharedSize: snapshots and blobs another listed image also has."""
    sc = containerd_scenario
    chains: dict[str, list[str]] = {}
    blobs: dict[str, set[str]] = {}
    for iid in sc.images.values():
        target = _target(sc, iid)
        manifests = [target] if target["mediaType"] not in INDEX else _blob(sc, iid)["manifests"]
        chains[iid] = []
        blobs[iid] = set()
        for m in manifests:
            under = _present_under(sc, m)
            blobs[iid] |= {d["digest"] for d in under}
            if "vnd.docker.reference.type" not in m.get("annotations", {}) and under:
                chains[iid] += chain_ids(_diff_ids(sc, m["digest"]))
    rows = {r.image.id: r for r in report.images}
    for iid in sc.images.values():
        others_chains = [c for o in chains if o != iid for c in chains[o]]
        others_blobs = set().union(*(blobs[o] for o in blobs if o != iid))
        want = sum(sc.truth.usage.get(c, (0, 0))[0] for c in chains[iid] if c in others_chains)
        want += sum(sc.truth.blob_sizes[d] for d in blobs[iid] if d in others_blobs)
        assert rows[iid].shared_size == want, iid
        assert rows[iid].unique_size == rows[iid].size - want
    assert rows[sc.images["busybox:base"]].shared_size > 0  # its layer is under app:1, app:2…


def test_stored_twice_totals(containerd_scenario: CtrScenario, report: Report) -> None:
    sc = containerd_scenario
    t = report.totals.containerd
    assert t["content_bytes"] == sum(sc.truth.blob_sizes.values())
    assert t["snapshot_bytes"] == sum(u for u, _ in sc.truth.usage.values())
    image_snaps = sum(u for k, (u, _) in sc.truth.usage.items() if k.startswith("sha256:"))
    assert t["image_snapshot_bytes"] == image_snaps
    assert 0 < t["stored_twice_compressed_bytes"] <= t["content_bytes"]
    assert 0 < t["stored_twice_unpacked_bytes"] <= image_snaps
    # docker system df's Images total: each unpacked snapshot once + each present blob once.
    assert report.totals.docker_images_size == image_snaps + sum(sc.truth.blob_sizes.values())
    cats = {c.name: c for c in report.totals.categories}
    assert cats["image_content"].apparent == sum(sc.truth.blob_sizes.values())
    assert cats["orphans"].disk == 0 and cats["unused_layers"].disk == 0


def test_containerd_root_outside_the_data_root(
    containerd_scenario: CtrScenario, report: Report, tmp_path: Path
) -> None:
    """--containerd-root naming a root outside the data root: read and measured beneath it."""
    sc = containerd_scenario
    data = tmp_path / "docker"
    copy_tree(sc.data_root, data, exclude=["containerd"])
    ctrd = tmp_path / "containerd"
    copy_tree(sc.containerd_root, ctrd)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspector",
            "report",
            "--root",
            str(data),
            "--containerd-root",
            str(ctrd),
            "--format",
            "json",
            "--no-cache",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["containerd"]["root"] == str(ctrd)
    assert "given with --containerd-root" in doc["containerd"]["reason"]
    want = {r.image.id: (r.size, r.content_size, r.unpacked_size) for r in report.images}
    got = {i["id"]: (i["size"], i["content_size"], i["unpacked_size"]) for i in doc["images"]}
    assert got == want
    sizes = {c["id"]: c["disk_usage"] for c in doc["containers"]}
    assert sizes == {cid: sc.truth.usage[cid][0] for cid in sc.containers.values()}
    # Every byte of both roots in a category: below the data root, and all of containerd's.
    below = sum(refwalk.measure(str(p)).disk for p in data.iterdir())
    assert doc["totals"]["disk_usage"] == below + refwalk.measure(str(ctrd)).disk
    assert not [s for s in doc["skipped"]], doc["skipped"]
