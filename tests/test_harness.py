"""The private-dockerd harness itself: isolation, lifecycle, helpers and the scenario."""

from __future__ import annotations

import os
import re
import signal
import stat
import time
from pathlib import Path

import docker
import pytest
import requests
from dockerlab import (
    DEFAULT_DATA_ROOT,
    DEFAULT_SOCKET,
    DOCKERD,
    PrivateDockerd,
    mount_points,
    mounts_under,
    path_fingerprint,
)
from scenario import SAMPLE_STATES, Scenario

pytestmark = pytest.mark.dockerd


def _cmdline(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [a.decode() for a in raw.split(b"\0") if a]


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (a.decode(errors="replace").partition("=") for a in raw.split(b"\0") if a)
    return {k: v for k, _, v in pairs}


def _dockerd_pids() -> set[int]:
    """PIDs of every running dockerd on the machine (ours and anybody else's)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:
            continue
        if os.path.basename(argv0) == b"dockerd":
            pids.add(int(entry.name))
    return pids


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """True once /proc/<pid> is gone (or is a zombie that is not ours to reap)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True
        if re.search(r"^State:\s+Z", status, re.M):
            return True
        time.sleep(0.1)
    return False


def test_daemon_answers_on_private_socket(dockerd: PrivateDockerd) -> None:
    assert dockerd.running
    assert dockerd.sock.is_socket()
    assert dockerd.api.ping() is True
    assert dockerd.client.ping() is True
    info = dockerd.info()
    assert info["DockerRootDir"] == str(dockerd.data_root)
    assert dockerd.api.info()["DockerRootDir"] == str(dockerd.data_root)
    assert info["Driver"] == (dockerd.storage_driver or "overlay2")
    assert dockerd.api.version()["Version"].startswith("20.10")


def test_never_uses_default_socket_or_var_lib_docker(
    dockerd: PrivateDockerd, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon's command line names only private paths.
    argv = _cmdline(dockerd.pid)
    assert argv[0] == DOCKERD
    assert f"--data-root={dockerd.data_root}" in argv
    assert f"--host=unix://{dockerd.sock}" in argv
    assert f"--exec-root={dockerd.exec_root}" in argv
    assert f"--pidfile={dockerd.pidfile}" in argv
    assert f"--config-file={dockerd.daemon_config}" in argv
    joined = " ".join(argv)
    assert str(DEFAULT_DATA_ROOT) not in joined
    assert str(DEFAULT_SOCKET) not in joined
    assert "/run/docker" not in joined
    # Nothing in the daemon's environment can redirect it.
    env = _environ(dockerd.pid)
    assert not [k for k in env if k.startswith("DOCKER")], env
    # The pidfile names the process we started.
    assert int(dockerd.pidfile.read_text()) == dockerd.pid
    # The Python clients are bound to the private socket.
    for client in (dockerd.api, dockerd.client.api):
        assert client.base_url == "http+docker://localhost"
        assert client._custom_adapter.socket_path == str(dockerd.sock)
    # The CLI ignores a hostile environment: DOCKER_HOST, a context and a config dir.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{DEFAULT_SOCKET}")
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    monkeypatch.setenv("DOCKER_CONFIG", "/nonexistent/docker-config")
    cenv = dockerd.client_env()
    assert cenv["DOCKER_HOST"] == f"unix://{dockerd.sock}"
    assert cenv["DOCKER_CONFIG"] == str(dockerd.config_dir)
    assert "DOCKER_CONTEXT" not in cenv
    root = dockerd.cli("info", "--format", "{{.DockerRootDir}}").strip()
    assert root == str(dockerd.data_root)
    # /var/lib/docker and /var/run/docker.sock are exactly as before the daemon started.
    for path in (DEFAULT_DATA_ROOT, DEFAULT_SOCKET):
        assert path_fingerprint(path) == dockerd.default_paths_before[str(path)], path
    # Every overlay mount of the daemon lies inside the private data root.
    for mount in mounts_under(dockerd.data_root):
        assert mount.startswith(str(dockerd.data_root) + "/")


def test_build_and_run(dockerd: PrivateDockerd, scenario: Scenario) -> None:
    """Build (classic, with a context file), run, read logs, then remove everything again
    so that later tests comparing the daemon with the Engine API see only the scenario."""
    dockerfile = "FROM busybox:base\nCOPY greeting.txt /greeting.txt\nRUN cat /greeting.txt\n"
    image_id = dockerd.build("harness:1", dockerfile, {"greeting.txt": b"hi from harness\n"})
    try:
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
        assert dockerd.api.inspect_image("harness:1")["Id"] == image_id
        cid = dockerd.run("harness:1", "cat", "/greeting.txt", name="harness-run", detach=False)
        try:
            assert re.fullmatch(r"[0-9a-f]{64}", cid)
            state = dockerd.api.inspect_container(cid)["State"]
            assert (state["Status"], state["ExitCode"]) == ("exited", 0)
            assert dockerd.api.logs(cid) == b"hi from harness\n"
            assert dockerd.inspect_container_sized(cid)["SizeRw"] == 0
        finally:
            dockerd.cli("rm", "-f", cid)
    finally:
        dockerd.cli("rmi", "harness:1")
    all_ids = {i["Id"] for i in dockerd.api.images(all=True)}
    assert image_id not in all_ids


def test_cli_failure_raises_with_stderr(dockerd: PrivateDockerd) -> None:
    with pytest.raises(Exception, match="No such image"):
        dockerd.cli("image", "inspect", "no-such-image:never")


def test_scenario_contract(dockerd: PrivateDockerd, scenario: Scenario) -> None:
    """The keys and properties other tests rely on."""
    api = dockerd.api
    assert set(scenario["images"]) == {
        "busybox:base",
        "app:1",
        "app:2",
        "tool:latest",
        "dangle:latest",
        "<dangling>",
        "bk:1",
    }
    assert set(scenario["intermediate_images"]) == {"app:1~1", "app:1~2"}
    assert set(scenario["containers"]) == {"web", "job", "fresh", "rotlog"}
    assert set(scenario["volumes"]) == {"appdata", "unused", "anon"}
    for tag, iid in scenario["images"].items():
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", iid)
        if not tag.startswith("<"):
            assert api.inspect_image(tag)["Id"] == iid
    dangling = {i["Id"] for i in api.images(filters={"dangling": True})}
    assert scenario["images"]["<dangling>"] in dangling
    for iid in scenario["intermediate_images"].values():
        assert api.inspect_image(iid)["RepoTags"] == []
    # app:1, app:2 and tool share the base layer.
    layers = {
        t: api.inspect_image(t)["RootFS"]["Layers"] for t in ("app:1", "app:2", "tool:latest")
    }
    base = api.inspect_image("busybox:base")["RootFS"]["Layers"]
    assert all(ls[0] == base[0] for ls in layers.values())
    assert layers["app:2"][:2] == layers["app:1"]
    for name, want in SAMPLE_STATES.items():
        assert api.inspect_container(name)["State"]["Status"] == want, name
    web = api.inspect_container("web")
    assert {m["Name"] for m in web["Mounts"]} == {"appdata"}
    job = api.inspect_container("job")
    assert [m["Name"] for m in job["Mounts"]] == [scenario["volumes"]["anon"]]
    assert len(api.logs("job").splitlines()) == 50
    # BuildKit image: its layers are registered under 25-character BuildKit cache IDs.
    bk = api.inspect_image("bk:1")
    assert bk["Parent"] == ""
    # base + the cache-mount RUN (it leaves the /cache mount point) + the plain RUN
    assert len(bk["RootFS"]["Layers"]) == 3
    top = Path(bk["GraphDriver"]["Data"]["UpperDir"]).parent.name
    assert re.fullmatch(r"[0-9a-z]{25}", top), top
    # Log rotation produced .1 and .2 next to the live log.
    log = Path(api.inspect_container("rotlog")["LogPath"])
    assert log.exists() and Path(f"{log}.1").exists() and Path(f"{log}.2").exists()
    # The anonymous volume counts as used by the exited container in `docker system df`.
    vols = {v["Name"]: v for v in api.df()["Volumes"]}
    assert vols[scenario["volumes"]["anon"]]["UsageData"]["RefCount"] == 1
    assert vols["unused"]["UsageData"]["RefCount"] == 0


def test_copy_root_keeps_special_files(
    dockerd: PrivateDockerd, scenario: Scenario, tmp_path: Path
) -> None:
    """copy_root keeps hard links, holes, whiteouts, xattrs; skips live mounts."""
    dst = tmp_path / "copy"
    report = dockerd.copy_root(dst)
    web = scenario["containers"]["web"]
    mount_id = (dockerd.data_root / "image/overlay2/layerdb/mounts" / web / "mount-id").read_text()
    assert f"overlay2/{mount_id}/merged" in report.mount_points
    assert not any((dst / "overlay2" / mount_id / "merged").iterdir())
    diff = dst / "overlay2" / mount_id / "diff"
    a, b = (diff / "srv/a").stat(), (diff / "srv/b").stat()
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)
    sparse = (diff / "srv/sparse").stat()
    assert sparse.st_size == 1 << 20 and sparse.st_blocks * 512 < sparse.st_size
    whiteout = (diff / "etc/base-release").lstat()
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert os.readlink(diff / "srv/link") == "/srv/a"
    assert "trusted.overlay.uuid" in os.listxattr(diff)
    work = dst / "overlay2" / mount_id / "work" / "work"
    assert stat.S_IMODE(work.stat().st_mode) == 0
    block = (dst / "volumes/backingFsBlockDev").lstat()
    assert stat.S_ISBLK(block.st_mode)
    assert (dst / "image/overlay2/repositories.json").read_bytes() == (
        dockerd.data_root / "image/overlay2/repositories.json"
    ).read_bytes()


def test_stop_terminates_exactly_its_pid(dockerd: PrivateDockerd, tmp_path: Path) -> None:
    """A second, short-lived daemon: stop() ends that PID (and its containerd) only."""
    others_before = _dockerd_pids()
    lab = PrivateDockerd(tmp_path / "d2")
    lab.start()
    try:
        assert lab.pid not in others_before and lab.pid != dockerd.pid
        assert f"--data-root={lab.data_root}" in _cmdline(lab.pid)
        assert lab.exec_root is not None
        containerd_pid = int((lab.exec_root / "containerd" / "containerd.pid").read_text())
        lab.import_busybox("busybox:base")
        lab.run("busybox:base", "sleep", "1000", name="sleeper", options=["--stop-timeout", "1"])
    finally:
        lab.stop()
    assert not lab.running
    assert _gone(lab.pid)
    assert _gone(containerd_pid)
    assert not mounts_under(lab.data_root)
    assert not lab.exec_root.exists()
    # Every other dockerd (the session's, anybody else's) is still alive.
    for pid in others_before:
        os.kill(pid, 0)
    assert dockerd.running and dockerd.api.ping()
    lab.stop()  # idempotent


def test_start_failure_reports_the_log(tmp_path: Path) -> None:
    lab = PrivateDockerd(tmp_path / "bad", storage_driver="no-such-driver")
    with pytest.raises(Exception, match=r"dockerd exited .*\n--- tail of .*dockerd.log"):
        lab.start()
    assert not lab.running
    assert lab.exec_root is not None and not lab.exec_root.exists()
    lab.release_leftover_mounts()
    assert os.path.realpath(lab.data_root) not in mount_points()


def test_sigkill_fallback_kills_only_its_own(tmp_path: Path) -> None:
    """If dockerd ignores SIGTERM past the timeout, stop() SIGKILLs that PID."""
    lab = PrivateDockerd(tmp_path / "k")
    lab.start()
    assert lab.exec_root is not None
    containerd_pid = int((lab.exec_root / "containerd" / "containerd.pid").read_text())
    os.kill(lab.pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    try:
        lab.stop(timeout=1)
    finally:
        if lab.running:
            os.kill(lab.pid, signal.SIGCONT)
            lab.stop()
        released = lab.release_leftover_mounts()
    assert _gone(lab.pid)
    assert _gone(containerd_pid)
    # The daemon died without its shutdown: its self bind mount of the data root was left.
    assert released == [os.path.realpath(lab.data_root)]
    assert os.path.realpath(lab.data_root) not in mount_points()


@pytest.mark.after_daemon_stop
def test_session_daemon_stops_cleanly(dockerd: PrivateDockerd, scenario: Scenario) -> None:
    """Runs last: the session daemon is stopped, and left nothing mounted or running."""
    assert not dockerd.running
    assert _gone(dockerd.pid)
    assert not mounts_under(dockerd.data_root)
    assert not dockerd.pidfile.exists()
    assert not dockerd.sock.exists()
    for name in ("web", "job", "fresh", "rotlog"):
        assert (dockerd.data_root / "containers" / scenario["containers"][name]).is_dir()
    for path in (DEFAULT_DATA_ROOT, DEFAULT_SOCKET):
        assert path_fingerprint(path) == dockerd.default_paths_before[str(path)], path
    with pytest.raises(requests.exceptions.ConnectionError):
        docker.APIClient(base_url=dockerd.base_url, version="1.41", timeout=2).ping()
