"""`audit --prometheus FILE`: a textfile promtool accepts, with the JSON report's numbers."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from dockerlab import PROMTOOL, REPO_ROOT, copy_tree
from prometheus_client.parser import text_string_to_metric_families

from inspector.cli import main
from inspector.report import prometheus

SAMPLE_ROOT = REPO_ROOT / "sample_data" / "root"
P = "docker_inspector_"

Series = dict[str, list[tuple[dict[str, str], float]]]


def parse(path: Path) -> Series:
    """Metric name → [(labels, value)], with the client library's own parser."""
    out: Series = defaultdict(list)
    for fam in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for s in fam.samples:
            out[s.name].append((dict(s.labels), s.value))
    return out


def by(series: Series, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    """One metric's values keyed by the given labels (each key must be unique)."""
    out: dict[tuple[str, ...], float] = {}
    for labels, value in series[P + name]:
        k = tuple(labels[x] for x in keys)
        assert k not in out, (name, k)
        out[k] = value
    return out


def promtool_check(path: Path) -> None:
    """`promtool check metrics < FILE` must print nothing and exit 0 (lint included)."""
    with open(path, "rb") as fh:
        res = subprocess.run(
            [PROMTOOL, "check", "metrics"], stdin=fh, capture_output=True, timeout=60
        )
    assert (res.returncode, res.stdout, res.stderr) == (0, b"", b""), res


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert rc in (0, 1), err
    doc: dict[str, Any] = json.loads(out)
    return rc, doc


@pytest.fixture()
def sample_copy(tmp_path: Path) -> Path:
    if not SAMPLE_ROOT.is_dir():
        pytest.fail(f"{SAMPLE_ROOT} is missing: run scripts/make_sample_data.py")
    dst = tmp_path / "sample-root"
    copy_tree(SAMPLE_ROOT, dst)
    return dst


def test_textfile_passes_promtool_and_equals_the_json_report(
    dockerd: Any, scenario: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    dockerd.copy_root(root)  # stopped-like: both scans below see the same bytes
    prom = tmp_path / "textfile" / "docker_inspector.prom"
    prom.parent.mkdir()
    t0 = time.time()
    rc, aud = cli_json(
        capsys, "audit", "--root", str(root), "--state-dir", str(tmp_path / "state"),
        "--prometheus", str(prom), "--json",
        "--fail-on", "unused_volume", "--max-orphan-bytes", "1G", "--max-disk-usage", "100",
    )  # fmt: skip
    t1 = time.time()
    assert rc == 1 and aud["crossed"] == ["fail_on:unused_volume"]
    promtool_check(prom)
    assert os.listdir(prom.parent) == [prom.name]  # the temp file was renamed, not left
    _, rep = cli_json(capsys, "report", "--root", str(root), "--format", "json")
    m = parse(prom)

    # Every series carries the root.
    assert all(lab["root"] == str(root) for ss in m.values() for lab, _ in ss)
    info = m[P + "root_info"]
    assert info == [
        ({"root": str(root), "storage_driver": "overlay2", "image_store": "graphdriver"}, 1.0)
    ]

    cats = rep["totals"]["categories"]
    assert by(m, "category_apparent_bytes", "category") == {
        (k,): v["bytes"] for k, v in cats.items()
    }
    assert by(m, "category_disk_bytes", "category") == {
        (k,): v["disk_usage"] for k, v in cats.items()
    }
    assert by(m, "root_disk_bytes") == {(): rep["totals"]["disk_usage"]}
    assert aud["totals"]["disk_usage"] == rep["totals"]["disk_usage"]
    t = rep["totals"]
    df = rep["docker_df"]
    # An unknown cell (e.g. build cache whose sizes BuildKit has not computed yet: it does
    # so when first asked for `docker system df`) is left out, never written as 0.
    assert by(m, "docker_df_bytes", "type") == {
        **{(k,): row["size"] for k, row in df.items() if row["size"] is not None},
        ("logs",): t["log_size"],
    }
    assert by(m, "docker_df_reclaimable_bytes", "type") == {
        (k,): row["reclaimable"] for k, row in df.items() if row["reclaimable"] is not None
    }
    assert df["images"]["size"] == t["images_size"]
    assert by(m, "reclaimable_bytes") == {(): t["reclaimable"]}

    listed = [i for i in rep["images"] if not i["intermediate"]]
    want_size, want_unique = {}, {}
    for img in listed:
        key = (
            img["id"].removeprefix("sha256:")[:12],
            sorted(img["tags"])[0] if img["tags"] else "<none>",
        )
        want_size[key] = img["size"]
        want_unique[key] = img["unique_size"]
    assert by(m, "image_size_bytes", "id", "tag") == want_size
    assert by(m, "image_unique_bytes", "id", "tag") == want_unique
    assert ("tool:latest" in {k[1] for k in want_size}) and len(want_size) == len(listed)

    assert by(m, "container_writable_bytes", "id", "name") == {
        (c["id"][:12], c["name"]): c["size_rw"] for c in rep["containers"]
    }
    assert by(m, "container_log_bytes", "id", "name") == {
        (c["id"][:12], c["name"]): c["log_size"] for c in rep["containers"]
    }
    assert by(m, "volume_bytes", "volume") == {(v["name"],): v["size"] for v in rep["volumes"]}

    counts = Counter(f["kind"] for f in rep["findings"])
    sizes: Counter[str] = Counter()
    for f in rep["findings"]:
        sizes[f["kind"]] += f["bytes"]
    got_counts = by(m, "findings", "kind")
    assert {k[0]: v for k, v in got_counts.items() if v} == dict(counts)
    assert {k[0]: v for k, v in by(m, "finding_bytes", "kind").items() if v} == {
        k: v for k, v in sizes.items() if v
    }
    assert ("daemon_mismatch",) in got_counts  # every kind is present, zeros included
    assert Counter(f["kind"] for f in aud["findings"]) == counts

    assert by(m, "threshold_crossed", "threshold") == {
        ("max_disk_usage",): 0,
        ("max_orphan_bytes",): 0,
        ("fail_on:unused_volume",): 1,
    }
    ratio = by(m, "filesystem_used_ratio")[()]
    assert abs(ratio * 100 - aud["values"]["max_disk_usage"]) < 0.01
    assert t0 <= by(m, "last_run_timestamp_seconds")[()] <= t1
    assert abs(by(m, "scan_duration_seconds")[()] - aud["scan_duration_seconds"]) < 0.001
    assert P + "root_disk_growth_bytes" not in m  # first run: no growth series


def test_hostile_names_become_safe_bounded_labels(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tag with quotes, a backslash, a newline and a terminal escape, 300+ chars long."""
    manifest = json.loads((SAMPLE_ROOT.parent / "MANIFEST.json").read_text())
    tool = manifest["scenario"]["images"]["tool:latest"]
    repos_path = sample_copy / "image/overlay2/repositories.json"
    repos = json.loads(repos_path.read_text())
    hostile = 'evil"\\\n\x1b[2J' + "x" * 300 + ":latest"
    repos["Repositories"]["evil"] = {hostile: tool}
    repos_path.write_text(json.dumps(repos))
    job = manifest["scenario"]["containers"]["job"]
    cfg_path = sample_copy / "containers" / job / "config.v2.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["Name"] = "/job\u202e\x07"
    cfg_path.write_text(json.dumps(cfg))

    prom = tmp_path / "m.prom"
    rc = main(["audit", "--root", str(sample_copy), "--state-dir", str(tmp_path / "s"),
               "--prometheus", str(prom)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    promtool_check(prom)
    raw = prom.read_bytes()
    assert b"\x1b" not in raw and b"\x07" not in raw and "\u202e".encode() not in raw
    m = parse(prom)
    tags = {k[1] for k in by(m, "image_size_bytes", "id", "tag")}
    want = prometheus.label(hostile)
    assert want in tags
    assert len(want) <= prometheus.LABEL_MAX
    assert want.startswith('evil"\\\\\\x0a\\x1b[2Jxxx')
    names = {k[1] for k in by(m, "container_log_bytes", "id", "name")}
    assert "job\\u202e\\x07" in names


def test_textfile_is_replaced_atomically_and_never_inside_the_root(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "textfile"
    out_dir.mkdir()
    prom = out_dir / "d.prom"
    prom.write_text("old\n")
    old_inode = prom.stat().st_ino
    state = str(tmp_path / "s")
    rc = main(
        ["audit", "--root", str(sample_copy), "--state-dir", state, "--prometheus", str(prom)]
    )
    assert rc == 0
    assert prom.stat().st_ino != old_inode  # a new file renamed over the old one
    assert sorted(os.listdir(out_dir)) == ["d.prom"]
    promtool_check(prom)
    capsys.readouterr()

    for bad in (sample_copy / "m.prom", sample_copy / "volumes" / "m.prom"):
        rc = main(
            ["audit", "--root", str(sample_copy), "--state-dir", state, "--prometheus", str(bad)]
        )
        out, err = capsys.readouterr()
        assert rc == 2 and out == "" and "inside the data root" in err
        assert not bad.exists()
    rc = main(["audit", "--root", str(sample_copy), "--state-dir", state,
               "--prometheus", str(tmp_path / "nodir" / "m.prom")])  # fmt: skip
    _, err = capsys.readouterr()
    assert rc == 2 and "does not exist" in err


def test_documented_alert_rules_pass_promtool(tmp_path: Path) -> None:
    """The alert rules example (docs/audit.md, or README.md once merged) is valid."""
    import re

    texts = [p.read_text() for p in [REPO_ROOT / "README.md", *sorted(REPO_ROOT.glob("docs/*.md"))]
             if p.is_file()]  # fmt: skip
    blocks = [
        b
        for t in texts
        for b in re.findall(r"```yaml\n(.*?)```", t, re.S)
        if "docker_inspector_" in b and "groups:" in b
    ]
    assert blocks, "no Prometheus alert rules example found in README.md or docs/"
    for i, block in enumerate(blocks):
        rules = tmp_path / f"rules{i}.yml"
        rules.write_text(block)
        res = subprocess.run(
            [PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
        )
        assert res.returncode == 0, res.stdout + res.stderr
        assert "SUCCESS" in res.stdout
