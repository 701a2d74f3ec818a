"""The committed sample root: the report equals the Engine API's view recorded in MANIFEST.json,
and the CLI behaves as documented (streams, exit codes, JSON schema)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_docker_truth import assert_dirs_match_graphdriver, assert_matches_api

from inspector import pipeline
from inspector.cli import main
from inspector.options import Options
from inspector.report import json_report

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "root"


def _unplace(value: Any, root: str) -> Any:
    if isinstance(value, str):
        return value.replace("<data-root>", root)
    if isinstance(value, list):
        return [_unplace(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _unplace(v, root) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    manifest = json.loads((REPO / "sample_data" / "MANIFEST.json").read_text())
    api = _unplace(manifest["api"], str(SAMPLE))
    return {"df": api["df"], "images": api["images"], "containers": api["containers"]}


def lost_hardlink_bytes(manifest: dict[str, Any], rel_dir: str) -> int:
    """Bytes git added under rel_dir by storing each hard link as a separate file."""
    extra = 0.0
    for e in manifest["tree"]:
        if e["path"].startswith(rel_dir + "/") and "hard link" in e.get("lost", []):
            extra += e["size"] * (e["nlink"] - 1) / e["nlink"]
    return round(extra)


def test_sample_report_matches_recorded_engine_api(truth: dict[str, Any]) -> None:
    report = pipeline.run(str(SAMPLE))
    manifest = json.loads((REPO / "sample_data" / "MANIFEST.json").read_text())
    # Git keeps no hard links: the sample's writable layers hold a copy where Docker's had a
    # link. Add those bytes to the recorded truth; everything else must match exactly.
    rows = {r.container.id: r for r in report.containers}
    for c in truth["df"]["Containers"]:
        rw = rows[c["Id"]].rw_dir or ""
        extra = lost_hardlink_bytes(manifest, os.path.relpath(rw, SAMPLE))
        c["SizeRw"] += extra
        c["SizeRootFs"] += extra
    assert lost_hardlink_bytes(manifest, "overlay2") > 0  # the case this handles exists
    assert_matches_api(report, truth)
    assert_dirs_match_graphdriver(report, truth)
    kinds = sorted({f.kind.value for f in report.findings})
    # unbounded_log: the sample's containers log with json-file, Docker's default, unbounded.
    assert kinds == ["dangling_image", "unbounded_log", "unused_volume"]


def test_json_report_validates_against_shipped_schema() -> None:
    report = pipeline.run(str(SAMPLE))
    doc = json.loads(json_report.render(report))
    jsonschema.validate(doc, json_report.schema())
    assert doc["schema_version"] == 2
    assert doc["root"] == str(SAMPLE)
    assert doc["storage_driver"] == "overlay2" and doc["image_store"] == "graphdriver"
    for layer in doc["layers"]:
        assert layer["diff_dir"].startswith(str(SAMPLE) + "/overlay2/")
    # A broken document fails validation: the schema really checks something.
    doc["images"][0]["size"] = "big"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json_report.schema())


def test_json_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    outs = []
    for _ in range(2):
        assert main(["report", "--root", str(SAMPLE), "--format", "json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        doc.pop("generated_at")
        outs.append(doc)
    assert outs[0] == outs[1]


def test_relative_root_is_made_absolute_not_resolved(capsys: pytest.CaptureFixture[str]) -> None:
    old = os.getcwd()
    os.chdir(REPO)
    try:
        assert main(["report", "--root", "sample_data/root", "--format", "json"]) == 0
    finally:
        os.chdir(old)
    assert json.loads(capsys.readouterr().out)["root"] == str(REPO / "sample_data" / "root")


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, cwd=cwd
    )


def test_text_report_on_stdout_nothing_on_stderr() -> None:
    res = run_cli("report", "--root", "sample_data/root")
    assert res.returncode == 0
    assert res.stderr == ""
    assert "app:2" in res.stdout and "Findings (" in res.stdout
    assert "dangling_image" in res.stdout


def test_bare_command_prints_text_summary_when_not_a_terminal() -> None:
    res = run_cli("--root", "sample_data/root")
    assert res.returncode == 0 and "Disk usage by category" in res.stdout


def test_help_documents_exit_codes() -> None:
    res = run_cli("--help")
    assert res.returncode == 0
    for line in ("0  success", "1  audit", "2  usage error"):
        assert line in res.stdout


def test_missing_default_root_points_to_sample(tmp_path: Path) -> None:
    if os.path.exists("/var/lib/docker"):
        pytest.skip("this machine has /var/lib/docker")  # never true on CI machines
    res = run_cli("report")
    assert res.returncode == 2
    assert res.stdout == ""
    assert "/var/lib/docker" in res.stderr and "--root sample_data/root" in res.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--root", "/nonexistent/x"], "no such directory"),
        (["report", "--root", "/etc"], "not a Docker data root"),
        (["report", "--root", "sample_data/root", "--format", "xml"], "invalid choice"),
        (["report", "--root", "sample_data/root", "--large-log", "lots"], "invalid size"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    res = run_cli(*args)
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_output_file_and_refusal_inside_root(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    res = run_cli("report", "--root", "sample_data/root", "--format", "json", "-o", str(out))
    assert res.returncode == 0 and res.stdout == ""
    assert json.loads(out.read_text())["schema_version"] == 2
    inside = SAMPLE / "report.json"
    res = run_cli("report", "--root", "sample_data/root", "-o", str(inside))
    assert res.returncode == 2 and "inside the data root" in res.stderr
    assert not inside.exists()


def test_full_mode_size_mismatch_reaches_every_face(tmp_path: Path) -> None:
    """--full's size_mismatch is an ordinary finding: analyze() (so TUI, audit, JSON) sees it."""
    import shutil

    root = tmp_path / "root"
    shutil.copytree(SAMPLE, root, symlinks=True)
    layerdb = root / "image" / "overlay2" / "layerdb" / "sha256"
    victim = sorted(layerdb.iterdir())[0]
    (victim / "size").write_text(str(int((victim / "size").read_text()) + 1000))
    report = pipeline.run(str(root), Options(full=True, cache=False))
    found = [f for f in report.findings if f.kind.value == "size_mismatch"]
    assert [f.object_id for f in found] == ["sha256:" + victim.name]
    res = run_cli("report", "--root", str(root), "--full", "--no-cache", "--format", "json")
    kinds = [f["kind"] for f in json.loads(res.stdout)["findings"]]
    assert kinds.count("size_mismatch") == 1
