"""Which data does the daemon use, on roots made by real daemons (inspector.trees).

Two short-lived private dockerds per module fixture, over one data root each:

- userns-remap: ``--userns-remap=default`` on an empty root (the root then holds nothing but
  ``<uid>.<gid>/``), then a daemon without remap over the same root, then the remapped one
  again (running, then stopped). dockerd creates the ``dockremap`` user and its subuid/subgid
  ranges; /etc/passwd, group, shadow, gshadow, subuid and subgid are restored byte for byte.
- storage driver: ``--storage-driver=vfs``, then the default (overlay2) over the same root.

Each stage's report is taken as the stage ends (the root changes afterwards) and compared with
that daemon's Engine API; the bytes of the trees it does not use with an independent walk
(tests/refwalk.py). The session daemon's root must show no inactive tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dockerlab import PrivateDockerd, mounts_under
from refwalk import measure as refmeasure
from test_docker_truth import assert_matches_api, capture_truth

from inspector import pipeline
from inspector.analysis.results import Finding, Kind, Report
from inspector.model import TreeKind, Usage
from inspector.options import Options

pytestmark = pytest.mark.dockerd

REPO = Path(__file__).resolve().parent.parent
#: Host files dockerd changes to make the dockremap user (and their backups made by the tools).
ETC_FILES = [
    f"/etc/{n}{s}" for n in ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")
    for s in ("", "-")
]  # fmt: skip
#: PID 1 that exits on SIGTERM at once (sleep alone would hold the daemon's shutdown).
WAITER = ("sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait")


def offline(root: Any, config: str | None = None) -> Report:
    return pipeline.run(str(root), Options(cache=False, daemon_config=config))


def inactive(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.kind in (Kind.INACTIVE_ROOT, Kind.INACTIVE_DRIVER_DATA)]


def walk(*paths: str | Path, skip: frozenset[str] = frozenset()) -> Usage:
    total = Usage()
    for p in paths:
        total = total + refmeasure(str(p), skip_names=skip)
    return total


@pytest.fixture(scope="module")
def etc_restored() -> Iterator[None]:
    """Put the host's user and id files back as they were, whatever the daemons added."""
    saved = {p: Path(p).read_bytes() for p in ETC_FILES if os.path.exists(p)}
    try:
        yield
    finally:
        for p in ETC_FILES:
            if p in saved:
                with open(p, "wb") as fh:  # same inode, mode and owner
                    fh.write(saved[p])
            elif os.path.exists(p):
                os.unlink(p)


def _stop(lab: PrivateDockerd) -> None:
    lab.stop()
    lab.release_leftover_mounts()


@pytest.fixture(scope="module")
def remap_base() -> Iterator[Path]:
    """A base dir every parent of which the remapped root may traverse (pytest's is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="dinspector-remap-", dir="/tmp"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        if not mounts_under(base):  # never remove what a daemon still has mounted
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def remap_lab(remap_base: Path, etc_restored: None) -> dict[str, Any]:
    """Reports, API truths and reference walks of each stage of a userns-remap switch."""
    base = remap_base
    top = base / "root"
    out: dict[str, Any] = {"top": top}
    # 1. A remapped daemon on an empty root.
    lab = PrivateDockerd(base, extra_args=["--userns-remap=default"]).start()
    try:
        lab.import_busybox("busybox:base")
        lab.run("busybox:base", "sh", "-c", "yes r | head -c 3000 > /r1", name="r1", detach=False)
        remapped = Path(lab.info()["DockerRootDir"])
        truth = capture_truth(lab)
    finally:
        _stop(lab)
    out["remapped"] = remapped
    out["only"] = (offline(top), truth)
    # 2. A daemon without remap over the same root.
    lab = PrivateDockerd(base).start()
    try:
        assert Path(lab.info()["DockerRootDir"]) == top
        lab.import_busybox("busybox:base")
        lab.run("busybox:base", "sh", "-c", "yes p | head -c 7000 > /p1", name="p1", detach=False)
        truth = capture_truth(lab)
    finally:
        _stop(lab)
    out["plain"] = (offline(top), truth, walk(remapped))
    # 3. The remapped daemon again: running, then stopped.
    lab = PrivateDockerd(base, extra_args=["--userns-remap=default"]).start()
    try:
        lab.run("busybox:base", *WAITER, name="r2")
        lab.exec("r2", "sh", "-c", "yes q | head -c 5000 > /r2")
        out["live"] = (offline(top), capture_truth(lab))
    finally:
        _stop(lab)
    out["stopped"] = (offline(top), out["live"][1])
    out["top_walk"] = walk(top, skip=frozenset({remapped.name}))
    return out


def test_a_root_holding_only_a_remapped_root_is_reported(remap_lab: dict[str, Any]) -> None:
    report, truth = remap_lab["only"]
    info = report.inventory.root
    assert (info.path, info.given) == (str(remap_lab["remapped"]), str(remap_lab["top"]))
    assert_matches_api(report, truth, live=False)
    assert inactive(report) == []
    live = next(t for t in info.trees if t.kind is TreeKind.ROOT and t.live)
    assert "holds nothing but the userns-remap root" in live.evidence


def test_without_remap_over_a_remapped_root(remap_lab: dict[str, Any]) -> None:
    report, truth, ref = remap_lab["plain"]
    top, remapped = remap_lab["top"], remap_lab["remapped"]
    assert report.inventory.root.path == str(top)
    assert_matches_api(report, truth, live=False)  # only the un-remapped daemon's objects
    [f] = inactive(report)
    assert (f.kind, f.path, f.bytes, f.disk_usage) == (
        Kind.INACTIVE_ROOT,
        str(remapped),
        ref.apparent,
        ref.disk,
    )
    assert f.confidence == "certain" and "has group 0" in f.detail
    assert "Docker Root Dir" in f.remedy and "rm -" not in f.remedy  # no rm command


@pytest.mark.parametrize("stage", ["live", "stopped"])
def test_remapped_daemon_over_an_older_tree(remap_lab: dict[str, Any], stage: str) -> None:
    report, truth = remap_lab[stage]
    top, remapped = remap_lab["top"], remap_lab["remapped"]
    assert report.inventory.root.path == str(remapped)
    assert_matches_api(report, truth, live=stage == "live")
    [f] = inactive(report)
    ref = remap_lab["top_walk"]
    assert (f.kind, f.path, f.bytes, f.disk_usage) == (
        Kind.INACTIVE_ROOT,
        str(top),
        ref.apparent,
        ref.disk,
    )
    assert f.confidence == "certain"
    # Running: its mounts say so; stopped: the group dockerd gave the root at its start.
    sign = "running dockerd" if stage == "live" else f"has group {remapped.name.split('.')[1]}"
    assert sign in f.detail
    assert "never" in f.remedy and str(remapped) in f.remedy  # never delete the remapped root
    cats = {c.name: c for c in report.totals.categories}
    assert (cats["inactive"].apparent, cats["inactive"].disk) == (ref.apparent, ref.disk)


def test_remapped_root_given_directly_works_as_before(remap_lab: dict[str, Any]) -> None:
    report = offline(remap_lab["remapped"])
    _, truth = remap_lab["stopped"]
    assert report.inventory.root.path == str(remap_lab["remapped"])
    assert not report.inventory.root.top
    assert_matches_api(report, truth, live=False)
    assert inactive(report) == []


def test_daemon_config_decides_remap(remap_lab: dict[str, Any], tmp_path: Path) -> None:
    top = remap_lab["top"]
    conf = tmp_path / "daemon.json"
    conf.write_text(json.dumps({"data-root": str(top)}))
    report = offline(top, str(conf))
    _, truth, _ = remap_lab["plain"]
    assert report.inventory.root.path == str(top)
    assert_matches_api(report, truth, live=False)
    [f] = inactive(report)
    assert f.path == str(remap_lab["remapped"]) and f"daemon config {conf}" in f.detail
    conf.write_text(json.dumps({"data-root": str(top), "userns-remap": "default"}))
    report = offline(top, str(conf))
    assert report.inventory.root.path == str(remap_lab["remapped"])
    assert report.inventory.root.daemon_config is not None
    assert report.inventory.root.daemon_config.applies


@pytest.fixture(scope="module")
def driver_lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A root used with vfs, then with overlay2: reports, truths and walks of each stage."""
    base = tmp_path_factory.mktemp("drivers")
    root = base / "root"
    out: dict[str, Any] = {"root": root}
    lab = PrivateDockerd(base, storage_driver="vfs").start()
    try:
        lab.import_busybox("busybox:base")
        lab.run("busybox:base", "sh", "-c", "yes v | head -c 4000 > /v", name="vjob", detach=False)
        lab.create("busybox:base", name="vfresh")
        out["vfs_truth"] = capture_truth(lab)
        out["vfs_ids"] = sorted(c["Id"] for c in lab.api.containers(all=True))
    finally:
        _stop(lab)
    parts = [root / "vfs", root / "image" / "vfs"]
    parts += [root / "containers" / c for c in out["vfs_ids"]]
    lab = PrivateDockerd(base).start()
    try:
        assert lab.info()["Driver"] == "overlay2"
        lab.import_busybox("busybox:base")
        lab.run("busybox:base", *WAITER, name="ojob")
        lab.exec("ojob", "sh", "-c", "yes o | head -c 6000 > /o")
        truth = capture_truth(lab)
        out["live"] = (offline(root), truth)
    finally:
        _stop(lab)
    out["stopped"] = (offline(root), truth)
    out["vfs_walk"] = walk(*parts)
    out["overlay2_walk"] = walk(
        root / "overlay2",
        root / "image" / "overlay2",
        *[root / "containers" / c["Id"] for c in truth["df"]["Containers"]],
    )
    return out


@pytest.mark.parametrize("stage", ["live", "stopped"])
def test_vfs_data_left_by_a_driver_switch(driver_lab: dict[str, Any], stage: str) -> None:
    report, truth = driver_lab[stage]
    root = driver_lab["root"]
    assert report.inventory.root.storage_driver == "overlay2"
    assert_matches_api(report, truth, live=stage == "live")
    [f] = inactive(report)
    ref = driver_lab["vfs_walk"]
    assert (f.kind, f.path, f.bytes, f.disk_usage) == (
        Kind.INACTIVE_DRIVER_DATA,
        str(root / "vfs"),
        ref.apparent,
        ref.disk,
    )
    # The vfs containers are part of the vfs data, not containers missing their image.
    assert "2 container(s) created with vfs" in f.detail
    assert not [x for x in report.findings if x.kind is Kind.CONTAINER_MISSING_IMAGE]
    tree = next(t for t in report.inventory.root.trees if t.name == "vfs")
    assert sorted(tree.containers) == driver_lab["vfs_ids"]
    assert f.confidence == ("certain" if stage == "live" else "likely")
    assert "Storage Driver shows overlay2 (not vfs)" in f.remedy
    cats = {c.name: c for c in report.totals.categories}
    assert (cats["inactive"].apparent, cats["inactive"].disk) == (ref.apparent, ref.disk)


def test_daemon_config_names_the_older_driver(driver_lab: dict[str, Any], tmp_path: Path) -> None:
    root = driver_lab["root"]
    conf = tmp_path / "daemon.json"
    conf.write_text(json.dumps({"data-root": str(root), "storage-driver": "vfs"}))
    report = offline(root, str(conf))
    assert report.inventory.root.storage_driver == "vfs"
    assert_matches_api(report, driver_lab["vfs_truth"], live=False)
    [f] = inactive(report)
    ref = driver_lab["overlay2_walk"]
    assert (f.path, f.bytes, f.disk_usage) == (str(root / "overlay2"), ref.apparent, ref.disk)
    assert f"daemon config {conf} sets storage-driver=vfs" in f.detail
    # The same through the command line, with the evidence in the JSON.
    res = subprocess.run(
        [
            *(sys.executable, "-m", "inspector", "report", "--root", str(root)),
            *("--daemon-config", str(conf), "--format", "json", "--no-cache"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    drivers = {t["name"]: t for t in doc["trees"] if t["kind"] == "graphdriver"}
    assert drivers["vfs"]["live"] and not drivers["overlay2"]["live"]
    assert drivers["overlay2"]["bytes"] == ref.apparent
    assert "storage-driver=vfs" in drivers["vfs"]["evidence"]
    assert doc["daemon_config"]["storage_driver"] == "vfs"


def test_session_root_has_no_inactive_tree(dockerd: PrivateDockerd, scenario: Any) -> None:
    report = offline(dockerd.data_root)
    assert inactive(report) == []
    assert all(t.live for t in report.inventory.root.trees if t.kind is not TreeKind.CONTAINERD)
    assert {c.name: c.disk for c in report.totals.categories}["inactive"] == 0
