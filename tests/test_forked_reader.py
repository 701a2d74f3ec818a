"""Stage 1's forked reader (inspector.readers.forked) and the one-open lstat of a layer dir.

A big host's overlay2 dirs are read in a forked child while layerdb is read in the parent:
the Inventory must be the one a serial read gives, the child must be reaped, and a failing
child must cost time, never the result. Forking needs a single-threaded process, which a
pytest run need not be: those checks run in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from inspector.errors import ReaderError
from inspector.readers import forked, fs

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "root"

#: Reads a root serially and with the forked reader forced; prints what it saw.
SCRIPT = r"""
import dataclasses, json, os, sys
import inspector.stores.graphdriver as g
from inspector import pipeline
from inspector.readers import forked

root = sys.argv[1]
started = []
real_start = forked.start

def spy(fn, fork=True, fast=()):
    p = real_start(fn, fork, fast)
    started.append(p.pid)
    return p

forked.start = spy
g._idle_core = lambda: True  # the test machine may be busy: the split is forced here
g.FORK_MIN_DIRS = 10**9
serial = pipeline.read(root)
g.FORK_MIN_DIRS = 0
parallel = pipeline.read(root)
same = dataclasses.replace(serial, scan_started=0) == dataclasses.replace(parallel, scan_started=0)
try:
    os.waitpid(-1, os.WNOHANG)
    unreaped = True
except ChildProcessError:
    unreaped = False

# A child that dies before answering: the parent reads itself and gets the same result.
parent = os.getpid()
def dies():
    if os.getpid() != parent:
        os._exit(3)
    return "read here"
p = real_start(dies)
child = p.pid
fallback = p.result()

def raises():
    from inspector.errors import ReaderError
    raise ReaderError(f"raised in {'child' if os.getpid() != parent else 'parent'}")
q = real_start(raises)
try:
    q.result()
    raised = None
except Exception as e:
    raised = f"{type(e).__name__}: {e}"
print(json.dumps({
    "pids": started, "same": same, "dirs": len(parallel.storage_dirs),
    "unreaped": unreaped, "child": child, "fallback": fallback, "raised": raised,
}))
"""


def _run(root: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=120,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def _damaged(tmp: Path) -> Path:
    """A copy of the sample root with what the overlay2 reader must report, not follow."""
    root = tmp / "root"
    shutil.copytree(SAMPLE, root, symlinks=True)
    home = root / "overlay2"
    layer = next(p for p in sorted(home.iterdir()) if (p / "link").is_file())
    (layer / "link").write_text("not base32\x1b[31m")
    (home / ("e" * 64)).symlink_to("/etc")
    (home / "l" / "PLAINFILE").write_text("x")
    (home / "stray").write_text("x")
    return root


@pytest.mark.parametrize("kind", ["sample", "damaged"])
def test_forked_read_equals_serial(kind: str, tmp_path: Path) -> None:
    root = SAMPLE if kind == "sample" else _damaged(tmp_path)
    got = _run(root)
    pids = got["pids"]
    assert isinstance(pids, list) and len(pids) == 2
    assert pids[0] == 0, "below the threshold the overlay2 dirs are read in this process"
    assert isinstance(pids[1], int) and pids[1] > 0, "a single-threaded run forks the reader"
    assert got["same"] is True
    assert isinstance(got["dirs"], int) and got["dirs"] > 0
    assert got["unreaped"] is False, "every forked reader is reaped"
    assert isinstance(got["child"], int) and got["child"] > 0
    assert got["fallback"] == "read here"
    assert got["raised"] == "ReaderError: raised in child"


def test_no_fork_with_another_thread() -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        p = forked.start(os.getpid)
        assert p.pid == 0
        assert p.result() == os.getpid()
    finally:
        stop.set()
        t.join()


def test_lstat_with_entry_matches_two_lstats(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(SAMPLE / "overlay2", root / "overlay2", symlinks=True)
    layer = next(p for p in (root / "overlay2").iterdir() if (p / "diff").is_dir())
    (root / "overlay2" / "linked").symlink_to(layer.name)
    (root / "overlay2" / "file").write_text("x")
    with fs.anchored(str(root)):
        st, diff = fs.lstat_with_entry(str(layer), "diff")
        assert (st.st_ino, diff.st_ino) == (
            fs.lstat(str(layer)).st_ino,
            fs.lstat(str(layer / "diff")).st_ino,
        )
        with pytest.raises(FileNotFoundError):
            fs.lstat_with_entry(str(layer), "absent")
        # A symlink in place of the layer dir is returned as one, never followed into.
        with pytest.raises(NotADirectoryError):
            fs.lstat_with_entry(str(root / "overlay2" / "linked"), "diff")
        link = fs.lstat(str(root / "overlay2" / "linked"))
        assert not os.path.samestat(link, st)
        with pytest.raises(NotADirectoryError):
            fs.lstat_with_entry(str(root / "overlay2" / "file"), "diff")
        with pytest.raises(ReaderError):
            fs.lstat_with_entry(str(layer), "../x")


def test_split_only_with_an_idle_core(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspector.stores.graphdriver as g

    cpus = len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "getloadavg", lambda: (float(cpus), 0.0, 0.0))
    assert g._idle_core() is False, "every core busy: the overlay2 dirs are read here"
    monkeypatch.setattr(os, "getloadavg", lambda: (cpus - 1.0, 0.0, 0.0))
    assert g._idle_core() is True
