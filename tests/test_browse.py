"""The file browser's trees (inspector.measure.browse) and a layer's marks
(inspector.analysis.layermarks), checked against something independent:

- a walk's totals, for every dir, against the reference walker (tests/refwalk.py), on trees
  with hard links, symlinks, a sparse file, a FIFO, empty files, 2,500 files in one dir and a
  tree deeper than PATH_MAX; never following a symlink, never entering a mount;
- its memory: the largest MAX_CHILDREN entries of a dir are kept, the rest summed exactly, and
  past MAX_NODES a finished dir keeps only its totals;
- streaming: while a walk runs, another thread reads growing totals that end at the final
  ones; a cancelled walk stops;
- a layer's marks, summed per layer, against the efficiency analysis' own count of added,
  modified and removed files (sample root; hand-made layers with whiteouts, opaque dirs, a
  dir replacing a file); the real daemon's images (dive's per-layer sizes too) are in
  tests/test_efficiency_dive.py;
- a container's writable layer on the live private dockerd against the Engine API's SizeRw.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from refwalk import measure as refmeasure

from inspector import pipeline
from inspector.analysis.efficiency import LayerIndex, layer_changes
from inspector.analysis.layermarks import EntryMark, layer_marks
from inspector.measure import browse as br
from inspector.model import LayerFiles, TarEntry
from inspector.readers import fs

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "root"


def walked(path: Path, **kw: Any) -> br.FileTree:
    tree = br.FileTree("t", top=str(path))
    with fs.anchored(str(path)):
        br.walk(tree, str(path), **kw)
    return tree


def kept_dirs(tree: br.FileTree) -> Iterator[br.FileNode]:
    with tree.lock:
        nodes = list(br.nodes(tree))
    return (n for n in nodes if n.kind == br.DIR)


def make_tree(base: Path) -> Path:
    top = base / "top"
    (top / "a" / "b" / "c").mkdir(parents=True)
    (top / "a" / "one").write_bytes(b"1" * 1000)
    (top / "a" / "b" / "two").write_bytes(b"2" * 5000)
    (top / "a" / "b" / "c" / "empty").write_bytes(b"")
    (top / "hl").mkdir()
    (top / "hl" / "first").write_bytes(b"h" * 7000)
    os.link(top / "hl" / "first", top / "hl" / "second")  # one inode: counted once
    (top / "links").mkdir()
    (top / "links" / "to-outside").symlink_to("/etc")
    (top / "links" / "dangling").symlink_to("nowhere/at/all")
    with open(top / "sparse", "wb") as fh:
        fh.truncate(3 * 1024 * 1024)
    os.mkfifo(top / "fifo")
    many = top / "many"
    many.mkdir()
    for i in range(2500):
        (many / f"f{i:04d}").write_bytes(b"m" * (i % 97))
    deep = top / "deep"
    deep.mkdir()
    cur = deep
    for i in range(60):
        cur = cur / f"level{i}"
        cur.mkdir()
    (cur / "bottom").write_bytes(b"b" * 123)
    return top


def test_walk_totals_equal_the_reference_walker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(br, "MAX_CHILDREN", 100)  # the 2,500-file dir gets folded
    top = make_tree(tmp_path)
    tree = walked(top)
    assert tree.done and not tree.stopped and not tree.notes
    checked = 0
    for node in kept_dirs(tree):
        path = str(top) + node.path().rstrip("/") if node.parent is not None else str(top)
        ref = refmeasure(path)
        assert (node.size, node.disk, node.items + 1) == (ref.apparent, ref.disk, ref.files), path
        checked += 1
    assert checked >= 66  # every dir of the tree (none was folded: they are few per dir)
    root = tree.root
    assert root.size == refmeasure(str(top)).apparent
    by_name = {c.name: c for c in root.children}
    assert by_name["sparse"].size == 3 * 1024 * 1024  # apparent, as Docker counts it
    assert by_name["fifo"].kind == br.OTHER
    links = {c.name: c for c in by_name["links"].children}
    assert links["to-outside"].kind == br.LINK and links["to-outside"].size == len("/etc")
    assert links["dangling"].size == len("nowhere/at/all")
    hl = sorted(by_name["hl"].children, key=lambda c: c.name)
    assert [c.kind for c in hl] == [br.HARDLINK, br.HARDLINK]
    assert sorted(c.size for c in hl) == [0, 7000] and by_name["hl"].size == 7000


def test_a_dir_keeps_its_largest_entries_and_sums_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(br, "MAX_CHILDREN", 100)
    top = make_tree(tmp_path)
    tree = walked(top)
    many = next(c for c in tree.root.children if c.name == "many")
    files = sorted(
        ((p.stat().st_size, p.name) for p in (top / "many").iterdir()),
        key=lambda f: (-f[0], f[1]),
    )
    kept = sorted(((c.size, c.name) for c in many.children), key=lambda f: (-f[0], f[1]))
    assert len(kept) == 100  # a finished dir keeps exactly the cap
    assert kept == files[: len(kept)]  # the largest ones, exactly
    assert many.more == len(files) - len(kept)
    assert many.more_size == sum(s for s, _ in files[len(kept) :])
    assert many.size == sum(s for s, _ in files)
    with tree.lock:
        rows = br.listing(tree, many)
    more = [r for r in rows if r.kind == "more"]
    assert len(more) == 1 and more[0].name == f"… {many.more} more"
    assert sum(r.size for r in rows) == many.size


def test_past_the_node_budget_finished_dirs_keep_only_totals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(br, "MAX_NODES", 40)
    top = make_tree(tmp_path)
    tree = walked(top)
    with tree.lock:
        count = sum(1 for _ in br.nodes(tree))
    assert count == tree.kept
    # The budget, the dirs being walked and a few small lists at most.
    assert tree.kept <= 40 + 61 + 2 * br.SMALL_CHILDREN
    assert tree.folded > 2400
    assert tree.root.size == refmeasure(str(top)).apparent  # totals stay exact
    assert tree.root.items + 1 == refmeasure(str(top)).files
    collapsed = [n for n in kept_dirs(tree) if n.more and not n.children]
    assert collapsed  # descend into one: "… N more" (Enter walks it again)


def test_symlinks_are_not_followed_and_mounts_not_entered(tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "bind").mkdir(parents=True)
    (top / "bind" / "inside").write_bytes(b"x" * 100_000)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "huge").write_bytes(b"o" * 200_000)
    (top / "escape").symlink_to(outside)
    tree = walked(top, mounts=frozenset({str(top / "bind")}))
    kids = {c.name: c for c in tree.root.children}
    assert kids["bind"].kind == br.MOUNT and kids["bind"].size == 0
    assert "not entered" in kids["bind"].note
    assert kids["escape"].kind == br.LINK and kids["escape"].size == len(str(outside))
    assert tree.root.size == len(str(outside))  # neither the bind's nor the outside's bytes


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_another_filesystem_is_not_entered(tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "mnt").mkdir(parents=True)
    (top / "file").write_bytes(b"f" * 10)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(top / "mnt")], check=True)
    try:
        (top / "mnt" / "on-tmpfs").write_bytes(b"t" * 50_000)
        tree = walked(top)
    finally:
        subprocess.run(["umount", str(top / "mnt")], check=True)
    kids = {c.name: c for c in tree.root.children}
    assert kids["mnt"].kind == br.MOUNT and "another filesystem" in kids["mnt"].note
    assert tree.root.size == 10


def test_a_tree_deeper_than_path_max_is_walked_without_recursion(tmp_path: Path) -> None:
    top = tmp_path / "top"
    top.mkdir()
    fds = [os.open(top, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for _ in range(2200):  # "/d" per level: past 4,096 bytes of path
            os.mkdir("d", dir_fd=fds[-1])
            fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
        tree = walked(top)
    finally:
        # Bottom up, by descriptors: pytest's own clean-up would recurse 2,200 levels deep.
        while len(fds) > 1:
            os.close(fds.pop())
            os.rmdir("d", dir_fd=fds[-1])
        os.close(fds.pop())
    assert tree.done
    node = tree.root
    depth = 0
    while node.children and node.children[0].kind == br.DIR:
        node = node.children[0]
        depth += 1
    assert 1900 < depth < 2200
    assert node.children[0].kind == br.TOO_DEEP  # as far as Docker's own walk can go
    assert tree.root.items == depth  # the entry too deep to lstat is not counted


def test_a_walk_streams_and_can_be_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(br, "TICK_SECONDS", 0.0)
    monkeypatch.setattr(br, "CHUNK", 16)
    top = make_tree(tmp_path)
    seen: list[tuple[int, int, bool]] = []
    tree = br.FileTree("t", top=str(top))

    def tick() -> None:  # the walker's thread; another thread reads the same way
        with tree.lock:
            t = br.totals(tree, tree.root)
            seen.append((t.size, t.items, t.complete))

    with fs.anchored(str(top)):
        worker = threading.Thread(target=br.walk, args=(tree, str(top)), kwargs={"tick": tick})
        worker.start()
        worker.join(60)
    final = refmeasure(str(top))
    assert len(seen) > 20
    assert [s for s, _, _ in seen] == sorted(s for s, _, _ in seen)  # only ever grows
    assert any(not c and 0 < s < final.apparent for s, _, c in seen)  # partial, then…
    assert seen[-1] == (final.apparent, final.files - 1, True)  # …exactly the total

    calls = 0

    def cancelled() -> bool:
        nonlocal calls
        calls += 1
        return calls > 5

    stopped = br.FileTree("t", top=str(top))
    with fs.anchored(str(top)):
        br.walk(stopped, str(top), cancelled=cancelled)
    assert stopped.stopped and not stopped.done
    assert stopped.root.size < final.apparent


def test_a_missing_or_plain_file_top_is_a_note(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    for name, said in (("missing", "does not exist"), ("file", "not a directory")):
        tree = br.FileTree("t")
        with fs.anchored(str(tmp_path)):
            br.walk(tree, str(tmp_path / name))
        assert tree.done and any(said in n for n in tree.notes), tree.notes


# -- a layer's entries and marks --------------------------------------------------------


def entries(*spec: tuple[str, int, str]) -> tuple[TarEntry, ...]:
    return tuple(TarEntry(name, size, kind) for name, size, kind in spec)


BASE = entries(
    ("a/", 0, "d"),
    ("a/x", 10, "f"),
    ("a/y", 20, "f"),
    ("d/", 0, "d"),
    ("d/old1", 30, "f"),
    ("d/keep", 40, "f"),
    ("d/sub/", 0, "d"),
    ("d/sub/deep", 50, "f"),
    ("f", 60, "f"),
    ("gone/", 0, "d"),
    ("gone/g1", 70, "f"),
    ("gone/g2", 80, "f"),
)
TOP = entries(
    ("a/", 0, "d"),
    ("a/x", 15, "f"),  # modified
    ("a/.wh.y", 0, "f"),  # removes a file: 1, 20
    ("a/new", 5, "f"),  # added
    ("d/", 0, "d"),
    ("d/.wh..wh..opq", 0, "f"),  # hides d/old1, d/sub/deep (d/keep comes back)
    ("d/keep", 41, "f"),  # modified (it was hidden, it is back)
    ("d/fresh", 7, "f"),  # added
    ("f/", 0, "d"),  # a dir in place of a file: removes f (60)
    ("f/in", 3, "f"),  # added
    (".wh.gone", 0, "f"),  # removes a dir: 2 files, 150
    (".wh.nothing", 0, "f"),  # removes nothing
    ("n/", 0, "d"),  # a new dir
    ("n/h", 0, "h"),  # a hard link: a file of 0 bytes
)


def test_marks_of_a_hand_made_layer() -> None:
    chain = [LayerFiles("base", BASE), LayerFiles("top", TOP)]
    marks = layer_marks(chain)
    got = {e.name: m for e, m in zip(TOP, marks, strict=True)}
    assert got["a/x"] == EntryMark("M")
    assert got["a/.wh.y"] == EntryMark("D", 1, 20)
    assert got["a/new"] == EntryMark("A")
    assert got["d/.wh..wh..opq"] == EntryMark("O", 2, 80)
    assert got["d/keep"] == EntryMark("M")
    assert got["d/fresh"] == EntryMark("A")
    assert got["f/"] == EntryMark("A", 1, 60)
    assert got["f/in"] == EntryMark("A")
    assert got[".wh.gone"] == EntryMark("D", 2, 150)
    assert got[".wh.nothing"] == EntryMark("D")
    assert got["n/"] == EntryMark("A") and got["n/h"] == EntryMark("A")
    assert got["a/"] == got["d/"] == EntryMark("")
    assert sums(TOP, marks) == counts(chain)


def sums(es: tuple[TarEntry, ...], marks: list[EntryMark]) -> tuple[int, ...]:
    """Marks summed like the efficiency analysis counts a layer's changes."""
    files = [(e, m) for e, m in zip(es, marks, strict=True) if e.kind != "d"]
    added = [e.size for e, m in files if m.mark == "A"]
    modified = [e.size for e, m in files if m.mark == "M"]
    return (
        len(added),
        len(modified),
        sum(m.removed for m in marks),
        sum(added),
        sum(modified),
        sum(m.removed_bytes for m in marks),
    )


def counts(chain: list[LayerFiles]) -> tuple[int, ...]:
    layers = [LayerIndex(lf) for lf in chain]
    c, _ = layer_changes(layers, len(layers) - 1, chain[-1])
    return (c.added, c.modified, c.removed, c.added_bytes, c.modified_bytes, c.removed_bytes)


def test_the_tree_of_a_hand_made_layer() -> None:
    tree = br.FileTree("t", has_disk=False)
    br.fill_from_entries(tree, TOP)
    br.apply_marks(tree, layer_marks([LayerFiles("base", BASE), LayerFiles("top", TOP)]))
    root = {c.name: c for c in tree.root.children}
    assert tree.root.size == sum(e.size for e in TOP) == 71
    assert root["gone"].kind == br.WHITEOUT and root["gone"].mark == "D"
    assert (root["gone"].removed, root["gone"].removed_bytes) == (2, 150)
    assert root["d"].mark == "O" and (root["d"].removed, root["d"].removed_bytes) == (2, 80)
    assert root["f"].kind == br.DIR and root["f"].mark == "A" and root["f"].removed == 1
    a = {c.name: c for c in root["a"].children}
    assert (a["x"].mark, a["x"].size) == ("M", 15)
    assert (a["y"].kind, a["y"].mark, a["y"].removed_bytes) == (br.WHITEOUT, "D", 20)
    assert root["a"].size == 20 and root["a"].items == 3
    # Largest first, whiteouts (0 bytes in the layer) last.
    with tree.lock:
        rows = br.listing(tree, tree.root)
    assert sorted(rows, key=lambda r: -r.size)[0].name == "d"


def layer_files(root: Path) -> tuple[Any, dict[str, LayerFiles]]:
    from inspector.measure import effcache
    from inspector.measure.layerfiles import LayerSource

    inv = pipeline.read(str(root))
    with fs.anchored(inv.root.path):
        source = LayerSource(inv, effcache.disabled(inv.root.path))
        files = {ch: source(ch) for ch in inv.layers}
    assert all(isinstance(f, LayerFiles) for f in files.values())
    return inv, files  # type: ignore[return-value]


def test_sample_layers_marks_sum_to_the_efficiency_counts() -> None:
    """Every layer of every image of the sample root, summed, equals `efficiency`'s count."""
    inv, files = layer_files(SAMPLE)
    report = pipeline.efficiency(str(SAMPLE), pipeline.Options(cache=False), ids=list(inv.images))
    checked = 0
    for img in report.images:
        chain = [c.chain_id for c in img.layers]
        for i, changes in enumerate(img.layers):
            lfs = [files[ch] for ch in chain[: i + 1]]
            marks = layer_marks(lfs)
            assert sums(lfs[-1].entries, marks) == (
                changes.added,
                changes.modified,
                changes.removed,
                changes.added_bytes,
                changes.modified_bytes,
                changes.removed_bytes,
            ), (img.tags, i)
            checked += 1
    assert checked >= 10
    removed = [c for img in report.images for c in img.layers if c.removed]
    assert removed  # app:2 deletes /app/conf/app.conf: a whiteout was among them


def test_browse_a_sample_layer_through_the_pipeline() -> None:
    inv = pipeline.read(str(SAMPLE))
    app2 = next(i for i in inv.images.values() if "app:2" in i.tags)
    from inspector.ids import chain_ids

    top = chain_ids(app2.diff_ids)[-1]
    tree = br.FileTree("layer", has_disk=False)
    pipeline.browse(inv, br.Target("layer", None, top), tree)
    assert tree.done and tree.marked and tree.source == "tar-split"
    app = next(c for c in tree.root.children if c.name == "app")
    kids = {c.name: c for c in app.children}
    assert kids["VERSION"].mark == "A" and kids["v2"].mark == "A"
    conf = {c.name: c for c in kids["conf"].children}
    assert conf["app.conf"].mark == "D" and conf["app.conf"].removed_bytes == len("mode=1\n")


def test_a_layer_without_tar_split_is_walked_and_marked(tmp_path: Path) -> None:
    """No tar-split: the diff dir is read the way Docker tars it, marks and all."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(SAMPLE), str(root)], check=True)
    inv = pipeline.read(str(root))
    app2 = next(i for i in inv.images.values() if "app:2" in i.tags)
    from inspector.ids import chain_ids

    top = chain_ids(app2.diff_ids)[-1]
    (Path(inv.layers[top].metadata_dir) / "tar-split.json.gz").unlink()
    tree = br.FileTree("layer", has_disk=False)
    pipeline.browse(inv, br.Target("layer", None, top), tree)
    assert tree.source == "diff-walk" and tree.marked
    app = next(c for c in tree.root.children if c.name == "app")
    assert {c.name: c.mark for c in app.children}["VERSION"] == "A"


# -- the live private dockerd -----------------------------------------------------------


@pytest.mark.dockerd
def test_writable_layers_equal_docker_size_rw(dockerd: Any, scenario: dict[str, Any]) -> None:
    """Each container's browsed writable layer totals Docker's own SizeRw (Engine API), and
    every dir of it equals the reference walker; web's deletion of a base file is a whiteout
    marked D."""
    from inspector.analysis import analyze

    root = str(dockerd.data_root)
    inv = pipeline.read(root)
    report = analyze(inv, None)
    rows = {r.container.id: r for r in report.containers}
    for name, cid in scenario["containers"].items():
        api = dockerd.inspect_container_sized(cid)
        r = rows[cid]
        assert r.rw_dir is not None
        tree = br.FileTree(name, top=r.rw_dir)
        pipeline.browse(inv, br.Target("container", r.rw_dir), tree)
        assert tree.done, (name, tree.notes)
        assert tree.root.size == api.get("SizeRw", 0), name
        for node in kept_dirs(tree):
            path = r.rw_dir + node.path().rstrip("/") if node.parent is not None else r.rw_dir
            ref = refmeasure(path)
            assert (node.size, node.items + 1) == (ref.apparent, ref.files), (name, path)
        if name == "web":
            etc = next(c for c in tree.root.children if c.name == "etc")
            gone = next(c for c in etc.children if c.name == "base-release")
            assert gone.kind == br.WHITEOUT and gone.mark == "D"
            srv = {
                c.name: c for c in next(c for c in tree.root.children if c.name == "srv").children
            }
            assert srv["sparse"].size == 1024 * 1024
            assert {srv["a"].kind, srv["b"].kind} == {br.HARDLINK}
            assert srv["a"].size + srv["b"].size == len("hardlinked\n")  # one inode, once
