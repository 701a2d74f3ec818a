"""The setup of scripts/run.sh and scripts/test.sh (scripts/setup-lib.sh), on this machine.

What a fresh Debian 12 does with them end to end is checked by scripts/fresh_debian.py (a
mmdebstrap rootfs run as a container: minutes, so not part of this suite). Here:

- nothing test.sh installs with apt-get ships a service, and the engine the suite runs is the
  unpacked copy (apt-get download + dpkg -x), not an installed docker.io;
- a half-made virtualenv (no pip in it) is made again, not reused;
- without root and without python3's venv module, one line says what to install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dockerlab
import pytest

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "scripts" / "setup-lib.sh"
NOBODY = 65534


def _bash_array(script: Path, name: str) -> list[str]:
    m = re.search(rf"^{name}=\(([^)]*)\)", script.read_text(), re.MULTILINE)
    assert m, f"{name}=(…) not found in {script}"
    return m.group(1).split()


def test_apt_installed_packages_ship_no_service() -> None:
    """What test.sh and run.sh install with apt-get: no unit, no init script, no timer."""
    packages = [*_bash_array(REPO / "scripts" / "test.sh", "APT_PACKAGES"), "python3-venv"]
    assert "docker.io" not in packages and "prometheus" not in packages
    for pkg in packages:
        res = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=False)
        assert res.returncode == 0, f"{pkg} is not installed here: {res.stderr}"
        services = [
            f
            for f in res.stdout.splitlines()
            if re.search(r"/systemd/system/|/etc/init\.d/|\.(service|socket|timer)$", f)
        ]
        assert services == [], (pkg, services)


def test_unpacked_packages_are_the_ones_with_services() -> None:
    """The packages only unpacked are exactly the ones a real install would enable."""
    unpacked = _bash_array(LIB, "TEST_TOOL_PACKAGES")
    assert {"docker.io", "containerd", "prometheus"} <= set(unpacked)
    text = LIB.read_text() + (REPO / "scripts" / "test.sh").read_text()
    assert not re.search(r"apt(-get)? install[^\n]*(docker\.io|containerd|prometheus)", text)


@pytest.mark.skipif(not dockerlab.TOOLS, reason="pytest run without scripts/test.sh")
def test_the_engine_is_the_unpacked_one(dockerd: Any) -> None:
    """Run by scripts/test.sh: the session dockerd is the unpacked 20.10, not a system one."""
    tools = os.path.realpath(dockerlab.TOOLS)
    assert os.path.realpath(dockerlab.DOCKERD) == os.path.join(tools, "bin", "dockerd")
    assert os.path.realpath(f"/proc/{dockerd.pid}/exe") == os.path.join(tools, "bin", "dockerd")
    assert dockerd.cli("version", "--format", "{{.Server.Version}}").startswith("20.10.")


def test_half_made_venv_is_made_again(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    assert subprocess.run([venv / "bin/python", "-m", "pip", "--version"]).returncode != 0
    res = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; . "{LIB}"; ensure_venv "$1"', "-", str(venv)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "incomplete (no working pip in it): making it again" in res.stderr
    pip = subprocess.run([venv / "bin/python", "-m", "pip", "--version"], capture_output=True)
    assert pip.returncode == 0, pip


@pytest.fixture()
def world_dir() -> Iterator[Path]:
    """A scratch dir the user nobody can reach (pytest's tmp_path is root-only)."""
    base = Path(tempfile.mkdtemp(prefix="dinspector-setup-", dir="/tmp"))
    try:
        base.chmod(0o755)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_missing_venv_module_without_root_is_one_clear_line(world_dir: Path) -> None:
    """python3 without ensurepip (Debian's default), as a user: one line, exit 1."""
    if os.geteuid() != 0:
        pytest.fail("this test switches to the user nobody and needs root to do so")
    tmp_path = world_dir
    fake = tmp_path / "bin"
    fake.mkdir()
    # A python3 whose venv module is missing, as on a fresh Debian without python3-venv.
    (fake / "python3").write_text(
        "#!/bin/sh\n"
        '[ "$1" = -c ] && case "$2" in *ensurepip*) exit 1;; esac\n'
        'exec /usr/bin/python3 "$@"\n'
    )
    (fake / "python3").chmod(0o755)
    fake.chmod(0o755)
    res = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         "bash", "-c", f'set -euo pipefail; . "{LIB}"; ensure_venv "$1"', "-",
         str(tmp_path / "venv")],
        env={"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert "venv module is missing" in lines[0] and "apt-get install python3-venv" in lines[0]
    assert not (tmp_path / "venv").exists()
