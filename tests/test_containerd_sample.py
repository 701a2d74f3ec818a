"""The committed containerd-store sample (``sample_data/containerd``) against containerd's own
numbers recorded in its MANIFEST.json, and against a fresh regeneration by its script."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from inspector import pipeline
from inspector.analysis.results import Kind, Report
from inspector.report import json_report

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "containerd"
ROOT = SAMPLE / "root"
REGENERATE = "regenerate it with: python scripts/make_containerd_sample.py"


def load_script() -> ModuleType:
    """``scripts/make_containerd_sample.py`` as a module (scripts/ is not a package)."""
    name = "make_containerd_sample"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    path = SAMPLE / "MANIFEST.json"
    assert path.is_file(), f"{path} is missing; {REGENERATE}"
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


@pytest.fixture(scope="module")
def report() -> Report:
    return pipeline.run(str(ROOT), pipeline.Options(cache=False))


def test_committed_files_match_manifest(manifest: dict[str, Any]) -> None:
    stored = {e["path"]: e["size"] for e in manifest["tree"] if e["stored"] and e["type"] != "dir"}
    present = {
        Path(r, n).relative_to(ROOT).as_posix(): os.lstat(os.path.join(r, n)).st_size
        for r, _d, names in os.walk(ROOT)
        for n in names
    }
    assert present == stored, REGENERATE
    assert sum(present.values()) < 1_000_000  # small enough for the repository


def test_report_is_containerds_view(manifest: dict[str, Any], report: Report) -> None:
    ctr = manifest["ctr"]
    names = manifest["scenario"]
    assert report.inventory.root.image_store.value == "containerd"
    assert {r.image.id for r in report.images} == set(names["images"].values())
    for r in report.layers:
        assert r.disk_usage == ctr["usage"][r.snapshot_key][0], r.snapshot_key
    for r in report.containers:
        # Active snapshots are walked: the checkout holds the same files as the export.
        assert r.size_rw == ctr["usage"][r.container.id][0], r.container.name
    t = report.totals.containerd
    assert t["content_bytes"] == sum(ctr["blob_sizes"].values())
    assert t["snapshot_bytes"] == sum(u for u, _ in ctr["usage"].values())
    # The store's own findings (other kinds, such as logs without rotation, are not about it).
    mine = {Kind.DANGLING_IMAGE, Kind.UNREFERENCED_SNAPSHOT, Kind.ORPHAN_SNAPSHOT}
    mine |= {Kind.ORPHAN_CONTENT, Kind.UNREFERENCED_CONTENT, Kind.INCOMPLETE_DOWNLOAD}
    mine |= {Kind.MISSING_SNAPSHOT, Kind.UNREADABLE, Kind.SIZE_MISMATCH}
    found = sorted((f.kind, f.object_id) for f in report.findings if f.kind in mine)
    assert found == sorted(
        [
            (Kind.DANGLING_IMAGE, names["images"]["<dangling>"]),
            (Kind.UNREFERENCED_SNAPSHOT, "leaked-extract"),
        ]
    )
    leak = next(f for f in report.findings if f.kind is Kind.UNREFERENCED_SNAPSHOT)
    assert leak.bytes == ctr["usage"]["leaked-extract"][0]
    assert "lease moby-leaked-pull" in leak.detail
    doc = json.loads(json_report.render(report))
    jsonschema.validate(doc, json_report.schema())
    assert doc["image_store"] == "containerd" and doc["supported"] is True


def test_regenerated_sample_matches_committed(manifest: dict[str, Any], tmp_path: Path) -> None:
    """The script makes the same sample: the same IDs, digests and containerd numbers."""
    if os.geteuid() != 0:
        pytest.fail("regenerating the containerd sample needs root (it starts containerd)")
    made = load_script().make(tmp_path / "out" / "root", tmp_path / "work")
    fresh = json.loads(json.dumps(made))  # as MANIFEST.json holds it (lists, not tuples)
    for key in ("scenario", "ctr", "lost_counts"):
        assert fresh[key] == manifest[key], f"{key} differs; {REGENERATE}"
    paths = {e["path"] for e in manifest["tree"]}
    assert {e["path"] for e in fresh["tree"]} == paths, REGENERATE
    committed = (SAMPLE / "README.md").read_text()
    assert (tmp_path / "out" / "README.md").read_text() == committed, REGENERATE
