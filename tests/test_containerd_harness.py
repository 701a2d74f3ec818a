"""The private containerd harness: the root it builds is what Docker 29 would leave.

Checked against containerd's own view (``ctr``), recorded before it stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from containerdlab import CONTAINER_IDS, CtrScenario, chain_ids

SYSTEM_PATHS = (Path("/var/lib/containerd"), Path("/run/containerd/containerd.sock"))


def test_layout_is_docker29s(containerd_scenario: CtrScenario) -> None:
    sc = containerd_scenario
    assert sc.containerd_root == sc.data_root / "containerd" / "daemon"
    for d in (
        "io.containerd.metadata.v1.bolt/meta.db",
        "io.containerd.content.v1.content/blobs/sha256",
        "io.containerd.snapshotter.v1.overlayfs/metadata.db",
        "io.containerd.snapshotter.v1.overlayfs/snapshots",
    ):
        assert (sc.containerd_root / d).exists(), d
    assert (sc.data_root / "rootfs" / "overlayfs").is_dir()
    assert not (sc.data_root / "overlay2").exists() and not (sc.data_root / "image").exists()
    for name, cid in sc.containers.items():
        doc = json.loads((sc.data_root / "containers" / cid / "config.v2.json").read_text())
        assert doc["ID"] == cid and doc["Name"] == f"/{name}" and doc["Driver"] == "overlayfs"
        assert doc["Image"] == sc.images[doc["Config"]["Image"]]
        assert doc["ImageManifest"]["digest"] == sc.manifests[doc["Config"]["Image"]]


def test_containers_are_made_as_docker_makes_them(containerd_scenario: CtrScenario) -> None:
    """Key = container ID on a committed ``<id>-init``, held by a lease named like it."""
    t = containerd_scenario.truth
    for cid in containerd_scenario.containers.values():
        assert t.snapshots[cid] == (f"{cid}-init", "Active")
        parent, kind = t.snapshots[f"{cid}-init"]
        assert kind == "Committed" and parent.startswith("sha256:")
        assert f"{cid}-init-key" not in t.snapshots  # committed away
        assert cid in t.leases
    assert set(containerd_scenario.containers) == set(CONTAINER_IDS)


def test_images_and_platforms(containerd_scenario: CtrScenario) -> None:
    sc = containerd_scenario
    t = sc.truth
    assert {"busybox:base", "app:1", "app:2", "tool:latest", "multi:1", "nounpack:1"} <= set(
        sc.images
    )
    assert any(n.startswith("moby-dangling@sha256:") for n in t.images)
    # The arm64 manifest of multi:1 is listed by its index but not present locally.
    assert sc.absent["arm64-manifest"] not in t.content
    assert sc.images["multi:1"] == sc.absent["index"]
    # Every blob with a record has its file, and no file lacks a record (GC ran).
    blobs = sc.containerd_root / "io.containerd.content.v1.content" / "blobs" / "sha256"
    assert sorted("sha256:" + n for n in os.listdir(blobs)) == t.content
    # Unpacked images have their chain as committed snapshots; nounpack:1 has none.
    mf = json.loads((blobs / sc.manifests["nounpack:1"].removeprefix("sha256:")).read_bytes())
    cfg = json.loads((blobs / mf["config"]["digest"].removeprefix("sha256:")).read_bytes())
    assert chain_ids(cfg["rootfs"]["diff_ids"])[-1] not in t.snapshots


def test_private_paths_only(containerd_scenario: CtrScenario) -> None:
    """The root, state and sockets are the test's own: never the system containerd's."""
    sc = containerd_scenario
    assert sc.truth.usage  # the fixture ran
    text = sc.config_text
    for p in SYSTEM_PATHS:
        assert str(p) not in text
    assert f'root = "{sc.containerd_root}"' in text
    for line in text.splitlines():
        if "address" in line and "debug" not in line:
            assert line.strip().endswith(('""', '.sock"', '.sock.ttrpc"')), line
