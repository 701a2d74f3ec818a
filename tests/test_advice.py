"""Advice findings on the session's private dockerd, against the Engine API and du.

- ``unbounded_log``: exactly the containers whose ``HostConfig.LogConfig`` is json-file without
  max-size (the scenario's ``rotlog`` has one and is left out), with their log files' bytes;
- ``large_writable_layer``: exactly the containers whose SizeRw (inspect ``size=1``) is over
  the threshold, with that SizeRw;
- ``plugin`` and the ``plugins`` category: a plugin made with ``docker plugin create`` (no
  registry needed), named as ``docker plugin ls`` names it, its bytes those of its dir and
  blobs, and the category ``du`` of ``plugins/``. The plugin is removed after the module.
"""

from __future__ import annotations

import glob
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dockerlab import busybox_rootfs_tar
from refwalk import measure

from inspector import pipeline
from inspector.analysis.results import Finding, Kind, Report
from inspector.options import Options

pytestmark = pytest.mark.dockerd

PLUGIN = "dinspector/testplugin:1.0"


@pytest.fixture(scope="module")
def plugin(
    dockerd: Any, scenario: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A disabled volume-driver plugin in the session daemon (removed after the module)."""
    ctx = tmp_path_factory.mktemp("plugin")
    (ctx / "rootfs").mkdir()
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar())) as tar:
        tar.extractall(ctx / "rootfs", filter="tar")
    config = {
        "description": "docker-inspector test plugin",
        "documentation": "https://example.invalid",
        "entrypoint": ["/bin/sleep", "1000000"],
        "interface": {"types": ["docker.volumedriver/1.0"], "socket": "test.sock"},
        "network": {"type": "none"},
    }
    (ctx / "config.json").write_text(json.dumps(config))
    dockerd.cli("plugin", "create", PLUGIN, str(ctx))
    try:
        info = next(p for p in dockerd.api.plugins() if p["Name"] == PLUGIN)
        yield info
    finally:
        dockerd.cli("plugin", "rm", "-f", PLUGIN)


def _only(report: Report, kind: Kind) -> list[Finding]:
    return [f for f in report.findings if f.kind is kind]


def test_unbounded_logs_are_the_api_s_json_file_containers_without_max_size(
    dockerd: Any, scenario: dict[str, Any]
) -> None:
    api = dockerd.api
    loose: dict[str, int] = {}
    bounded = []
    for c in api.containers(all=True):
        ins = api.inspect_container(c["Id"])
        log = ins["HostConfig"]["LogConfig"]
        if log["Type"] == "json-file" and "max-size" not in (log.get("Config") or {}):
            # A container never started has no log file yet (LogPath "").
            logs = glob.glob(glob.escape(ins["LogPath"]) + "*") if ins["LogPath"] else []
            loose[c["Id"]] = sum(os.lstat(f).st_size for f in logs)
        else:
            bounded.append(c["Id"])
    assert scenario["containers"]["rotlog"] in bounded  # the guard: one is bounded
    report = pipeline.run(str(dockerd.data_root))
    [f] = _only(report, Kind.UNBOUNDED_LOG)
    assert f.bytes == sum(loose.values()) > 0
    assert f.detail.startswith(f"{len(loose)} container(s) log with json-file and no max-size")
    names = {api.inspect_container(cid)["Name"].lstrip("/") for cid in loose}
    assert all(n in f.detail for n in names if len(names) <= 5)
    assert "rotlog" not in f.detail
    assert '"log-opts": {"max-size": "10m", "max-file": "3"}' in f.remedy
    assert not f.reclaimable and f.severity.value == "info"


def test_large_writable_layers_are_the_api_s_sizerw_over_the_threshold(
    dockerd: Any, scenario: dict[str, Any]
) -> None:
    sizes = {
        c["Id"]: dockerd.inspect_container_sized(c["Id"]).get("SizeRw") or 0
        for c in dockerd.api.containers(all=True)
    }
    threshold = 100_000
    over = {cid: s for cid, s in sizes.items() if s > threshold}
    assert scenario["containers"]["web"] in over  # its 1 MiB sparse file
    assert any(s <= threshold for s in sizes.values())
    report = pipeline.analyse(
        pipeline.read(str(dockerd.data_root)), None, Options()
    )  # not measured: no SizeRw, no finding
    assert _only(report, Kind.LARGE_WRITABLE_LAYER) == []
    report = pipeline.run(str(dockerd.data_root), Options(large_rw_bytes=threshold))
    got = {f.object_id: f.bytes for f in _only(report, Kind.LARGE_WRITABLE_LAYER)}
    assert got == over
    default = pipeline.run(str(dockerd.data_root))
    assert _only(default, Kind.LARGE_WRITABLE_LAYER) == []  # 1 GiB by default


def test_plugin_finding_and_category(dockerd: Any, plugin: dict[str, Any]) -> None:
    root = Path(dockerd.data_root)
    report = pipeline.run(str(root))
    [f] = _only(report, Kind.PLUGIN)
    assert f.object_id == plugin["Id"]
    assert f"managed plugin {PLUGIN} (disabled; docker.volumedriver/1.0)" in f.detail
    pdir = root / "plugins" / plugin["Id"]
    blobs = [os.lstat(p) for p in glob.glob(str(root / "plugins/storage/blobs/sha256/*"))]
    assert blobs  # the guard: the plugin's config, manifest and layer
    assert f.path == str(pdir)
    assert f.bytes == measure(str(pdir)).apparent + sum(b.st_size for b in blobs)
    assert f.disk_usage == measure(str(pdir)).disk + sum(b.st_blocks * 512 for b in blobs)
    assert f.remedy.endswith(f"docker plugin rm {PLUGIN}")
    cats = {c.name: c for c in report.totals.categories}
    du = measure(str(root / "plugins"))
    assert (cats["plugins"].apparent, cats["plugins"].disk) == (du.apparent, du.disk)
    # explain names it by its path too.
    from inspector.analysis.explain import explain

    e = explain(report, str(pdir), pipeline._probe(report, str(pdir)))
    assert e.category == "plugins" and [x.kind for x in e.findings] == [Kind.PLUGIN]
