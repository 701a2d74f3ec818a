"""The container image (issue 15): the repository's Dockerfile, built with no registry and no
network on the session's private dockerd, then run as the README says on that daemon's own
data root mounted read-only: ``report`` (text, the default command), ``report --format
json`` (images, volumes and containers are the Engine API's, with its sizes), and ``tui``
with ``-it`` on a pseudo-terminal.

The base is the host's own python3 in a minimal rootfs, ``docker import``ed, and pip installs
from a cached wheelhouse (``tests/imagelab.py``, shared with ``scripts/container_image.py``,
which can also use a real Debian base). Everything the build and the runs add to the session
daemon (images, containers, build cache records) is removed again, and that is checked:
later tests see the daemon as the scenario left it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import imagelab
import pytest
from dockerlab import PrivateDockerd
from scenario import Scenario

BASE = "docker-inspector-test-base:host-python"
IMAGE = "docker-inspector-test:local"


@pytest.fixture(scope="module")
def image(
    dockerd: PrivateDockerd, scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The image, built once for this module; the daemon is left as it was found."""
    before = imagelab.objects(dockerd)
    try:
        t0 = time.monotonic()
        imagelab.import_base(dockerd, imagelab.host_python_rootfs(), BASE)
        wheels = imagelab.wheelhouse(imagelab.image_python_version(dockerd, BASE))
        ctx = tmp_path_factory.mktemp("image") / "ctx"
        imagelab.build_image(dockerd, BASE, IMAGE, wheels, ctx)
        print(f"container image built in {time.monotonic() - t0:.1f} s")
        yield IMAGE
    finally:
        after = imagelab.remove_added(dockerd, before)
        assert after == before, f"left behind in the session daemon: {after} vs {before}"


def test_report_runs_as_the_readme_says(dockerd: PrivateDockerd, image: str) -> None:
    checks = imagelab.run_as_readme_says(dockerd, image, tui=False)
    failed = [f"{c.what}:\n{c.seen}" for c in checks if not c.ok]
    assert not failed, "\n\n".join(failed)
    assert len(checks) == 6


def test_tui_runs_with_it_on_a_terminal(dockerd: PrivateDockerd, image: str) -> None:
    code, screen = imagelab.run_tui(dockerd, image, f"{dockerd.data_root}:/var/lib/docker:ro")
    assert code == 0, screen[-3000:]
    assert "Overview" in screen and "Docker's view" in screen


def test_the_image_holds_no_installer(dockerd: PrivateDockerd, image: str) -> None:
    # The Dockerfile keeps pip and setuptools out of the runtime venv (25 MB, and an image
    # that runs a read-only inspection has no business installing anything).
    code = "import importlib.util as u; print(*(u.find_spec(m) for m in ('pip', 'setuptools')))"
    out = dockerd.cli("run", "--rm", "--network", "none", "--entrypoint", "python3", image,
                      "-c", code + "; import inspector")  # fmt: skip
    assert out.split() == ["None", "None"], out
