"""Corrupt metadata never costs a traceback: a finding or a skipped entry with its reason.

Part 1: a table of broken inputs, each injected into its own copy of the session daemon's
root (truncated or invalid JSON, wrong types, absurd sizes as sparse files, missing files,
FIFOs and symlinks in place of files and dirs, corrupt bbolt databases, a ``lower`` naming
10,000 links, non-hex IDs everywhere): ``report`` exits 0 and the expected finding kind names
the expected path with the expected reason, and the rest of the report is still there.

Part 2: property-based tests (hypothesis) feed every parser more than 10,000 generated
inputs in all in a full run (``DOCKER_INSPECTOR_FUZZ_SCALE=1``, see ``tests/fuzzscale.py``;
the default run takes a quarter): each returns a value or raises ReaderError, nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fuzzscale import SCALE, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector import cli
from inspector.errors import ReaderError
from inspector.ids import chain_ids
from inspector.readers import bbolt, buildkit, containers
from inspector.readers.volumes_db import parse_volume_metadata
from inspector.stores.graphdriver import imagedb, layerdb, references, storage

REPO = Path(__file__).resolve().parents[1]
BBOLT_DATA = REPO / "tests" / "data" / "bbolt"
HOUR_AGO = time.time() - 3600
TWO_GB = 2 * 1024**3

# --------------------------------------------------------------------------------------------
# Part 1: the table.


@dataclass
class Root:
    """A private copy of the session root and where things are in it."""

    path: Path
    scenario: dict[str, Any]

    def container(self, name: str) -> Path:
        return self.path / "containers" / self.scenario["containers"][name]

    def config(self, name: str) -> Path:
        return self.container(name) / "config.v2.json"

    def image_config(self, tag: str) -> Path:
        iid = self.scenario["images"][tag].removeprefix("sha256:")
        return self.path / "image/overlay2/imagedb/content/sha256" / iid

    def top_layer(self, tag: str) -> Path:
        doc = json.loads(self.image_config(tag).read_bytes())
        top = chain_ids(doc["rootfs"]["diff_ids"])[-1]
        return self.path / "image/overlay2/layerdb/sha256" / top.removeprefix("sha256:")

    def storage_dir(self, tag: str) -> Path:
        return self.path / "overlay2" / (self.top_layer(tag) / "cache-id").read_text()

    def mount(self, name: str) -> Path:
        return self.path / "image/overlay2/layerdb/mounts" / self.scenario["containers"][name]


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_bytes())
    change(doc)
    path.write_text(json.dumps(doc))


def sparse(path: Path, size: int = TWO_GB) -> None:
    path.unlink(missing_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)


def replace_with_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def replace_with_symlink(path: Path, outside: Path) -> None:
    dst = outside / path.name
    if path.is_dir():
        shutil.copytree(path, dst, symlinks=True)
        shutil.rmtree(path)
    else:
        shutil.copy(path, dst)
        path.unlink()
    path.symlink_to(dst)


def truncate(path: Path, size: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:size])


def old_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.utime(path, (HOUR_AGO, HOUR_AGO))
    return path


def non_hex_everywhere(r: Root, outside: Path) -> None:
    p = r.path
    old_dir(p / "containers" / "not-a-container-id")
    old_dir(p / "image/overlay2/layerdb/sha256" / "zz-not-a-chain")
    (p / "image/overlay2/imagedb/content/sha256" / "not-an-image").write_text("{}")
    old_dir(p / "overlay2" / "Not-A-Graph-ID" / "diff")
    os.utime(p / "overlay2" / "Not-A-Graph-ID", (HOUR_AGO, HOUR_AGO))
    old_dir(p / "volumes" / "stray-dir-without-data")


def ten_thousand_lowers(r: Root, outside: Path) -> None:
    (r.storage_dir("tool:latest") / "lower").write_text(
        ":".join(f"l/{'A' * 20}{i:06d}".replace("0", "B") for i in range(10_000))
    )


def random_bytes(path: Path, n: int, seed: int = 7) -> None:
    path.write_bytes(random.Random(seed).randbytes(n))


# Each case: (mutation, [(kind, path relative to the root, text in the detail)], extra check).
Expect = list[tuple[str, Callable[[Root], Path], str]]
Check = Callable[[Root, dict[str, Any]], None] | None


def has_container(which: str, **fields: Any) -> Check:
    def check(r: Root, doc: dict[str, Any]) -> None:
        rows = {c["id"]: c for c in doc["containers"]}
        row = rows[r.scenario["containers"][which]]
        for k, v in fields.items():
            assert row[k] == v, (k, row[k])

    return check


def no_container(name: str) -> Check:
    def check(r: Root, doc: dict[str, Any]) -> None:
        assert r.scenario["containers"][name] not in {c["id"] for c in doc["containers"]}

    return check


def still_has_volumes(r: Root, doc: dict[str, Any]) -> None:
    assert {"appdata", "unused"} <= {v["name"] for v in doc["volumes"]}


def no_certain_orphans(r: Root, doc: dict[str, Any]) -> None:
    bad = [f for f in doc["findings"] if f["kind"] == "orphan_dir" and f["confidence"] == "certain"]
    assert not bad, bad


def job_cfg(r: Root) -> Path:
    return r.container("job")


CASES: list[tuple[str, Callable[[Root, Path], None], Expect, Check]] = [
    (
        "config-truncated",
        lambda r, o: truncate(r.config("job"), 100),
        [("container_without_config", job_cfg, "invalid JSON")],
        no_container("job"),
    ),
    (
        "config-garbage-bytes",
        lambda r, o: random_bytes(r.config("job"), 5000),
        [("container_without_config", job_cfg, "invalid JSON")],
        None,
    ),
    (
        "config-json-array",
        lambda r, o: r.config("job").write_text("[]"),
        [("container_without_config", job_cfg, "not a JSON object")],
        None,
    ),
    (
        "config-id-mismatch",
        lambda r, o: edit_json(r.config("job"), lambda d: d.update(ID="f" * 64)),
        [("container_without_config", job_cfg, "differs from the directory name")],
        None,
    ),
    (
        "config-deeply-nested",
        lambda r, o: r.config("job").write_text("[" * 200_000),
        [("container_without_config", job_cfg, "invalid JSON")],
        None,
    ),
    (
        "config-state-is-a-list",
        lambda r, o: edit_json(r.config("job"), lambda d: d.update(State=[])),
        [],
        has_container("job", state="created"),
    ),
    (
        "config-mountpoints-is-a-string",
        lambda r, o: edit_json(r.config("web"), lambda d: d.update(MountPoints="x")),
        [("unused_volume", lambda r: r.path / "volumes" / "appdata", "mounted by no container")],
        has_container("web", mounts=[], volumes=[]),
    ),
    (
        "config-wrong-types-everywhere",
        lambda r, o: edit_json(
            r.config("job"),
            lambda d: d.update(
                Name=5,
                Image=[],
                Created={},
                Driver=None,
                LogPath=3,
                Config={"Labels": [1], "Image": 2},
                State={"Running": "yes", "Pid": "12", "ExitCode": 1.5, "StartedAt": 7},
                MountPoints={"/x": [], "/y": {"Name": 3, "RW": "no"}},
            ),
        ),
        [],
        has_container("job", name="", image="", state="created", labels={}),
    ),
    (
        "config-2GB-sparse",
        lambda r, o: sparse(r.config("job")),
        [("container_without_config", job_cfg, "cap")],
        None,
    ),
    (
        "config-missing",
        lambda r, o: r.config("job").unlink(),
        [("container_without_config", job_cfg, "missing")],
        None,
    ),
    (
        "config-is-a-fifo",
        lambda r, o: replace_with_fifo(r.config("job")),
        [("container_without_config", job_cfg, "not a regular file")],
        None,
    ),
    (
        "config-is-a-symlink",
        lambda r, o: replace_with_symlink(r.config("job"), o),
        [("container_without_config", job_cfg, "symlink")],
        None,
    ),
    (
        "config-mode-000",
        lambda r, o: r.config("job").chmod(0),
        [],  # root reads it anyway; tests/test_nonroot.py covers a user who cannot
        has_container("job", state="exited"),
    ),
    (
        "hostconfig-garbage",
        lambda r, o: random_bytes(r.container("job") / "hostconfig.json", 300),
        [],
        has_container("job", log_driver="json-file"),
    ),
    (
        "log-is-a-fifo",
        lambda r, o: replace_with_fifo(
            r.container("job") / f"{r.scenario['containers']['job']}-json.log"
        ),
        [],
        has_container("job", log_size=0),
    ),
    (
        "image-config-truncated",
        lambda r, o: truncate(r.image_config("tool:latest"), 50),
        [
            ("unreadable", lambda r: r.image_config("tool:latest"), "invalid JSON"),
            ("container_missing_image", job_cfg, "not in the image store"),
        ],
        None,
    ),
    (
        "image-config-rootfs-wrong-type",
        lambda r, o: edit_json(
            r.image_config("tool:latest"), lambda d: d["rootfs"].update(diff_ids="x")
        ),
        [("unreadable", lambda r: r.image_config("tool:latest"), "rootfs.diff_ids")],
        None,
    ),
    (
        "image-config-2GB-sparse",
        lambda r, o: sparse(r.image_config("tool:latest")),
        [("unreadable", lambda r: r.image_config("tool:latest"), "cap")],
        None,
    ),
    (
        "repositories-garbage",
        lambda r, o: random_bytes(r.path / "image/overlay2/repositories.json", 100),
        [("unreadable", lambda r: r.path / "image/overlay2/repositories.json", "invalid JSON")],
        None,
    ),
    (
        "repositories-wrong-shape",
        lambda r, o: (r.path / "image/overlay2/repositories.json").write_text(
            '{"Repositories": []}'
        ),
        [("unreadable", lambda r: r.path / "image/overlay2/repositories.json", "Repositories")],
        None,
    ),
    (
        "layer-size-not-a-number",
        lambda r, o: (r.top_layer("tool:latest") / "size").write_text("12abc"),
        [("unreadable", lambda r: r.top_layer("tool:latest"), "not a decimal number")],
        None,
    ),
    (
        "layer-size-2GB-sparse",
        lambda r, o: sparse(r.top_layer("tool:latest") / "size"),
        [("unreadable", lambda r: r.top_layer("tool:latest"), "cap")],
        None,
    ),
    (
        "layer-cache-id-missing",
        lambda r, o: (r.top_layer("tool:latest") / "cache-id").unlink(),
        [("unreadable", lambda r: r.top_layer("tool:latest"), "no cache-id file")],
        None,
    ),
    (
        "layer-diff-garbage",
        lambda r, o: (r.top_layer("tool:latest") / "diff").write_text("sha256:xyz"),
        [("unreadable", lambda r: r.top_layer("tool:latest"), "malformed diff ID")],
        None,
    ),
    (
        "layer-dir-is-a-symlink",
        lambda r, o: replace_with_symlink(r.top_layer("tool:latest"), o),
        [
            ("unreadable", lambda r: r.top_layer("tool:latest"), "symlink, not followed"),
            ("missing_layer", lambda r: r.image_config("tool:latest"), "layerdb does not have"),
        ],
        None,
    ),
    (
        "layer-dir-mode-000",
        lambda r, o: r.top_layer("tool:latest").chmod(0),
        [],  # root reads it anyway
        None,
    ),
    (
        "mount-id-garbage",
        lambda r, o: (
            (r.mount("job") / "mount-id").write_text("../../../etc"),
            # Not a mount being written by a live daemon right now: an old, broken one.
            os.utime(r.mount("job"), (HOUR_AGO, HOUR_AGO)),
        ),
        [("unreadable", lambda r: r.mount("job"), "malformed mount-id")],
        None,
    ),
    (
        "volumes-db-truncated",
        lambda r, o: truncate(r.path / "volumes/metadata.db", 1000),
        [("unreadable", lambda r: r.path / "volumes/metadata.db", "")],
        still_has_volumes,
    ),
    (
        "volumes-db-random-bytes",
        lambda r, o: random_bytes(r.path / "volumes/metadata.db", 32768),
        [("unreadable", lambda r: r.path / "volumes/metadata.db", "")],
        still_has_volumes,
    ),
    (
        "volumes-db-2GB-sparse",
        lambda r, o: sparse(r.path / "volumes/metadata.db"),
        [("unreadable", lambda r: r.path / "volumes/metadata.db", "cap")],
        still_has_volumes,
    ),
    (
        "buildkit-snapshots-db-truncated",
        lambda r, o: truncate(r.path / "buildkit/snapshots.db", 4096 + 100),
        [("unreadable", lambda r: r.path / "buildkit/snapshots.db", "")],
        no_certain_orphans,
    ),
    (
        "buildkit-metadata-db-random",
        lambda r, o: random_bytes(r.path / "buildkit/metadata_v2.db", 65536),
        [("unreadable", lambda r: r.path / "buildkit/metadata_v2.db", "")],
        None,
    ),
    (
        "lower-names-10000-links",
        ten_thousand_lowers,
        [("broken_link", lambda r: r.storage_dir("tool:latest"), "cap")],
        None,
    ),
    (
        "lower-escapes-the-driver-home",
        lambda r, o: (r.storage_dir("tool:latest") / "lower").write_text("l/../../etc:/abs"),
        [("broken_link", lambda r: r.storage_dir("tool:latest"), "does not exist")],
        None,
    ),
    (
        "link-file-garbage",
        lambda r, o: (r.storage_dir("tool:latest") / "link").write_text("../../x"),
        [("broken_link", lambda r: r.storage_dir("tool:latest"), "base32")],
        None,
    ),
    (
        "short-link-to-etc",
        lambda r, o: (r.path / "overlay2/l" / ("Z" * 26)).symlink_to("/etc"),
        [("broken_link", lambda r: r.path / "overlay2/l" / ("Z" * 26), "is not ../<id>/diff")],
        None,
    ),
    (
        "storage-dir-is-a-symlink",
        lambda r, o: replace_with_symlink(r.storage_dir("tool:latest"), o),
        [("missing_diff_dir", lambda r: r.storage_dir("tool:latest"), "does not exist")],
        None,
    ),
    (
        "non-hex-ids-in-every-directory",
        non_hex_everywhere,
        [
            ("unreadable", lambda r: r.path / "containers/not-a-container-id", "not a container"),
            ("unreadable", lambda r: r.path / "image/overlay2/layerdb/sha256/zz-not-a-chain", ""),
            (
                "unreadable",
                lambda r: r.path / "image/overlay2/imagedb/content/sha256/not-an-image",
                "",
            ),
            ("orphan_dir", lambda r: r.path / "overlay2/Not-A-Graph-ID", "not a graphdriver ID"),
            ("unreadable", lambda r: r.path / "volumes/stray-dir-without-data", "without _data"),
        ],
        still_has_volumes,
    ),
    (
        "containers-dir-is-a-file",
        lambda r, o: (shutil.rmtree(r.path / "containers"), (r.path / "containers").write_text("")),
        [("unreadable", lambda r: r.path / "containers", "not a directory")],
        lambda r, doc: None if doc["containers"] == [] else pytest.fail("containers read"),
    ),
    (
        "layerdb-missing",
        lambda r, o: shutil.rmtree(r.path / "image/overlay2/layerdb"),
        [("missing_layer", lambda r: r.image_config("tool:latest"), "layerdb does not have")],
        None,
    ),
]


@pytest.fixture(scope="module")
def base_copy(
    dockerd: Any, scenario: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    root = tmp_path_factory.mktemp("corrupt-base") / "root"
    dockerd.copy_root(root)
    return root


def run_report(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    rc = cli.main(["--root", str(root), "report", "--format", "json", "--no-cache"])
    out, err = capsys.readouterr()
    return rc, json.loads(out) if out.strip() else {}, err


@pytest.mark.dockerd
@pytest.mark.parametrize(
    ("mutate", "expect", "check"),
    [pytest.param(m, e, c, id=name) for name, m, e, c in CASES],
)
def test_broken_input_gives_a_finding_not_a_traceback(
    mutate: Callable[[Root, Path], None],
    expect: Expect,
    check: Check,
    base_copy: Path,
    scenario: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_INSPECTOR_DEBUG", "1")  # an internal error raises here
    root = Root(tmp_path / "root", scenario)
    subprocess.run(["cp", "-a", "--sparse=always", str(base_copy), str(root.path)], check=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    wanted = [(kind, where(root), text) for kind, where, text in expect]  # before the damage
    mutate(root, outside)
    started = time.monotonic()
    rc, doc, err = run_report(root.path, capsys)
    assert time.monotonic() - started < 30
    assert rc == 0, err
    assert "Traceback" not in err
    found = {(f["kind"], f["path"]): f["detail"] for f in doc["findings"]}
    for kind, path, text in wanted:
        assert (kind, str(path)) in found, (kind, str(path), sorted(found))
        assert text in found[(kind, str(path))], found[(kind, str(path))]
    if any(k == "unreadable" for k, _, _ in wanted):
        assert "could not be read" in err
    # The rest of the report is there.
    assert doc["images"] and doc["volumes"]
    if check is not None:
        check(root, doc)


@pytest.mark.dockerd
def test_everything_broken_at_once_in_a_subprocess(
    base_copy: Path, scenario: dict[str, Any], tmp_path: Path
) -> None:
    """All of the table's damage in one root, through the real command line."""
    root = Root(tmp_path / "root", scenario)
    subprocess.run(["cp", "-a", "--sparse=always", str(base_copy), str(root.path)], check=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    # One case per damaged file (several cases damage the same one in different ways).
    together = {
        "config-deeply-nested",
        "hostconfig-garbage",
        "image-config-2GB-sparse",
        "repositories-garbage",
        "layer-size-not-a-number",
        "mount-id-garbage",
        "volumes-db-random-bytes",
        "buildkit-snapshots-db-truncated",
        "buildkit-metadata-db-random",
        "lower-names-10000-links",
        "short-link-to-etc",
        "non-hex-ids-in-every-directory",
    }
    # The image config last: the other cases find their layer through it.
    for name, mutate, _, _ in sorted(CASES, key=lambda c: c[0].startswith("image-config")):
        if name in together:
            mutate(root, outside)
    replace_with_fifo(root.config("web"))
    sparse(root.config("fresh"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(tmp_path / "cache"))
    for fmt in ("text", "json"):
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "inspector",
                "--root",
                str(root.path),
                "report",
                "--format",
                fmt,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        assert "Traceback" not in res.stderr
        assert "could not be read" in res.stderr
    doc = json.loads(res.stdout)
    kinds = {f["kind"] for f in doc["findings"]}
    assert {"unreadable", "container_without_config", "broken_link", "orphan_dir"} <= kinds


# --------------------------------------------------------------------------------------------
# Part 2: every parser under hypothesis. Each returns a value or raises ReaderError.

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
#: Examples per parser in a full run; the guard below checks they add up to more than 10,000.
EXAMPLES = {
    "json": 2400,  # x3 parsers: container config, image config, repositories.json
    "layerdb": 900,
    "overlay2": 600,
    "bbolt": 1500,
    "volumes_db": 400,  # x2 parse calls
    "buildkit": 400,  # x3 parse calls
}
#: Parser calls per example.
PER_EXAMPLE = {"json": 3, "layerdb": 2, "overlay2": 1, "bbolt": 1, "volumes_db": 2, "buildkit": 1}
CALLS: dict[str, int] = dict.fromkeys(EXAMPLES, 0)


def fuzz(kind: str) -> settings:
    return settings(FUZZ, max_examples=examples(EXAMPLES[kind]))


KEYS = [
    "ID",
    "Name",
    "Image",
    "State",
    "Config",
    "Labels",
    "MountPoints",
    "Driver",
    "Created",
    "LogPath",
    "Running",
    "Paused",
    "Dead",
    "StartedAt",
    "Pid",
    "ExitCode",
    "Type",
    "RW",
    "Destination",
    "Source",
    "rootfs",
    "diff_ids",
    "history",
    "config",
    "created",
    "empty_layer",
    "created_by",
    "Repositories",
    "LogConfig",
    "Config",
    "AutoRemove",
    "os",
    "architecture",
    "value",
    "index",
    "parent",
    "Options",
]
DIGESTS = st.sampled_from(["sha256:" + "a" * 64, "sha256:" + "0" * 64, "sha256:xyz", ""])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | DIGESTS
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=10,
)


def _dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


#: Raw bytes: random, JSON of random shape, or JSON with a bit of damage.
DOCS = (
    st.binary(max_size=300)
    | JSON.map(_dump)
    | st.tuples(JSON.map(_dump), st.integers(0, 400)).map(lambda t: t[0][: t[1]])
)


def _ok(kind: str, fn: Callable[[], object]) -> None:
    CALLS[kind] += 1
    with contextlib.suppress(ReaderError):
        fn()


#: One generated document, shaped for each JSON parser in turn: a container config (with a
#: hostconfig), an image config, repositories.json. Each parser call counts as one input.
JSON_DOCS = st.tuples(
    DOCS,
    JSON,
    st.sampled_from(["raw", "container", "image", "references"]),
    st.none() | DOCS,
)


def _shaped(raw: bytes, value: Any, shape: str) -> bytes:
    if shape == "container":
        return _dump({"ID": "c" * 64, "State": value, "MountPoints": value, "Config": value})
    if shape == "image":
        return _dump({"rootfs": {"diff_ids": value}, "history": value, "config": value})
    if shape == "references":
        return _dump({"Repositories": {"r": value, "s": {"s:1": value}}})
    return raw


@fuzz("json")
@given(doc=JSON_DOCS)
def test_fuzz_json_parsers(doc: tuple[bytes, Any, str, bytes | None]) -> None:
    raw, value, shape, host = doc
    data = _shaped(raw, value, shape)
    _ok("json", lambda: containers.parse_container("c" * 64, "/nowhere", data, host))
    _ok("json", lambda: imagedb.parse_config("sha256:" + "a" * 64, "cfg", data))
    _ok("json", lambda: references.parse_references("repositories.json", data))


FILE_CONTENT = (
    st.none()
    | st.binary(max_size=80)
    | DIGESTS.map(str.encode)
    | st.integers(-5, 10**30).map(lambda i: str(i).encode())
    | st.just(b"dir")
)


def _write(path: str, content: bytes | None) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        os.rmdir(path)
    elif os.path.lexists(path):
        os.unlink(path)
    if content == b"dir":
        os.mkdir(path)
    elif content is not None:
        with open(path, "wb") as fh:
            fh.write(content)


@fuzz("layerdb")
@given(
    files=st.fixed_dictionaries(
        {n: FILE_CONTENT for n in ("diff", "cache-id", "parent", "size", "mount-id", "init-id")}
    )
)
def test_fuzz_layerdb_files(files: dict[str, bytes | None]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "layerdb")
        layer = os.path.join(db, "sha256", "b" * 64)
        mount = os.path.join(db, "mounts", "c" * 64)
        os.makedirs(layer)
        os.makedirs(mount)
        for name, content in files.items():
            _write(
                os.path.join(mount if name.endswith("-id") and name != "cache-id" else layer, name),
                content,
            )
        _ok("layerdb", lambda: layerdb.read_layer(layer, "sha256:" + "b" * 64))
        CALLS["layerdb"] += 1
        out = layerdb.read_layerdb(db)  # never raises: problems become skipped entries
        assert len(out.layers) + len(out.skipped) >= 1


@fuzz("overlay2")
@given(
    link=FILE_CONTENT | st.text(alphabet="ABCXYZ27l/.:", max_size=40).map(str.encode),
    lower=FILE_CONTENT | st.text(alphabet="ABCXYZ27l/.:", max_size=200).map(str.encode),
    target=st.text(alphabet="ab./", max_size=12),
)
def test_fuzz_overlay2_dirs(link: bytes | None, lower: bytes | None, target: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "overlay2")
        d = os.path.join(home, "d" * 64)
        os.makedirs(os.path.join(d, "diff"))
        os.makedirs(os.path.join(home, "l"))
        _write(os.path.join(d, "link"), link)
        _write(os.path.join(d, "lower"), lower)
        os.symlink(target or ".", os.path.join(home, "l", "ABC"))

        def run() -> None:
            area = storage.read_overlay2(home)
            assert set(area.dirs) == {"d" * 64} and set(area.links) == {"ABC"}

        _ok("overlay2", run)


REAL_DBS = [
    (BBOLT_DATA / n).read_bytes() for n in sorted(os.listdir(BBOLT_DATA)) if n.endswith(".db")
]


@fuzz("bbolt")
@given(
    which=st.integers(0, len(REAL_DBS) - 1),
    edits=st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), max_size=8),
    cut=st.none() | st.integers(0, 2**18),
    noise=st.none() | st.binary(max_size=9000),
)
def test_fuzz_bbolt(
    which: int, edits: list[tuple[int, int]], cut: int | None, noise: bytes | None
) -> None:
    data = bytearray(noise if noise is not None else REAL_DBS[which])
    for pos, byte in edits:
        if data:
            data[pos % len(data)] = byte
    blob = bytes(data[:cut] if cut is not None else data)
    _ok("bbolt", lambda: bbolt.parse_bolt(blob))


BUCKET_KEYS = st.sampled_from(
    [
        b"volumes",
        b"_main",
        b"parent",
        b"committed",
        b"chainid",
        b"size",
        b"iscommitted",
        b"cache.snapshot",
        b"snapshot.size",
        b"cache.parent",
        b"cache.recordType",
        b"cache.description",
        b"cache.equalMutable",
        b"cache.createdAt",
        b"cache.lastUsedAt",
        b"sha256:" + b"a" * 64,
    ]
) | st.binary(max_size=30)
VALUES = st.binary(max_size=60) | JSON.map(_dump) | JSON.map(lambda v: _dump({"value": v}))
BUCKETS = st.recursive(
    st.dictionaries(BUCKET_KEYS, VALUES, max_size=5).map(bbolt.BoltBucket),
    lambda inner: st.dictionaries(BUCKET_KEYS, VALUES | inner, max_size=5).map(bbolt.BoltBucket),
    max_leaves=6,
)


@fuzz("volumes_db")
@given(root=BUCKETS, vols=st.dictionaries(st.binary(max_size=12), VALUES, max_size=6))
def test_fuzz_volumes_db(root: bbolt.BoltBucket, vols: dict[bytes, bytes]) -> None:
    # Both random trees and a well-formed "volumes" bucket holding random values.
    with_bucket = bbolt.BoltBucket({b"volumes": bbolt.BoltBucket(dict(sorted(vols.items())))})
    _ok("volumes_db", lambda: parse_volume_metadata(root))
    _ok("volumes_db", lambda: parse_volume_metadata(with_bucket))


@fuzz("buildkit")
@given(snaps=BUCKETS, meta=BUCKETS)
def test_fuzz_buildkit_dbs(snaps: bbolt.BoltBucket, meta: bbolt.BoltBucket) -> None:
    def run() -> None:
        parsed, _ = buildkit.parse_snapshots(snaps)
        buildkit.parse_cache_records(meta, parsed)
        buildkit.parse_cache_records(bbolt.BoltBucket({b"_main": meta}), None)

    _ok("buildkit", run)


def test_fuzz_total_examples() -> None:
    """Guard: the parsers above get more than 10,000 generated inputs in all in a full run,
    and this run's share of them (DOCKER_INSPECTOR_FUZZ_SCALE) really reached them."""
    assert sum(n * PER_EXAMPLE[k] for k, n in EXAMPLES.items()) >= 10_000
    ran = {k: v for k, v in CALLS.items() if v}
    if len(ran) == len(CALLS):  # the whole module ran (not a -k selection)
        assert sum(ran.values()) >= 10_000 * SCALE, (SCALE, CALLS)
