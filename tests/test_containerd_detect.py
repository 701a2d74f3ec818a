"""Which containerd root is read, and why; the encodings of containerd's bbolt files.

The roots are copies of the shared containerd scenario root (a real containerd's files).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import refwalk
from containerdlab import CtrScenario
from dockerlab import copy_tree

from inspector import pipeline
from inspector.readers import containerd as reader
from inspector.report import json_report
from inspector.report import text as text_report
from inspector.root import open_root

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "root"


@pytest.mark.parametrize(
    ("raw", "unsigned", "signed"),
    [
        (b"\x00", 0, 0),
        (b"\x01", 1, -1),
        (b"\x98\x09", 1176, 588),  # a target size as containerd writes it (zigzag)
        (b"\x80\xc0\x01", 24576, 12288),  # a committed snapshot's size in metadata.db
        (b"\x80", None, None),  # truncated
        (b"\x01\x00", None, None),  # trailing byte
        (b"\xff" * 11, None, None),  # longer than any uint64
    ],
)
def test_varints(raw: bytes, unsigned: int | None, signed: int | None) -> None:
    assert reader.uvarint(raw) == unsigned
    assert reader.zigzag(raw) == signed


def test_own_containerd_is_found(containerd_scenario: CtrScenario) -> None:
    info = open_root(str(containerd_scenario.data_root))
    assert info.containerd_root == str(containerd_scenario.containerd_root)
    assert info.storage_driver == "overlayfs" and info.supported
    assert any("read from containerd root" in n for n in info.notes)


def test_system_containerd_when_own_is_empty(
    containerd_scenario: CtrScenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No images under <root>/containerd/daemon + snapshotter containers: the system root."""
    data = tmp_path / "docker"
    copy_tree(containerd_scenario.data_root, data, exclude=["containerd"])
    system = tmp_path / "var-lib-containerd"
    copy_tree(containerd_scenario.containerd_root, system)
    monkeypatch.setattr(reader, "SYSTEM_ROOT", str(system))
    info = open_root(str(data))
    assert info.containerd_root == str(system)
    assert "the containers use a snapshotter driver" in info.containerd_reason
    rep = pipeline.run(str(data), pipeline.Options(cache=False))
    assert {r.image.id for r in rep.images} == set(containerd_scenario.images.values())
    assert [c.size_rw for c in rep.containers] == [
        containerd_scenario.truth.usage[r.container.id][0] for r in rep.containers
    ]


def test_no_containerd_root_is_said(containerd_scenario: CtrScenario, tmp_path: Path) -> None:
    data = tmp_path / "docker"
    copy_tree(containerd_scenario.data_root, data, exclude=["containerd"])
    res = subprocess.run(
        [sys.executable, "-m", "inspector", "report", "--root", str(data), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    if reader._count_outside(reader.SYSTEM_ROOT) is None:  # no system containerd here
        assert doc["supported"] is False and doc["images"] == []
        assert any("pass --containerd-root" in n for n in doc["notes"])
    assert len(doc["containers"]) == len(containerd_scenario.containers)


def test_graphdriver_root_beside_a_containerd_store(
    containerd_scenario: CtrScenario, tmp_path: Path
) -> None:
    """A graphdriver root whose containerd/daemon holds moby images: the graphdriver store
    (the daemon's choice: prior graphdriver data wins) is reported as before, and the
    containerd store's presence is stated."""
    data = tmp_path / "docker"
    copy_tree(SAMPLE, data)
    target = data / "containerd" / "daemon"
    shutil.rmtree(target, ignore_errors=True)  # 20.10's: runtime state only, no images
    copy_tree(containerd_scenario.containerd_root, target)
    info = open_root(str(data))
    assert info.image_store.value == "graphdriver" and info.storage_driver == "overlay2"
    assert any("containerd image store data also present" in n for n in info.notes)
    assert any("image records of namespace moby" in n for n in info.notes)
    gd = pipeline.run(str(SAMPLE), pipeline.Options(sizes=False))
    both = pipeline.run(str(data), pipeline.Options(sizes=False))
    assert [r.image.id for r in both.images] == [r.image.id for r in gd.images]


# ------------------------------------------------------------------------ both stores


@pytest.fixture(scope="module")
def ctrd_report(containerd_scenario: CtrScenario) -> pipeline.Report:
    """The containerd scenario read as the store in use (its numbers are checked against ctr
    in test_containerd_truth.py)."""
    return pipeline.run(str(containerd_scenario.data_root), pipeline.Options(cache=False))


@pytest.fixture(scope="module")
def gd_report() -> pipeline.Report:
    """The graphdriver sample read as the store in use (checked against the Engine API)."""
    return pipeline.run(str(SAMPLE), pipeline.Options(sizes=False))


def graphdriver_with_containerd(containerd_scenario: CtrScenario, dst: Path) -> Path:
    """A graphdriver root whose dockerd's containerd holds a containerd store's images."""
    copy_tree(SAMPLE, dst)
    target = dst / "containerd" / "daemon"
    shutil.rmtree(target, ignore_errors=True)
    copy_tree(containerd_scenario.containerd_root, target)
    return dst


def containerd_with_graphdriver(containerd_scenario: CtrScenario, dst: Path) -> Path:
    """A containerd-store root (Docker 29) that still has a graphdriver's overlay2 data."""
    copy_tree(containerd_scenario.data_root, dst)
    copy_tree(SAMPLE / "overlay2", dst / "overlay2")
    (dst / "image").mkdir(exist_ok=True)
    copy_tree(SAMPLE / "image" / "overlay2", dst / "image" / "overlay2")
    return dst


def sizes_of(rows: Any) -> dict[str, tuple[int, int | None, int | None]]:
    return {r.image.id: (r.size, r.content_size, r.unpacked_size) for r in rows}


def test_graphdriver_in_use_lists_the_containerd_stores_images(
    containerd_scenario: CtrScenario,
    ctrd_report: pipeline.Report,
    gd_report: pipeline.Report,
    tmp_path: Path,
) -> None:
    root = graphdriver_with_containerd(containerd_scenario, tmp_path / "docker")
    rep = pipeline.run(str(root), pipeline.Options(cache=False))
    assert rep.inventory.root.image_store.value == "graphdriver"
    assert [r.image.id for r in rep.images] == [r.image.id for r in gd_report.images]
    other = rep.inventory.other_store
    assert other is not None and other.image_store.value == "containerd"
    assert other.path == str(root / "containerd" / "daemon")
    # Its images with their own store's numbers: the same as when that store is in use.
    assert sizes_of(rep.other_images) == sizes_of(ctrd_report.images)
    # Its content store and snapshots are the unused tree's bytes, measured whole.
    ctrd = root / "containerd" / "daemon"
    want = sum(
        refwalk.measure(str(ctrd / d)).disk
        for d in ("io.containerd.content.v1.content", "io.containerd.snapshotter.v1.overlayfs")
    )
    cats = {c.name: c for c in rep.totals.categories}
    assert cats["inactive"].disk == want
    assert sum(c.disk for c in rep.totals.categories) == rep.totals.disk_total
    doc = json.loads(json_report.render(rep))
    jsonschema.validate(doc, json_report.schema())
    assert {i["id"] for i in doc["other_store"]["images"]} == set(
        containerd_scenario.images.values()
    )
    assert doc["other_store"]["image_store"] == "containerd" and not doc["other_store"]["live"]
    text = text_report.render(rep)
    assert "Images in the containerd image store the daemon does not use" in text


def test_containerd_in_use_lists_the_graphdriver_stores_images(
    containerd_scenario: CtrScenario,
    ctrd_report: pipeline.Report,
    gd_report: pipeline.Report,
    tmp_path: Path,
) -> None:
    root = containerd_with_graphdriver(containerd_scenario, tmp_path / "docker")
    rep = pipeline.run(str(root), pipeline.Options(cache=False))
    assert rep.inventory.root.image_store.value == "containerd"
    assert sizes_of(rep.images) == sizes_of(ctrd_report.images)
    other = rep.inventory.other_store
    assert other is not None and other.image_store.value == "graphdriver"
    assert {r.image.id: r.size for r in rep.other_images} == {
        r.image.id: r.size for r in gd_report.images
    }
    # The leftover graphdriver data: an inactive tree, in the inactive category.
    want = refwalk.measure(str(root / "overlay2")).disk
    want += refwalk.measure(str(root / "image" / "overlay2")).disk
    cats = {c.name: c for c in rep.totals.categories}
    assert cats["inactive"].disk == want
    kinds = {(f.kind.value, f.path) for f in rep.findings}
    assert ("inactive_driver_data", str(root / "overlay2")) in kinds


@pytest.mark.parametrize("snapshotter", [True, False])
def test_the_daemon_config_says_which_store(
    containerd_scenario: CtrScenario,
    ctrd_report: pipeline.Report,
    gd_report: pipeline.Report,
    tmp_path: Path,
    snapshotter: bool,
) -> None:
    """features.containerd-snapshotter decides over the evidence on disk (both ways)."""
    if snapshotter:  # on-disk evidence says graphdriver; the config says containerd
        root = graphdriver_with_containerd(containerd_scenario, tmp_path / "docker")
    else:  # on-disk evidence says containerd; the config says graphdriver
        root = containerd_with_graphdriver(containerd_scenario, tmp_path / "docker")
    cfg = tmp_path / "daemon.json"
    cfg.write_text(
        json.dumps({"data-root": str(root), "features": {"containerd-snapshotter": snapshotter}})
    )
    rep = pipeline.run(str(root), pipeline.Options(sizes=False, daemon_config=str(cfg)))
    info = rep.inventory.root
    assert info.image_store.value == ("containerd" if snapshotter else "graphdriver")
    assert any("features.containerd-snapshotter" in n for n in info.notes)
    used, unused = (ctrd_report, gd_report) if snapshotter else (gd_report, ctrd_report)
    assert {r.image.id for r in rep.images} == {r.image.id for r in used.images}
    assert {r.image.id for r in rep.other_images} == {r.image.id for r in unused.images}
