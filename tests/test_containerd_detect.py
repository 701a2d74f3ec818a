"""Which containerd root is read, and why; the encodings of containerd's bbolt files.

The roots are copies of the shared containerd scenario root (a real containerd's files).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from containerdlab import CtrScenario
from dockerlab import copy_tree

from inspector import pipeline
from inspector.readers import containerd as reader
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
