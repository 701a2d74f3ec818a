"""Faults injected into a stopped-like copy of a real root are found with kind, path and bytes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from inspector import pipeline
from inspector.analysis.results import Finding, Report
from inspector.ids import chain_ids

pytestmark = pytest.mark.dockerd


def rand_hex(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def image_chain(root: Path, image_id: str) -> tuple[str, ...]:
    cfg = root / "image/overlay2/imagedb/content/sha256" / image_id.removeprefix("sha256:")
    return chain_ids(json.loads(cfg.read_bytes())["rootfs"]["diff_ids"])


def layer_dir(root: Path, chain: str) -> Path:
    return root / "image/overlay2/layerdb/sha256" / chain.removeprefix("sha256:")


def cache_id(root: Path, chain: str) -> str:
    return (layer_dir(root, chain) / "cache-id").read_text()


class Faults:
    """A copy of the live root with one of each fault injected; paths and expected bytes."""

    def __init__(self, root: Path, scenario: dict[str, Any]) -> None:
        self.root = root
        imgs = scenario["images"]
        ov = root / "overlay2"
        # 1. An unreferenced copy of tool:latest's 64 KiB layer dir under a new ID.
        tool_top = image_chain(root, imgs["tool:latest"])[-1]
        self.tool_size = int((layer_dir(root, tool_top) / "size").read_text())
        self.orphan = ov / rand_hex("orphan")
        shutil.copytree(ov / cache_id(root, tool_top), self.orphan, symlinks=True)
        # Leaked an hour ago: a dir made moments before a scan is (rightly) not judged.
        hour_ago = time.time() - 3600
        os.utime(self.orphan, (hour_ago, hour_ago))
        # 2. A deleted layer dir: dangle:latest's own top layer.
        dangle_top = image_chain(root, imgs["dangle:latest"])[-1]
        self.deleted = ov / cache_id(root, dangle_top)
        shutil.rmtree(self.deleted)
        # 3. A dangling l/ link.
        self.bad_link = ov / "l" / "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"
        os.symlink("../" + rand_hex("nowhere") + "/diff", self.bad_link)
        # 4. An interrupted removal: a -removing layerdb entry whose storage dir holds files.
        rm_cache = rand_hex("removing-cache")
        shutil.copytree(ov / cache_id(root, tool_top), ov / rm_cache, symlinks=True)
        self.removing = layer_dir(root, tool_top).with_name(
            rand_hex("rm-chain") + "-" + rand_hex("rnd") + "-removing"
        )
        shutil.copytree(layer_dir(root, tool_top), self.removing)
        (self.removing / "cache-id").write_text(rm_cache)
        self.removing_storage = ov / rm_cache
        # 5. A containers/<id> dir without config.
        self.no_config = root / "containers" / rand_hex("ghost")
        self.no_config.mkdir()
        (self.no_config / "hostname").write_bytes(b"x" * 1000)
        # 6. An unused volume is in the scenario: "unused". 7. So is a dangling image.
        self.unused_volume = root / "volumes" / "unused"
        self.dangling_image = imgs["<dangling>"]
        # 8. A big log: job's json log made 120 MiB (sparse: costs no disk here).
        job = scenario["containers"]["job"]
        self.log = root / "containers" / job / f"{job}-json.log"
        os.truncate(self.log, 120 * 1024 * 1024)
        # 9. A staging leftover in layerdb/tmp.
        self.staging = root / "image/overlay2/layerdb/tmp/write-set-123456"
        self.staging.mkdir(parents=True)
        (self.staging / "diff").write_bytes(b"sha256:" + b"0" * 64)


@pytest.fixture(scope="module")
def faulty(
    dockerd: Any, scenario: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Faults, Report]:
    root = tmp_path_factory.mktemp("faulty") / "root"
    dockerd.copy_root(root)
    faults = Faults(root, scenario)
    return faults, pipeline.run(str(root))


def only(report: Report, kind: str, path: Path | str) -> Finding:
    found = [f for f in report.findings if f.kind.value == kind and f.path == str(path)]
    assert len(found) == 1, [(f.kind.value, f.path) for f in report.findings]
    return found[0]


def near(value: int, expected: int) -> bool:
    return abs(value - expected) <= 0.05 * expected


def test_orphan_copy_of_layer(faulty: tuple[Faults, Report]) -> None:
    faults, report = faulty
    f = only(report, "orphan_dir", faults.orphan)
    assert near(f.bytes, faults.tool_size) and f.confidence == "certain"
    assert f.disk_usage >= f.bytes
    assert "docker" in f.remedy and "back up" in f.remedy


def test_deleted_layer_dir(faulty: tuple[Faults, Report]) -> None:
    faults, report = faulty
    f = only(report, "missing_diff_dir", faults.deleted)
    assert f.severity.value == "error" and "docker image rm" in f.remedy


def test_dangling_short_link(faulty: tuple[Faults, Report]) -> None:
    faults, report = faulty
    only(report, "broken_link", faults.bad_link)


def test_interrupted_removal(faulty: tuple[Faults, Report]) -> None:
    faults, report = faulty
    f = only(report, "leftover_removing_dir", faults.removing)
    assert near(f.bytes, faults.tool_size)
    assert str(faults.removing_storage) in f.detail
    assert "restart" in f.remedy.lower()
    # Its storage dir is accounted to the removal, not reported again as an orphan.
    assert not [
        x
        for x in report.findings
        if x.path == str(faults.removing_storage) and x.kind.value == "orphan_dir"
    ]


def test_container_dir_without_config(faulty: tuple[Faults, Report]) -> None:
    faults, report = faulty
    f = only(report, "container_without_config", faults.no_config)
    assert near(f.bytes, 1000)


def test_unused_volume_and_dangling_image(faulty: tuple[Faults, Report], dockerd: Any) -> None:
    faults, report = faulty
    f = only(report, "unused_volume", faults.unused_volume)
    api_vol = next(v for v in dockerd.api.df()["Volumes"] if v["Name"] == "unused")
    assert near(f.bytes, api_vol["UsageData"]["Size"])
    assert f.remedy.startswith("docker volume rm unused")
    img = faults.dangling_image
    path = faults.root / "image/overlay2/imagedb/content/sha256" / img.removeprefix("sha256:")
    f = only(report, "dangling_image", path)
    assert f.object_id == img and f.remedy.startswith("docker image rm")


def test_big_log(faulty: tuple[Faults, Report]) -> None:
    faults, report = faulty
    f = only(report, "large_log", faults.log)
    assert near(f.bytes, 120 * 1024 * 1024)
    assert "no rotation" in f.detail


def test_staging_leftover(faulty: tuple[Faults, Report]) -> None:
    faults, report = faulty
    only(report, "incomplete_layer", faults.staging)


def test_text_report_lists_findings_by_bytes(faulty: tuple[Faults, Report]) -> None:
    from inspector.report import text

    _faults, report = faulty
    out = text.render(report)
    lines = [ln for ln in out.splitlines() if ln.startswith("- [")]
    assert "large_log" in lines[0]  # 120 MiB: the largest reclaimable finding comes first
    assert "remedy:" in out
