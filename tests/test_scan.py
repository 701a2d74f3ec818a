"""Measurement orchestration on hand-made roots (no daemon): walker rules, modes, the cache.

The roots are small overlay2 roots made by benchmarks/synthetic.py (valid layerdb, imagedb,
overlay2 and containers metadata) with files added to layer dirs and a volume. Every test
points XDG_CACHE_HOME at its own tmp dir, so nothing outside tmp_path is touched.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import refwalk as walk

from inspector import inventory, measure
from inspector.analysis import analyze, verify
from inspector.analysis.results import Kind
from inspector.cli import main
from inspector.measure import planning, pool, sizecache, walker
from inspector.model import Inventory, Measurements, Usage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from synthetic import make_root


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def cache_entries(root: Path) -> dict[str, sizecache.Entry]:
    return sizecache.SizeCache.open(str(root)).entries


def fill_tree(d: Path, tag: str) -> None:
    """Files, a nested dir, a symlink, a hard-link pair and a sparse file under `d`."""
    (d / "a" / "b").mkdir(parents=True, exist_ok=True)
    (d / f"{tag}.txt").write_text(f"content of {tag}\n")
    (d / "a" / "b" / "deep.bin").write_bytes(b"x" * 3000)
    (d / "a" / "empty").write_bytes(b"")
    os.symlink(f"/{tag}/target/path", d / "a" / "sym")
    (d / "a" / "one").write_text("one\n")
    os.link(d / "a" / "one", d / "a" / "two")
    with open(d / "a" / "sparse", "wb") as fh:
        fh.truncate(1 << 20)


def fix_recorded_sizes(root: Path) -> None:
    """Make each layerdb `size` what Docker's native diff records: directory.Size(diff)."""
    layerdb = root / "image/overlay2/layerdb/sha256"
    for entry in layerdb.iterdir():
        cache = (entry / "cache-id").read_text()
        size = walk.measure(str(root / "overlay2" / cache), "diff").apparent
        (entry / "size").write_text(str(size))


def build_root(base: Path) -> Path:
    """A mini overlay2 root: 9 layers, 2 images, 2 containers, a volume, all with files."""
    root = base / "root"
    make_root(str(root), layers=9, images=2, containers=2)
    for d in (root / "overlay2").iterdir():
        if d.name != "l":
            fill_tree(d / "diff", d.name[:8])
    vol = root / "volumes" / "vol1" / "_data"
    vol.mkdir(parents=True)
    fill_tree(vol, "vol")
    fix_recorded_sizes(root)
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return build_root(tmp_path)


def layer_dirs(inv: Inventory) -> set[str]:
    return {inv.storage_dirs[la.cache_id].path for la in inv.layers.values()}


def rw_dirs(inv: Inventory) -> set[str]:
    """Containers' writable layers' dirs."""
    return {inv.storage_dirs[m.mount_id].path for m in inv.rw_layers.values() if m.mount_id}


def init_dirs(inv: Inventory) -> set[str]:
    """Containers' init layers' dirs (written once, when the container is created)."""
    return {inv.storage_dirs[m.init_id].path for m in inv.rw_layers.values() if m.init_id}


@pytest.fixture
def walked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Paths walk_tree is called on (scans in these tests run serially, in-process)."""
    calls: list[str] = []
    real = walker.walk_tree

    def spy(
        path: str,
        sub: str | None = None,
        skip: frozenset[str] = frozenset(),
        mounts: frozenset[str] = frozenset(),
        *more: Any,
    ) -> Usage:
        calls.append(path)
        return real(path, sub, skip, mounts, *more)

    monkeypatch.setattr(pool, "walk_tree", spy)
    yield calls


def run_scan(root: Path, **kw: object) -> measure.ScanResult:
    kw.setdefault("executor", "serial")
    return measure.scan(inventory.read(str(root)), **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the walker


def test_walk_tree_agrees_with_the_reference_walker(tmp_path: Path) -> None:
    top = tmp_path / "t"
    (top / "diff").mkdir(parents=True)
    fill_tree(top / "diff", "x")
    fill_tree(top, "outside")
    for sub in (None, "diff"):
        got = walker.walk_tree(str(top), sub)
        ref = walk.measure(str(top), sub)
        assert (got.apparent, got.disk, got.files) == (ref.apparent, ref.disk, ref.files)
        assert got.links == ()  # both names of each hard link are inside the tree
    got = walker.walk_tree(str(top), "diff")
    # Tar payload: regular files once per inode; the symlink's target length is excluded.
    assert got.apparent - got.payload == len("/x/target/path")


def test_walk_tree_skips_top_level_names_only(tmp_path: Path) -> None:
    (tmp_path / "t" / "keep" / "skip").mkdir(parents=True)
    (tmp_path / "t" / "skip").mkdir()
    (tmp_path / "t" / "skip" / "big").write_bytes(b"x" * 5000)
    (tmp_path / "t" / "keep" / "skip" / "small").write_bytes(b"x" * 7)
    got = walker.walk_tree(str(tmp_path / "t"), None, frozenset({"skip"}))
    ref = walk.measure(str(tmp_path / "t"), None, frozenset({"skip"}))
    assert got.apparent == ref.apparent == 7
    assert got.disk == ref.disk


def test_hard_links_leaving_a_tree_are_handed_back(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"y" * 10_000)
    os.link(tmp_path / "a" / "f", tmp_path / "b" / "g")
    a = walker.walk_tree(str(tmp_path / "a"))
    st = os.lstat(tmp_path / "a" / "f")
    assert a.links == ((st.st_dev, st.st_ino, st.st_blocks * 512),)
    assert a.apparent == 10_000  # Docker's per-dir size still counts it
    assert a.disk == os.lstat(tmp_path / "a").st_blocks * 512
    both = walker.walk_tree(str(tmp_path))
    assert both.links == ()
    assert both.disk == walk.measure(str(tmp_path)).disk


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "big").write_bytes(b"z" * 100_000)
    os.symlink(target, tmp_path / "link")
    got = walker.walk_tree(str(tmp_path / "link"))
    assert (got.apparent, got.files) == (len(str(target)), 1)
    assert got.payload == 0
    tree = tmp_path / "tree"
    tree.mkdir()
    os.symlink(target, tree / "inner")
    got = walker.walk_tree(str(tree))
    assert got.files == 2 and got.apparent == len(str(target))


def test_a_missing_path_measures_zero(tmp_path: Path) -> None:
    assert walker.walk_tree(str(tmp_path / "nope")) == Usage()


def test_an_unlistable_dir_is_reported_not_guessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = tmp_path / "t"
    (top / "locked").mkdir(parents=True)
    (top / "locked" / "secret").write_bytes(b"s" * 4000)
    (top / "open").write_bytes(b"o" * 10)
    real_open = os.open
    locked = str(top / "locked")

    def fake_open(path: str, flags: int, *a: object, **kw: object) -> int:
        # The walker opens each dir relative to its parent's descriptor.
        if path == locked or (path == "locked" and kw.get("dir_fd") is not None):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake_open)
    got = walker.walk_tree(str(top))
    assert got.apparent == 10
    assert [(s.path, s.reason) for s in got.unreadable] == [(locked, "Permission denied")]


# --------------------------------------------------------------------------- plan and modes


def test_plan_marks_only_image_and_init_layer_dirs_immutable(root: Path) -> None:
    inv = inventory.read(str(root))
    jobs = planning.plan(inv)
    immutable = {j.path for j in jobs if j.layer is not None}
    assert init_dirs(inv)
    assert immutable == layer_dirs(inv) | init_dirs(inv)
    assert not immutable & rw_dirs(inv)
    paths = [j.path for j in jobs]
    assert len(paths) == len(set(paths))


def test_usage_matches_the_reference_walker_tree_by_tree(root: Path) -> None:
    inv = inventory.read(str(root))
    measured = run_scan(root, full=True, cache=False).measurements
    for job in planning.plan(inv):
        ref = walk.measure(job.path, job.sub, job.skip)
        got = measured.usage[job.path]
        assert (got.apparent, got.disk, got.files) == (ref.apparent, ref.disk, ref.files), job


def test_the_process_pool_gives_the_serial_result(root: Path) -> None:
    inv = inventory.read(str(root))
    serial = measure.scan(inv, full=True, cache=False, executor="serial")
    other = measure.scan(inv, full=True, cache=False, executor="process", workers=2)
    assert other.stats.executor == "process" and other.stats.workers == 2
    assert other.measurements.usage == serial.measurements.usage
    assert other.measurements.layer_walks == serial.measurements.layer_walks


def test_auto_forks_only_big_plans_of_a_single_threaded_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert pool._choose("auto", 10**6, 2) == "process"
    assert pool._choose("auto", 1000, 2) == "serial"
    assert pool._choose("auto", 10**6, 1) == "serial"
    monkeypatch.setattr(threading, "active_count", lambda: 3)  # e.g. inside the TUI
    assert pool._choose("auto", 10**6, 2) == "serial"


def test_default_mode_walks_image_layers_once_then_uses_the_cache(
    root: Path, walked: list[str]
) -> None:
    inv = inventory.read(str(root))
    first = measure.scan(inv, executor="serial")
    cold = layer_dirs(inv) | init_dirs(inv)
    assert cold <= set(walked)  # cold cache: walked once and stored
    inits = {m.init_id for m in inv.rw_layers.values() if m.init_id}
    assert set(cache_entries(root)) == {inv.layers[c].cache_id for c in inv.layers} | inits
    walked.clear()
    second = measure.scan(inv, executor="serial")
    assert not cold & set(walked)
    # What can change is walked every time.
    assert rw_dirs(inv) <= set(walked)
    assert {v.path for v in inv.volumes.values()} <= set(walked)
    assert {c.dir for c in inv.containers.values()} <= set(walked)
    assert second.measurements.usage == first.measurements.usage
    assert second.stats.cached_dirs == len(cold)
    # The init layers are not layers of an image: never judged against a recorded size.
    assert not set(first.measurements.layer_walks) & inits


def test_settled_metadata_dirs_are_counted_from_the_last_run_until_they_change(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(measure, "SETTLE_NS", 0)  # the tree was made just now
    inv = inventory.read(str(root))
    first = measure.scan(inv, executor="serial")
    layerdb = root / "image/overlay2/layerdb/sha256"
    kept = sizecache.SizeCache.open(str(root)).dirs
    settled = {f"image/overlay2/layerdb/sha256/{e.name}" for e in layerdb.iterdir()}
    settled |= {"image/overlay2/imagedb/content/sha256", "overlay2/l"}
    assert settled <= set(kept)
    second = measure.scan(inv, executor="serial")
    assert second.measurements.usage == first.measurements.usage
    # Their entries were counted, not listed again.
    held = sum(rec[7] for rec in kept.values())
    with monkeypatch.context() as m:
        m.setattr(measure, "settled_dirs", lambda inv: (frozenset(), frozenset()))
        plain = measure.scan(inv, executor="serial")
    assert plain.measurements.usage == first.measurements.usage
    assert held > 0 and second.stats.walked_entries == plain.stats.walked_entries - held
    # A file written into a layerdb entry (a new name: its dir's mtime changes) is seen.
    entry = next(iter(sorted(layerdb.iterdir())))
    (entry / "extra").write_bytes(b"e" * 5000)
    third = measure.scan(inv, executor="serial").measurements.usage
    uncached = measure.scan(inv, executor="serial", cache=False).measurements.usage
    assert third == uncached
    image = str(root / "image")
    assert third[image].apparent == first.measurements.usage[image].apparent + 5000


@pytest.mark.parametrize("here", [True, False], ids=["changed-walked-here", "changed-forked"])
def test_a_warm_scan_walks_the_rest_while_it_takes_the_layers_identities(
    root: Path, monkeypatch: pytest.MonkeyPatch, walked: list[str], here: bool
) -> None:
    monkeypatch.setattr(measure, "OVERLAP_MIN_LAYERS", 1)  # the mini root has 11 layer dirs
    monkeypatch.setattr(measure, "EARLY_SERIAL_MAX", 10**9 if here else 0)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    inv = inventory.read(str(root))
    serial = measure.scan(inv, executor="serial")  # fills the cache
    layer = sorted(layer_dirs(inv))[0]
    (Path(layer) / "diff" / "new.bin").write_bytes(b"n" * 7000)  # changed: walked again
    truth = measure.scan(inv, executor="serial", cache=False).measurements.usage
    assert truth != serial.measurements.usage
    walked.clear()
    got = measure.scan(inv, workers=2)
    assert got.stats.executor == "process"
    assert got.measurements.usage == truth
    # This process walked the changed layer dir itself, or walkers of its own did; the
    # walkers (forked: not spied on here) the rest.
    assert walked == ([layer] if here else [])
    assert got.measurements.layer_walks[os.path.basename(layer)] == truth[layer]


def test_a_settled_dir_changed_just_before_the_run_is_not_kept(root: Path) -> None:
    inv = inventory.read(str(root))  # made just now: within the 2 s racy window
    measure.scan(inv, executor="serial")
    assert sizecache.SizeCache.open(str(root)).dirs == {}


@pytest.mark.parametrize(
    "bad",
    [[1, 2, 3], [1, 2, 3, 4, 1, 5, -1, 1, 5], [1, 2, 3, 4, 1, 5.0, 1, 1, 5], "x", [True] * 9],
)
def test_malformed_settled_records_are_ignored(
    root: Path, monkeypatch: pytest.MonkeyPatch, bad: object
) -> None:
    monkeypatch.setattr(measure, "SETTLE_NS", 0)
    inv = inventory.read(str(root))
    truth = measure.scan(inv, executor="serial", cache=False).measurements.usage
    measure.scan(inv, executor="serial")
    sc = sizecache.SizeCache.open(str(root))
    assert sc.path is not None
    doc = json.loads(Path(sc.path).read_text())
    # The record of overlay2/l, with its real identity, and lying totals.
    doc["dirs"] = {rel: (bad if rel == "overlay2/l" else rec) for rel, rec in doc["dirs"].items()}
    Path(sc.path).write_text(json.dumps(doc))
    assert measure.scan(inv, executor="serial").measurements.usage == truth


def test_full_mode_walks_everything_and_refreshes_the_cache(root: Path, walked: list[str]) -> None:
    inv = inventory.read(str(root))
    measure.scan(inv, executor="serial")
    walked.clear()
    res = measure.scan(inv, full=True, executor="serial")
    assert layer_dirs(inv) <= set(walked)
    assert set(res.measurements.layer_walks) == {la.cache_id for la in inv.layers.values()}


def test_container_layers_and_volumes_are_never_cached(root: Path) -> None:
    inv = inventory.read(str(root))
    run_scan(root)
    names = set(cache_entries(root))
    mutable = {os.path.basename(p) for p in rw_dirs(inv)}
    assert names and not names & mutable
    assert not names & set(inv.volumes)


def test_a_change_in_a_container_layer_is_seen_next_run(root: Path) -> None:
    inv = inventory.read(str(root))
    mount = next(iter(inv.rw_layers.values())).mount_id
    assert mount is not None
    path = inv.storage_dirs[mount].path
    before = run_scan(root).measurements.usage[path]
    deep = Path(path) / "diff" / "a" / "b" / "deep.bin"
    parent_mtime = os.lstat(Path(path) / "diff").st_mtime_ns
    with open(deep, "ab") as fh:
        fh.write(b"more" * 1000)
    assert os.lstat(Path(path) / "diff").st_mtime_ns == parent_mtime  # nothing at the top moved
    after = run_scan(root).measurements.usage[path]
    assert after.apparent == before.apparent + 4000


def test_a_change_in_a_volume_is_seen_next_run(root: Path) -> None:
    vol = root / "volumes" / "vol1"
    before = run_scan(root).measurements.usage[str(vol)]
    (vol / "_data" / "a" / "b" / "deep.bin").write_bytes(b"q" * 10)
    after = run_scan(root).measurements.usage[str(vol)]
    assert after.apparent == before.apparent - 3000 + 10


def _a_layer(root: Path) -> tuple[Inventory, str, Path]:
    inv = inventory.read(str(root))
    layer = inv.layers[sorted(inv.layers)[0]]
    return inv, layer.cache_id, Path(inv.storage_dirs[layer.cache_id].path)


def test_a_replaced_layer_dir_is_walked_again(root: Path, walked: list[str]) -> None:
    _, name, path = _a_layer(root)
    before = run_scan(root).measurements.usage[str(path)]
    # Same name, new inode, one more file deep inside (a restore from another backup).
    copy = path.with_name(name + ".new")
    shutil.copytree(path, copy, symlinks=True)
    (copy / "diff" / "a" / "b" / "extra").write_bytes(b"e" * 123)
    shutil.rmtree(path)
    copy.rename(path)
    walked.clear()
    after = run_scan(root).measurements.usage[str(path)]
    assert str(path) in walked
    ref = walk.measure(str(path), "diff")
    assert (after.apparent, after.disk) == (ref.apparent, ref.disk)
    assert after.apparent >= before.apparent + 123


def test_a_file_added_at_the_top_of_a_diff_dir_is_seen(root: Path, walked: list[str]) -> None:
    _, _, path = _a_layer(root)
    before = run_scan(root).measurements.usage[str(path)]
    (path / "diff" / "new.txt").write_bytes(b"n" * 50)
    walked.clear()
    after = run_scan(root).measurements.usage[str(path)]
    assert str(path) in walked and after.apparent == before.apparent + 50


def test_a_deep_edit_of_an_image_layer_is_found_by_full_mode(root: Path) -> None:
    # Image layers are immutable by contract, so the default mode trusts its cache for them;
    # --full is the check that the contract holds.
    inv, name, path = _a_layer(root)
    run_scan(root)
    with open(path / "diff" / "a" / "b" / "deep.bin", "ab") as fh:
        fh.write(b"tampered")
    default = run_scan(root)
    assert verify.size_mismatches(inv, default.measurements.layer_walks) == []
    full = run_scan(root, full=True)
    found = verify.size_mismatches(inv, full.measurements.layer_walks)
    assert [f.object_id for f in found] == [
        c for c, la in inv.layers.items() if la.cache_id == name
    ]
    assert found[0].kind is Kind.SIZE_MISMATCH and "native overlay diff" in found[0].detail
    # And the next default run sees the new size: --full refreshed the cache.
    again = run_scan(root).measurements.usage[str(path)]
    assert again.apparent == full.measurements.usage[str(path)].apparent


def test_a_corrupt_cache_file_is_ignored(root: Path) -> None:
    good = run_scan(root, cache=False).measurements.usage
    run_scan(root)
    c = sizecache.SizeCache.open(str(root))
    assert c.path is not None
    Path(c.path).write_bytes(b'{"version": 1, "root": "' + str(root).encode() + b'", "entr')
    assert run_scan(root).measurements.usage == good
    assert json.loads(Path(c.path).read_bytes())["version"] == sizecache.FORMAT_VERSION


def test_a_cache_entry_with_wrong_numbers_but_an_old_identity_is_not_used(root: Path) -> None:
    good = run_scan(root, cache=False).measurements.usage
    run_scan(root)
    c = sizecache.SizeCache.open(str(root))
    # Forge every entry's numbers while keeping a stale identity: no entry may be trusted.
    for name, e in list(c.entries.items()):
        c.put(name, sizecache.Entry((*e.identity[:-1], -7), Usage(1, 1, 1, payload=1)))
    c.save()
    assert run_scan(root).measurements.usage == good


def test_cache_dir_inside_the_root_is_refused(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    before = sorted(os.listdir(root))
    with pytest.raises(sizecache.CacheRefused):
        run_scan(root)
    assert main(["report", "--root", str(root)]) == 2
    assert "inside the data root" in capsys.readouterr().err
    assert sorted(os.listdir(root)) == before
    assert main(["report", "--root", str(root), "--no-cache"]) == 0
    assert sorted(os.listdir(root)) == before


def test_no_cache_writes_no_cache_file(root: Path, own_cache: Path) -> None:
    assert main(["report", "--root", str(root), "--no-cache", "--format", "json"]) == 0
    assert main(["report", "--root", str(root), "--no-cache", "--full"]) == 0
    assert not own_cache.exists()
    assert main(["report", "--root", str(root)]) == 0
    assert len(os.listdir(own_cache / "docker-inspector")) == 1


def test_full_cannot_be_combined_with_no_sizes(root: Path) -> None:
    assert main(["report", "--root", str(root), "--full", "--no-sizes"]) == 2


def _json_report(root: Path, *flags: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["report", "--root", str(root), "--format", "json", *flags]) == 0
    doc: dict[str, object] = json.loads(capsys.readouterr().out)
    doc.pop("generated_at", None)
    return doc


def test_default_and_full_reports_are_identical_on_an_intact_root(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cold = _json_report(root, capsys=capsys)
    warm = _json_report(root, capsys=capsys)
    full = _json_report(root, "--full", capsys=capsys)
    nocache = _json_report(root, "--no-cache", capsys=capsys)
    assert cold == warm == full == nocache


def test_hard_links_between_trees_count_once_in_disk_usage(root: Path) -> None:
    a = root / "volumes" / "vol2" / "_data"
    b = root / "volumes" / "vol3" / "_data"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    (a / "shared").write_bytes(b"s" * 20_000)
    os.link(a / "shared", b / "shared")
    usage = run_scan(root).measurements.usage
    blocks = os.lstat(a / "shared").st_blocks * 512
    va, vb = usage[str(a.parent)], usage[str(b.parent)]
    assert va.apparent == vb.apparent == 20_000  # Docker's numbers are per volume
    assert (
        va.disk + vb.disk
        == (
            os.lstat(a).st_blocks
            + os.lstat(a.parent).st_blocks
            + os.lstat(b).st_blocks
            + os.lstat(b.parent).st_blocks
        )
        * 512
        + blocks
    )


def test_progress_ends_with_every_dir_done(root: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    inv = inventory.read(str(root))
    measure.measure(inv, lambda s, d, t: seen.append((s, d, t)))
    assert seen and seen[-1][1] == seen[-1][2] == len(planning.plan(inv))
    assert all(s == "measuring" for s, _, _ in seen)


def test_measure_keeps_its_signature(root: Path, own_cache: Path) -> None:
    inv = inventory.read(str(root))
    a = measure.measure(inv)
    b = measure.measure(inv, None, full=True, cache=False)
    assert isinstance(a, Measurements) and isinstance(b, Measurements) and a.usage == b.usage


def _snapshot(root: Path) -> dict[str, tuple[int, int, int, int]]:
    out: dict[str, tuple[int, int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[p] = (st.st_ino, st.st_mode, st.st_mtime_ns, st.st_ctime_ns)
    return out


def test_nothing_under_the_root_is_written(root: Path) -> None:
    before = _snapshot(root)
    run_scan(root)
    run_scan(root, full=True, executor="process", workers=2)
    analyze(inventory.read(str(root)), run_scan(root).measurements)
    assert _snapshot(root) == before


def test_layer_walks_feed_verify_on_an_intact_root(root: Path) -> None:
    walks = run_scan(root, full=True).measurements.layer_walks
    assert walks and all(w.complete for w in walks.values())
    assert verify.size_mismatches(inventory.read(str(root)), walks) == []
    # Every diff holds a symlink: Docker's directory.Size counts its target, a tar does not.
    assert all(w.apparent > w.payload for w in walks.values())


# --------------------------------------------------------------------------- walker processes


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """PIDs of the walker processes scan forks (to check none is left running or unreaped)."""
    pids: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return pids


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # a zombie (not reaped) still answers
    except ProcessLookupError:
        return True
    return False


def test_big_results_cross_the_pipes_intact(tmp_path: Path, forked: list[int]) -> None:
    # 4,000 hard links leaving each tree: each batch's result is larger than a pipe's buffer.
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for i in range(4000):
        (a / f"f{i}").write_bytes(b"")
        os.link(a / f"f{i}", b / f"f{i}")
    tasks = list(enumerate([planning.Job(str(a)), planning.Job(str(b))] * 3))
    batches = [tasks[:3], tasks[3:]]  # one message per batch: 3 x 4,000 links each
    assert len(pickle.dumps(pool._run_batch(batches[0]))) > 65536
    serial = sorted(r for b in pool._serial(batches) for r in b)
    parallel = sorted(r for b in pool._forked(batches, 2) for r in b)
    assert parallel == serial and len(serial) == 6 and len(serial[0][1].links) == 4000
    assert len(forked) == 2 and all(gone(p) for p in forked)


def test_a_failing_walker_process_is_an_error_not_a_wrong_number(
    root: Path, forked: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(batch: object) -> object:
        raise MemoryError("simulated")

    monkeypatch.setattr(pool, "_run_batch", broken)  # inherited by the forked children
    with pytest.raises(pool.WalkerFailed):
        run_scan(root, full=True, cache=False, executor="process", workers=2)
    assert forked and all(gone(p) for p in forked)


def test_walker_processes_are_stopped_when_the_caller_gives_up(
    root: Path, forked: list[int]
) -> None:
    class Stop(Exception):
        pass

    def progress(stage: str, done: int, total: int) -> None:
        if done:
            raise Stop  # what the TUI's progress callback does when the user quits

    inv = inventory.read(str(root))
    with pytest.raises(Stop):
        measure.scan(inv, progress, full=True, cache=False, executor="process", workers=2)
    assert forked and all(gone(p) for p in forked)
