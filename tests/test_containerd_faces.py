"""The containerd image store in the audit's faces: ``--containerd-root`` honoured, Prometheus
content vs snapshot bytes and ``docker system df``'s Images row, all against containerd's own
numbers (``ctr``, recorded when the scenario was built)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from containerdlab import CtrScenario
from dockerlab import copy_tree
from test_prometheus import P, by, parse, promtool_check

from inspector import pipeline
from inspector.analysis import dockerdf
from inspector.cli import main


def test_audit_reads_the_given_containerd_root_and_writes_its_metrics(
    containerd_scenario: CtrScenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = containerd_scenario
    t = sc.truth
    data = tmp_path / "docker"
    copy_tree(sc.data_root, data, exclude=["containerd"])
    ctrd = tmp_path / "containerd"
    copy_tree(sc.containerd_root, ctrd)
    prom = tmp_path / "textfile" / "docker_inspector.prom"
    prom.parent.mkdir()
    args = ["audit", "--root", str(data), "--containerd-root", str(ctrd)]
    rc = main([*args, "--prometheus", str(prom), "--max-orphan-bytes", "1G", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)["crossed"] == []
    promtool_check(prom)
    m = parse(prom)
    info = m[P + "root_info"]
    assert info[0][0]["image_store"] == "containerd"
    assert m[P + "containerd_content_bytes"][0][1] == sum(t.blob_sizes.values())
    snaps = by(m, "containerd_snapshot_bytes", "kind")
    assert snaps[("all",)] == sum(u for u, _ in t.usage.values())
    image = sum(u for k, (u, _) in t.usage.items() if k.startswith("sha256:"))
    assert snaps[("image",)] == image
    twice = by(m, "containerd_stored_twice_bytes", "copy")
    assert 0 < twice[("compressed",)] <= sum(t.blob_sizes.values())
    assert 0 < twice[("unpacked",)] <= image
    # docker system df's Images row: each unpacked snapshot and each present blob once.
    df = by(m, "docker_df_bytes", "type")
    assert df[("images",)] == image + sum(t.blob_sizes.values())
    kinds = by(m, "findings", "kind")
    assert kinds[("orphan_snapshot",)] == kinds[("unreferenced_snapshot",)] == 0


def test_docker_df_images_row(containerd_scenario: CtrScenario) -> None:
    """TOTAL = the images docker lists, ACTIVE = those with a container, SIZE = moby's
    ImageDiskUsage, RECLAIMABLE = Size - SharedSize summed over the images without a
    container (Docker 29's daemon computes the row: moby daemon/disk_usage.go)."""
    sc = containerd_scenario
    report = pipeline.run(str(sc.data_root), pipeline.Options(sizes=False))
    row = dockerdf.docker_df(report).images
    used = {
        json.loads((sc.data_root / "containers" / c / "config.v2.json").read_text())["Image"]
        for c in sc.containers.values()
    }
    assert row.total == len(sc.images)  # the dangling one too: it has no child
    assert row.active == len(used)
    image = sum(u for k, (u, _) in sc.truth.usage.items() if k.startswith("sha256:"))
    assert row.size == image + sum(sc.truth.blob_sizes.values())  # known without a walk
    idle = [r for r in report.images if r.listed and r.image.id not in used]
    assert idle and all(r.size - r.shared_size == r.unique_size for r in idle)
    assert row.reclaimable == sum(r.unique_size for r in idle)
    # Not the 20.10 CLI's SIZE - unique bytes of the used ones: the unpacked layers two
    # unused images share are counted by neither.
    old_cli = row.size - sum(r.unique_size for r in report.images if r.image.id in used)
    assert row.reclaimable != old_cli
    assert dockerdf.cells(row)[2] != "unknown"
