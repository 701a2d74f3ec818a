"""Scanning a live root while the daemon creates and removes objects: no crash, no false alarm.

One thread scans the session daemon's live root again and again (read, measure, analyse, as
``report`` does); another makes the daemon create and remove containers (created and
running), volumes and images (classic ``docker build`` + ``docker rmi``) as fast as it can.
Every report must hold every object that existed before and after the churn, with the same
sizes; no report may hold a certain ``orphan_dir``, ``missing_diff_dir``,
``container_without_config`` or ``unreadable`` finding, neither about those objects nor about
the churn's own (healthy) objects caught mid-creation or mid-removal; and each report must be
self-consistent: a container's writable dir was seen, or a finding says it is missing.
Everything the churn made is removed at the end; the scenario's objects are left as they were.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pytest

from inspector import pipeline
from inspector.analysis.results import Report
from inspector.options import Options

pytestmark = pytest.mark.dockerd

PREFIX = "dinspector-churn"
SCANS = 20
CYCLES = 10
MAX_SECONDS = 30.0
FALSE_ALARMS = {"orphan_dir", "missing_diff_dir", "container_without_config", "unreadable"}


def one_scan(root: str) -> Report:
    return pipeline.run(root, Options(cache=False))


def facts(report: Report) -> dict[str, Any]:
    """What must not change for objects that exist before and after the churn."""
    return {
        "containers": {r.container.id: r.size_rw for r in report.containers},
        "images": {r.image.id: r.size for r in report.images},
        "volumes": {r.volume.name: r.size for r in report.volumes},
        "layers": {lay.layer.chain_id for lay in report.layers},
        "dirs": set(report.inventory.storage_dirs),
    }


class Churn:
    """Create and remove containers, volumes and images until told to stop."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.cycles = 0
        self.containers: set[str] = set()
        self.volumes: set[str] = set()
        self.images: set[str] = set()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.cycle(self.cycles)
                self.cycles += 1
        except BaseException as e:  # re-raised by the test
            self.error = e

    def cycle(self, n: int) -> None:
        api = self.lab.api
        vol = f"{PREFIX}-v{n}"
        api.create_volume(vol)
        self.volumes.add(vol)
        host = api.create_host_config(binds=[f"{vol}:/data"], network_mode="none")
        created = api.create_container(
            "busybox:base",
            ["sh", "-c", "echo x > /data/f; echo y > /f"],
            host_config=host,
            name=f"{PREFIX}-c{n}",
        )["Id"]
        self.containers.add(created)
        running = api.create_container(
            "busybox:base",
            ["sleep", "60"],
            host_config=api.create_host_config(network_mode="none"),
            name=f"{PREFIX}-r{n}",
            stop_timeout=1,
        )["Id"]
        self.containers.add(running)
        api.start(running)
        tag = f"{PREFIX}:{n}"
        self.images.add(tag)
        self.lab.build(tag, f"FROM busybox:base\nRUN echo {n} > /churn.txt\n")
        # And remove them again (the next cycle makes new ones).
        for cid in (created, running):
            api.remove_container(cid, force=True, v=True)
            self.containers.discard(cid)
        api.remove_volume(vol)
        self.volumes.discard(vol)
        api.remove_image(tag, force=True)
        self.images.discard(tag)

    def cleanup(self) -> None:
        api = self.lab.api
        for c in api.containers(all=True, filters={"name": PREFIX}):
            with contextlib.suppress(Exception):
                api.remove_container(c["Id"], force=True, v=True)
        for v in api.volumes(filters={"name": PREFIX}).get("Volumes") or []:
            with contextlib.suppress(Exception):
                api.remove_volume(v["Name"], force=True)
        for img in api.images(name=PREFIX):
            with contextlib.suppress(Exception):
                api.remove_image(img["Id"], force=True)


def test_scans_during_churn_are_consistent(dockerd: Any, scenario: dict[str, Any]) -> None:
    root = str(dockerd.data_root)
    before = facts(one_scan(root))
    churn = Churn(dockerd)
    reports: list[Report] = []
    errors: list[BaseException] = []

    def scanner() -> None:
        try:
            deadline = time.monotonic() + MAX_SECONDS
            while time.monotonic() < deadline and not (
                len(reports) >= SCANS and churn.cycles >= CYCLES
            ):
                reports.append(one_scan(root))
        except BaseException as e:
            errors.append(e)

    worker = threading.Thread(target=churn.run, name="churn", daemon=True)
    reader = threading.Thread(target=scanner, name="scanner", daemon=True)
    worker.start()
    time.sleep(0.5)  # let the churn get going first
    reader.start()
    try:
        reader.join(MAX_SECONDS + 30)
        assert not reader.is_alive(), "a scan hung"
    finally:
        churn.stop.set()
        worker.join(60)
        churn.cleanup()
    if errors:
        raise errors[0]
    if churn.error is not None:
        raise churn.error
    after = facts(one_scan(root))
    assert churn.cycles >= CYCLES // 2, "the daemon hardly churned: the test proved little"
    assert len(reports) >= SCANS

    stable = {k: set(before[k]) & set(after[k]) for k in before}
    # The scenario's objects are all still there, unchanged.
    assert set(scenario["containers"].values()) <= stable["containers"]
    for kind in ("containers", "images", "volumes"):
        for key in stable[kind]:
            assert before[kind][key] == after[kind][key], (kind, key)
    stable_dirs = set(stable["dirs"])
    for i, report in enumerate(reports):
        inv = report.inventory
        got = facts(report)
        for kind in ("containers", "images", "volumes"):
            missing = stable[kind] - set(got[kind])
            assert not missing, (i, kind, missing)
            for key in stable[kind]:
                assert got[kind][key] == before[kind][key], (i, kind, key)
        assert stable["layers"] <= got["layers"], i
        assert stable_dirs <= got["dirs"], i
        stable_ids = stable["containers"] | stable["layers"] | stable_dirs
        for f in report.findings:
            if f.kind.value not in FALSE_ALARMS or f.confidence != "certain":
                continue
            about_stable = f.object_id in stable_ids or any(
                f.path == p or f.path.startswith(p + "/") for p in _paths(inv, stable_dirs)
            )
            # The churn's own objects are healthy too: a certain finding about one of them
            # (caught mid-creation or mid-removal) is a race the readers failed to absorb.
            what = "a stable object" if about_stable else "an object made or removed meanwhile"
            pytest.fail(f"scan {i}: false {f.kind.value} about {what}: {f}")
        # Self-consistency: a container's writable dir was seen, or a finding says it is not.
        missing_dirs = {f.object_id for f in report.findings if f.kind.value == "missing_diff_dir"}
        for row in report.containers:
            m = inv.rw_layers.get(row.container.id)
            if m is None or not m.mount_id:
                continue
            assert m.mount_id in inv.storage_dirs or row.container.id in missing_dirs, (
                i,
                row.container.name,
            )
    print(f"{len(reports)} scans during {churn.cycles} churn cycles")


def _paths(inv: Any, dirs: set[str]) -> list[str]:
    return [inv.storage_dirs[d].path for d in dirs if d in inv.storage_dirs]
