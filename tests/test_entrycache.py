"""The metadata cache (inspector.readers.entrycache): an unchanged entry is not read again, a
changed one is, and nothing about the cache file can make the tool trust what it should not.

On copies of the committed sample root (written by a real dockerd) and on the session
daemon's live root while that daemon creates, starts, renames and removes containers and
tags and removes images: the Inventory read with the cache must equal the one read without
it, and the containers and images in it must be the Engine API's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dockerlab import DockerLabError, PrivateDockerd

from inspector import pipeline
from inspector.model import Inventory
from inspector.readers import entrycache

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "root"


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "docker-inspector"


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries made by the test a moment ago count as settled (copies are brand new)."""
    monkeypatch.setattr(entrycache, "SETTLE_SECONDS", 0.0)


def copy_sample(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(SAMPLE, root, symlinks=True)
    time.sleep(0.02)  # the copy's ctimes lie before the first run's start
    return root


def bare(inv: Inventory) -> Inventory:
    return dataclasses.replace(inv, scan_started=0.0)


def read(root: Path, cache: bool = True) -> Inventory:
    return bare(pipeline.read(str(root), cache=cache))


def stored(xdg: Path, root: Path) -> dict[str, Any]:
    with open(xdg / entrycache.file_name(str(root)), "rb") as f:
        doc: dict[str, Any] = pickle.load(f)
    return {k: v for k, v in doc.items() if isinstance(v, dict)}


def a_layer(root: Path) -> Path:
    sha = root / "image" / "overlay2" / "layerdb" / "sha256"
    return next(p for p in sorted(sha.iterdir()) if (p / "size").is_file())


def test_the_warm_run_equals_a_full_read_and_reads_no_unchanged_entry(
    tmp_path: Path, xdg: Path, settled: None
) -> None:
    root = copy_sample(tmp_path)
    cold = read(root)
    kept = stored(xdg, root)
    assert len(kept["layers"]) == len(cold.layers) > 0
    assert len(kept["overlay2"]) == len(cold.storage_dirs) > 0
    assert len(kept["shortlinks"]) == len(cold.short_links) > 0
    assert len(kept["mounts"]) == len(cold.rw_layers) > 0
    assert len(kept["containers"]) == len(cold.containers) > 0
    assert len(kept["imageconfigs"]) == len(cold.images) > 0
    assert read(root) == cold == read(root, cache=False)

    # Proof that the warm run did not open the entry: a size rewritten in place (which the
    # daemon never does) leaves the dir's identity alone, and only --no-cache sees it.
    layer = a_layer(root)
    chain = "sha256:" + layer.name
    (layer / "size").write_text("123456789")
    assert read(root, cache=False).layers[chain].size == 123456789
    assert read(root).layers[chain].size == cold.layers[chain].size

    # Written as the daemon writes (a temp file renamed into place): the dir changes.
    time.sleep(0.02)
    tmp = layer / ".size.tmp"
    tmp.write_text("987654321")
    os.replace(tmp, layer / "size")
    assert read(root).layers[chain].size == 987654321
    assert read(root) == read(root, cache=False)

    # A container's record is keyed by its config files too: one rewritten in place (or
    # its mode changed: a non-root user's copy) is read again.
    cid = sorted(cold.containers)[0]
    config = root / "containers" / cid / "config.v2.json"
    doc = json.loads(config.read_text())
    doc["Name"] = "/renamed-in-place"
    with open(config, "r+") as f:
        f.write(json.dumps(doc))
        f.truncate()
    assert read(root).containers[cid].name == "renamed-in-place"
    assert read(root) == read(root, cache=False)


def test_entries_made_or_removed_since_are_read_or_dropped(
    tmp_path: Path, xdg: Path, settled: None
) -> None:
    root = copy_sample(tmp_path)
    read(root)
    cid = next(iter(sorted(read(root).containers)))
    shutil.rmtree(root / "containers" / cid)
    layer = a_layer(root)
    shutil.rmtree(layer)
    extra = root / "overlay2" / ("f" * 64)
    (extra / "diff").mkdir(parents=True)
    (extra / "link").write_text("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    os.symlink(f"../{extra.name}/diff", root / "overlay2" / "l" / "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    warm = read(root)
    assert warm == read(root, cache=False)
    assert cid not in warm.containers
    assert "sha256:" + layer.name not in warm.layers
    assert warm.storage_dirs[extra.name].link == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert warm.short_links["ABCDEFGHIJKLMNOPQRSTUVWXYZ"].target_dir == extra.name
    kept = stored(xdg, root)
    assert cid not in kept["containers"] and layer.name not in kept["layers"]


def test_entries_changed_within_the_settle_time_are_not_stored(tmp_path: Path, xdg: Path) -> None:
    root = copy_sample(tmp_path)  # every entry was made a moment ago
    cold = read(root)
    kept = stored(xdg, root) if (xdg / entrycache.file_name(str(root))).exists() else {}
    assert not any(kept.values()), "a daemon may still be writing entries this recent"
    assert read(root) == cold


def test_no_cache_reads_and_writes_nothing(tmp_path: Path, xdg: Path, settled: None) -> None:
    root = copy_sample(tmp_path)
    read(root, cache=False)
    assert not (xdg / entrycache.file_name(str(root))).exists()


class Planted:
    """Unpickling this runs a command: a cache file must never be able to do that."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["code", "group-writable", "garbage", "other-root", "symlink"])
def test_an_untrustworthy_cache_file_is_ignored(
    how: str, tmp_path: Path, xdg: Path, settled: None
) -> None:
    root = copy_sample(tmp_path)
    cold = read(root)
    path = xdg / entrycache.file_name(str(root))
    layer = a_layer(root)
    chain = "sha256:" + layer.name
    (layer / "size").write_text("123456789")  # seen only when the entry is read again
    marker = tmp_path / "pwned"
    if how == "code":
        doc = pickle.loads(path.read_bytes())
        doc["layers"][layer.name] = Planted(marker)
        path.write_bytes(pickle.dumps(doc))
    elif how == "group-writable":
        path.chmod(0o660)
    elif how == "garbage":
        path.write_bytes(b"\x80\x05not a pickle")
    elif how == "other-root":
        doc = pickle.loads(path.read_bytes())
        doc["root"] = "/elsewhere"
        path.write_bytes(pickle.dumps(doc))
    else:
        real = tmp_path / "real.pickle"
        shutil.move(path, real)
        path.symlink_to(real)
    warm = read(root)
    assert not marker.exists()
    assert warm.layers[chain].size == 123456789
    assert warm == read(root, cache=False) != cold


def test_a_cache_dir_inside_the_root_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settled: None
) -> None:
    root = copy_sample(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    assert read(root) == read(root, cache=False)
    assert not (root / "cache").exists()


FORKED = """
import dataclasses, json, sys
from inspector import pipeline
from inspector.readers import entrycache
from inspector.stores import graphdriver
entrycache.SETTLE_SECONDS = 0.0
graphdriver.FORK_MIN_DIRS = 1
graphdriver._idle_core = lambda: True
started = []
real = graphdriver.forked.start
def spy(fn, fork=True, fast=()):
    p = real(fn, fork, fast)
    started.append(p.pid)
    return p
graphdriver.forked.start = spy
bare = lambda i: dataclasses.replace(i, scan_started=0.0)
cold = bare(pipeline.read(sys.argv[1], cache=True))
warm = bare(pipeline.read(sys.argv[1], cache=True))
plain = bare(pipeline.read(sys.argv[1], cache=False))
print(json.dumps({"pids": started, "same": cold == warm == plain}))
"""


def test_a_forked_reader_hands_its_entries_to_the_cache(
    tmp_path: Path, xdg: Path, settled: None
) -> None:
    root = copy_sample(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", FORKED, str(root)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    got = json.loads(out.stdout)
    pids = got["pids"]
    assert pids[0] > 0, "cold: the overlay2 dirs are read by a forked reader"
    assert pids[1] == 0, "warm: the cache holds them, nothing is forked"
    assert pids[2] > 0
    assert got["same"] is True
    kept = stored(xdg, root)
    plain = read(root, cache=False)
    assert set(kept["overlay2"]) == set(plain.storage_dirs)
    assert set(kept["shortlinks"]) == set(plain.short_links)


# --------------------------------------------------------------------------- live daemon


@pytest.fixture
def churned(dockerd: PrivateDockerd) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        with contextlib.suppress(DockerLabError):
            dockerd.cli("rm", "-f", name)


def test_the_live_daemons_own_changes_are_seen_through_the_cache(
    dockerd: PrivateDockerd,
    scenario: Any,
    xdg: Path,
    settled: None,
    churned: list[str],
) -> None:
    root = dockerd.data_root
    image = scenario["images"]["busybox:base"]
    for n in ("a", "b", "c"):
        dockerd.cli("create", "--name", f"dinspector-ec-{n}", image, "sleep", "60")
        churned.append(f"dinspector-ec-{n}")
    dockerd.cli("tag", image, "dinspector-ec:before")
    time.sleep(0.05)
    before = read(root)
    kept = stored(xdg, root)
    assert len(kept["layers"]) == len(before.layers) and set(kept["containers"]) == set(
        before.containers
    )
    # Config rewrites (start, stop, rename), a removal, a new container, a new tag, an untag.
    dockerd.cli("start", "dinspector-ec-a")
    dockerd.cli("stop", "-t", "0", "dinspector-ec-a")
    dockerd.cli("rename", "dinspector-ec-b", "dinspector-ec-b2")
    churned.append("dinspector-ec-b2")
    dockerd.cli("rm", "dinspector-ec-c")
    dockerd.cli("create", "--name", "dinspector-ec-d", image, "true")
    churned.append("dinspector-ec-d")
    dockerd.cli("tag", image, "dinspector-ec:after")
    dockerd.cli("rmi", "dinspector-ec:before")
    try:
        warm = read(root)
        assert warm == read(root, cache=False)
        api = {c["Id"]: c for c in dockerd.api.containers(all=True)}
        assert set(warm.containers) == set(api)
        for cid, c in api.items():
            assert warm.containers[cid].name == c["Names"][0].removeprefix("/")
            assert warm.containers[cid].state == c["State"]
        assert set(warm.images) == {i["Id"] for i in dockerd.api.images(all=True)}
        tags = [t for img in warm.images.values() for t in img.tags]
        assert any(t.endswith("dinspector-ec:after") for t in tags)
        assert not any(t.endswith("dinspector-ec:before") for t in tags)
    finally:
        dockerd.cli("rmi", "dinspector-ec:after")
