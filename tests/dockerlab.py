"""A private, throw-away Docker daemon for tests and for generating sample data.

``PrivateDockerd`` starts Debian's ``/usr/sbin/dockerd`` with its own data root, exec root,
pidfile, socket and daemon config file, and talks to it only through that socket. It never
uses the default socket (``/var/run/docker.sock``), ``DOCKER_HOST`` from the environment or
``/var/lib/docker``: the client environment is built explicitly by :meth:`client_env`.

The module is imported both by the test suite (``tests/conftest.py``) and by
``scripts/make_sample_data.py``, so it only depends on the standard library and ``docker``.

Also here: :func:`iter_tree`, a walk of a directory that never descends into mount points
(a live ``overlay2/<id>/merged`` or ``containers/<id>/mounts/shm``), and
:func:`copy_tree`, a full-fidelity copy built on it (hard links, sparse files, device nodes,
FIFOs, xattrs, ownership, modes and times are kept; sockets are skipped).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import docker

#: Where scripts/test.sh unpacked Debian's docker.io, containerd, runc, tini, prometheus
#: (promtool) and busybox-static (``bin/``, and libdevmapper in ``lib/``): downloaded and
#: unpacked, never installed, so the test command enables no service. Unset (e.g. pytest run
#: by hand), the system's own binaries are used.
TOOLS = os.environ.get("DOCKER_INSPECTOR_TEST_TOOLS", "")


def _tool(name: str, system: str) -> str:
    """The unpacked `name` when scripts/test.sh provided it, else the system path."""
    if TOOLS:
        path = os.path.join(TOOLS, "bin", name)
        if os.access(path, os.X_OK):
            return path
    return system


#: The Docker engine this harness drives (Debian's docker.io 20.10).
DOCKERD = _tool("dockerd", "/usr/sbin/dockerd")
#: Debian's client, which has the BuildKit client built in. NOT /usr/local/bin/docker.
DOCKER_CLI = _tool("docker", "/usr/bin/docker")
#: Statically linked busybox used to make the base image.
BUSYBOX = _tool("busybox", "/usr/bin/busybox")
#: Prometheus' promtool, the oracle of the textfile and alert-rule tests.
PROMTOOL = _tool("promtool", shutil.which("promtool") or "/usr/bin/promtool")
#: The default data root and socket: the harness must never touch them.
DEFAULT_DATA_ROOT = Path("/var/lib/docker")
DEFAULT_SOCKET = Path("/var/run/docker.sock")
#: Repository root (``tests/`` is one level below it).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: Applets linked to busybox in the base image (``bin/<applet> -> busybox``).
BUSYBOX_APPLETS = (
    "sh",
    "ls",
    "cat",
    "echo",
    "dd",
    "ln",
    "mkdir",
    "rm",
    "sleep",
    "truncate",
    "touch",
    "head",
    "seq",
    "yes",
    "mkfifo",
    "chmod",
    "true",
)
#: A fixed mtime for the base image tar, so that its DiffID is the same on every run.
BASE_MTIME = 1_700_000_000

# Environment variables that would redirect the client or the daemon somewhere else.
_DOCKER_ENV_PREFIXES = ("DOCKER_", "BUILDKIT_", "BUILDX_", "COMPOSE_")
_UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
_PR_SET_PDEATHSIG = 1


class DockerLabError(RuntimeError):
    """The private daemon could not be started, or a client command failed."""


def load_make_sample_data() -> Any:
    """Import ``scripts/make_sample_data.py`` (not a package) as module ``make_sample_data``."""
    name = "make_sample_data"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGTERM the daemon if the process that started it dies.

    A safety net only: a test run killed hard must not leave a dockerd with live mounts.
    """
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def path_fingerprint(path: Path) -> dict[str, Any]:
    """Describe ``path`` enough to notice that something created or modified it.

    Used to prove the harness leaves ``/var/lib/docker`` and ``/var/run/docker.sock`` alone.
    """
    try:
        st = path.lstat()
    except FileNotFoundError:
        return {"exists": False}
    info: dict[str, Any] = {
        "exists": True,
        "ino": st.st_ino,
        "mode": st.st_mode,
        "mtime_ns": st.st_mtime_ns,
    }
    if stat.S_ISDIR(st.st_mode):
        with contextlib.suppress(OSError):
            info["entries"] = sorted(os.listdir(path))
    return info


def _unescape_mountinfo(field_: str) -> str:
    """Decode the octal escapes (``\\040`` etc.) used in /proc/self/mountinfo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def mount_points() -> set[str]:
    """All mount points visible in this process's mount namespace."""
    points: set[str] = set()
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) > 4:
                points.add(_unescape_mountinfo(parts[4]))
    return points


def mounts_under(root: Path) -> list[str]:
    """Mount points strictly below ``root`` (``root`` itself excluded), sorted."""
    real = os.path.realpath(root)
    prefix = real.rstrip("/") + "/"
    return sorted(p for p in mount_points() if p.startswith(prefix))


@dataclass(frozen=True)
class TreeEntry:
    """One entry yielded by :func:`iter_tree`."""

    rel: str
    """Path relative to the walked root, ``/``-separated; ``""`` is never yielded."""
    path: str
    """Absolute path."""
    st: os.stat_result
    """``lstat`` of the entry."""
    mount: bool
    """True for a directory that is a mount point: it is yielded but not descended into."""


def iter_tree(root: Path, exclude: Sequence[str] = ()) -> Iterator[TreeEntry]:
    """Walk ``root`` depth-first (parents before children, sorted by name), never following
    symlinks and never descending into a mount point.

    A directory is treated as a mount point if /proc/self/mountinfo lists it or if its
    ``st_dev`` differs from ``root``'s (a live overlay ``merged/``, a tmpfs ``mounts/shm``).
    ``exclude`` holds relative paths (e.g. ``"containerd"``) that are skipped with everything
    under them. Entries that vanish during the walk (a live daemon) are skipped silently.
    """
    real_root = os.path.realpath(root)
    root_dev = os.lstat(real_root).st_dev
    mounts = set(mounts_under(Path(real_root)))
    excluded = {e.strip("/") for e in exclude}
    stack: list[str] = [""]
    while stack:
        rel_dir = stack.pop()
        abs_dir = os.path.join(real_root, rel_dir) if rel_dir else real_root
        try:
            names = sorted(os.listdir(abs_dir))
        except FileNotFoundError:
            continue
        children: list[str] = []
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel in excluded:
                continue
            path = os.path.join(abs_dir, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            is_mount = is_dir and (path in mounts or st.st_dev != root_dev)
            yield TreeEntry(rel=rel, path=path, st=st, mount=is_mount)
            if is_dir and not is_mount:
                children.append(rel)
        # Reverse so that the sorted order is kept when popping.
        stack.extend(reversed(children))


def _copy_sparse(src: str, dst: str) -> None:
    """Copy a regular file keeping its holes (SEEK_DATA/SEEK_HOLE)."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        fdi = fi.fileno()
        size = os.fstat(fdi).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fdi, pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:  # only a hole is left
                    break
                raise
            end = os.lseek(fdi, start, os.SEEK_HOLE)
            os.lseek(fdi, start, os.SEEK_SET)
            fo.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = fi.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                fo.write(chunk)
                remaining -= len(chunk)
            pos = end
        fo.truncate(size)


def _copy_xattrs(src: str, dst: str) -> None:
    """Copy every extended attribute (``trusted.overlay.opaque`` included, as root)."""
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            value = os.getxattr(src, name, follow_symlinks=False)
            os.setxattr(dst, name, value, follow_symlinks=False)


@dataclass
class CopyReport:
    """What :func:`copy_tree` did."""

    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0
    fifos: int = 0
    mount_points: list[str] = field(default_factory=list)
    """Directories that were mount points: created empty, not descended into."""
    skipped: list[str] = field(default_factory=list)
    """Entries not copied (sockets)."""


def copy_tree(src: Path, dst: Path, exclude: Sequence[str] = ()) -> CopyReport:
    """Copy ``src`` to ``dst`` (which must not exist) like ``cp -a -x --sparse=auto``.

    Keeps hard links, holes, device nodes (whiteouts, ``backingFsBlockDev``), FIFOs, xattrs,
    ownership, modes and times. Mount points become empty directories; sockets are skipped.
    """
    report = CopyReport()
    dst.mkdir(parents=True, exist_ok=False)
    src_st = os.lstat(src)
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, str, os.stat_result]] = [(str(src), str(dst), src_st)]
    for entry in iter_tree(src, exclude):
        st = entry.st
        target = os.path.join(dst, entry.rel)
        mode = st.st_mode
        try:
            if stat.S_ISDIR(mode):
                os.mkdir(target, 0o700)
                dirs.append((entry.path, target, st))
                report.dirs += 1
                if entry.mount:
                    report.mount_points.append(entry.rel)
                continue
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                os.link(links[key], target)
                report.hardlinks += 1
                continue
            if stat.S_ISREG(mode):
                _copy_sparse(entry.path, target)
                report.files += 1
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(entry.path), target)
                report.symlinks += 1
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                os.mknod(target, mode, st.st_rdev)
                report.devices += 1
            elif stat.S_ISFIFO(mode):
                os.mkfifo(target, stat.S_IMODE(mode))
                report.fifos += 1
            else:
                report.skipped.append(entry.rel)
                continue
        except FileNotFoundError:
            continue  # vanished under a live daemon
        if st.st_nlink > 1:
            links[key] = target
        _copy_xattrs(entry.path, target)
        os.lchown(target, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(mode):
            os.chmod(target, stat.S_IMODE(mode))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    # Directories last, deepest first: their mode may forbid writing (work/work is 000) and
    # filling them would change their mtime.
    for src_dir, dst_dir, st in reversed(dirs):
        _copy_xattrs(src_dir, dst_dir)
        os.chown(dst_dir, st.st_uid, st.st_gid)
        os.chmod(dst_dir, stat.S_IMODE(st.st_mode))
        os.utime(dst_dir, ns=(st.st_atime_ns, st.st_mtime_ns))
    return report


def busybox_rootfs_tar(busybox: str = BUSYBOX) -> bytes:
    """A deterministic rootfs tar: ``bin/busybox`` plus applet symlinks and a minimal ``etc``.

    ``etc/base-release`` exists so that containers can delete a base file (a whiteout).
    """
    buf = io.BytesIO()

    def add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = mode
        info.mtime = BASE_MTIME
        tar.addfile(info)

    def add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        info.mtime = BASE_MTIME
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "etc", "root"):
            add_dir(tar, d, 0o700 if d == "root" else 0o755)
        add_dir(tar, "tmp", 0o1777)
        add_file(tar, "bin/busybox", Path(busybox).read_bytes(), 0o755)
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            info.mode = 0o777
            info.mtime = BASE_MTIME
            tar.addfile(info)
        add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        add_file(tar, "etc/group", b"root:x:0:\n")
        add_file(tar, "etc/base-release", b"docker-inspector test base image\n")
    return buf.getvalue()


def _ping(sock: Path, timeout: float = 2.0) -> bool:
    """True if the Engine API on ``sock`` answers ``GET /_ping`` with 200 OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False
    return data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0]


class PrivateDockerd:
    """A dockerd with its own data root, exec root, socket and config, for tests.

    Attributes set at construction: ``base_dir``, ``data_root`` (``<base>/root``), ``sock``
    (``<base>/docker.sock``, or ``<exec-root>/docker.sock`` if that path would be too long
    for a unix socket), ``exec_root`` (a short directory under /tmp, created by
    :meth:`start`), ``pidfile``, ``log_path``, ``config_dir`` (private ``DOCKER_CONFIG``),
    ``daemon_config`` (private ``--config-file``). After :meth:`start`: ``pid``, ``api``
    (``docker.APIClient``) and ``client`` (``docker.DockerClient``).
    """

    def __init__(
        self,
        base_dir: Path,
        storage_driver: str | None = None,
        *,
        start_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.storage_driver = storage_driver
        self.start_timeout = start_timeout
        self.extra_args = tuple(extra_args)
        self.data_root = self.base_dir / "root"
        self.pidfile = self.base_dir / "dockerd.pid"
        self.log_path = self.base_dir / "dockerd.log"
        self.config_dir = self.base_dir / "docker-config"
        self.daemon_config = self.base_dir / "daemon.json"
        self.exec_root: Path | None = None
        sock = self.base_dir / "docker.sock"
        self._sock_in_exec_root = len(os.fsencode(sock)) > _UNIX_PATH_MAX
        self.sock = sock
        self.pid: int = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._api: docker.APIClient | None = None
        self._client: docker.DockerClient | None = None
        self._seq = 0
        self._leftover_root_mount = False
        self._log_file: BinaryIO | None = None
        #: Fingerprints of /var/lib/docker and /var/run/docker.sock taken before start().
        self.default_paths_before: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """``unix://<sock>``: the only address any client of this harness uses."""
        return f"unix://{self.sock}"

    @property
    def running(self) -> bool:
        """True while the daemon process this object started is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def api(self) -> docker.APIClient:
        """Low-level client on the private socket (the Engine API truth for tests)."""
        if self._api is None:
            raise DockerLabError("the private dockerd is not started")
        return self._api

    @property
    def client(self) -> docker.DockerClient:
        """High-level client on the private socket."""
        if self._client is None:
            raise DockerLabError("the private dockerd is not started")
        return self._client

    def command(self) -> list[str]:
        """The dockerd command line (valid once :meth:`start` chose the exec root)."""
        if self.exec_root is None:
            raise DockerLabError("exec root not chosen yet")
        cmd = [
            DOCKERD,
            f"--config-file={self.daemon_config}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.pidfile}",
            f"--host={self.base_url}",
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--bridge=none",
            "--userland-proxy=false",
            # Containers whose PID 1 ignores SIGTERM (sleep) would hold shutdown for 10 s.
            "--shutdown-timeout=5",
            # Daemons on copies of one root run containers with the same IDs at once: each
            # daemon's containers get cgroups of their own (the default parent is /docker).
            f"--cgroup-parent={self.cgroup_parent}",
        ]
        if self.storage_driver:
            cmd.append(f"--storage-driver={self.storage_driver}")
        cmd.extend(self.extra_args)
        return cmd

    @property
    def cgroup_parent(self) -> str:
        """The parent cgroup of this daemon's containers (named after its exec root)."""
        if self.exec_root is None:
            raise DockerLabError("exec root not chosen yet")
        return "/" + self.exec_root.name

    def _remove_cgroup_parent(self) -> None:
        """rmdir this daemon's parent cgroups, deepest first (runc removed its containers';
        BuildKit leaves a `buildkit` child); a cgroup with a task left is not removable."""
        if self.exec_root is None:
            return
        name = self.exec_root.name
        for base in ("/sys/fs/cgroup", *glob.glob("/sys/fs/cgroup/*")):
            top = os.path.join(base, name)
            if not os.path.isdir(top) or os.path.islink(top):
                continue
            for d, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(d)

    def daemon_env(self) -> dict[str, str]:
        """A minimal, explicit environment for dockerd: nothing inherited that could redirect
        it (``DOCKER_HOST``, ``DOCKER_DRIVER``, ``DOCKER_TMPDIR``, proxies, ...)."""
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.base_dir),
            "LANG": "C.UTF-8",
        }
        if TOOLS and DOCKERD.startswith(TOOLS):
            # dockerd finds containerd, runc and the shims on PATH; libdevmapper beside them.
            env["PATH"] = os.path.join(TOOLS, "bin") + ":" + env["PATH"]
            env["LD_LIBRARY_PATH"] = os.path.join(TOOLS, "lib")
        return env

    def client_env(self, buildkit: bool = False) -> dict[str, str]:
        """Environment for ``/usr/bin/docker``: the caller's environment without any
        ``DOCKER_*``/``BUILDKIT_*`` variable, plus ``DOCKER_HOST=unix://<private sock>``,
        a private ``DOCKER_CONFIG`` and ``DOCKER_BUILDKIT``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DOCKER_ENV_PREFIXES)}
        env["DOCKER_HOST"] = self.base_url
        env["DOCKER_CONFIG"] = str(self.config_dir)
        env["DOCKER_BUILDKIT"] = "1" if buildkit else "0"
        env["DOCKER_CLI_HINTS"] = "false"
        env["DOCKER_SCAN_SUGGEST"] = "false"
        return env

    def start(self) -> PrivateDockerd:
        """Start dockerd and wait until its API answers; raise DockerLabError with the
        daemon's log tail if it exits or does not answer within ``start_timeout``."""
        if self._proc is not None:
            raise DockerLabError("this PrivateDockerd was already started")
        if not os.access(DOCKERD, os.X_OK):
            raise DockerLabError(
                f"{DOCKERD} not found: run the tests with bash scripts/test.sh (it unpacks "
                "Debian's docker.io), or set DOCKER_INSPECTOR_TEST_TOOLS"
            )
        if os.geteuid() != 0:
            raise DockerLabError(
                f"dockerd needs root (euid is {os.geteuid()}): run the tests as root"
            )
        self.default_paths_before = {
            str(DEFAULT_DATA_ROOT): path_fingerprint(DEFAULT_DATA_ROOT),
            str(DEFAULT_SOCKET): path_fingerprint(DEFAULT_SOCKET),
        }
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "config.json").write_text("{}\n")
        self.daemon_config.write_text("{}\n")
        # Socket paths inside the exec root (containerd's) must stay under 108 bytes.
        self.exec_root = Path(tempfile.mkdtemp(prefix="dlab-", dir="/tmp"))
        if self._sock_in_exec_root:
            self.sock = self.exec_root / "docker.sock"
        cmd = self.command()
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_file.write(f"### {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self.daemon_env(),
            cwd=self.base_dir,
            start_new_session=True,
            preexec_fn=_set_pdeathsig,
        )
        self.pid = self._proc.pid
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                rc = self._proc.returncode
                self._cleanup_after_exit()
                raise DockerLabError(
                    f"dockerd exited with code {rc} during startup.\n{self.log_tail()}"
                )
            if self.sock.exists() and _ping(self.sock):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise DockerLabError(
                    f"dockerd did not answer on {self.sock} within {self.start_timeout:.0f} s."
                    f"\n{self.log_tail()}"
                )
            time.sleep(0.1)
        self._check_pidfile()
        self._api = docker.APIClient(base_url=self.base_url, version="auto", timeout=300)
        self._client = docker.DockerClient(base_url=self.base_url, version="auto", timeout=300)
        return self

    def _check_pidfile(self) -> None:
        """The pidfile must name the process we started (nothing else answers our socket)."""
        try:
            text = self.pidfile.read_text().strip()
        except FileNotFoundError:
            return
        if text and int(text) != self.pid:
            self.stop()
            raise DockerLabError(f"{self.pidfile} says {text}, but we started {self.pid}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM exactly the dockerd this object started, wait, SIGKILL after ``timeout``.

        Idempotent. Unmounts nothing: dockerd unmounts its own layers and shm on shutdown.
        Only after a SIGKILL is the containerd that this dockerd spawned (found through the
        pidfile in our exec root) killed too, so that it does not linger.
        """
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # Popen never signals a reaped PID
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
                self._kill_own_containerd()
        self._cleanup_after_exit()

    def _kill_own_containerd(self) -> None:
        """SIGKILL the containerd child of a SIGKILLed dockerd, verified by its cmdline."""
        if self.exec_root is None:
            return
        pidfile = self.exec_root / "containerd" / "containerd.pid"
        try:
            cpid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{cpid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if os.fsencode(str(self.exec_root)) in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(cpid, signal.SIGKILL)

    def _cleanup_after_exit(self) -> None:
        """Close clients and the log; remove the exec root if nothing is mounted there."""
        for c in (self._client, self._api):
            if c is not None:
                with contextlib.suppress(Exception):
                    c.close()
        self._client = None
        self._api = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._remove_cgroup_parent()
        root = self.exec_root
        if root is not None and root.exists():
            # dockerd bind-mounts the data root onto itself at startup and records that in
            # <exec-root>/unmount-on-shutdown; only a clean shutdown undoes it.
            self._leftover_root_mount = (root / "unmount-on-shutdown").exists() and (
                os.path.realpath(self.data_root) in mount_points()
            )
            if not mounts_under(root):
                shutil.rmtree(root, ignore_errors=True)
        if root is not None:
            # With --userns-remap, dockerd keeps its state in <exec-root>.<uid>.<gid> beside.
            for remapped in root.parent.glob(f"{root.name}.*.*"):
                if remapped.is_dir() and not remapped.is_symlink() and not mounts_under(remapped):
                    shutil.rmtree(remapped, ignore_errors=True)

    def release_leftover_mounts(self) -> list[str]:
        """After an UNCLEAN exit (startup failure, SIGKILL), undo the one mount dockerd's own
        shutdown would have undone: its bind mount of the data root onto itself. Returns the
        paths unmounted. Does nothing while the daemon runs, after a clean shutdown, if the
        daemon did not register that mount in its exec root, or if anything is still mounted
        below the data root (live container layers are never touched). :meth:`stop` never
        calls this; the test fixtures do, so failed daemons do not leak mounts."""
        if self.running or not self._leftover_root_mount:
            return []
        real = os.path.realpath(self.data_root)
        if mounts_under(Path(real)) or real not in mount_points():
            return []
        subprocess.run(["umount", real], check=True, capture_output=True)
        self._leftover_root_mount = False
        return [real]

    def __enter__(self) -> PrivateDockerd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the daemon log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- tail of {self.log_path} ---\n{tail}"

    # ------------------------------------------------------------------ helpers

    def cli(
        self,
        *args: str,
        input: bytes | str | None = None,
        buildkit: bool = False,
        timeout: float = 300.0,
    ) -> str:
        """Run ``/usr/bin/docker <args>`` against the private socket; return its stdout.

        Raises DockerLabError (with stderr) on a non-zero exit.
        """
        if not self.running:
            raise DockerLabError("the private dockerd is not running")
        data = input.encode() if isinstance(input, str) else input
        cmd = [DOCKER_CLI, *args]
        res = subprocess.run(
            cmd,
            input=data,
            capture_output=True,
            env=self.client_env(buildkit=buildkit),
            timeout=timeout,
            check=False,
        )
        out = res.stdout.decode(errors="replace")
        if res.returncode != 0:
            err = res.stderr.decode(errors="replace")
            raise DockerLabError(
                f"{' '.join(cmd)} exited with {res.returncode}\n"
                f"--- stderr ---\n{err[-4000:]}\n--- stdout ---\n{out[-4000:]}"
            )
        return out

    def _scratch(self, prefix: str) -> Path:
        """A fresh scratch directory under the base dir (build contexts, cid files)."""
        self._seq += 1
        path = self.base_dir / "scratch" / f"{prefix}-{self._seq}"
        path.mkdir(parents=True)
        return path

    def import_busybox(self, tag: str) -> str:
        """``docker import`` a small busybox rootfs (see :func:`busybox_rootfs_tar`) as
        ``tag`` with ``CMD ["sh"]``; return the image ID (``sha256:...``)."""
        out = self.cli("import", "--change", 'CMD ["sh"]', "-", tag, input=busybox_rootfs_tar())
        return out.strip().splitlines()[-1].strip()

    def build(
        self,
        tag: str,
        dockerfile: str,
        files: Mapping[str, bytes] | None = None,
        buildkit: bool = False,
        args: Sequence[str] = (),
    ) -> str:
        """Build ``dockerfile`` with ``files`` as its context (relative paths), tag it, and
        return the image ID. The classic builder is used unless ``buildkit``; RUN steps get
        ``--network=none`` either way (there is no bridge)."""
        ctx = self._scratch("ctx")
        (ctx / "Dockerfile").write_text(dockerfile)
        for rel, data in (files or {}).items():
            target = ctx / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        iid = ctx.parent / f"iid-{self._seq}"
        cmd = ["build", "--network=none", "-t", tag, "--iidfile", str(iid)]
        if buildkit:
            cmd.append("--progress=plain")
        self.cli(*cmd, *args, str(ctx), buildkit=buildkit)
        return iid.read_text().strip()

    def create(
        self,
        image: str,
        *cmd: str,
        name: str | None = None,
        options: Sequence[str] = (),
    ) -> str:
        """``docker create`` (with ``--network none`` unless given); return the container ID."""
        return self.cli("create", *self._run_opts(name, options), image, *cmd).strip()

    def run(
        self,
        image: str,
        *cmd: str,
        name: str | None = None,
        options: Sequence[str] = (),
        detach: bool = True,
    ) -> str:
        """``docker run -d`` (``--network none`` unless given); return the container ID.

        With ``detach=False`` the container is created and started attached (``docker
        start -a``), so this returns once it has exited (and, with ``--rm``, once it is
        removed). No ``--cidfile`` is used: its path would be recorded in hostconfig.json.
        """
        if detach:
            return self.cli("run", "-d", *self._run_opts(name, options), image, *cmd).strip()
        cid = self.create(image, *cmd, name=name, options=options)
        self.cli("start", "-a", cid)
        if "--rm" in options:
            deadline = time.monotonic() + 30
            while any(c["Id"] == cid for c in self.api.containers(all=True)):
                if time.monotonic() > deadline:
                    raise DockerLabError(f"--rm container {cid} was not removed")
                time.sleep(0.05)
        return cid

    @staticmethod
    def _run_opts(name: str | None, options: Sequence[str]) -> list[str]:
        opts = list(options)
        if not any(o == "--network" or o.startswith(("--network=", "--net=")) for o in opts):
            opts = ["--network", "none", *opts]
        if name is not None:
            opts = ["--name", name, *opts]
        return opts

    def exec(self, container: str, *cmd: str) -> str:
        """``docker exec``; return stdout."""
        return self.cli("exec", container, *cmd)

    def wait(self, container: str) -> int:
        """``docker wait``; return the exit code."""
        return int(self.cli("wait", container).strip())

    def inspect_container_sized(self, container: str) -> dict[str, Any]:
        """``GET /containers/<id>/json?size=1``: inspect with ``SizeRw``/``SizeRootFs``."""
        api = self.api
        url = api._url("/containers/{0}/json", container)
        result: dict[str, Any] = api._result(api._get(url, params={"size": 1}), True)
        return result

    def is_pristine(self) -> bool:
        """True if the daemon holds no image, container or volume yet."""
        vols = self.api.volumes().get("Volumes") or []
        return not self.api.images(all=True) and not self.api.containers(all=True) and not vols

    def copy_root(self, dst: Path, exclude: Sequence[str] = ()) -> CopyReport:
        """Copy the data root to ``dst`` without descending into live mounts (see
        :func:`copy_tree`), for fault-injection tests on a stopped-like copy."""
        return copy_tree(self.data_root, dst, exclude)

    def info(self) -> dict[str, Any]:
        """``docker info`` as JSON, through the CLI on the private socket."""
        result: dict[str, Any] = json.loads(self.cli("info", "--format", "{{json .}}"))
        return result
