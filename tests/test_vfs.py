"""A daemon on the vfs driver: the same Docker-exact numbers (vfs has no overlay dirs).

This starts a second, short-lived private dockerd (`--storage-driver vfs`) for this module
only: one driver per daemon. It stays small (one built image, two containers).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dockerlab import PrivateDockerd
from test_docker_truth import assert_matches_api, capture_truth, offline

pytestmark = pytest.mark.dockerd

VFS_APP = """\
FROM busybox:base
RUN mkdir -p /app && echo vfs > /app/a && yes v | head -c 5000 > /app/b && rm /etc/base-release
ENV X=1
"""


@pytest.fixture(scope="module")
def vfs_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDockerd]:
    lab = PrivateDockerd(tmp_path_factory.mktemp("vfs"), storage_driver="vfs")
    lab.start()
    try:
        lab.import_busybox("busybox:base")
        lab.build("vfsapp:1", VFS_APP)
        lab.run(
            "vfsapp:1",
            "sh",
            "-c",
            "echo x > /new && ln /new /new2 && truncate -s 100k /sparse && echo y >> /app/a"
            " && rm /app/b",
            name="vjob",
        )
        lab.wait("vjob")
        lab.create("vfsapp:1", name="vfresh")
        lab.cli("volume", "create", "vvol")
        yield lab
    finally:
        lab.stop()


def test_vfs_root_matches_engine_api(vfs_lab: PrivateDockerd) -> None:
    truth = capture_truth(vfs_lab)
    report = offline(vfs_lab.data_root)
    assert report.inventory.root.storage_driver == "vfs"
    assert_matches_api(report, truth)
    sizes = {r.container.name: r.size_rw for r in report.containers}
    assert sizes["vjob"] and sizes["vjob"] > 100_000  # the sparse file counts at full length
    assert all(r.dir_exists for r in report.layers)
    assert [f for f in report.findings if f.kind.value in ("orphan_dir", "missing_diff_dir")] == []


def test_vfs_layer_dirs(vfs_lab: PrivateDockerd) -> None:
    report = offline(vfs_lab.data_root)
    home = Path(vfs_lab.data_root) / "vfs" / "dir"
    for row in report.layers:
        assert row.diff_dir == str(home / row.layer.cache_id)
    truth: dict[str, Any] = capture_truth(vfs_lab)
    assert report.totals.docker_images_size == truth["df"]["LayersSize"]
