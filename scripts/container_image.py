#!/usr/bin/env python3
"""Build docker-inspector's container image with no registry, and run it as the README says.

Usage (as root; about a minute once the caches are made, two or three the first time)::

    python3 scripts/container_image.py [--keep]

Not part of ``scripts/test.sh`` (it takes more than a minute); run it after changing the
Dockerfile or the dependencies.

1. The base image: a Debian 12 ``minbase`` rootfs with ``python3`` and ``python3-venv``, made
   once with mmdebstrap (a Debian mirror is needed that once) and cached in
   ``~/.cache/docker-inspector/python-base/``; ``docker import``ed (there is no registry).
2. A wheelhouse: ``pip wheel`` of this package and its dependencies, plus setuptools (the
   build backend), cached by the hash of pyproject.toml (PyPI is needed that once).
3. A private dockerd (``tests/dockerlab.py``) builds the repository's ``Dockerfile`` with
   ``--network none``, ``BASE`` = that import and ``PIP_ARGS="--no-index --find-links
   /src/wheels"`` (the wheelhouse is copied into the build context).
4. A small scenario is made in that daemon (an image, a running and a stopped container, a
   volume with data), and the image is run as the README says, on the daemon's own root
   mounted read-only: ``report`` (text) and ``report --format json``, whose images, volumes
   and containers must be the Engine API's, with Docker's sizes; and ``tui`` with ``-it`` on a
   pseudo-terminal, whose first screen must show and which ``q`` must quit.

Prints what happened and exits 0 only if all passed.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from dockerlab import DOCKER_CLI, PrivateDockerd  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "docker-inspector"
BASE_TAR = CACHE / "python-base" / "bookworm-python.tar"
BASE_IMAGE = "docker-inspector-base:bookworm-python"
IMAGE = "docker-inspector:local"
VENV_PIP = REPO_ROOT / ".venv" / "bin" / "pip"


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def build_base(path: Path) -> None:
    """mmdebstrap a Debian 12 minbase with python3 and its venv module into `path`."""
    if shutil.which("mmdebstrap") is None:
        step("installing mmdebstrap (apt-get; no service)")
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "mmdebstrap"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.tar")
    step(f"building {path} (mmdebstrap --variant=minbase --include=python3,python3-venv)")
    subprocess.run(
        ["mmdebstrap", "--variant=minbase", "--mode=root", "--include=python3,python3-venv",
         "bookworm", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.rename(path)


def wheelhouse() -> Path:
    """This package's and its dependencies' wheels, plus the build backend (cached)."""
    key = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    out = CACHE / "wheels" / key
    if (out / ".complete").exists():
        return out
    step(f"making the wheelhouse {out} (pip wheel; PyPI)")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    pip = str(VENV_PIP) if VENV_PIP.exists() else "pip3"
    quiet = ["--quiet", "--disable-pip-version-check"]
    subprocess.run([pip, "wheel", *quiet, "--wheel-dir", str(out), str(REPO_ROOT)], check=True)
    subprocess.run([pip, "download", *quiet, "--dest", str(out), "setuptools>=77"], check=True)
    # The package itself is built from the sources in the image, not taken from here.
    for whl in out.glob("docker_inspector-*.whl"):
        whl.unlink()
    (out / ".complete").write_text("")
    return out


def build_context(wheels: Path, dst: Path) -> None:
    """What the Dockerfile's COPY sees (.dockerignore keeps the same subset of a checkout)."""
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, dst / name)
    shutil.copytree(
        REPO_ROOT / "inspector", dst / "inspector", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(wheels, dst / "wheels", ignore=shutil.ignore_patterns(".complete"))


def run_tui(lab: PrivateDockerd, mount: str) -> tuple[int, str]:
    """``docker run --rm -it … tui`` on a pseudo-terminal: (exit code, what the screen showed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the docker client, on the pty
        env = {**lab.client_env(), "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        os.execve(
            DOCKER_CLI,
            [DOCKER_CLI, "run", "--rm", "-it", "--network", "none", "-v", mount, IMAGE, "tui"],
            env,
        )
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    seen = b""
    deadline = time.monotonic() + 120
    quit_sent = False
    while True:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            break
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not quit_sent and b"Overview" in seen and b"Docker's view" in seen:
            time.sleep(1.0)
            os.write(fd, b"q")
            quit_sent = True
    _, status = os.waitpid(pid, 0)
    text = seen.decode("utf-8", "replace")
    return (os.waitstatus_to_exitcode(status) if quit_sent else -1), text


def check(cond: bool, what: str, failures: list[str]) -> None:
    print(f"    {'ok' if cond else 'FAILED'}: {what}", flush=True)
    if not cond:
        failures.append(what)


def main() -> int:
    """Build, run, compare, report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the daemon's directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run this as root (it starts a private dockerd)", file=sys.stderr)
        return 2
    started = time.monotonic()
    if not BASE_TAR.is_file():
        build_base(BASE_TAR)
    wheels = wheelhouse()
    base = Path(tempfile.mkdtemp(prefix="di-image-"))
    lab = PrivateDockerd(base / "d")
    failures: list[str] = []
    try:
        lab.start()
        step(f"docker import {BASE_TAR.name} as {BASE_IMAGE}")
        with open(BASE_TAR, "rb") as fh:
            lab.cli("import", "-", BASE_IMAGE, input=fh.read(), timeout=600)
        ctx = base / "ctx"
        ctx.mkdir()
        build_context(wheels, ctx)
        step("docker build --network none (no registry, no index: the wheelhouse only)")
        t0 = time.monotonic()
        lab.cli(
            "build", "--network", "none", "-t", IMAGE,
            "--build-arg", f"BASE={BASE_IMAGE}",
            "--build-arg", "PIP_ARGS=--no-index --find-links /src/wheels",
            str(ctx), timeout=900,
        )  # fmt: skip
        print(f"    built in {time.monotonic() - t0:.0f} s", flush=True)

        step("a scenario to inspect: an image, a running and a stopped container, a volume")
        lab.import_busybox("busybox:base")
        lab.cli("volume", "create", "data")
        lab.run("busybox:base", "sh", "-c", "yes data | head -c 50000 > /data/x", name="filler",
                options=["-v", "data:/data"], detach=False)  # fmt: skip
        lab.run("busybox:base", "sleep", "3600", name="sleeper", options=["--stop-timeout", "1"])
        root = str(lab.data_root)
        mount = f"{root}:/var/lib/docker:ro"
        api = lab.api
        want_images = {i["Id"]: i["Size"] for i in api.images()}
        want_volumes = {v["Name"]: v["UsageData"]["Size"] for v in api.df()["Volumes"] or []}
        want_containers = {c["Id"] for c in api.containers(all=True)}

        step(f"docker run --rm -v {mount} {IMAGE} (report, text)")
        text = lab.cli("run", "--rm", "--network", "none", "-v", mount, IMAGE)
        check(text.startswith("docker-inspector ") and "/var/lib/docker" in text.splitlines()[0],
              "the text report is of /var/lib/docker", failures)  # fmt: skip
        check("Docker's view" in text, "it shows Docker's view", failures)

        step(f"docker run --rm -v {mount} {IMAGE} report --format json")
        doc = json.loads(
            lab.cli("run", "--rm", "--network", "none", "-v", mount, IMAGE,
                    "report", "--format", "json")
        )  # fmt: skip
        got_images = {i["id"]: i["size"] for i in doc["images"] if not i["intermediate"]}
        check(got_images == want_images, "images and their sizes are the Engine API's", failures)
        got_volumes = {v["name"]: v["size"] for v in doc["volumes"] if v["name"] in want_volumes}
        check(got_volumes == want_volumes and want_volumes.get("data", 0) >= 50000,
              "volume sizes are /system/df's", failures)  # fmt: skip
        got_containers = {c["id"] for c in doc["containers"]}
        check(want_containers <= got_containers,
              "every container is there (and the inspector's own, running)", failures)  # fmt: skip
        check(doc["root"] == "/var/lib/docker", "root is /var/lib/docker", failures)

        step(f"docker run --rm -it -v {mount} {IMAGE} tui (on a pseudo-terminal), then q")
        code, screen = run_tui(lab, mount)
        check(code == 0, f"the TUI showed its first screen and q quit it (exit {code})", failures)
        if code != 0:
            print(screen[-3000:])
    finally:
        lab.stop()
        lab.release_leftover_mounts()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    took = time.monotonic() - started
    verdict = "PASSED" if not failures else f"FAILED ({len(failures)})"
    print(f"container image: {verdict} in {took:.0f} s")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
