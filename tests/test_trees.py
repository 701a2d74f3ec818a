"""Which tree the daemon uses (inspector.trees), without a daemon: the pure decisions on hand-made
facts, the config and id-file readers, and the whole pipeline on copies of the sample root (a
real root from a real dockerd) laid out as userns-remap and data-root moves leave them.

The same layouts made by real daemons are in tests/test_trees_docker.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dockerlab import copy_tree
from refwalk import measure as refmeasure

from inspector import pipeline, trees
from inspector.analysis.results import Kind, Report, counted
from inspector.audit.checks import evaluate
from inspector.audit.settings import AuditSettings
from inspector.model import DaemonConfig, Mount, TreeKind
from inspector.options import Options
from inspector.readers import daemonconfig
from inspector.readers.trees import DriverFacts, RootFacts, mounted_in
from inspector.report import json_report, text

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "root"
REMAP = "100000.100000"


def root(path: str, name: str = "", **kw: Any) -> RootFacts:
    base: dict[str, Any] = {
        "path": path,
        "name": name,
        "entries": (),
        "has_tree": True,
        "gid": 0,
        "started": None,
        "mounted": None,
        "holds": "",
    }
    base.update(kw)
    return RootFacts(**base)


def driver(name: str, **kw: Any) -> DriverFacts:
    base: dict[str, Any] = {
        "name": name,
        "home": f"/r/{name}",
        "meta": f"/r/image/{name}",
        "layers": 3,
        "layerdb": 1,
        "images": 1,
        "home_exists": True,
        "meta_exists": True,
        "mtime": 100.0,
        "mounted": None,
    }
    base.update(kw)
    return DriverFacts(**base)


def cfg(**kw: Any) -> DaemonConfig:
    base: dict[str, Any] = {"path": "/etc/docker/daemon.json", "applies": True, "why": "x"}
    base.update(kw)
    return DaemonConfig(**base)


# ------------------------------------------------------------------------ pure decisions


def test_no_remapped_root_is_one_live_tree() -> None:
    c = trees.choose_root(root("/r"), (), None)
    assert (c.live, c.reported, c.confidence) == ("/r", "/r", "certain")
    assert [(t.path, t.live, t.parts) for t in c.trees] == [("/r", True, ())]


def test_top_holding_only_a_remapped_root_reports_it() -> None:
    given = root("/r", has_tree=False)
    c = trees.choose_root(given, (root(f"/r/{REMAP}", REMAP),), None)
    assert c.live == c.reported == f"/r/{REMAP}"
    assert "holds nothing but the userns-remap root" in c.evidence
    assert [t.path for t in c.trees] == [f"/r/{REMAP}"]  # the empty top is not a tree


def test_group_of_top_names_the_remapped_root() -> None:
    given = root("/r", gid=100000)
    other = root("/r/200000.200000", "200000.200000")
    c = trees.choose_root(given, (root(f"/r/{REMAP}", REMAP), other), None)
    assert c.live == f"/r/{REMAP}" and c.confidence == "certain"
    assert "group 100000" in c.evidence
    top = next(t for t in c.trees if t.path == "/r")
    # The top tree, measured without the remapped roots in it.
    assert not top.live and top.parts == ("/r",) and top.skip == (REMAP, "200000.200000")


def test_group_zero_keeps_the_top_unless_a_remapped_root_started_later() -> None:
    rem = root(f"/r/{REMAP}", REMAP, started=50.0)
    c = trees.choose_root(root("/r", gid=0, started=100.0), (rem,), None)
    assert c.live == "/r" and c.confidence == "certain"
    later = root(f"/r/{REMAP}", REMAP, started=200.0)
    c = trees.choose_root(root("/r", gid=0, started=100.0), (later,), None)
    assert c.live == f"/r/{REMAP}" and c.confidence == "likely"
    assert "backingFsBlockDev" in c.evidence


def test_a_mount_in_a_tree_beats_the_marks() -> None:
    rem = root(f"/r/{REMAP}", REMAP, mounted=f"/r/{REMAP}/overlay2/x/merged")
    c = trees.choose_root(root("/r", gid=0), (rem,), None)
    assert c.live == f"/r/{REMAP}" and "running dockerd" in c.evidence


def test_config_decides_remap_both_ways() -> None:
    rem = root(f"/r/{REMAP}", REMAP)
    on = trees.choose_root(root("/r", gid=0), (rem,), cfg(userns_remap="default", remap_root=REMAP))
    assert on.live == f"/r/{REMAP}" and "userns-remap=default, which maps to" in on.evidence
    off = trees.choose_root(root("/r", gid=100000), (rem,), cfg())
    assert off.live == "/r" and "sets no userns-remap" in off.evidence
    # Remap on, the range not resolvable here, one remapped root: that one.
    unresolved = trees.choose_root(root("/r"), (rem,), cfg(userns_remap="someone"))
    assert unresolved.live == f"/r/{REMAP}"


def test_config_remap_to_a_root_not_made_yet_reports_the_data_there() -> None:
    c = trees.choose_root(root("/r"), (), cfg(userns_remap="default", remap_root=REMAP))
    assert c.live is None and c.reported == "/r"
    assert "does not exist yet" in c.evidence
    assert [(t.path, t.live) for t in c.trees] == [("/r", False)]


def test_a_config_that_does_not_apply_is_no_evidence() -> None:
    c = trees.choose_root(root("/r", gid=0), (root(f"/r/{REMAP}", REMAP),), cfg(applies=False))
    assert c.live == "/r" and "group 0" in c.evidence


def test_driver_config_mount_mtime_and_dockerd_rule() -> None:
    vfs, ov = driver("vfs", mtime=200.0), driver("overlay2", mtime=100.0)
    by_cfg = trees.choose_driver((ov, vfs), cfg(storage_driver="overlay2"))
    assert (by_cfg.live, by_cfg.forced, by_cfg.configured) == ("overlay2", "overlay2", True)
    by_mount = trees.choose_driver((ov, driver("vfs", mtime=300.0, mounted="/m")), None)
    assert by_mount.live == "vfs" and "mounted" in by_mount.trees[0].evidence
    by_time = trees.choose_driver((ov, vfs), None)
    assert by_time.live == "vfs" and by_time.trees[0].confidence == "likely"
    assert "vfs is never chosen from prior data" in by_time.trees[0].evidence
    inactive = next(t for t in by_time.trees if not t.live)
    assert inactive.name == "overlay2" and inactive.parts == ("/r/overlay2", "/r/image/overlay2")
    single = trees.choose_driver((ov, driver("vfs", layers=0, layerdb=0, images=0)), None)
    assert (single.live, single.forced) == ("overlay2", None)
    assert [t.name for t in single.trees] == ["overlay2"]  # an empty vfs/ is no tree
    fresh = trees.choose_driver((driver("vfs"),), cfg(storage_driver="overlay2"))
    assert fresh.forced == "overlay2"
    assert {t.name: t.live for t in fresh.trees} == {"overlay2": True, "vfs": False}


def test_mount_signs() -> None:
    bind = Mount("/r/x", "ext4", "/dev/vda", "/r/x")
    disk = Mount("/r", "ext4", "/dev/vdb", "/")
    assert mounted_in("/r/x", [bind]) == "/r/x"  # dockerd's bind mount of its root onto itself
    assert mounted_in("/r", [disk]) is None  # a root on its own disk is a mount point always
    layer = Mount("/r/x/overlay2/a/merged", "overlay", "overlay")
    assert mounted_in("/r", [layer], exclude=["/r/x"]) is None
    assert mounted_in("/r", [layer]) == layer.path


# ------------------------------------------------------------------------ readers


def test_daemon_config_reader(tmp_path: Path) -> None:
    f = tmp_path / "daemon.json"
    f.write_text(
        json.dumps(
            {
                "graph": "/old",
                "userns-remap": "default",
                "storage-driver": "vfs",
                "features": {"containerd-snapshotter": True},
            }
        )
    )
    c = daemonconfig.read_config(str(f))
    assert (c.data_root, c.userns_remap, c.storage_driver, c.containerd_snapshotter) == (
        "/old",
        "default",
        "vfs",
        True,
    )
    f.write_text("{not json")
    got, note = trees.read_config("/r", str(f))
    assert got is not None and not got.applies and "not valid JSON" in got.why and note
    assert trees.read_config("/r", str(tmp_path / "missing.json")) == (None, "")


def test_remap_root_from_id_files(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\ndockremap:x:103:107::/:/bin/false\n"
    )
    (tmp_path / "subuid").write_text("other:10:5\ndockremap:231072:65536\ndockremap:5:5\n")
    # dockerd looks the user up by uid first, then by name (moby pkg/idtools).
    (tmp_path / "subgid").write_text("103:300000:65536\ndockremap:231072:65536\n")
    assert daemonconfig.remap_root("default", str(tmp_path)) == "231072.300000"
    assert daemonconfig.remap_root("103:107", str(tmp_path)) == "231072.300000"
    assert daemonconfig.remap_root("nobody", str(tmp_path)) is None


def test_config_applies_by_data_root(tmp_path: Path) -> None:
    top = tmp_path / "root"
    (top / REMAP).mkdir(parents=True)
    here = daemonconfig.ConfigFile("/c", data_root=str(top))
    assert trees.describe_config(here, str(top))[0].applies
    assert trees.describe_config(here, str(top / REMAP))[0].applies
    other, note = trees.describe_config(daemonconfig.ConfigFile("/c"), str(top))
    assert not other.applies and "not this root" in note


def test_symlinked_remap_dir_is_not_a_tree(tmp_path: Path) -> None:
    top = tmp_path / "root"
    copy_tree(SAMPLE, top)
    os.symlink("/", top / "200000.200000")
    located = trees.locate(str(top), None)
    assert located.reported == str(top)
    assert located.root is not None and [t.path for t in located.root.trees] == [str(top)]


# ------------------------------------------------------------------------ pipeline on copies


def numbers(report: Report) -> dict[str, Any]:
    """Docker's numbers of a report, by ID (what the Engine API would say)."""
    return {
        "images": {r.image.id: (r.size, r.shared_size) for r in report.images},
        "containers": {r.container.id: (r.size_rw, r.virtual_size) for r in report.containers},
        "volumes": {r.volume.name: (r.size, r.links) for r in report.volumes},
        "df": (
            report.totals.docker_images_size,
            report.totals.docker_containers_size,
            report.totals.docker_volumes_size,
        ),
    }


@pytest.fixture(scope="module")
def sample_numbers() -> dict[str, Any]:
    return numbers(pipeline.run(str(SAMPLE), Options(cache=False, daemon_config=None)))


def run(path: Path, config: str | None = None) -> Report:
    return pipeline.run(str(path), Options(cache=False, daemon_config=config))


def inactive(report: Report) -> list[Any]:
    return [f for f in report.findings if f.kind in (Kind.INACTIVE_ROOT, Kind.INACTIVE_DRIVER_DATA)]


def test_sample_root_has_no_inactive_tree(sample_numbers: dict[str, Any]) -> None:
    report = run(SAMPLE)
    assert inactive(report) == []
    assert [(t.kind, t.live) for t in report.inventory.root.trees] == [
        (TreeKind.ROOT, True),
        (TreeKind.GRAPHDRIVER, True),
    ]
    cats = {c.name: c for c in report.totals.categories}
    assert cats["inactive"].disk == 0
    assert "Data trees" not in text.render(report)


def test_only_a_remapped_root_inside(tmp_path: Path, sample_numbers: dict[str, Any]) -> None:
    top = tmp_path / "root"
    top.mkdir()
    copy_tree(SAMPLE, top / REMAP)
    report = run(top)
    assert report.inventory.root.path == str(top / REMAP)
    assert report.inventory.root.given == str(top)
    assert numbers(report) == sample_numbers
    assert inactive(report) == []


def test_symlinked_root_with_a_remapped_root(
    tmp_path: Path, sample_numbers: dict[str, Any]
) -> None:
    top = tmp_path / "disk" / "docker"
    top.mkdir(parents=True)
    copy_tree(SAMPLE, top / REMAP)
    link = tmp_path / "var-lib-docker"
    link.symlink_to(top)  # /var/lib/docker on another disk: followed once, as given
    report = run(link)
    assert report.inventory.root.path == str(link / REMAP)
    assert numbers(report) == sample_numbers


def test_remap_switch_by_the_group_of_the_top(
    tmp_path: Path, sample_numbers: dict[str, Any]
) -> None:
    top = tmp_path / "root"
    copy_tree(SAMPLE, top)
    copy_tree(SAMPLE, top / REMAP)
    os.chown(top, 0, 100000)  # what dockerd does at every start with userns-remap
    report = run(top)
    assert report.inventory.root.path == str(top / REMAP)
    assert numbers(report) == sample_numbers
    [f] = inactive(report)
    ref = refmeasure(str(top), skip_names=frozenset({REMAP}))
    assert (f.kind, f.path, f.bytes, f.disk_usage) == (
        Kind.INACTIVE_ROOT,
        str(top),
        ref.apparent,
        ref.disk,
    )
    assert "group 100000" in f.detail and "docker info" in f.remedy
    cats = {c.name: c for c in report.totals.categories}
    assert (cats["inactive"].apparent, cats["inactive"].disk) == (ref.apparent, ref.disk)
    doc = json.loads(json_report.render(report))
    assert doc["given_root"] == str(top) and doc["root"] == str(top / REMAP)
    assert [(t["path"], t["live"], t["reported"]) for t in doc["trees"][:2]] == [
        (str(top / REMAP), True, True),
        (str(top), False, False),
    ]
    assert doc["trees"][1]["bytes"] == ref.apparent
    assert "Data trees" in text.render(report)

    os.chown(top, 0, 0)  # the last start was without remap
    report = run(top)
    assert report.inventory.root.path == str(top) and not report.inventory.root.top
    assert numbers(report) == sample_numbers
    [f] = inactive(report)
    ref = refmeasure(str(top / REMAP))
    assert (f.kind, f.path, f.bytes, f.disk_usage) == (
        Kind.INACTIVE_ROOT,
        str(top / REMAP),
        ref.apparent,
        ref.disk,
    )


def test_daemon_config_overrides_the_marks(tmp_path: Path, sample_numbers: dict[str, Any]) -> None:
    top = tmp_path / "root"
    copy_tree(SAMPLE, top)
    copy_tree(SAMPLE, top / REMAP)
    os.chown(top, 0, 100000)
    conf = tmp_path / "daemon.json"
    conf.write_text(json.dumps({"data-root": str(top)}))
    report = run(top, str(conf))
    assert report.inventory.root.path == str(top)
    live = next(t for t in report.inventory.root.trees if t.live)
    assert f"daemon config {conf} sets no userns-remap" in live.evidence
    doc = json.loads(json_report.render(report))
    assert doc["daemon_config"]["applies"] is True
    # A config about another root says nothing of this one.
    conf.write_text(json.dumps({"data-root": str(tmp_path / "elsewhere")}))
    report = run(top, str(conf))
    assert report.inventory.root.path == str(top / REMAP)
    assert any("not used as evidence" in n for n in report.inventory.root.notes)


def test_storage_driver_from_config_without_its_data(tmp_path: Path) -> None:
    top = tmp_path / "root"
    copy_tree(SAMPLE, top)
    conf = tmp_path / "daemon.json"
    conf.write_text(json.dumps({"data-root": str(top), "storage-driver": "vfs"}))
    report = run(top, str(conf))
    assert report.inventory.root.storage_driver == "vfs"
    assert report.images == () and report.containers == ()  # the daemon shows nothing yet
    [f] = inactive(report)
    parts = [str(top / "overlay2"), str(top / "image" / "overlay2")]
    parts += sorted(str(top / "containers" / c) for c in os.listdir(top / "containers"))
    ref = [refmeasure(p) for p in parts]
    assert f.kind is Kind.INACTIVE_DRIVER_DATA and f.path == str(top / "overlay2")
    assert f.bytes == sum(u.apparent for u in ref) and f.disk_usage == sum(u.disk for u in ref)
    assert "created with overlay2" in f.detail  # its containers are part of it
    assert not [x for x in report.findings if x.kind is Kind.CONTAINER_MISSING_IMAGE]


def test_data_root_moved_away_leaves_the_default_root_inactive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_numbers: dict[str, Any]
) -> None:
    top = tmp_path / "var-lib-docker"
    copy_tree(SAMPLE, top)
    monkeypatch.setattr(daemonconfig, "DEFAULT_DATA_ROOT", str(top))
    conf = tmp_path / "daemon.json"
    conf.write_text(json.dumps({"data-root": "/mnt/docker"}))
    report = run(top, str(conf))
    assert numbers(report) == sample_numbers  # what is in it, as it is
    whole = [f for f in report.findings if f.kind is Kind.INACTIVE_ROOT]
    assert [f.path for f in whole] == [str(top)]
    mine = [c for c in report.totals.categories if c.name != "inactive"]
    assert whole[0].bytes == sum(c.apparent for c in mine)
    assert whole[0].disk_usage == report.totals.disk_total
    assert "data-root /mnt/docker" in whole[0].detail
    # Its bytes hold every finding inside it: nothing is counted twice.
    kept = counted(report.findings, str(top))
    assert [f.kind for f in kept if f.path.startswith(str(top))] == [Kind.INACTIVE_ROOT]
    assert report.totals.reclaimable == whole[0].bytes
    checks = evaluate(AuditSettings(max_orphan_bytes=0), report, report.findings, None, None)
    orphan = next(c for c in checks if c.name == "max_orphan_bytes")
    assert orphan.value == whole[0].bytes and orphan.crossed


# ------------------------------------------------------------------------ the command line


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=120,
        check=False,
    )


def test_cli_reads_the_config_data_root_and_hints_other_roots(tmp_path: Path) -> None:
    conf = tmp_path / "daemon.json"
    conf.write_text(json.dumps({"data-root": str(SAMPLE)}))
    res = cli("report", "--format", "json", "--no-sizes", "--daemon-config", str(conf))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["root"] == str(SAMPLE) and doc["daemon_config"]["applies"] is True

    home = tmp_path / "home"
    (home / ".local" / "share" / "docker").mkdir(parents=True)
    conf.write_text(json.dumps({"data-root": str(tmp_path / "absent")}))
    env = {"HOME": str(home), "XDG_DATA_HOME": ""}
    res = cli("report", "--daemon-config", str(conf), env=env)
    assert res.returncode == 2 and res.stdout == ""
    assert str(tmp_path / "absent") in res.stderr
    assert f"{home}/.local/share/docker (rootless Docker)" in res.stderr

    res = cli("report", "--root", str(SAMPLE), "--daemon-config", str(tmp_path / "nope.json"))
    assert res.returncode == 2 and "--daemon-config" in res.stderr


def test_audit_counts_and_exports_inactive_bytes(tmp_path: Path) -> None:
    top = tmp_path / "root"
    copy_tree(SAMPLE, top)
    copy_tree(SAMPLE, top / REMAP)
    os.chown(top, 0, 100000)
    ref = refmeasure(str(top), skip_names=frozenset({REMAP}))
    prom = tmp_path / "out" / "m.prom"
    prom.parent.mkdir()
    res = cli(
        *("audit", "--root", str(top), "--max-orphan-bytes", "0", "--json"),
        *("--prometheus", str(prom), "--state-dir", str(tmp_path / "state")),
    )
    assert res.returncode == 1, res.stderr  # inactive bytes are bytes Docker never frees
    doc = json.loads(res.stdout)
    check = next(c for c in doc["checks"] if c["name"] == "max_orphan_bytes")
    assert check["value"] == ref.apparent and check["crossed"]
    assert check["offenders"][0]["path"] == str(top)
    metrics = prom.read_text()
    line = next(
        x
        for x in metrics.splitlines()
        if x.startswith("docker_inspector_finding_bytes{") and 'kind="inactive_root"' in x
    )
    assert float(line.rsplit(" ", 1)[1]) == ref.apparent
    disk = next(
        x
        for x in metrics.splitlines()
        if x.startswith("docker_inspector_category_disk_bytes{") and 'category="inactive"' in x
    )
    assert float(disk.rsplit(" ", 1)[1]) == ref.disk


def test_tui_overview_lists_every_tree(tmp_path: Path) -> None:
    from test_tui import drive, screen_text
    from textual.pilot import Pilot

    from inspector.tui.app import make_app

    top = tmp_path / "root"
    copy_tree(SAMPLE, top)
    copy_tree(SAMPLE, top / REMAP)
    os.chown(top, 0, 100000)
    app = make_app(report=run(top), root_label=str(top))

    async def script(pilot: Pilot[int]) -> None:
        await pilot.pause()
        shown = [" ".join(x.split()) for x in screen_text(app).splitlines()]
        assert any("Data trees" in x for x in shown)
        assert any(f"> live root {top / REMAP} this report" in x for x in shown)
        assert any(f"inactive root {top} " in x for x in shown)
        assert any("root (certain):" in x and "group 100000" in x for x in shown)

    drive(app, script, size=(160, 50))
