"""Read-only proof: no command of docker-inspector changes anything under the data root.

Every command runs on a stopped-like copy of the session daemon's root (so that the daemon's
own writes cannot hide or fake a change) between two manifests of the whole tree
(tests/rootmanifest.py): type, mode, owner, size, mtime, ctime, inode, link count, symlink
target, xattrs of every path and the sha256 of every metadata file must be identical, and no
regular file's atime may move (the tool opens files with O_NOATIME). Outputs (reports,
Prometheus file, audit state, size cache) go outside the root.

Also here: a symlink planted in place of a metadata file (config.v2.json, a layerdb `size`),
of a layerdb entry, of a container or volume dir, is reported and never followed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import rootmanifest

from inspector import pipeline

pytestmark = pytest.mark.dockerd

REPO = Path(__file__).resolve().parents[1]


def cli_env(base: Path) -> dict[str, str]:
    """The caller's environment with cache, state and home dirs in `base` (outside the root)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    for name in ("cache", "state", "home", "config"):
        (base / name).mkdir(parents=True, exist_ok=True)
    env.update(
        XDG_CACHE_HOME=str(base / "cache"),
        XDG_STATE_HOME=str(base / "state"),
        XDG_CONFIG_HOME=str(base / "config"),
        HOME=str(base / "home"),
        PYTHONPATH=str(REPO),
    )
    return env


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        timeout=timeout,
        check=False,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def stopped_copy(
    dockerd: Any, scenario: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A full-fidelity copy of the session root: nothing but the tool touches it."""
    root = tmp_path_factory.mktemp("readonly") / "root"
    dockerd.copy_root(root)
    return root


@pytest.fixture(scope="module")
def baseline(stopped_copy: Path) -> rootmanifest.Manifest:
    m = rootmanifest.take(stopped_copy)
    # Guard: the manifest really covers the interesting parts of a root.
    assert m.hashed > 50
    kinds = {rel.split("/")[0] for rel in m.entries}
    assert {"image", "overlay2", "containers", "volumes", "buildkit"} <= kinds
    assert any("/diff/" in rel for rel in m.entries)
    assert any("/_data/" in rel for rel in m.entries)
    return m


def assert_unchanged(root: Path, before: rootmanifest.Manifest, what: str) -> None:
    after = rootmanifest.take(root)
    diff = rootmanifest.differences(before, after)
    assert not diff, f"{what} changed the data root:\n" + "\n".join(diff)
    moved = rootmanifest.atime_differences(before, after)
    assert not moved, f"{what} read files without O_NOATIME:\n" + "\n".join(moved)


def test_manifest_sees_every_kind_of_change(tmp_path: Path) -> None:
    """Guard for the proof itself: each kind of write shows up as a difference."""
    root = tmp_path / "r"
    (root / "image").mkdir(parents=True)
    meta = root / "image" / "repositories.json"
    meta.write_text("{}")
    diff_dir = root / "overlay2" / "abc" / "diff"
    diff_dir.mkdir(parents=True)
    (diff_dir / "big").write_bytes(b"x" * 10)
    old = time.time() - 3600
    for p in (meta, diff_dir / "big"):
        os.utime(p, (old, old))
    base = rootmanifest.take(root)
    assert rootmanifest.differences(base, rootmanifest.take(root)) == []

    def changed(action: Any) -> list[str]:
        nonlocal base
        action()
        after = rootmanifest.take(root)
        out = rootmanifest.differences(base, after) + rootmanifest.atime_differences(base, after)
        base = after
        return out

    # Same size and mtime, other bytes: only the hash (and ctime) can tell.
    st = meta.stat()
    assert changed(
        lambda: (meta.write_text("[]"), os.utime(meta, ns=(st.st_atime_ns, st.st_mtime_ns)))
    )
    assert changed(lambda: os.chmod(meta, 0o600))
    assert changed(lambda: os.setxattr(meta, "user.x", b"1"))
    assert changed(lambda: (root / "new").touch())
    assert changed(lambda: os.link(meta, root / "hard"))
    assert changed(lambda: (diff_dir / "big").read_bytes())  # atime: a plain read
    assert changed(lambda: (root / "new").unlink())


COMMANDS = [
    pytest.param(["report"], id="report-text"),
    pytest.param(["report", "--format", "json"], id="report-json"),
    pytest.param(["report", "--no-sizes"], id="report-text-no-sizes"),
    pytest.param(["report", "--format", "json", "--no-sizes"], id="report-json-no-sizes"),
    pytest.param(["report", "--full"], id="report-full"),
    pytest.param(["report", "--format", "json", "--full", "--no-cache"], id="report-full-nocache"),
    pytest.param(["report", "--no-cache"], id="report-no-cache"),
    pytest.param(["report", "--format", "json", "--output", "{out}/r.json"], id="report-output"),
    pytest.param(
        ["audit", "--prometheus", "{out}/m.prom", "--state-dir", "{out}/state", "--verbose"],
        id="audit-prometheus",
    ),
    pytest.param(
        ["audit", "--json", "--state-dir", "{out}/state", "--max-orphan-bytes", "1"],
        id="audit-json",
    ),
    pytest.param(["efficiency"], id="efficiency-text"),
    pytest.param(["efficiency", "--format", "json", "--no-cache"], id="efficiency-json-nocache"),
    pytest.param(["explain", "{root}/overlay2"], id="explain-path"),
    pytest.param(["explain", "app:1", "--format", "json", "--no-cache"], id="explain-image-json"),
    pytest.param(["prune"], id="prune-text"),
    pytest.param(["prune", "--format", "json", "--no-cache"], id="prune-json-nocache"),
]


@pytest.mark.parametrize("args", COMMANDS)
def test_command_leaves_root_untouched(
    args: list[str], stopped_copy: Path, baseline: rootmanifest.Manifest, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    argv = ["--root", str(stopped_copy), *(a.format(out=out, root=stopped_copy) for a in args)]
    res = run_cli(argv, cli_env(tmp_path))
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode in ((0, 1) if args[0] == "audit" else (0,)), res.stderr
    if "--output" in args:
        json.loads((out / "r.json").read_text("utf-8"))
    elif "--format" in args or "--json" in args:
        json.loads(res.stdout)
    else:
        assert res.stdout.strip()
    if "--prometheus" in args:
        assert "docker_inspector_" in (out / "m.prom").read_text("utf-8")
    assert_unchanged(stopped_copy, baseline, " ".join(args))


def test_repeated_runs_with_a_warm_cache_leave_root_untouched(
    stopped_copy: Path, baseline: rootmanifest.Manifest, tmp_path: Path
) -> None:
    """The size cache (written, then read back) lives outside the root."""
    env = cli_env(tmp_path)
    for _ in range(2):
        res = run_cli(["--root", str(stopped_copy), "report", "--format", "json"], env)
        assert res.returncode == 0, res.stderr
    assert any((tmp_path / "cache").rglob("*")), "the size cache was not written where told"
    assert_unchanged(stopped_copy, baseline, "report with a warm size cache")


def test_tui_with_export_leaves_root_untouched(
    stopped_copy: Path,
    baseline: rootmanifest.Manifest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The TUI, driven by Textual's Pilot through every tab, a detail page and an export."""
    try:
        from textual.widgets import Input

        from inspector.tui.app import make_app
    except ImportError:
        pytest.skip("TUI not available yet")
    for name, sub in (("XDG_CACHE_HOME", "cache"), ("XDG_STATE_HOME", "state")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(name, str(tmp_path / sub))
    app = make_app(root=str(stopped_copy))
    app.animation_level = "none"
    out = tmp_path / "export.json"

    async def until(pilot: Any, cond: Any, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < end, "timed out"
            await pilot.pause(0.05)

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.report is not None and not app.measuring)
            assert app.report is not None and app.report.measured
            for key in "123456":
                await pilot.press(key)
            # The file browser on a container's writable layer, a layer (its tar-split and
            # the layers below for the marks) and a volume, each read to the end.
            from inspector.tui.screens.browse import BrowseScreen

            for key in "435":
                await pilot.press(key, "b")
                await until(pilot, lambda: isinstance(app.screen, BrowseScreen))
                screen = app.screen
                assert isinstance(screen, BrowseScreen)
                await until(pilot, lambda s=screen: s.ftree.done)
                assert screen.ftree.root.items > 0, key
                await pilot.press("enter", "backspace", "escape")
            # dive's numbers for every image (tar-split of every layer) are in too.
            await until(pilot, lambda: app.efficiency is not None and not app.efficiency.running)
            await pilot.press("2", "enter")  # an image's detail page
            await pilot.press("escape", "e")
            field = app.screen.query_one("#export-path", Input)
            field.value = str(out)
            await pilot.press("enter")
            await until(pilot, lambda: out.exists() and out.stat().st_size > 0)
            await pilot.press("q")

    asyncio.run(main())
    doc = json.loads(out.read_text("utf-8"))
    assert doc["root"] == str(stopped_copy)
    assert_unchanged(stopped_copy, baseline, "the TUI (browse + export)")


def test_live_root_file_atimes_do_not_move(dockerd: Any, scenario: dict[str, Any]) -> None:
    """On the live root too: every metadata file the tool reads keeps its atime.

    Regular files of the live root mostly have atime == mtime (written, never read), and
    relatime moves such an atime on any read without O_NOATIME. Only files the daemon itself
    may touch meanwhile (running containers' logs and state, containerd's) are left out.
    """
    root = Path(dockerd.data_root)

    def atimes() -> dict[str, int]:
        m = rootmanifest.take_atimes(root)
        return {
            rel: t
            for rel, t in m.items()
            if not rel.startswith(("containerd/", "network/", "tmp/"))
            and not rel.endswith(("-json.log", ".log"))
        }

    before = atimes()
    assert len(before) > 50
    report = pipeline.run(str(root))
    assert report.containers and report.images
    after = atimes()
    moved = sorted(rel for rel in before if rel in after and after[rel] != before[rel])
    assert not moved, f"atime moved on the live root: {moved[:20]}"


# --------------------------------------------------------------------------------------------
# Planted symlinks: reported, never followed.


@pytest.fixture
def planted(stopped_copy: Path, tmp_path: Path) -> Path:
    """A private copy of the stopped copy, to plant symlinks in."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", "--sparse=always", str(stopped_copy), str(root)], check=True)
    return root


def report_json(root: Path, tmp_path: Path) -> dict[str, Any]:
    res = run_cli(["--root", str(root), "report", "--format", "json"], cli_env(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def unreadable(doc: dict[str, Any]) -> dict[str, str]:
    return {f["path"]: f["detail"] for f in doc["findings"] if f["kind"] == "unreadable"}


def test_symlinked_metadata_files_are_reported_not_followed(
    planted: Path, scenario: dict[str, Any], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    web = scenario["containers"]["web"]
    # 1. config.v2.json -> a valid copy of itself outside the root: following it would load
    #    the container as if nothing were wrong.
    cfg = planted / "containers" / web / "config.v2.json"
    shutil.copy(cfg, outside / "config.v2.json")
    cfg.unlink()
    cfg.symlink_to(outside / "config.v2.json")
    # 2. A layerdb `size` file -> a file outside holding another number.
    layer = sorted((planted / "image/overlay2/layerdb/sha256").iterdir())[0]
    (outside / "size").write_text("123456789")
    (layer / "size").unlink()
    (layer / "size").symlink_to(outside / "size")
    # 3. repositories.json -> outside.
    repos = planted / "image/overlay2/repositories.json"
    shutil.copy(repos, outside / "repositories.json")
    repos.unlink()
    repos.symlink_to(outside / "repositories.json")
    atimes_before = {p.name: p.stat().st_atime_ns for p in outside.iterdir()}

    doc = report_json(planted, tmp_path)
    bad = unreadable(doc)
    cdir = str(planted / "containers" / web)
    cfg_findings = [
        f for f in doc["findings"] if f["kind"] == "container_without_config" and f["path"] == cdir
    ]
    assert cfg_findings and "symlink" in cfg_findings[0]["detail"]
    assert web not in {c["id"] for c in doc["containers"]}
    assert "symlink" in bad[str(layer)], bad
    assert "symlink" in bad[str(repos)], bad
    assert all(img["tags"] == [] for img in doc["images"])  # repositories.json not read
    assert 123456789 not in {lay["size"] for lay in doc["layers"]}
    assert {p.name: p.stat().st_atime_ns for p in outside.iterdir()} == atimes_before


def test_symlinked_dirs_are_reported_not_followed(
    planted: Path, scenario: dict[str, Any], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    job = scenario["containers"]["job"]
    # A container dir, a layerdb entry, a layerdb mount and a volume dir, each replaced by a
    # symlink to a (valid) copy of itself outside the root.
    moved = {
        "container": planted / "containers" / job,
        "layer": sorted((planted / "image/overlay2/layerdb/sha256").iterdir())[-1],
        "mount": planted / "image/overlay2/layerdb/mounts" / job,
        "volume": planted / "volumes" / "unused",
    }
    for what, path in moved.items():
        dst = outside / what
        shutil.copytree(path, dst, symlinks=True)
        shutil.rmtree(path)
        path.symlink_to(dst)
    # A volume's bytes outside the root must never be counted: make them big.
    with open(outside / "volume" / "_data" / "sparse", "wb") as fh:
        fh.truncate(10**12)

    doc = report_json(planted, tmp_path)
    bad = unreadable(doc)
    for what in ("container", "layer", "mount"):
        assert "symlink" in bad.get(str(moved[what]), ""), (what, bad)
    assert job not in {c["id"] for c in doc["containers"]}
    assert str(moved["volume"]) in bad
    assert "unused" not in {v["name"] for v in doc["volumes"] if v["size"]}
    assert all((v["size"] or 0) < 10**12 for v in doc["volumes"])
    assert doc["totals"]["disk_usage"] < 10**11


def test_fifo_and_device_in_place_of_metadata_never_block(
    planted: Path, scenario: dict[str, Any], tmp_path: Path
) -> None:
    """A FIFO as config.v2.json / a layerdb file: O_NONBLOCK + fstat refuse it at once."""
    web = scenario["containers"]["web"]
    cfg = planted / "containers" / web / "config.v2.json"
    cfg.unlink()
    os.mkfifo(cfg)
    layer = sorted((planted / "image/overlay2/layerdb/sha256").iterdir())[0]
    (layer / "cache-id").unlink()
    os.mkfifo(layer / "cache-id")
    (layer / "size").unlink()
    os.mknod(layer / "size", 0o600 | 0o020000, os.makedev(1, 3))  # /dev/null's numbers
    started = time.monotonic()
    doc = report_json(planted, tmp_path)
    assert time.monotonic() - started < 60
    details = {f["path"]: f["detail"] for f in doc["findings"]}
    assert "not a regular file" in details[str(planted / "containers" / web)]
    assert "not a regular file" in details[str(layer)]
