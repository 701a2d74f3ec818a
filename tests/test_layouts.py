"""Layouts this version does not read: a clear statement in text and JSON, never "0 images"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.root import open_root

CID = "a" * 64


def container(root: Path, driver: str) -> None:
    cdir = root / "containers" / CID
    cdir.mkdir(parents=True)
    cfg = {
        "ID": CID,
        "Name": "/c",
        "Image": "sha256:" + "b" * 64,
        "Driver": driver,
        "State": {"Running": False, "StartedAt": "2024-01-01T00:00:00Z"},
        "MountPoints": {},
    }
    (cdir / "config.v2.json").write_text(json.dumps(cfg))
    (cdir / f"{CID}-json.log").write_text('{"log":"hi\\n"}\n')


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True
    )


def test_containerd_image_store(tmp_path: Path) -> None:
    root = tmp_path / "docker"
    container(root, "overlayfs")
    (root / "rootfs" / "overlayfs" / CID).mkdir(parents=True)
    (root / "volumes").mkdir()
    info = open_root(str(root))
    assert info.image_store.value == "containerd" and not info.supported
    res = cli("report", "--root", str(root), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["image_store"] == "containerd" and doc["supported"] is False
    assert any("containerd image store" in n for n in doc["notes"])
    assert [c["name"] for c in doc["containers"]] == ["c"]  # still reported
    res = cli("report", "--root", str(root))
    assert "NOTE: this root uses the containerd image store" in res.stdout


@pytest.mark.parametrize("driver", ["btrfs", "zfs", "fuse-overlayfs", "devicemapper", "aufs"])
def test_unsupported_graphdriver(tmp_path: Path, driver: str) -> None:
    root = tmp_path / "docker"
    (root / "image" / driver / "layerdb" / "sha256").mkdir(parents=True)
    (root / driver / "subvolumes" / ("c" * 64)).mkdir(parents=True)
    container(root, driver)
    res = cli("report", "--root", str(root), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["storage_driver"] == driver and doc["supported"] is False
    assert any(f"storage driver {driver} is not supported" in n for n in doc["notes"])
    text = cli("report", "--root", str(root)).stdout
    assert f"NOTE: storage driver {driver} is not supported" in text


def test_two_drivers_with_data_are_named(tmp_path: Path) -> None:
    root = tmp_path / "docker"
    for drv, sub in (("overlay2", "x" * 64), ("vfs", "dir/" + "y" * 64)):
        (root / "image" / drv / "layerdb" / "sha256").mkdir(parents=True)
        (root / drv / sub).mkdir(parents=True)
    info = open_root(str(root))
    assert info.storage_driver == "overlay2" and info.other_drivers == ("vfs",)
    assert any("several storage drivers" in n for n in info.notes)


def test_not_a_docker_root(tmp_path: Path) -> None:
    (tmp_path / "something").mkdir()
    res = cli("report", "--root", str(tmp_path))
    assert res.returncode == 2 and "not a Docker data root" in res.stderr
