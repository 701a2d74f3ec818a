#!/usr/bin/env python3
"""Build docker-inspector's container image with no registry, and run it as the README says.

Usage (as root)::

    python3 scripts/container_image.py [--base host|debian] [--keep]

The test suite does the same on its session daemon (``tests/test_container_image.py``, with
the ``host`` base); this script does it on a private dockerd of its own, and can use a real
Debian base instead. The steps are shared with the tests (``tests/imagelab.py``):

1. The base image, ``docker import``ed (there is no registry):
   - ``host`` (default; a few seconds): the host's own python3, its standard library (venv
     and ensurepip included), the wheels ensurepip installs and the shared libraries ``ldd``
     names, with busybox as ``/bin/sh``;
   - ``debian`` (a minute or two the first time): a Debian 12 ``minbase`` with ``python3``
     and ``python3-venv``, made by mmdebstrap (a Debian mirror is needed that once).
   Both are cached in ``~/.cache/docker-inspector/python-base/``.
2. A wheelhouse: ``pip download`` of the dependencies and of setuptools (the build backend)
   for the base's Python version, cached by the hash of pyproject.toml (PyPI, once).
3. The repository's ``Dockerfile`` is built with ``--network none``, ``BASE`` = that import
   and ``PIP_ARGS="--no-index --find-links /src/wheels"`` (the wheelhouse is copied into the
   build context).
4. A small scenario is made in that daemon (an image, a running and a stopped container, a
   volume with data), and the image is run as the README says, on the daemon's own root
   mounted read-only: ``report`` (text) and ``report --format json``, whose images, volumes
   and containers must be the Engine API's, with Docker's sizes; and ``tui`` with ``-it`` on a
   pseudo-terminal, whose first screen must show and which ``q`` must quit.

Prints what happened and exits 0 only if all passed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

import imagelab  # noqa: E402
from dockerlab import PrivateDockerd  # noqa: E402

DEBIAN_TAR = imagelab.CACHE / "python-base" / "bookworm-python.tar"
BASE_IMAGE = "docker-inspector-base:local"
IMAGE = "docker-inspector:local"


def debian_base(path: Path) -> Path:
    """mmdebstrap a Debian 12 minbase with python3 and its venv module into `path` (once)."""
    if path.is_file():
        return path
    if shutil.which("mmdebstrap") is None:
        imagelab.step("installing mmdebstrap (apt-get; no service)")
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "mmdebstrap"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.tar")
    imagelab.step(f"building {path} (mmdebstrap --variant=minbase --include=python3,python3-venv)")
    subprocess.run(
        ["mmdebstrap", "--variant=minbase", "--mode=root", "--include=python3,python3-venv",
         "bookworm", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.rename(path)
    return path


def main() -> int:
    """Build, run, compare, report."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--base", choices=["host", "debian"], default="host",
                    help="the base image's rootfs (default: the host's python3)")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep the daemon's directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run this as root (it starts a private dockerd)", file=sys.stderr)
        return 2
    started = time.monotonic()
    tar = imagelab.host_python_rootfs() if args.base == "host" else debian_base(DEBIAN_TAR)
    base = Path(tempfile.mkdtemp(prefix="di-image-"))
    lab = PrivateDockerd(base / "d")
    checks: list[imagelab.Check] = []
    try:
        lab.start()
        imagelab.step(f"docker import {tar.name} as {BASE_IMAGE}")
        imagelab.import_base(lab, tar, BASE_IMAGE)
        wheels = imagelab.wheelhouse(imagelab.image_python_version(lab, BASE_IMAGE))
        imagelab.step("docker build --network none (no registry, no index: the wheelhouse only)")
        t0 = time.monotonic()
        imagelab.build_image(lab, BASE_IMAGE, IMAGE, wheels, base / "ctx")
        print(f"    built in {time.monotonic() - t0:.0f} s", flush=True)

        imagelab.step(
            "a scenario to inspect: an image, a running and a stopped container, a volume"
        )
        lab.import_busybox("busybox:base")
        lab.cli("volume", "create", "data")
        lab.run("busybox:base", "sh", "-c", "yes data | head -c 50000 > /data/x", name="filler",
                options=["-v", "data:/data"], detach=False)  # fmt: skip
        lab.run("busybox:base", "sleep", "3600", name="sleeper", options=["--stop-timeout", "1"])

        imagelab.step(f"docker run --rm -v {lab.data_root}:/var/lib/docker:ro {IMAGE} "
                      "[report | report --format json | -it tui]")  # fmt: skip
        checks = imagelab.run_as_readme_says(lab, IMAGE)
        volumes = {v["Name"]: v["UsageData"]["Size"] for v in lab.api.df()["Volumes"] or []}
        checks.append(imagelab.Check("the volume's 50000 bytes were measured",
                                     volumes.get("data", 0) >= 50000, str(volumes)))  # fmt: skip
    finally:
        lab.stop()
        lab.release_leftover_mounts()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    for c in checks:
        print(f"    {'ok' if c.ok else 'FAILED'}: {c.what}", flush=True)
        if not c.ok and c.seen:
            print("      " + c.seen.replace("\n", "\n      "))
    failures = [c for c in checks if not c.ok] or ([] if checks else ["nothing was checked"])
    took = time.monotonic() - started
    verdict = "PASSED" if not failures else f"FAILED ({len(failures)})"
    print(f"container image ({args.base} base): {verdict} in {took:.0f} s")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
