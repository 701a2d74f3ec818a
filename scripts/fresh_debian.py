#!/usr/bin/env python3
"""Run the README's two commands on a fresh Debian 12 standard install, in a container.

Usage (as root; a few minutes the first time, mostly mmdebstrap)::

    python3 scripts/fresh_debian.py [--rootfs TAR] [--keep]

1. Builds (once, cached in ``~/.cache/docker-inspector/fresh-debian/``) a Debian 12 rootfs as
   the installer's "standard system utilities" leaves it: ``mmdebstrap --variant=standard
   bookworm`` (python3 is there; python3-venv, pip, git, sudo and docker are not).
2. Starts a private dockerd (``tests/dockerlab.py``: the engine ``scripts/test.sh``
   unpacked when ``DOCKER_INSPECTOR_TEST_TOOLS`` names it, else the system's),
   ``docker import``s the rootfs, and copies this working tree into a container.
3. In the container, in this order, and fails on the first surprise:

   - as the user nobody, ``bash scripts/run.sh``: one line saying what to install, exit 1;
   - as root, ``bash scripts/run.sh``: installs python3-venv and the package, prints the
     report of the bundled sample root (there is no /var/lib/docker), exit 0;
   - a half-made ``.venv`` (pip removed from it): ``bash scripts/run.sh`` makes it again;
   - ``DOCKER_INSPECTOR_SETUP_ONLY=1 bash scripts/test.sh``: the test command's whole setup;
   - the README's two installs: ``python3 -m venv /opt/docker-inspector`` + pip, and pipx
     into ``/usr/local/bin`` (the path of the cron and systemd examples);
   - then: no docker, containerd or prometheus service is enabled (no ``*.wants`` link, no
     ``rc?.d`` script) and none of those packages is installed.

The container uses the host's network (``--network host``: apt and PyPI must be reachable;
the private dockerd has no bridge), and the host's pip TLS settings (PIP_CERT and the CA
bundle it names, e.g. behind a TLS-inspecting proxy). Prints what happened and exits 0 only
if all passed.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from dockerlab import DOCKER_CLI, PrivateDockerd  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "docker-inspector"
DEFAULT_ROOTFS = CACHE / "fresh-debian" / "bookworm-standard.tar"
IMAGE = "fresh-debian:bookworm-standard"

#: What runs in the container (bash -e); each step says what it checks.
STEPS = r"""
set -u
cd /src
echo "### fresh system: what is (not) there"
python3 -V
! python3 -c 'import ensurepip' 2>/dev/null ||
    { echo "UNEXPECTED: python3-venv already installed"; exit 1; }
! command -v docker || { echo "UNEXPECTED: docker is installed"; exit 1; }

echo "### as nobody: one line saying what to install"
set +e
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups bash scripts/run.sh 2>&1 >/dev/null)
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] &&
    printf '%s' "$out" | grep -q "apt-get install python3-venv"

echo "### as root: bash scripts/run.sh"
bash scripts/run.sh >/tmp/report.txt
head -n 3 /tmp/report.txt
grep -q "^docker-inspector .*/src/sample_data/root" /tmp/report.txt
grep -q "^Docker's view" /tmp/report.txt

echo "### a half-made .venv is made again"
rm -rf .venv/lib/python3*/site-packages/pip .venv/bin/docker-inspector
bash scripts/run.sh --format json >/tmp/report.json
python3 -c 'import json; json.load(open("/tmp/report.json"))'

echo "### DOCKER_INSPECTOR_SETUP_ONLY=1 bash scripts/test.sh"
DOCKER_INSPECTOR_SETUP_ONLY=1 bash scripts/test.sh

echo "### the README's installs: a venv in /opt, pipx into /usr/local/bin"
python3 -m venv /opt/docker-inspector
/opt/docker-inspector/bin/pip install --quiet /src 2>/dev/null
/opt/docker-inspector/bin/docker-inspector --version
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pipx >/dev/null 2>&1
PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx install /src >/dev/null 2>&1
/usr/local/bin/docker-inspector --root /src/sample_data/root report --format json >/dev/null

echo "### no service enabled, no service package installed"
enabled=$(ls -1 /etc/systemd/system/*.wants/ /etc/rc?.d/ 2>/dev/null |
    grep -Ei 'docker|containerd|prometheus' || true)
[ -z "$enabled" ] || { echo "ENABLED: $enabled"; exit 1; }
for p in docker.io containerd runc prometheus; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        echo "INSTALLED: $p"; exit 1
    fi
done
echo "### ALL PASSED"
"""


def build_rootfs(path: Path) -> None:
    """mmdebstrap a Debian 12 standard system into `path` (installing mmdebstrap if needed)."""
    if shutil.which("mmdebstrap") is None:
        print("installing mmdebstrap (apt-get; no service)", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "mmdebstrap"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.tar")
    print(f"building {path} with mmdebstrap --variant=standard bookworm", flush=True)
    subprocess.run(
        ["mmdebstrap", "--variant=standard", "--mode=root", "bookworm", str(tmp)], check=True
    )
    tmp.rename(path)


def host_network_settings() -> tuple[list[str], dict[str, Path]]:
    """`docker create` options and files so the container reaches PyPI as this host does.

    Behind a TLS-inspecting proxy, pip trusts the proxy's CA only through PIP_CERT (or
    REQUESTS_CA_BUNDLE): those variables, and the bundle they name, are passed on. The
    scripts themselves rely on nothing of this.
    """
    opts: list[str] = []
    files: dict[str, Path] = {}
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "PIP_INDEX_URL", "HTTPS_PROXY", "HTTP_PROXY"):
        value = os.environ.get(var)
        if not value:
            continue
        if var in ("PIP_CERT", "REQUESTS_CA_BUNDLE") and os.path.isfile(value):
            files[f"host-ca/{var}.pem"] = Path(value)
            value = f"/host-ca/{var}.pem"
        opts += ["--env", f"{var}={value}"]
    return opts, files


def tree_tar(extra: dict[str, Path] | None = None) -> bytes:
    """This working tree as a tar under src/ (git's files, committed or not; no .venv),
    plus `extra` files (name in the container → path here)."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for raw in sorted(n for n in names if n):
            rel = os.fsdecode(raw)
            path = REPO_ROOT / rel
            if path.is_symlink() or path.exists():
                tar.add(path, arcname=f"src/{rel}", recursive=False)
        for name, src in (extra or {}).items():
            tar.add(src, arcname=name, recursive=False)
    return buf.getvalue()


def main() -> int:
    """Build or reuse the rootfs, run the steps in a container, report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rootfs", type=Path, default=DEFAULT_ROOTFS)
    ap.add_argument("--keep", action="store_true", help="keep the daemon's directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run this as root (it starts a private dockerd)", file=sys.stderr)
        return 2
    if not args.rootfs.is_file():
        build_rootfs(args.rootfs)
    base = Path(tempfile.mkdtemp(prefix="fresh-debian-"))
    lab = PrivateDockerd(base)
    started = time.monotonic()
    try:
        lab.start()
        with open(args.rootfs, "rb") as fh:
            lab.cli("import", "-", IMAGE, input=fh.read(), timeout=600)
        env, extra = host_network_settings()
        cid = lab.cli("create", "--network", "host", *env, IMAGE, "bash", "-e", "-c", STEPS).strip()
        lab.cli("cp", "-", f"{cid}:/", input=tree_tar(extra))
        res = subprocess.run(
            ["/usr/bin/env", *[f"{k}={v}" for k, v in lab.client_env().items()],
             DOCKER_CLI, "start", "-a", cid],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=1800,
            check=False,
        )  # fmt: skip
        print(res.stdout)
        code = int(lab.cli("inspect", "--format", "{{.State.ExitCode}}", cid).strip())
        ok = code == 0 and "### ALL PASSED" in res.stdout
        took = time.monotonic() - started
        print(f"fresh Debian 12: {'PASSED' if ok else 'FAILED'} (exit {code}, {took:.0f} s)")
        return 0 if ok else 1
    finally:
        lab.stop()
        lab.release_leftover_mounts()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
