"""A bind volume in use is a mount point inside the root: reported, never walked (real dockerd).

``docker volume create --opt type=none --opt o=bind --opt device=DIR`` makes a volume whose
``_data`` dockerd bind-mounts DIR over while a container uses it: the same filesystem, so the
device check of the walk cannot see it. Docker leaves such a volume out of ``system df``;
the report says what is mounted and does not count DIR's bytes anywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inspector import pipeline

pytestmark = pytest.mark.dockerd

TERA = 1024**4
NAME = "dinspector-bindvol"


@pytest.fixture(scope="module")
def bind_volume(dockerd: Any, scenario: dict[str, Any], tmp_path_factory: Any) -> Iterator[Path]:
    """A running container using a bind volume of a dir holding a 1 TiB sparse file."""
    lab = dockerd
    device = tmp_path_factory.mktemp("bind-device")
    with open(device / "big", "wb") as fh:
        fh.truncate(TERA)
    lab.cli(
        "volume", "create", "--opt", "type=none", "--opt", "o=bind",
        "--opt", f"device={device}", NAME,
    )  # fmt: skip
    cid = ""
    try:
        cid = lab.run(
            "busybox:base", "sleep", "3600", name=NAME,
            options=["--stop-timeout", "1", "-v", f"{NAME}:/b"],
        )  # fmt: skip
        yield device
    finally:
        with contextlib.suppress(Exception):
            if cid:
                lab.cli("rm", "-f", cid)
        with contextlib.suppress(Exception):
            lab.cli("volume", "rm", "-f", NAME)


def test_bind_volume_in_use_is_reported_and_not_walked(dockerd: Any, bind_volume: Path) -> None:
    df = dockerd.api.df()
    assert NAME not in {v["Name"] for v in df["Volumes"] or []}  # Docker leaves it out too
    report = pipeline.run(str(dockerd.data_root))
    vols = {r.volume.name: r for r in report.volumes}
    row = vols[NAME]
    assert row.mounted == f"bind mount of {bind_volume}, not measured"
    assert row.size is None
    assert not row.in_docker_df
    assert report.totals.disk_total < TERA
    assert all(c.disk < TERA and c.apparent < TERA for c in report.totals.categories)
    assert report.totals.docker_volumes_size == sum(
        v["UsageData"]["Size"] for v in df["Volumes"] or [] if v["UsageData"]["Size"] >= 0
    )
