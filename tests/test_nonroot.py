"""docker-inspector run by an unprivileged user (nobody, via setpriv) on a root-owned data root.

The documented behaviour:

- the data root itself cannot be listed (a real /var/lib/docker is 0710 root:root): exit 2,
  one ``docker-inspector: error:`` line naming the root and saying how to run it (sudo, or a
  readable copy), nothing on stdout;
- only parts of it cannot be read: exit 0, a partial report in which every unreadable path
  is an ``unreadable`` finding, and one ``docker-inspector: warning:`` line naming them and
  saying how to run it.

The test interpreter may live where nobody cannot go (a venv over /root/.pyenv): the
package and its pure-Python dependency are copied to a world-readable temporary directory
and run with the first Python >= 3.11 that nobody can execute.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.dockerd

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534
SETPRIV = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin).parent


@pytest.fixture(scope="module")
def world(dockerd: Any, scenario: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A world-readable scratch dir with the package, an interpreter and copies of the root."""
    if os.geteuid() != 0:
        pytest.fail("these tests switch to the user nobody and need root to do so")
    base = Path(tempfile.mkdtemp(prefix="dinspector-nonroot-", dir="/tmp"))
    try:
        base.chmod(0o755)
        pkg = base / "pkg"
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO / "inspector", pkg / "inspector", ignore=ignore)
        shutil.copytree(_package_dir("humanize"), pkg / "humanize", ignore=ignore)
        for p in [pkg, *pkg.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(pkg),
            "HOME": str(base / "home"),
            "XDG_CACHE_HOME": str(base / "home" / "cache"),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        (base / "home").mkdir()
        os.chown(base / "home", NOBODY, NOBODY)
        python = _find_python(env)
        root = base / "root"
        dockerd.copy_root(root)
        yield {"base": base, "env": env, "python": python, "root": root}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _find_python(env: dict[str, str]) -> str:
    """The first interpreter >= 3.11 that nobody can run with the copied package."""
    tried = []
    for cand in (os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"):
        if cand in tried or not os.path.exists(cand):
            continue
        tried.append(cand)
        probe = "import sys; assert sys.version_info >= (3, 11); import inspector.cli, humanize"
        res = subprocess.run(
            [*SETPRIV, cand, "-c", probe], env=env, capture_output=True, check=False
        )
        if res.returncode == 0:
            return cand
    pytest.fail(f"no Python >= 3.11 the user nobody can run (tried {tried})", pytrace=False)


def run_as_nobody(
    world: dict[str, Any], root: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SETPRIV, world["python"], "-m", "inspector", "--root", str(root), *args],
        env=world["env"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=world["base"],
    )


def copy_of(world: dict[str, Any], name: str) -> Path:
    dst = world["base"] / name
    subprocess.run(["cp", "-a", "--sparse=always", str(world["root"]), str(dst)], check=True)
    return dst


def test_really_unprivileged(world: dict[str, Any]) -> None:
    res = subprocess.run(
        [*SETPRIV, world["python"], "-c", "import os; print(os.geteuid(), os.getegid())"],
        env=world["env"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert res.stdout.split() == [str(NOBODY), str(NOBODY)]
    # The copy keeps Docker's modes: the root is not listable by others.
    assert world["root"].stat().st_mode & 0o007 in (0, 1)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_unlistable_root_exits_2_with_a_clear_message(world: dict[str, Any], fmt: str) -> None:
    res = run_as_nobody(world, world["root"], "report", "--format", fmt)
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("docker-inspector: error: "), res.stderr
    assert str(world["root"]) in lines[0]
    assert "permission denied" in lines[0].lower()
    assert "sudo" in lines[0] and "copy" in lines[0]


def test_partly_readable_root_gives_a_partial_report(world: dict[str, Any]) -> None:
    """Only the top is readable (chmod 755 on the root): everything below is 0700/0710."""
    root = copy_of(world, "top-readable")
    root.chmod(0o755)
    res = run_as_nobody(world, root, "report", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    warning = [ln for ln in res.stderr.splitlines() if ln.startswith("docker-inspector: warning")]
    assert len(warning) == 1, res.stderr
    assert "could not be read" in warning[0] and "sudo" in warning[0]
    assert str(root / "containers") in warning[0] or "more" in warning[0]
    doc = json.loads(res.stdout)
    unreadable = {f["path"] for f in doc["findings"] if f["kind"] == "unreadable"}
    for area in ("containers", "volumes", "image"):
        assert str(root / area) in unreadable, (area, sorted(unreadable))
    assert any("cannot be read" in n and "sudo" in n for n in doc["notes"]), doc["notes"]
    # Unknown is not zero: what could not be read has no number in Docker's view.
    for kind in ("images", "containers", "volumes"):
        assert set(doc["docker_df"][kind].values()) == {None}, (kind, doc["docker_df"])
    # The text report says the same, and still renders.
    res = run_as_nobody(world, root, "report")
    assert res.returncode == 0, res.stderr
    assert "unreadable" in res.stdout and "NOTE:" in res.stdout
    view = res.stdout.split("Docker's view", 1)[1].split("\n\n", 1)[0].splitlines()
    for typ in ("Images", "Containers", "Local Volumes"):
        row = next(ln for ln in view if ln.startswith(typ))
        assert row.split()[-4:] == ["unknown"] * 4, row


def test_user_owned_copy_reads_fully_except_mode_000(
    world: dict[str, Any], scenario: dict[str, Any]
) -> None:
    """A copy chowned to the user: same numbers as root gets; mode-000 parts are findings."""
    root = copy_of(world, "owned")
    job = scenario["containers"]["job"]
    layers = sorted((root / "image/overlay2/layerdb/sha256").iterdir())
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(root)], check=True)
    res_root = subprocess.run(
        [sys.executable, "-m", "inspector", "--root", str(root), "report", "--format", "json"],
        env={**world["env"], "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    as_root = json.loads(res_root.stdout)
    res = run_as_nobody(world, root, "report", "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [(i["id"], i["size"]) for i in doc["images"]] == [
        (i["id"], i["size"]) for i in as_root["images"]
    ]
    assert [(c["id"], c["size_rw"]) for c in doc["containers"]] == [
        (c["id"], c["size_rw"]) for c in as_root["containers"]
    ]
    assert [(v["name"], v["size"]) for v in doc["volumes"]] == [
        (v["name"], v["size"]) for v in as_root["volumes"]
    ]
    # overlay2's work/work dirs are mode 000: even their owner cannot list them.
    bad = [f for f in doc["findings"] if f["kind"] == "unreadable"]
    assert bad and all(f["path"].endswith("/work/work") for f in bad), bad

    # Now take away a layerdb entry and a container config (as root they are still readable:
    # tests/test_corrupt.py); for the user they become findings, and the rest stays.
    layers[0].chmod(0)
    (root / "containers" / job / "config.v2.json").chmod(0)
    res = run_as_nobody(world, root, "report", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert "could not be read" in res.stderr
    doc = json.loads(res.stdout)
    details = {(f["kind"], f["path"]): f["detail"] for f in doc["findings"]}
    assert "Permission denied" in details[("unreadable", str(layers[0]))]
    assert (
        "Permission denied" in details[("container_without_config", str(root / "containers" / job))]
    )
    assert len(doc["containers"]) == len(as_root["containers"]) - 1
    with contextlib.suppress(OSError):
        layers[0].chmod(0o700)
