"""`audit --compare-daemon`: the offline view against the real daemon's Engine API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inspector.analysis.sizes import chain_ids
from inspector.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["audit", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_live_root_has_no_mismatches(
    dockerd: Any, scenario: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--root", str(dockerd.data_root), "--state-dir", str(tmp_path), "--compare-daemon",
            "--docker-host", dockerd.base_url, "--fail-on", "daemon_mismatch"]  # fmt: skip
    rc, out, err = run(capsys, *args, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    d = doc["daemon"]
    assert d["mismatches"] == [], d["mismatches"]
    assert d["host"] == dockerd.base_url
    assert d["root_dir"] == str(dockerd.data_root) and d["driver"] == "overlay2"
    assert doc["notes"] == []
    assert not [f for f in doc["findings"] if f["kind"] == "daemon_mismatch"]
    rc, out, err = run(capsys, *args)
    assert (rc, out, err) == (0, "", "")


def test_docker_host_from_the_environment(
    dockerd: Any,
    scenario: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", dockerd.base_url)
    rc, out, err = run(
        capsys, "--root", str(dockerd.data_root), "--state-dir", str(tmp_path),
        "--compare-daemon", "--json",
    )  # fmt: skip
    assert rc == 0, err
    d = json.loads(out)["daemon"]
    assert d["host"] == dockerd.base_url and d["mismatches"] == []


def test_tampered_layer_size_is_a_mismatch(
    dockerd: Any, scenario: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy whose only difference is one layer's recorded `size`, against the live API."""
    root = tmp_path / "root"
    dockerd.copy_root(root)
    tool = scenario["images"]["tool:latest"]
    job = scenario["containers"]["job"]
    cfg = root / "image/overlay2/imagedb/content/sha256" / tool.removeprefix("sha256:")
    top = chain_ids(json.loads(cfg.read_bytes())["rootfs"]["diff_ids"])[-1]
    size_file = root / "image/overlay2/layerdb/sha256" / top.removeprefix("sha256:") / "size"
    recorded = int(size_file.read_text())
    size_file.write_text(str(recorded + 1000))  # no newline, like the daemon writes it

    api = dockerd.api
    df = api.df()
    image_size = api.inspect_image(tool)["Size"]
    rootfs = next(c["SizeRootFs"] for c in df["Containers"] if c["Id"] == job)
    args = ["--root", str(root), "--state-dir", str(tmp_path / "s"), "--compare-daemon",
            "--docker-host", dockerd.base_url]  # fmt: skip
    rc, out, err = run(capsys, *args, "--json")
    assert rc == 0, err  # mismatches alone do not fail the audit
    doc = json.loads(out)
    got = {
        (m["object_type"], m["object_id"], m["field"], m["daemon"], m["offline"])
        for m in doc["daemon"]["mismatches"]
    }
    assert got == {
        ("layer", top, "size", recorded, recorded + 1000),
        ("image", tool, "Size", image_size, image_size + 1000),
        ("system", "LayersSize", "LayersSize", df["LayersSize"], df["LayersSize"] + 1000),
        ("container", job, "SizeRootFs", rootfs, rootfs + 1000),
    }
    layer = next(m for m in doc["daemon"]["mismatches"] if m["object_type"] == "layer")
    assert layer["path"] == str(size_file)
    findings = [f for f in doc["findings"] if f["kind"] == "daemon_mismatch"]
    assert len(findings) == 4 and all(f["bytes"] == 1000 for f in findings)
    assert any(
        str(recorded) in f["detail"] and str(recorded + 1000) in f["detail"] for f in findings
    )
    assert any("comparing a copy" in n for n in doc["notes"])

    rc, out, err = run(capsys, *args, "--fail-on", "daemon_mismatch")
    assert rc == 1, err
    assert out.startswith("fail_on:daemon_mismatch: 4 finding(s)") and out.count("\n") == 1
    assert str(size_file) in out


def test_unreachable_daemon_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dockerlab import REPO_ROOT

    sock = tmp_path / "no-daemon.sock"
    rc, out, err = run(
        capsys, "--root", str(REPO_ROOT / "sample_data" / "root"), "--state-dir",
        str(tmp_path / "s"), "--compare-daemon", "--docker-host", f"unix://{sock}",
    )  # fmt: skip
    assert rc == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(
        f"docker-inspector: error: cannot reach the Docker daemon at unix://{sock}"
    )
    assert not list((tmp_path / "s").glob("*.json"))  # no state recorded for a failed run


def test_no_compare_daemon_overrides_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dockerlab import REPO_ROOT

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'compare_daemon = true\ndocker_host = "unix://{tmp_path}/none.sock"\n')
    root = str(REPO_ROOT / "sample_data" / "root")
    base = ["--root", root, "--state-dir", str(tmp_path / "s"), "--config", str(cfg)]
    rc, _, err = run(capsys, *base)
    assert rc == 2 and "cannot reach the Docker daemon" in err
    rc, out, err = run(capsys, *base, "--no-compare-daemon")
    assert (rc, out, err) == (0, "", "")
    rc, out, err = run(capsys, *base, "--no-compare-daemon", "--fail-on", "daemon_mismatch")
    assert rc == 0 and out == ""
    assert err == (
        "docker-inspector: warning: --fail-on daemon_mismatch has no effect without "
        "--compare-daemon\n"
    )
