"""One big tree walked in pieces by several walker processes (inspector.measure.split).

The split walk must give the serial walk's very Usage (walker.walk_tree) and the reference
walker's numbers (tests/refwalk.py), on trees built to catch a wrong merge: hard links between
the pieces, between the listed head and a piece, and leaving the tree; symlinks to dirs
(never followed); a tmpfs and a bind mount inside a piece (never entered); a tree deeper than
the walker keeps descriptors for; a wide one; overlay2's `diff` rule and top-level skips. The
pieces are walked in this process and in forked walker processes (pool._forked), and a whole
scan with every tree split is compared with the serial scan.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import refwalk
from test_scan import build_root, fill_tree, run_scan

from inspector import inventory, measure
from inspector.measure import dirfd, planning, pool, split, walker
from inspector.model import Usage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def split_walk(
    path: Path,
    sub: str | None = None,
    skip: frozenset[str] = frozenset(),
    mounts: frozenset[str] = frozenset(),
    *,
    forked: bool,
    workers: int = 2,
    expected: int = 10**9,
) -> tuple[Usage, int]:
    """The tree's Usage walked in pieces, and how many pieces there were."""
    job = planning.Job(str(path), sub, skip, mounts=mounts)
    got = split.open_split(job, workers, expected)
    if isinstance(got, Usage):
        return got, 0
    parts: list[walker.Part] = []
    try:
        tasks: list[tuple[int, planning.Job | split.Piece, int]] = [(0, p, 1) for p in got.pieces]
        batches = pool._batches(tasks, workers)
        runner = pool._forked(batches, workers) if forked else pool._serial(batches)
        for results in runner:
            for _, part, _ in results:
                assert isinstance(part, walker.Part)
                parts.append(part)
    finally:
        got.walk.close_all()
    # The parts come in any order: the merge must not depend on it.
    backwards = copy.deepcopy(got.merge)
    for part in parts:
        got.merge.add(part)
    for part in reversed(parts):
        backwards.add(part)
    assert got.merge.left == backwards.left == 0
    assert got.merge.usage() == backwards.usage()
    return got.merge.usage(), len(got.pieces)


def ref_numbers(u: Usage) -> tuple[int, int, int]:
    """(apparent, disk, files) as the reference walker counts them: it counts a hard link
    leaving the tree in the tree's disk usage, the walker hands it back."""
    return u.apparent, u.disk + sum(n for _, _, n in u.links), u.files


def check(
    path: Path,
    sub: str | None = None,
    skip: frozenset[str] = frozenset(),
    mounts: frozenset[str] = frozenset(),
) -> tuple[Usage, int]:
    """Serial, split in this process and split in forked walkers: all the same Usage."""
    serial = walker.walk_tree(str(path), sub, skip, mounts)
    here, pieces = split_walk(path, sub, skip, mounts, forked=False)
    there, pieces2 = split_walk(path, sub, skip, mounts, forked=True)
    assert here == serial
    assert there == serial
    assert pieces == pieces2
    return serial, pieces


def linked_tree(top: Path) -> Path:
    """A volume-like tree whose hard links cross the pieces, the head and the tree's edge."""
    data = top / "_data"
    for i in range(40):
        d = data / f"d{i:02d}"
        d.mkdir(parents=True)
        fill_tree(d, f"t{i}")
    (data / "d00" / "shared").write_bytes(b"s" * 9000)
    for i in (5, 17, 39):
        os.link(data / "d00" / "shared", data / f"d{i:02d}" / f"shared{i}")
    (data / "head.bin").write_bytes(b"h" * 5000)  # listed by the parent, linked into a piece
    os.link(data / "head.bin", data / "d03" / "a" / "b" / "head-link")
    outside = top.parent / "outside"
    outside.mkdir(exist_ok=True)
    (data / "d07" / "leaves").write_bytes(b"l" * 7000)
    os.link(data / "d07" / "leaves", outside / "leaves")  # a name outside the tree
    (data / "d08" / "empty-linked").write_bytes(b"")
    os.link(data / "d08" / "empty-linked", data / "d09" / "empty-linked")
    os.symlink(str(outside), data / "d10" / "to-outside")  # a symlink to a dir: not followed
    os.symlink("../d11", data / "d12" / "sibling")
    return top


def test_hard_links_across_pieces_count_once_and_leaving_ones_are_handed_back(
    tmp_path: Path,
) -> None:
    top = linked_tree(tmp_path / "vol")
    serial, pieces = check(top, "_data")
    assert pieces >= 40  # the top had one dir: the parent listed _data as well
    ref = refwalk.measure(str(top), "_data")
    assert ref_numbers(serial) == (ref.apparent, ref.disk, ref.files)
    leaves = os.lstat(top / "_data" / "d07" / "leaves")
    assert serial.links == ((leaves.st_dev, leaves.st_ino, leaves.st_blocks * 512),)
    shared = os.lstat(top / "_data" / "d00" / "shared")
    assert shared.st_nlink == 4


def test_a_tree_split_without_its_sub_and_with_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(split, "PIECES_PER_WORKER", 1)  # pieces: diff/ and work/
    top = tmp_path / "layer"
    for name in ("diff", "work", "skipped"):
        for i in range(12):
            fill_tree(top / name / f"s{i}", f"{name}{i}")
    os.link(top / "diff" / "s1" / "a" / "one", top / "work" / "s2" / "from-diff")
    (top / "link").write_text("L" * 26)
    skip = frozenset({"skipped"})
    for sub in ("diff", None):
        serial, pieces = check(top, sub, skip=skip)
        assert pieces > 0
        ref = refwalk.measure(str(top), sub, skip)
        assert ref_numbers(serial) == (ref.apparent, ref.disk, ref.files)
    assert (
        walker.walk_tree(str(top), "diff", skip).apparent
        < walker.walk_tree(str(top), None, skip).apparent
    )


def test_a_deep_tree_and_a_wide_one(tmp_path: Path) -> None:
    deep = tmp_path / "deep"
    d = deep
    # Deeper than the descriptors a walk keeps open: pieces reopen their chain by inode.
    for i in range(dirfd.MAX_OPEN_DIRS + 100):
        d = d / "d"
        (d / "x").mkdir(parents=True)
        (d / "x" / "f").write_bytes(b"z" * (i % 5))
    serial, pieces = check(deep)
    assert pieces >= 2 and serial.files == refwalk.measure(str(deep)).files
    assert ref_numbers(serial) == tuple(
        getattr(refwalk.measure(str(deep)), f) for f in ("apparent", "disk", "files")
    )
    wide = tmp_path / "wide"
    for i in range(700):
        (wide / f"w{i}").mkdir(parents=True)
        (wide / f"w{i}" / "f").write_bytes(b"w" * (i % 3))
    serial, pieces = check(wide)
    assert pieces == 700
    ref = refwalk.measure(str(wide))
    assert ref_numbers(serial) == (ref.apparent, ref.disk, ref.files)


def test_small_or_flat_trees_are_walked_whole_when_split(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(50):
        (flat / f"f{i}").write_bytes(b"f" * i)
    got, pieces = split_walk(flat, forked=False)
    assert pieces == 0 and got == walker.walk_tree(str(flat))
    (tmp_path / "file").write_bytes(b"x" * 10)
    assert split_walk(tmp_path / "file", forked=False) == (
        walker.walk_tree(str(tmp_path / "file")),
        0,
    )
    assert split_walk(tmp_path / "missing", forked=False) == (Usage(), 0)


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Path]:
    """A tree with a tmpfs in one piece and a bind mount (same filesystem) in another."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    top = linked_tree(tmp_path / "vol")
    host = tmp_path / "host"
    host.mkdir()
    (host / "big").write_bytes(b"H" * 300_000)
    tmpfs = top / "_data" / "d20" / "tmpfs"
    bind = top / "_data" / "d21" / "bind"
    tmpfs.mkdir()
    bind.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(tmpfs)], check=True)
    try:
        (tmpfs / "on-tmpfs").write_bytes(b"t" * 100_000)
        subprocess.run(["mount", "--bind", str(host), str(bind)], check=True)
        try:
            yield top
        finally:
            subprocess.run(["umount", str(bind)], check=True)
    finally:
        subprocess.run(["umount", str(tmpfs)], check=True)


def test_mount_points_inside_pieces_are_not_entered(mounted: Path) -> None:
    bind = str(mounted / "_data" / "d21" / "bind")
    serial, pieces = check(mounted, "_data", mounts=frozenset({bind}))
    assert pieces >= 40
    # The reference skips the tmpfs (another st_dev) only; so does a walk told of no mounts.
    ref = refwalk.measure(str(mounted), "_data")
    assert ref.apparent - serial.apparent == 300_000
    assert walker.walk_tree(str(mounted), "_data").apparent == ref.apparent


def test_a_scan_with_every_tree_split_gives_the_serial_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build_root(tmp_path)
    linked_tree(root / "volumes" / "big")
    inv = inventory.read(str(root))
    serial = measure.scan(inv, full=True, cache=False, executor="serial")
    monkeypatch.setattr(split, "worth_splitting", lambda cost, total, workers: True)
    monkeypatch.setattr(split, "PIECES_PER_WORKER", 1)  # split even the small trees
    parallel = measure.scan(inv, full=True, cache=False, executor="process", workers=2)
    assert parallel.stats.split_trees > 10
    assert parallel.measurements.usage == serial.measurements.usage
    assert parallel.measurements.layer_walks == serial.measurements.layer_walks
    big = serial.measurements.usage[str(root / "volumes" / "big")]
    ref = refwalk.measure(str(root / "volumes" / "big"), "_data")
    assert (big.apparent, big.files) == (ref.apparent, ref.files)


def test_a_tree_seen_big_last_run_is_split_on_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build_root(tmp_path)
    data = root / "volumes" / "big" / "_data"
    for i in range(30):
        (data / f"d{i}").mkdir(parents=True)
        for j in range(100):
            (data / f"d{i}" / f"f{j}").write_bytes(b"b" * j)
    monkeypatch.setattr(split, "SPLIT_MIN_ENTRIES", 1000)
    first = run_scan(root, executor="process", workers=2)
    assert first.stats.split_trees == 0  # nothing known about the volume yet
    second = run_scan(root, executor="process", workers=2)
    assert second.stats.split_trees == 1
    assert second.measurements.usage == first.measurements.usage
    serial = run_scan(root, executor="serial")
    assert serial.stats.split_trees == 0 and serial.measurements.usage == first.measurements.usage
    # Once the tree is small again, its hint goes away.
    for i in range(30):
        for j in range(100):
            (data / f"d{i}" / f"f{j}").unlink()
    run_scan(root, executor="serial")
    assert run_scan(root, executor="process", workers=2).stats.split_trees == 0


def test_worth_splitting_only_a_tree_too_big_to_balance() -> None:
    n = split.SPLIT_MIN_ENTRIES
    assert split.worth_splitting(10 * n, 12 * n, 2)
    assert not split.worth_splitting(n - 1, n, 2)  # small: one process walks it fast
    assert split.worth_splitting(n, 5 * n, 2)  # five equal trees on two workers
    assert not split.worth_splitting(2 * n, 40 * n, 2)  # the other trees balance it
    assert not split.worth_splitting(10 * n, 10 * n, 1)


def test_unreadable_dirs_in_the_head_and_in_pieces_are_the_same_skip_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = linked_tree(tmp_path / "vol")
    real_open = os.open
    locked = {"d04", "b"}  # a dir the parent lists (a piece's root) and dirs inside pieces

    def fake_open(path: str, flags: int, *a: object, **kw: object) -> int:
        # The walker opens each dir relative to its parent's descriptor (so do the children,
        # which inherit this patch when forked).
        if path in locked and kw.get("dir_fd") is not None:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake_open)
    serial, pieces = check(top, "_data")
    assert pieces >= 39  # d04 was not opened
    assert len(serial.unreadable) == 40  # d04, and a/b in each of the 39 others
    paths = [s.path for s in serial.unreadable]
    assert paths == sorted(paths)
    assert str(top / "_data" / "d04") in paths
