"""Every file docker-inspector writes lands outside the data root, even when the destination
changes under it during a run (security issue 17, finding 5).

The binding check is made at write time on the destination's *directory*, opened and then
located from its descriptor; the file is a fresh O_EXCL|O_NOFOLLOW temp file in that
directory, renamed over the name (so a symlink planted at the name is replaced, never
written through). These tests plant symlinks into a private copy of sample_data/root before
a write, swap destinations for symlinks into it while a run is under way, and check that
the copy is byte-for-byte unchanged. No dockerd needed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from inspector import audit, inventory, pipeline
from inspector.cli import main
from inspector.measure import sizecache
from inspector.model import Usage

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "root"

Fingerprint = dict[str, tuple[Any, ...]]


def fingerprint(root: Path) -> Fingerprint:
    """Type, mode, size, mtime, inode, link target and sha256 of every path under `root`."""
    out: Fingerprint = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            extra: Any = None
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    extra = hashlib.sha256(fh.read()).hexdigest()
            rel = os.path.relpath(p, root)
            out[rel] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino, st.st_nlink, extra)
    return out


def assert_unchanged(root: Path, before: Fingerprint) -> None:
    after = fingerprint(root)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    assert not (added or removed or changed), f"root changed: {added=} {removed=} {changed=}"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A private copy of sample_data/root."""
    dst = tmp_path / "root"
    shutil.copytree(SAMPLE, dst, symlinks=True)
    return dst


@pytest.fixture
def victim(copy: Path) -> Path:
    """A metadata file inside the root copy: what a hostile symlink points at."""
    return sorted((copy / "containers").iterdir())[0] / "config.v2.json"


@pytest.fixture
def before(copy: Path, victim: Path) -> Iterator[Fingerprint]:
    data = victim.read_bytes()
    fp = fingerprint(copy)
    yield fp
    assert victim.read_bytes() == data


@pytest.fixture
def out(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        errors="replace",
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
        cwd=cwd,
    )


def one_error_line(err: str, *words: str) -> None:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("docker-inspector: error: "), err
    for w in words:
        assert w in lines[0], err


def replaced_by_regular_file(dest: Path) -> bytes:
    """The planted symlink is gone: a regular file took its name."""
    st = os.lstat(dest)
    assert stat.S_ISREG(st.st_mode), "the symlink at the destination was written through"
    return dest.read_bytes()


def no_temp_files(d: Path) -> None:
    assert [n for n in os.listdir(d) if n.startswith(".")] == []


# ----------------------------------------------------------------------------- report -o


def test_report_output_symlink_into_root_is_never_written_through(
    copy: Path, victim: Path, before: Fingerprint, out: Path
) -> None:
    dest = out / "r.json"
    dest.symlink_to(victim)
    res = run_cli("report", "--root", str(copy), "--format", "json", "-o", str(dest))
    # Planted before the run: the friendly early check refuses it.
    assert res.returncode == 2 and res.stdout == ""
    one_error_line(res.stderr, "inside the data root", str(dest))
    assert os.path.islink(dest)
    assert_unchanged(copy, before)


def test_report_output_dir_symlink_into_root_is_refused(
    copy: Path, victim: Path, before: Fingerprint, out: Path
) -> None:
    link = out / "link"
    link.symlink_to(victim.parent)
    res = run_cli("report", "--root", str(copy), "-o", str(link / "r.txt"))
    assert res.returncode == 2 and res.stdout == ""
    one_error_line(res.stderr, "inside the data root")
    assert_unchanged(copy, before)


def _slow_measure(swap: Callable[[], None]) -> Callable[..., Any]:
    """The measure stage, swapping the destination while "the scan" runs."""
    real = pipeline.measure_root

    def measure(inv: Any, *args: Any, **kwargs: Any) -> Any:
        result = real(inv, *args, **kwargs)
        swap()
        return result

    return measure


def test_report_output_swapped_for_a_symlink_during_the_run_is_replaced_not_followed(
    copy: Path,
    victim: Path,
    before: Fingerprint,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = out / "r.json"
    dest.write_text("old report\n")

    def swap() -> None:
        dest.unlink()
        dest.symlink_to(victim)

    monkeypatch.setattr(pipeline, "measure_root", _slow_measure(swap))
    rc = main(["report", "--root", str(copy), "--format", "json", "-o", str(dest)])
    _, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(replaced_by_regular_file(dest))["schema_version"] == 2
    no_temp_files(out)
    assert_unchanged(copy, before)


def test_report_output_hard_link_to_a_root_file_is_replaced_not_truncated(
    copy: Path, victim: Path, before: Fingerprint, out: Path
) -> None:
    """realpath cannot see a hard link: only replacing the name keeps the root file intact."""
    dest = out / "r.json"
    os.link(victim, dest)
    res = run_cli("report", "--root", str(copy), "--format", "json", "-o", str(dest))
    assert res.returncode == 0, res.stderr
    assert os.stat(dest).st_ino != os.stat(victim).st_ino
    assert json.loads(dest.read_bytes())["schema_version"] == 2
    assert_unchanged(copy, before)


def test_report_output_dir_swapped_for_a_symlink_into_root_during_the_run_is_refused(
    copy: Path,
    victim: Path,
    before: Fingerprint,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = out / "r.json"

    def swap() -> None:
        out.rename(out.with_name("out-moved"))
        out.symlink_to(victim.parent)

    monkeypatch.setattr(pipeline, "measure_root", _slow_measure(swap))
    rc = main(["report", "--root", str(copy), "--format", "json", "-o", str(dest)])
    outp, err = capsys.readouterr()
    assert rc == 2 and outp == ""
    one_error_line(err, "inside the data root", str(dest), str(copy))
    assert_unchanged(copy, before)


def test_report_output_that_is_a_directory_fails_clearly(
    copy: Path, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["report", "--root", str(copy), "--no-sizes", "-o", str(out)])
    outp, err = capsys.readouterr()
    assert rc == 2 and outp == ""
    one_error_line(err, "is a directory", str(out))


def test_report_output_in_a_missing_directory_fails_clearly(
    copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["report", "--root", str(copy), "--no-sizes", "-o", str(tmp_path / "no" / "r")])
    outp, err = capsys.readouterr()
    assert rc == 2 and outp == ""
    one_error_line(err, "does not exist")


def test_report_output_dash_is_stdout(
    copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    rc = main(["report", "--root", str(copy), "--no-sizes", "--format", "json", "-o", "-"])
    outp, _ = capsys.readouterr()
    assert rc == 0 and json.loads(outp)["schema_version"] == 2
    assert not (tmp_path / "-").exists()


def test_report_file_mode_follows_the_umask(copy: Path, out: Path) -> None:
    old = os.umask(0o027)
    try:
        assert main(["report", "--root", str(copy), "--no-sizes", "-o", str(out / "r")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(out / "r").st_mode) == 0o640


# ----------------------------------------------------------------------------- audit


def test_audit_prometheus_symlink_into_root_is_refused(
    copy: Path, victim: Path, before: Fingerprint, out: Path, tmp_path: Path
) -> None:
    prom = out / "m.prom"
    prom.symlink_to(victim)
    res = run_cli(
        "audit", "--root", str(copy), "--state-dir", str(tmp_path / "s"), "--prometheus", str(prom)
    )
    # Planted before the run: the friendly early check refuses it (the write-time answer,
    # replacing the symlink, is in the tests below).
    assert res.returncode == 2 and res.stdout == ""
    one_error_line(res.stderr, "inside the data root", str(prom))
    assert os.path.islink(prom)
    no_temp_files(out)
    assert_unchanged(copy, before)


def test_audit_prometheus_temp_name_is_never_written_through(
    copy: Path,
    victim: Path,
    before: Fingerprint,
    out: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A symlink planted where a predictable temp file name would go is never opened."""
    prom = out / "m.prom"
    # prometheus_client's and the old state writer's temp names: pid (+ thread id).
    (out / f"m.prom.{os.getpid()}.{threading.current_thread().ident}").symlink_to(victim)
    rc = main(
        ["audit", "--root", str(copy), "--state-dir", str(tmp_path / "s"),
         "--prometheus", str(prom)]
    )  # fmt: skip
    capsys.readouterr()
    assert rc == 0
    assert b"docker_inspector_" in replaced_by_regular_file(prom)
    assert_unchanged(copy, before)


def test_audit_prometheus_swapped_for_a_symlink_during_the_run_is_replaced(
    copy: Path,
    victim: Path,
    before: Fingerprint,
    out: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prom = out / "m.prom"
    real = pipeline.measure_root

    def build(*args: Any, **kwargs: Any) -> Any:
        inv = real(*args, **kwargs)
        prom.symlink_to(victim)
        return inv

    monkeypatch.setattr(pipeline, "measure_root", build)
    rc = main(
        ["audit", "--root", str(copy), "--state-dir", str(tmp_path / "s"),
         "--prometheus", str(prom)]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert b"docker_inspector_" in replaced_by_regular_file(prom)
    no_temp_files(out)
    assert_unchanged(copy, before)


def test_audit_prometheus_dir_swapped_into_root_during_the_run_is_refused(
    copy: Path,
    victim: Path,
    before: Fingerprint,
    out: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = pipeline.measure_root

    def build(*args: Any, **kwargs: Any) -> Any:
        inv = real(*args, **kwargs)
        out.rename(out.with_name("out-moved"))
        out.symlink_to(victim.parent)
        return inv

    monkeypatch.setattr(pipeline, "measure_root", build)
    prom = out / "m.prom"
    rc = main(
        ["audit", "--root", str(copy), "--state-dir", str(tmp_path / "s"),
         "--prometheus", str(prom)]
    )  # fmt: skip
    outp, err = capsys.readouterr()
    assert rc == 2 and outp == ""
    one_error_line(err, "inside the data root", str(prom))
    assert_unchanged(copy, before)


def test_audit_state_file_and_lock_symlinks_are_never_written_through(
    copy: Path,
    victim: Path,
    before: Fingerprint,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "s"
    state.mkdir()
    key = audit.root_key(str(copy))
    # The state file itself, and the old writer's predictable temp name.
    (state / f"{key}.json").symlink_to(victim)
    (state / f"{key}.json.{os.getpid()}.tmp").symlink_to(victim)
    rc = main(["audit", "--root", str(copy), "--state-dir", str(state)])
    err = capsys.readouterr().err
    assert rc == 0, err
    doc = json.loads(replaced_by_regular_file(state / f"{key}.json"))
    assert doc["version"] == audit.STATE_VERSION
    assert stat.S_IMODE(os.stat(state / f"{key}.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state / f"{key}.lock").st_mode) == 0o600
    assert_unchanged(copy, before)

    # The lock file: never truncated through a symlink (and never replaced: another run
    # may hold it), so the run is refused.
    (state / f"{key}.lock").unlink()
    (state / f"{key}.lock").symlink_to(victim)
    rc = main(["audit", "--root", str(copy), "--state-dir", str(state)])
    outp, err = capsys.readouterr()
    assert rc == 2 and outp == ""
    one_error_line(err, "lock file", f"{key}.lock")
    assert os.path.islink(state / f"{key}.lock")
    assert_unchanged(copy, before)


def test_audit_state_dir_symlink_into_root_is_refused(
    copy: Path, victim: Path, before: Fingerprint, tmp_path: Path
) -> None:
    link = tmp_path / "link"
    link.symlink_to(victim.parent)
    res = run_cli("audit", "--root", str(copy), "--state-dir", str(link))
    assert res.returncode == 2 and res.stdout == ""
    one_error_line(res.stderr, "inside the data root")
    assert_unchanged(copy, before)


def test_audit_state_dir_moved_into_place_during_the_run_is_written_where_it_really_is(
    copy: Path,
    victim: Path,
    before: Fingerprint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The state dir is opened and checked once; swapping its name later changes nothing."""
    state = tmp_path / "s"
    real = pipeline.measure_root

    def build(*args: Any, **kwargs: Any) -> Any:
        inv = real(*args, **kwargs)
        state.rename(tmp_path / "s-moved")
        state.symlink_to(victim.parent)
        return inv

    monkeypatch.setattr(pipeline, "measure_root", build)
    rc = main(["audit", "--root", str(copy), "--state-dir", str(state)])
    assert rc == 0, capsys.readouterr().err
    key = audit.root_key(str(copy))
    assert (tmp_path / "s-moved" / f"{key}.json").is_file()
    assert_unchanged(copy, before)


# ----------------------------------------------------------------------------- TUI export


def _export(copy: Path, dest: Path, before_write: Callable[[], None] | None = None) -> list[Any]:
    """Run the TUI's export worker on a report of `copy`; the notifications it produced."""
    from inspector.analysis import analyze
    from inspector.report import json_report
    from inspector.tui.app import make_app

    app = make_app(report=analyze(inventory.read(str(copy))))
    app.animation_level = "none"
    real = json_report.render

    def render(*args: Any, **kwargs: Any) -> str:
        text = real(*args, **kwargs)
        if before_write is not None:
            before_write()
        return text

    async def main_() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            app.export(str(dest))
            end = time.monotonic() + 20
            while not any(n.title in ("Exported", "Export failed") for n in app._notifications):
                assert time.monotonic() < end, "timed out"
                await pilot.pause(0.02)

    mp = pytest.MonkeyPatch()
    mp.setattr(json_report, "render", render)
    try:
        asyncio.run(main_())
    finally:
        mp.undo()
    return list(app._notifications)


def test_tui_export_symlink_into_root_is_never_written_through(
    copy: Path, victim: Path, before: Fingerprint, out: Path
) -> None:
    dest = out / "r.json"
    dest.symlink_to(victim)
    notes = _export(copy, dest)
    assert [n.title for n in notes] == ["Export failed"]
    assert "inside" in notes[0].message
    assert os.path.islink(dest)
    assert_unchanged(copy, before)


def test_tui_export_swapped_for_a_symlink_while_exporting_is_replaced(
    copy: Path, victim: Path, before: Fingerprint, out: Path
) -> None:
    dest = out / "r.json"

    def swap() -> None:
        dest.symlink_to(victim)

    notes = _export(copy, dest, swap)
    assert [n.title for n in notes] == ["Exported"], [n.message for n in notes]
    assert json.loads(replaced_by_regular_file(dest))["schema_version"] == 2
    no_temp_files(out)
    assert_unchanged(copy, before)


def test_tui_export_dir_swapped_into_root_while_exporting_is_refused(
    copy: Path, victim: Path, before: Fingerprint, out: Path
) -> None:
    def swap() -> None:
        out.rename(out.with_name("out-moved"))
        out.symlink_to(victim.parent)

    notes = _export(copy, out / "r.json", swap)
    assert [n.title for n in notes] == ["Export failed"]
    assert "inside the data root" in notes[0].message
    assert_unchanged(copy, before)


# ----------------------------------------------------------------------------- size cache


def _cache_with_entry(copy: Path, env: dict[str, str]) -> sizecache.SizeCache:
    c = sizecache.SizeCache.open(str(copy), env)
    c.put("x", sizecache.Entry((1,), Usage(5, 8192, 4, payload=5)))
    return c


def test_size_cache_file_symlink_into_root_is_replaced(
    copy: Path, victim: Path, before: Fingerprint, tmp_path: Path
) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cdir = tmp_path / "xdg" / "docker-inspector"
    cdir.mkdir(parents=True)
    path = cdir / sizecache.file_name(str(copy))
    path.symlink_to(victim)
    c = _cache_with_entry(copy, env)
    assert c.save()
    assert json.loads(replaced_by_regular_file(path))["entries"]["x"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    no_temp_files(cdir)
    assert_unchanged(copy, before)


def test_size_cache_dir_swapped_into_root_before_saving_is_refused(
    copy: Path, victim: Path, before: Fingerprint, tmp_path: Path
) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    c = _cache_with_entry(copy, env)  # checked at open: outside the root
    (tmp_path / "xdg").symlink_to(victim.parent)  # …then the cache home leads into it
    with pytest.raises(sizecache.CacheRefused, match="inside the data root"):
        c.save()
    assert_unchanged(copy, before)


def test_size_cache_dir_existing_symlink_swapped_into_root_is_refused(
    copy: Path, victim: Path, before: Fingerprint, tmp_path: Path
) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cdir = tmp_path / "xdg" / "docker-inspector"
    cdir.mkdir(parents=True)
    c = _cache_with_entry(copy, env)
    cdir.rename(tmp_path / "moved")
    cdir.symlink_to(victim.parent)
    with pytest.raises(sizecache.CacheRefused, match="inside the data root"):
        c.save()
    assert_unchanged(copy, before)


# ----------------------------------------------------------------------------- the module


def test_write_time_check_does_not_depend_on_proc(
    copy: Path, victim: Path, before: Fingerprint, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without /proc/self/fd, the (st_dev, st_ino) walk up from the dir still finds the root."""
    from inspector import outputs

    monkeypatch.setattr(outputs, "_fd_path", lambda fd: None)
    link = out / "link"
    link.symlink_to(victim.parent)
    with pytest.raises(outputs.OutputRefused, match="inside the data root"):
        outputs.write_file(str(link / "r"), b"x", [str(copy)], label="--output")
    assert_unchanged(copy, before)


def test_write_time_check_by_path_alone_also_refuses(
    copy: Path, victim: Path, before: Fingerprint, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inspector import outputs

    monkeypatch.setattr(outputs, "_ancestors", lambda fd: iter(()))
    link = out / "link"
    link.symlink_to(victim.parent)
    with pytest.raises(outputs.OutputRefused, match="inside the data root"):
        outputs.write_file(str(link / "r"), b"x", [str(copy)], label="--output")
    assert_unchanged(copy, before)


def test_make_dirs_never_creates_anything_inside_the_root(
    copy: Path, victim: Path, before: Fingerprint, tmp_path: Path
) -> None:
    from inspector import outputs

    link = tmp_path / "link"
    link.symlink_to(victim.parent)
    with pytest.raises(outputs.OutputRefused, match="inside the data root"):
        outputs.make_dirs(str(link / "a" / "b"), [str(copy)], label="--state-dir")
    assert_unchanged(copy, before)
    fd = outputs.make_dirs(str(tmp_path / "x" / "y"), [str(copy)], label="--state-dir")
    os.close(fd)
    assert stat.S_IMODE(os.stat(tmp_path / "x" / "y").st_mode) == 0o700


def test_failed_write_leaves_no_temp_file(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inspector import outputs

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space"):
        outputs.write_file(str(out / "r"), b"x", ["/nonexistent-root"], label="--output")
    assert os.listdir(out) == []


def _can_bind_mount() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    res = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"], capture_output=True, check=False
    )
    return res.returncode == 0


@pytest.mark.skipif(not _can_bind_mount(), reason="needs unshare -m (root or user namespaces)")
def test_a_bind_mount_of_the_root_is_caught_by_identity(
    copy: Path, victim: Path, before: Fingerprint, tmp_path: Path
) -> None:
    """realpath cannot see a bind mount; the root dir's (st_dev, st_ino) can."""
    alias = tmp_path / "alias"
    alias.mkdir()
    rel = victim.parent.relative_to(copy)
    q = shlex.quote
    py = q(sys.executable)
    write = 'import sys; from inspector import outputs; outputs.write_file(sys.argv[1], b"x", [sys.argv[2]], label="--output")'  # noqa: E501
    script = (
        f"mount --bind {q(str(copy))} {q(str(alias))} && "
        f"{py} -m inspector report --root {q(str(copy))} --no-sizes "
        f"-o {q(str(alias / rel / 'r.txt'))}; echo rc=$?; "
        f"{py} -c {q(write)} {q(str(alias / rel / 'w.txt'))} {q(str(copy))}; echo rc=$?"
    )
    res = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert res.stdout.splitlines()[-2:] == ["rc=2", "rc=1"], res.stdout + res.stderr
    assert "inside the data root" in res.stderr
    assert "OutputRefused" in res.stderr  # the write-time check, called directly
    assert_unchanged(copy, before)


def test_report_output_to_a_device_or_fifo_is_written_in_place(
    copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-o /dev/null` must not turn /dev/null into a file; a named pipe gets the report."""
    before = os.lstat("/dev/null")
    assert main(["report", "--root", str(copy), "--format", "json", "-o", "/dev/null"]) == 0
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert main(["report", "--root", str(copy), "--format", "json", "-o", str(fifo)]) == 0
    reader.join(10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(got[0])["schema_version"] == 2
    capsys.readouterr()
