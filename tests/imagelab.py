"""docker-inspector's container image, built from the repository's Dockerfile with no registry.

Shared by ``tests/test_container_image.py`` (on the session's private dockerd) and
``scripts/container_image.py`` (on a dockerd of its own). There is no public registry here,
so the Dockerfile's ``BASE`` is a ``docker import``ed rootfs and pip installs from a
wheelhouse (``PIP_ARGS="--no-index --find-links /src/wheels"``), built with ``--network
none``:

- :func:`host_python_rootfs`: the fast base (a few seconds, cached): the host's own python3
  (its binary, its standard library with ``venv``/``ensurepip``, the wheels ensurepip
  installs from, and the shared libraries ``ldd`` names for the binary and every extension
  module), plus busybox as ``/bin/sh`` for the Dockerfile's ``RUN`` lines.
- :func:`wheelhouse`: wheels of the package's dependencies and of its build backend, for
  the image's Python version (``pip download``; PyPI is needed once, then it is cached).
- :func:`build_image`: the build context (what ``.dockerignore`` lets through, plus the
  wheelhouse) and ``docker build``.
- :func:`run_tui`: ``docker run --rm -it … tui`` on a pseudo-terminal, quit with ``q``.

Caches live in ``$XDG_CACHE_HOME/docker-inspector`` (else ``~/.cache/docker-inspector``),
read when this module is imported: the test session later points ``XDG_CACHE_HOME`` at a
private dir, and these downloads are worth keeping between runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import tarfile
import termios
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from dockerlab import BUSYBOX, BUSYBOX_APPLETS, DOCKER_CLI, REPO_ROOT, PrivateDockerd

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "docker-inspector"
#: What a container of an imported image without ``ENV PATH`` needs to find python3.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Parts of a standard library the image never imports (the static libpython alone is 25 MB).
_STDLIB_SKIP = re.compile(
    r"^(config-[^/]*|test|idlelib|tkinter|turtledemo|site-packages|dist-packages)(/|$)"
)
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


class ImageLabError(RuntimeError):
    """A base, wheelhouse or build step failed; the message says which and why."""


def step(text: str) -> None:
    """Progress of the long steps (the script prints it; pytest shows it with -s)."""
    print(f"==> {text}", flush=True)


# ------------------------------------------------------------------ the base: host python


def _python_facts(python: str) -> dict[str, str] | None:
    """Where `python` keeps what a venv needs, or None if it has no venv/ensurepip."""
    code = (
        "import ensurepip, json, os, sys, sysconfig, venv;"
        "print(json.dumps({'exe': os.path.realpath(sys.executable),"
        " 'stdlib': sysconfig.get_path('stdlib'), 'platstdlib': sysconfig.get_path('platstdlib'),"
        " 'wheels': sysconfig.get_config_var('WHEEL_PKG_DIR') or '',"
        " 'version': '%d.%d' % sys.version_info[:2], 'full': sys.version}))"
    )
    try:
        res = subprocess.run([python, "-c", code], capture_output=True, timeout=30, check=False)
    except OSError:
        return None
    if res.returncode != 0:
        return None
    facts: dict[str, str] = json.loads(res.stdout)
    return facts


def host_python(prefer: str | None = None) -> tuple[str, dict[str, str]]:
    """The host's python3 to put in the image: `prefer`, else Debian's own (the one a Debian
    base image would have), else the first python3 on PATH, else the one running this (it
    made the test venv); it must be >= 3.11 and have venv and ensurepip."""
    base = getattr(sys, "_base_executable", "") or sys.executable
    for cand in (prefer or "", "/usr/bin/python3", shutil.which("python3") or "", base):
        if cand and os.access(cand, os.X_OK):
            facts = _python_facts(cand)
            if facts is not None and tuple(map(int, facts["version"].split("."))) >= (3, 11):
                return cand, facts
    raise ImageLabError(
        "no python3 >= 3.11 with its venv and ensurepip modules on this host "
        "(Debian: apt-get install python3-venv)"
    )


def _ldd(path: str) -> list[str]:
    """The absolute paths of the shared libraries (and loader) `path` needs, as ldd finds
    them; a library ldd cannot find is left out (that extension module is unusable anyway)."""
    res = subprocess.run(["ldd", path], capture_output=True, text=True, check=False)
    return _LDD_PATH.findall(res.stdout) if res.returncode == 0 else []


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def _tree_files(top: str) -> Iterator[tuple[str, str]]:
    """(host path, path inside `top`) of what to copy from a stdlib dir, in a stable order."""
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not _STDLIB_SKIP.match(rel_dir + d))
        for name in sorted(filenames):
            if not _STDLIB_SKIP.match(rel_dir + name):
                yield os.path.join(dirpath, name), rel_dir + name


def _add_dir(tar: tarfile.TarFile, name: str, mode: int, made: set[str]) -> None:
    """`name` and its parents, once each."""
    parts = name.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d in made:
            continue
        made.add(d)
        info = tarfile.TarInfo(d)
        info.type = tarfile.DIRTYPE
        info.mode = mode if i == len(parts) else 0o755
        tar.addfile(info)


def _add_file(tar: tarfile.TarFile, arc: str, src: str, made: set[str], mode: int = 0) -> None:
    """`src`'s content (symlinks followed: a link out of the copied tree would dangle) at `arc`."""
    arc = arc.strip("/")
    if arc in made:
        return
    _add_dir(tar, os.path.dirname(arc), 0o755, made)
    made.add(arc)
    st = os.stat(src)
    info = tarfile.TarInfo(arc)
    info.size = st.st_size
    info.mode = mode or (st.st_mode & 0o7777)
    info.mtime = int(st.st_mtime)
    with open(src, "rb") as fh:
        tar.addfile(info, fh)


def _add_link(tar: tarfile.TarFile, arc: str, target: str, made: set[str]) -> None:
    arc = arc.strip("/")
    if arc in made:
        return
    _add_dir(tar, os.path.dirname(arc), 0o755, made)
    made.add(arc)
    info = tarfile.TarInfo(arc)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    info.mode = 0o777
    tar.addfile(info)


def _write_python_rootfs(facts: dict[str, str], out: Path) -> None:
    """The tar at `out`: the interpreter `facts` describes, as the module doc says."""
    made: set[str] = set()
    elves = [facts["exe"]]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for d, mode in (("tmp", 0o1777), ("root", 0o700), ("etc", 0o755), ("bin", 0o755)):
            _add_dir(tar, d, mode, made)
        _add_file(tar, facts["exe"], facts["exe"], made)
        # The Dockerfile says `python3`: make sure that name reaches this binary.
        _add_link(tar, "usr/bin/python3", facts["exe"], made)
        for top in dict.fromkeys((facts["stdlib"], facts["platstdlib"])):
            for src, rel in _tree_files(top):
                _add_file(tar, f"{top}/{rel}", src, made)
                if rel.endswith(".so") or ".so." in rel:
                    elves.append(src)
        if facts["wheels"] and os.path.isdir(facts["wheels"]):
            for src, rel in _tree_files(facts["wheels"]):
                _add_file(tar, f"{facts['wheels'].rstrip('/')}/{rel}", src, made)
        for lib in sorted({lib for elf in elves if _is_elf(elf) for lib in _ldd(elf)}):
            _add_file(tar, lib, lib, made)
        _add_file(tar, "bin/busybox", BUSYBOX, made, 0o755)
        for applet in BUSYBOX_APPLETS:
            _add_link(tar, f"bin/{applet}", "busybox", made)
        for name, data in (
            ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
            ("etc/group", b"root:x:0:\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
            made.add(name)


def host_python_rootfs(prefer: str | None = None) -> Path:
    """A tar of a minimal rootfs with the host's python3 (see :func:`host_python` and the
    module doc), cached by the interpreter's version and its binary's and stdlib's identity."""
    python, facts = host_python(prefer)
    ident = [facts["full"], python]
    for p in (facts["exe"], facts["stdlib"], BUSYBOX):
        st = os.stat(p)
        ident.append(f"{p}:{st.st_size}:{st.st_mtime_ns}")
    key = hashlib.sha256("\n".join(ident).encode()).hexdigest()[:16]
    out = CACHE / "python-base" / f"host-python{facts['version']}-{key}.tar"
    if not out.is_file():
        step(f"making {out} from {facts['exe']} (its stdlib and shared libraries)")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        try:
            _write_python_rootfs(facts, tmp)
            tmp.rename(out)
        finally:
            tmp.unlink(missing_ok=True)
    return out


def import_base(lab: PrivateDockerd, tar: Path, tag: str) -> str:
    """``docker import`` a rootfs tar as `tag` (with a PATH); return the image ID."""
    with open(tar, "rb") as fh:
        out = lab.cli("import", "--change", f"ENV PATH={IMAGE_PATH}", "-", tag,
                      input=fh.read(), timeout=600)  # fmt: skip
    return out.strip().splitlines()[-1].strip()


def image_python_version(lab: PrivateDockerd, image: str) -> str:
    """X.Y of the python3 in `image` (the wheelhouse must match it)."""
    out = lab.cli("run", "--rm", "--network", "none", "--entrypoint", "python3", image,
                  "-c", "import sys; print('%d.%d' % sys.version_info[:2])")  # fmt: skip
    return out.strip()


# ------------------------------------------------------------------ the wheelhouse


def _requirements() -> list[str]:
    """The package's runtime dependencies and its build backend, from pyproject.toml."""
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return [*meta["build-system"]["requires"], *meta["project"]["dependencies"]]


def wheelhouse(python_version: str) -> Path:
    """Wheels of every requirement (and theirs) for CPython `python_version` on this
    platform, cached by pyproject.toml's hash; the package itself is built in the image."""
    key = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    out = CACHE / "wheels" / f"{key}-py{python_version}"
    if (out / ".complete").exists():
        return out
    step(f"making the wheelhouse {out} (pip download from PyPI, once)")
    # Made beside it and renamed into place: two test sessions may make it at once.
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pip = REPO_ROOT / ".venv" / "bin" / "pip"
    cmd = [str(pip) if pip.exists() else "pip3", "download", "--quiet",
           "--disable-pip-version-check", "--only-binary=:all:",
           "--python-version", python_version, "--dest", str(tmp), *_requirements()]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ImageLabError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    (tmp / ".complete").write_text("")
    if not (out / ".complete").exists():  # an incomplete one (an interrupted older run)
        shutil.rmtree(out, ignore_errors=True)
    try:
        tmp.rename(out)
    except OSError:  # another session's landed first: the same wheels
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# ------------------------------------------------------------------ build and run


def build_context(wheels: Path, dst: Path) -> None:
    """What the Dockerfile's COPY sees (.dockerignore keeps the same subset of a checkout),
    plus the wheelhouse as ``wheels/``."""
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, dst / name)
    shutil.copytree(
        REPO_ROOT / "inspector", dst / "inspector", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(wheels, dst / "wheels", ignore=shutil.ignore_patterns(".complete"))


def build_image(
    lab: PrivateDockerd, base: str, tag: str, wheels: Path, ctx: Path, buildkit: bool = True
) -> str:
    """``docker build --network none`` of the repository's Dockerfile on `base`, installing
    from `wheels` only; return the image ID. BuildKit by default, as Docker 23+ builds (and
    twice as fast here as the classic builder, whose ``COPY --from`` and per-step commits
    copy the venv's files again and again)."""
    ctx.mkdir(parents=True, exist_ok=True)
    build_context(wheels, ctx)
    iid = ctx.parent / f"{ctx.name}.iid"
    lab.cli(
        "build", "--network", "none", "-t", tag, "--iidfile", str(iid),
        "--build-arg", f"BASE={base}",
        "--build-arg", "PIP_ARGS=--no-index --find-links /src/wheels",
        str(ctx), timeout=900, buildkit=buildkit,
    )  # fmt: skip
    return iid.read_text().strip()


def run_tui(lab: PrivateDockerd, image: str, mount: str, timeout: float = 120) -> tuple[int, str]:
    """``docker run --rm -it … tui`` on a 120x40 pseudo-terminal; once the first screen shows
    (Overview and Docker's view), send ``q``. Returns (exit code, or -1 if the screen never
    showed; what the terminal received)."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child: the docker client, on the pty
        env = {**lab.client_env(), "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        os.execve(
            DOCKER_CLI,
            [DOCKER_CLI, "run", "--rm", "-it", "--network", "none", "-v", mount, image, "tui"],
            env,
        )
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    seen = b""
    deadline = time.monotonic() + timeout
    quit_sent = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the client exited and closed the pty
                    break
                if not chunk:
                    break
                seen += chunk
            if not quit_sent and b"Overview" in seen and b"Docker's view" in seen:
                time.sleep(0.3)  # let the app finish mounting before the key arrives
                os.write(fd, b"q")
                quit_sent = True
        else:
            os.kill(pid, 9)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode("utf-8", "replace")
    return (os.waitstatus_to_exitcode(status) if quit_sent else -1), text


# ------------------------------------------------------------------ the README's runs, checked


class Check(NamedTuple):
    """One verified claim about the image: what, whether it held, and what was seen."""

    what: str
    ok: bool
    seen: str = ""


def run_as_readme_says(lab: PrivateDockerd, image: str, tui: bool = True) -> list[Check]:
    """Run `image` the README's way on `lab`'s own data root mounted read-only at
    /var/lib/docker: ``report`` (the default command; text), ``report --format json``
    (images, volumes and containers must be the Engine API's, with its sizes) and, with
    `tui`, ``tui`` with ``-it`` on a pseudo-terminal (its first screen shows, ``q`` quits)."""
    mount = f"{lab.data_root}:/var/lib/docker:ro"
    run = ("run", "--rm", "--network", "none", "-v", mount, image)
    api = lab.api
    want_images = {i["Id"]: i["Size"] for i in api.images()}
    want_volumes = {v["Name"]: v["UsageData"]["Size"] for v in api.df()["Volumes"] or []}
    want_containers = {c["Id"] for c in api.containers(all=True)}
    checks: list[Check] = []

    text = lab.cli(*run)
    first = text.splitlines()[0] if text else ""
    checks.append(Check("the default command is the text report of /var/lib/docker",
                        first.startswith("docker-inspector ") and "/var/lib/docker" in first,
                        first))  # fmt: skip
    checks.append(Check("the text report shows Docker's view", "Docker's view" in text))

    doc = json.loads(lab.cli(*run, "report", "--format", "json"))
    checks.append(Check("the JSON report is of /var/lib/docker",
                        doc.get("root") == "/var/lib/docker", str(doc.get("root"))))  # fmt: skip
    got_images = {i["id"]: i["size"] for i in doc["images"] if not i["intermediate"]}
    checks.append(Check("images and their sizes are the Engine API's",
                        got_images == want_images and bool(want_images),
                        f"report {got_images}\nAPI {want_images}"))  # fmt: skip
    got_volumes = {v["name"]: v["size"] for v in doc["volumes"]}
    checks.append(Check("volumes and their sizes are /system/df's",
                        got_volumes == want_volumes,
                        f"report {got_volumes}\nAPI {want_volumes}"))  # fmt: skip
    got_containers = {c["id"] for c in doc["containers"]}
    # The report's own container exists while it runs: one more than the API listed before.
    checks.append(Check("every container is there, and the report's own one besides",
                        want_containers < got_containers
                        and len(got_containers - want_containers) == 1,
                        f"missing {want_containers - got_containers}, "
                        f"extra {got_containers - want_containers}"))  # fmt: skip
    if tui:
        code, screen = run_tui(lab, image, mount)
        checks.append(Check("the TUI (-it, on a pty) showed its first screen and q quit it",
                            code == 0, f"exit {code}\n{screen[-3000:]}"))  # fmt: skip
    return checks


# ------------------------------------------------------------------ leaving a daemon as found


class Objects(NamedTuple):
    """The IDs of what a daemon holds (to remove exactly what a test added)."""

    images: frozenset[str]
    containers: frozenset[str]
    volumes: frozenset[str]
    build_cache: frozenset[str]
    #: Entries of the data root's layer dirs and layerdb: what the API lists must not be all
    #: that goes; a dir left behind would be an orphan to every later test.
    on_disk: frozenset[str]


def _on_disk(root: Path) -> frozenset[str]:
    names: set[str] = set()
    for rel in (
        "overlay2",
        "vfs/dir",
        "image/overlay2/layerdb/sha256",
        "image/overlay2/imagedb/content/sha256",
    ):
        with contextlib.suppress(FileNotFoundError):
            names.update(f"{rel}/{n}" for n in os.listdir(root / rel))
    return frozenset(names)


def objects(lab: PrivateDockerd) -> Objects:
    """What `lab` holds now: every image (intermediate too), container, volume, cache record,
    and the layer dirs on disk."""
    api = lab.api
    return Objects(
        frozenset(i["Id"] for i in api.images(all=True)),
        frozenset(c["Id"] for c in api.containers(all=True)),
        frozenset(v["Name"] for v in api.volumes().get("Volumes") or []),
        frozenset(r["ID"] for r in api.df().get("BuildCache") or []),
        _on_disk(lab.data_root),
    )


def remove_added(lab: PrivateDockerd, before: Objects) -> Objects:
    """Remove what `lab` holds beyond `before` (containers, volumes, images, then the build
    cache records nothing uses any more); return what it holds afterwards."""
    now = objects(lab)
    for cid in now.containers - before.containers:
        lab.cli("rm", "--force", "--volumes", cid)
    for name in objects(lab).volumes - before.volumes:
        lab.cli("volume", "rm", "--force", name)
    for iid in objects(lab).images - before.images:
        if iid in objects(lab).images:  # a child's removal may have taken it already
            lab.cli("rmi", "--force", iid)
    added = sorted(objects(lab).build_cache - before.build_cache)
    if added:
        # The id filter is a regular expression in BuildKit: one prune for all of them.
        lab.cli("builder", "prune", "--all", "--force",
                "--filter", "id=^(" + "|".join(added) + ")$", buildkit=True)  # fmt: skip
    return objects(lab)
