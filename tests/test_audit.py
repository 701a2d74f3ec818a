"""`docker-inspector audit`: thresholds, exit codes, output contract, config, growth, lock.

Roots: the live root of the session dockerd (read only), stopped-like copies of it
(`dockerd.copy_root`) for fault injection, and copies of sample_data/root for the option
and config tests that need no daemon. Nothing is written under a root except our copies.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from dockerlab import PROMTOOL, REPO_ROOT, copy_tree

from inspector import audit
from inspector.analysis.sizes import chain_ids
from inspector.cli import main

SAMPLE_ROOT = REPO_ROOT / "sample_data" / "root"
MiB = 1024 * 1024

#: Limits no scenario root comes near: the audit must stay silent with them.
GENEROUS = [
    "--max-disk-usage", "100%",
    "--max-root-size", "1T",
    "--max-orphan-bytes", "1G",
    "--max-log-size", "1G",
    "--max-unused-volume-bytes", "1G",
    "--max-build-cache", "1G",
    "--max-growth", "1T",
]  # fmt: skip


def run_audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`docker-inspector audit ARGS` in-process; (exit code, stdout, stderr)."""
    rc = main(["audit", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """`audit --json ARGS`; (exit code, parsed document)."""
    rc, out, err = run_audit(capsys, *args, "--json")
    assert rc in (0, 1), err
    doc: dict[str, Any] = json.loads(out)
    return rc, doc


def tree_fingerprint(root: Path) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every entry: proof that nothing under a root changed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out.append((p, st.st_size, st.st_mtime_ns))
    return sorted(out)


@pytest.fixture()
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of sample_data/root (a real root exported from dockerd)."""
    if not SAMPLE_ROOT.is_dir():
        pytest.fail(f"{SAMPLE_ROOT} is missing: run scripts/make_sample_data.py")
    dst = tmp_path / "sample-root"
    copy_tree(SAMPLE_ROOT, dst)
    return dst


def layer_dir(root: Path, chain: str) -> Path:
    return root / "image/overlay2/layerdb/sha256" / chain.removeprefix("sha256:")


def top_layer(root: Path, image_id: str) -> str:
    cfg = root / "image/overlay2/imagedb/content/sha256" / image_id.removeprefix("sha256:")
    return chain_ids(json.loads(cfg.read_bytes())["rootfs"]["diff_ids"])[-1]


def inject_orphan(root: Path, image_id: str) -> tuple[Path, int]:
    """Copy the image's top layer dir under a new random 64-hex name, leaked an hour ago."""
    chain = top_layer(root, image_id)
    cache = (layer_dir(root, chain) / "cache-id").read_text()
    size = int((layer_dir(root, chain) / "size").read_text())
    orphan = root / "overlay2" / hashlib.sha256(os.urandom(16)).hexdigest()
    shutil.copytree(root / "overlay2" / cache, orphan, symlinks=True)
    hour_ago = time.time() - 3600  # a dir changed during the scan is rightly not judged
    os.utime(orphan, (hour_ago, hour_ago))
    return orphan, size


# ---------------------------------------------------------------------------- live root


def test_clean_root_with_generous_thresholds_is_silent(
    dockerd: Any, scenario: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(dockerd.data_root)
    state = str(tmp_path / "state")
    before = tree_fingerprint(dockerd.data_root / "image")
    for _ in range(2):  # the second run also evaluates --max-growth
        rc, out, err = run_audit(capsys, "--root", root, "--state-dir", state, *GENEROUS)
        assert (rc, out, err) == (0, "", "")
    assert tree_fingerprint(dockerd.data_root / "image") == before
    # The state and the lock live in the state dir, keyed by the root.
    key = audit.root_key(root)
    assert sorted(os.listdir(state)) == [f"{key}.json", f"{key}.lock"]


def test_verbose_prints_every_check(
    dockerd: Any, scenario: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run_audit(
        capsys, "--root", str(dockerd.data_root), "--state-dir", str(tmp_path), "--verbose",
        "--max-root-size", "1T", "--fail-on", "missing_layer",
    )  # fmt: skip
    assert rc == 0, err
    lines = out.splitlines()
    names = [
        "max_disk_usage", "max_root_size", "max_orphan_bytes", "max_log_size",
        "max_unused_volume_bytes", "max_build_cache", "max_growth", "fail_on:missing_layer",
    ]  # fmt: skip
    for name in names:
        assert any(f" {name}: " in ln for ln in lines), name
    assert any(ln.startswith("ok ") and " max_root_size: " in ln for ln in lines)
    assert any(ln.startswith("- ") and " max_log_size: " in ln for ln in lines)
    assert "growth: no previous run" in out


def test_growth_of_a_container_between_two_runs(
    dockerd: Any, scenario: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The web container writes 5 MiB between two audits with the same state dir."""
    root = str(dockerd.data_root)
    state = str(tmp_path / "state")
    web = scenario["containers"]["web"]
    prom = tmp_path / "m.prom"
    rc, first = run_json(capsys, "--root", root, "--state-dir", state)
    assert rc == 0 and first["growth"] is None and first["values"]["max_growth"] is None
    target = "/srv/audit-growth.bin"
    try:
        dockerd.exec(web, "dd", "if=/dev/zero", f"of={target}", "bs=1048576", "count=5")
        rc, second = run_json(
            capsys, "--root", root, "--state-dir", state, "--max-growth", "1M",
            "--prometheus", str(prom),
        )  # fmt: skip
    finally:
        dockerd.exec(web, "rm", "-f", target)
    assert rc == 1 and second["crossed"] == ["max_growth"]
    g = second["growth"]
    by_id = {c["id"]: c for c in g["containers"]}
    assert 5 * MiB <= by_id[web]["growth"] <= 5 * MiB + 64 * 1024, by_id[web]
    assert by_id[web]["name"] == "web"
    others = [c["growth"] for cid, c in by_id.items() if cid != web]
    assert others and all(x == 0 for x in others)
    assert all(v["growth"] == 0 for v in g["volumes"])
    assert g["categories"]["container_layers"]["bytes"] == by_id[web]["growth"]
    assert g["total_disk"] >= 5 * MiB
    assert second["values"]["max_growth"] == g["total_disk"]
    # The same growth as a Prometheus gauge, in a file promtool accepts.
    res = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=prom.read_bytes(), capture_output=True
    )
    assert (res.returncode, res.stdout, res.stderr) == (0, b"", b""), res
    text = prom.read_text()
    line = next(
        ln for ln in text.splitlines()
        if ln.startswith("docker_inspector_container_growth_bytes{") and f'id="{web[:12]}"' in ln
    )  # fmt: skip
    assert float(line.rsplit(" ", 1)[1]) == by_id[web]["growth"]
    rc, out, _ = run_audit(capsys, "--root", root, "--state-dir", state, "--verbose")
    assert rc == 0
    # The file was removed again: the third run sees the 5 MiB go.
    freed = f"({-by_id[web]['growth']} bytes; now "
    assert any(
        ln.startswith("growth: container web ") and freed in ln for ln in out.splitlines()
    ), out


def test_second_concurrent_audit_exits_2(
    dockerd: Any, scenario: dict[str, Any], tmp_path: Path
) -> None:
    """Two overlapping runs with the same state dir: the second exits 2, the first goes on.

    The first audit is a real process; it is frozen (SIGSTOP) while /proc/locks shows it
    holding the lock, so the overlap is certain rather than a race.
    """
    root = str(dockerd.data_root)
    state = tmp_path / "state"
    lock = state / f"{audit.root_key(root)}.lock"
    cmd = [sys.executable, "-m", "inspector", "audit", "--root", root, "--state-dir", str(state)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for _ in range(20):
        first = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO_ROOT
        )
        try:
            if not _freeze_while_locked(first, lock):
                first.communicate(timeout=120)
                continue
            second = subprocess.run(
                cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120
            )
            os.kill(first.pid, signal.SIGCONT)
            out, err = first.communicate(timeout=120)
        finally:
            if first.poll() is None:
                os.kill(first.pid, signal.SIGCONT)
                first.kill()
                first.wait()
        assert second.returncode == 2, second.stderr
        assert second.stdout == ""
        assert "another audit is running" in second.stderr
        assert len(second.stderr.splitlines()) == 1
        assert first.returncode == 0, err
        assert (out, err) == (b"", b"")
        return
    pytest.fail("never caught the first audit holding its lock")


def _lock_holders(path: Path) -> set[int]:
    """PIDs /proc/locks shows holding a flock on `path`'s inode."""
    try:
        ino = path.stat().st_ino
    except FileNotFoundError:
        return set()
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].endswith(f":{ino}"):
            holders.add(int(parts[4]))
    return holders


def _freeze_while_locked(proc: subprocess.Popen[bytes], lock: Path) -> bool:
    """SIGSTOP `proc` at a moment it holds `lock`; False if it finished first."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if proc.pid in _lock_holders(lock):
            os.kill(proc.pid, signal.SIGSTOP)
            if proc.pid in _lock_holders(lock):
                return True
            os.kill(proc.pid, signal.SIGCONT)  # released just before the stop: try again
        time.sleep(0.0005)
    return False


# ---------------------------------------------------------------------------- copies


def test_orphan_dir_crosses_max_orphan_bytes(
    dockerd: Any, scenario: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    dockerd.copy_root(root)
    orphan, size = inject_orphan(root, scenario["images"]["tool:latest"])
    state = str(tmp_path / "state")
    rc, out, err = run_audit(
        capsys, "--root", str(root), "--state-dir", state, "--max-orphan-bytes", "0"
    )
    assert rc == 1, err
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("max_orphan_bytes: ")
    assert str(orphan) in lines[0]
    # The top offender is the injected dir, first, with its size.
    top = lines[0].split("; top: ", 1)[1]
    assert top.startswith(f"orphan_dir {orphan} ")
    rc, doc = run_json(capsys, "--root", str(root), "--state-dir", state, "--max-orphan-bytes", "0")
    assert rc == 1 and doc["crossed"] == ["max_orphan_bytes"]
    found = [f for f in doc["findings"] if f["kind"] == "orphan_dir" and f["path"] == str(orphan)]
    assert len(found) == 1 and found[0]["bytes"] == size
    orphan_kinds = {
        "orphan_dir", "leftover_removing_dir", "incomplete_layer", "dangling_layer",
        "container_without_config",
    }  # fmt: skip
    assert doc["values"]["max_orphan_bytes"] == sum(
        f["bytes"] for f in doc["findings"] if f["kind"] in orphan_kinds
    )
    assert doc["values"]["max_orphan_bytes"] >= size
    # --fail-on orphan_dir fails on the finding, whatever its size.
    rc, out, _ = run_audit(
        capsys, "--root", str(root), "--state-dir", state, "--fail-on", "orphan_dir"
    )
    assert rc == 1 and out.startswith("fail_on:orphan_dir: ") and str(orphan) in out


def test_log_size_line_escapes_hostile_names(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A container name with a terminal escape is printed as visible text."""
    manifest = json.loads((SAMPLE_ROOT.parent / "MANIFEST.json").read_text())
    job = manifest["scenario"]["containers"]["job"]
    cfg_path = sample_copy / "containers" / job / "config.v2.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["Name"] = "/job\x1b[2J\nnext"
    cfg_path.write_text(json.dumps(cfg))
    rc, out, err = run_audit(
        capsys, "--root", str(sample_copy), "--state-dir", str(tmp_path / "s"),
        "--max-log-size", "100",
    )  # fmt: skip
    assert rc == 1, err
    assert "\x1b" not in out and out.count("\n") == 1
    assert out.startswith("max_log_size: ")
    assert "container job\\x1b[2J\\x0anext " in out


def test_json_is_printed_even_when_nothing_is_crossed(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, doc = run_json(
        capsys, "--root", str(sample_copy), "--state-dir", str(tmp_path / "s"), *GENEROUS
    )
    assert rc == 0
    assert doc["ok"] is True and doc["crossed"] == []
    assert set(doc["thresholds"]) == {
        "max_disk_usage", "max_root_size", "max_orphan_bytes", "max_log_size",
        "max_unused_volume_bytes", "max_build_cache", "max_growth",
    }  # fmt: skip
    assert doc["thresholds"]["max_root_size"] == 1024**4
    assert doc["values"]["max_root_size"] == doc["totals"]["disk_usage"]
    assert doc["values"]["max_unused_volume_bytes"] == sum(
        f["bytes"] for f in doc["findings"] if f["kind"] == "unused_volume"
    )
    assert 0 < doc["values"]["max_disk_usage"] <= 100
    assert doc["growth"] is None and doc["daemon"] is None
    keys = {"kind", "severity", "path", "bytes", "disk_usage", "detail", "remedy"}
    assert doc["findings"] and all(keys <= set(f) for f in doc["findings"])


def test_config_file_and_command_line_override(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "audit.toml"
    cfg.write_text(
        'max_orphan_bytes = "0"\n'
        "max_log_size = 100\n"
        'fail_on = ["unused_volume"]\n'
        'state_dir = "state"\n'  # relative to the config file's directory
    )
    rc, doc = run_json(capsys, "--root", str(sample_copy), "--config", str(cfg))
    assert rc == 1
    assert doc["thresholds"] == {
        "max_orphan_bytes": 0,
        "max_log_size": 100,
        "fail_on:unused_volume": 0,
    }
    assert sorted(doc["crossed"]) == ["fail_on:unused_volume", "max_log_size"]
    assert (tmp_path / "state").is_dir()
    # Options override the file; --fail-on replaces its list.
    rc, doc = run_json(
        capsys, "--root", str(sample_copy), "--config", str(cfg),
        "--max-log-size", "1G", "--fail-on", "orphan_dir",
    )  # fmt: skip
    assert rc == 0, doc["crossed"]
    assert doc["thresholds"] == {
        "max_orphan_bytes": 0,
        "max_log_size": 1024**3,
        "fail_on:orphan_dir": 0,
    }


def test_default_state_dir_follows_xdg(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    # State is kept only when growth is asked for (tests/test_unknown_and_errors.py).
    rc, out, err = run_audit(capsys, "--root", str(sample_copy), "--max-growth", "1T")
    assert (rc, out, err) == (0, "", "")
    state = tmp_path / "xdg" / "docker-inspector"
    assert (state / f"{audit.root_key(str(sample_copy))}.json").is_file()
    assert oct(state.stat().st_mode & 0o777) == oct(0o700)
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert audit.default_state_dir() == str(tmp_path / "home/.local/state/docker-inspector")


BAD_ARGS = [
    (["--max-orphan-bytes", "ten"], "--max-orphan-bytes: invalid size 'ten'"),
    (["--max-disk-usage", "150%"], "--max-disk-usage: invalid percentage"),
    (["--fail-on", "orphan_dirs"], "--fail-on: unknown finding kind 'orphan_dirs'"),
    (["--max-growth=-1G"], "--max-growth: invalid size"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGS)
def test_bad_option_values_exit_2(
    sample_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    state = tmp_path / "state"
    rc, out, err = run_audit(capsys, "--root", str(sample_copy), "--state-dir", str(state), *args)
    assert rc == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("docker-inspector: error: "), err
    assert message in err
    assert not state.exists()  # refused before anything was created


def test_unknown_option_exits_2(sample_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_audit(capsys, "--root", str(sample_copy), "--max-orphans", "1G")
    assert rc == 2 and out == "" and "unrecognized arguments" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('max_orphan_byte = "1G"\n', "unknown key(s) 'max_orphan_byte'"),
        ("max_orphan_bytes = \n", "invalid TOML"),
        ("max_growth = true\n", "max_growth: expected a string"),
        ('fail_on = ["nope"]\n', "unknown finding kind 'nope'"),
        ("compare_daemon = 1\n", "compare_daemon: expected true or false"),
    ],
)
def test_bad_config_file_exits_2(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    rc, out, err = run_audit(
        capsys, "--root", str(sample_copy), "--state-dir", str(tmp_path / "s"), "--config", str(cfg)
    )
    assert rc == 2 and out == ""
    assert len(err.splitlines()) == 1 and message in err, err


def test_missing_config_and_missing_root_exit_2(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "s"
    rc, _, err = run_audit(
        capsys,
        "--root",
        str(sample_copy),
        "--state-dir",
        str(state),
        "--config",
        "/nonexistent.toml",
    )
    assert rc == 2 and "no such file" in err
    rc, _, err = run_audit(capsys, "--root", str(tmp_path / "nope"), "--state-dir", str(state))
    assert rc == 2 and "no such directory" in err
    assert not state.exists()


def test_state_dir_inside_root_is_refused(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_fingerprint(sample_copy)
    for inside in (sample_copy / "audit-state", sample_copy):
        rc, out, err = run_audit(capsys, "--root", str(sample_copy), "--state-dir", str(inside))
        assert rc == 2 and out == "" and "inside the data root" in err
    # Through a symlink from outside, too.
    link = tmp_path / "link"
    link.symlink_to(sample_copy / "volumes")
    rc, _, err = run_audit(capsys, "--root", str(sample_copy), "--state-dir", str(link / "st"))
    assert rc == 2 and "inside the data root" in err
    assert tree_fingerprint(sample_copy) == before


def test_unreadable_root_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_root = tmp_path / "empty"
    not_a_root.mkdir()
    rc, out, err = run_audit(capsys, "--root", str(not_a_root), "--state-dir", str(tmp_path / "s"))
    assert rc == 2 and out == "" and "not a Docker data root" in err
