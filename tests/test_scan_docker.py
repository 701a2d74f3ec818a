"""Scan modes and verification on real data roots written by dockerd.

- On a copy of the session scenario root: default (cold and warm cache), --full and
  --no-cache give identical reports, and --full finds no size mismatch on intact layers.
- On a root of our own daemon: layers holding a hard link and a symlink, built by the classic
  builder and by BuildKit, show which walked number Docker recorded (the rules verify.py
  applies), and a layer edited after registration is reported by --full with its rule.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dockerlab import PrivateDockerd, copy_tree

from inspector import inventory, measure
from inspector.analysis import verify
from inspector.cli import main
from inspector.model import Inventory

pytestmark = pytest.mark.dockerd

LINKS = "RUN echo one > /one && ln /one /two && ln -s /one /three\n"


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def json_report(root: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    assert main(["report", "--root", str(root), "--format", "json", *flags]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    doc.pop("generated_at", None)
    return doc


def test_default_and_full_give_identical_numbers_on_a_real_root(
    dockerd: PrivateDockerd,
    scenario: dict[str, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "root"
    dockerd.copy_root(root)
    cold = json_report(root, capsys)
    warm = json_report(root, capsys)
    full = json_report(root, capsys, "--full")
    nocache = json_report(root, capsys, "--no-cache")
    assert cold == warm == full == nocache
    assert not [f for f in full["findings"] if f["kind"] == "size_mismatch"]
    # The warm run really used the cache for every image layer.
    inv = inventory.read(str(root))
    res = measure.scan(inv)
    assert res.stats.cached_dirs >= len(inv.layers) > 0


@pytest.fixture(scope="module")
def links_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A stopped root with the same hard link + symlink layer built classic and by BuildKit."""
    if os.geteuid() != 0:
        pytest.fail("these tests start a private dockerd and need root", pytrace=False)
    base = tmp_path_factory.mktemp("links-dockerd")
    lab = PrivateDockerd(base / "d")
    lab.start()
    try:
        lab.import_busybox("links:base")
        images = {
            "classic": lab.build("links:classic", f"FROM links:base\n{LINKS}"),
            "buildkit": lab.build("links:bk", f"FROM links:base\n{LINKS}", buildkit=True),
        }
        native = any(
            k == "Native Overlay Diff" and v == "true"
            for k, v in (lab.info().get("DriverStatus") or [])
        )
        images["native"] = "true" if native else "false"
    finally:
        lab.stop()
    yield lab.data_root, images


def top_layer(inv: Inventory, image_id: str) -> str:
    from inspector.ids import chain_ids

    return chain_ids(inv.images[image_id].diff_ids)[-1]


def test_recorded_sizes_follow_the_documented_rules(
    links_root: tuple[Path, dict[str, str]],
) -> None:
    root, images = links_root
    inv = inventory.read(str(root))
    res = measure.scan(inv, full=True, cache=False)
    for kind in ("classic", "buildkit"):
        layer = inv.layers[top_layer(inv, images[kind])]
        walk = res.measurements.layer_walks[layer.cache_id]
        # "one\n" once (the hard link shares its inode); the symlink's target "/one" is 4 bytes.
        assert (walk.payload, walk.apparent) == (4, 8), kind
        if kind == "buildkit":
            assert verify.BUILDKIT_ID.fullmatch(layer.cache_id)
            assert layer.size == walk.payload  # tar payload: links and symlinks add 0
        elif images["native"] == "true":
            assert layer.size == walk.apparent  # directory.Size(diff)
        else:
            assert layer.size == walk.payload  # naive diff: tar header sizes
    assert verify.size_mismatches(inv, res.measurements.layer_walks) == []


def test_a_layer_edited_after_registration_is_reported_by_full(
    links_root: tuple[Path, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src, images = links_root
    root = tmp_path / "root"
    copy_tree(src, root)
    inv = inventory.read(str(root))
    edited = {}
    for kind in ("classic", "buildkit"):
        chain = top_layer(inv, images[kind])
        path = Path(inv.storage_dirs[inv.layers[chain].cache_id].path) / "diff" / "one"
        with open(path, "ab") as fh:
            fh.write(b"tampered")
        edited[chain] = kind
    # Only --full compares recorded sizes with the files.
    default = json_report(root, capsys)
    assert not [f for f in default["findings"] if f["kind"] == "size_mismatch"]
    full = json_report(root, capsys, "--full")
    found = {f["object_id"]: f for f in full["findings"] if f["kind"] == "size_mismatch"}
    assert set(found) == set(edited)
    for chain, kind in edited.items():
        detail = found[chain]["detail"]
        assert ("made by BuildKit" in detail) == (kind == "buildkit")
        assert "12 bytes in regular files" in detail  # "one\n" + "tampered"
