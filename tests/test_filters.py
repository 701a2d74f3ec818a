"""``report --filter`` and ``--sort``: the same objects as docker's own ``--filter``.

On the session's private dockerd (plus a labelled image, container and volume made here and
removed after the module), each filter's rows are compared with what the 20.10 CLI lists for
it: ``docker images -q --no-trunc``, ``docker ps -a -q --no-trunc``, ``docker volume ls -q``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest

from inspector import pipeline
from inspector.analysis import filters
from inspector.analysis.results import Report
from inspector.cli import main
from inspector.errors import UsageError

pytestmark = pytest.mark.dockerd


@pytest.fixture(scope="module")
def live(dockerd: Any, scenario: dict[str, Any]) -> Iterator[dict[str, Any]]:
    made: list[list[str]] = []
    try:
        dockerd.build("filtered:1", "FROM busybox:base\n", args=["--label", "tier=img"])
        made.append(["rmi", "filtered:1"])
        dockerd.create("busybox:base", "true", name="filtered-c", options=["--label", "tier=web"])
        made.insert(0, ["rm", "filtered-c"])
        dockerd.cli("volume", "create", "--label", "tier=data", "filtered-v")
        made.append(["volume", "rm", "filtered-v"])
        yield {"report": pipeline.run(str(dockerd.data_root))}
    finally:
        for cmd in made:
            with contextlib.suppress(Exception):
                dockerd.cli(*cmd)


def docker_lists(dockerd: Any, table: str, flt: list[str]) -> set[str]:
    args = [a for f in flt for a in ("--filter", f)]
    if table == "images":
        out = dockerd.cli("images", "-q", "--no-trunc", *args)
    elif table == "containers":
        out = dockerd.cli("ps", "-a", "-q", "--no-trunc", *args)
    else:
        out = dockerd.cli("volume", "ls", "-q", *args)
    return {ln.strip() for ln in out.splitlines() if ln.strip()}


def ours(report: Report, table: str, flt: list[str]) -> set[str]:
    sel = filters.select(report, filters.parse(flt))
    if table == "images":
        assert sel.images is not None
        return {r.image.id for r in sel.images}
    if table == "containers":
        assert sel.containers is not None
        return {r.container.id for r in sel.containers}
    assert sel.volumes is not None
    return {r.volume.name for r in sel.volumes}


CASES = [
    ("images", ["dangling=true"]),
    ("images", ["dangling=false"]),
    ("images", ["label=tier"]),
    ("images", ["label=tier=img"]),
    ("images", ["reference=app*"]),
    ("images", ["reference=app:1"]),
    ("images", ["reference=busybox"]),
    ("images", ["reference=app:1", "reference=tool"]),
    ("images", ["before=app:2"]),
    ("images", ["since=busybox:base"]),
    ("images", ["dangling=false", "reference=app*"]),
    ("containers", ["status=running"]),
    ("containers", ["status=exited"]),
    ("containers", ["status=created", "status=exited"]),
    ("containers", ["label=tier=web"]),
    ("containers", ["name=we"]),
    ("containers", ["name=^j"]),
    ("containers", ["before=job"]),
    ("containers", ["since=web"]),
    ("containers", ["status=exited", "name=o"]),
    ("volumes", ["dangling=true"]),
    ("volumes", ["dangling=false"]),
    ("volumes", ["label=tier"]),
    ("volumes", ["name=app"]),
    ("volumes", ["driver=local"]),
]


@pytest.mark.parametrize(("table", "flt"), CASES, ids=[f"{t}:{','.join(f)}" for t, f in CASES])
def test_filter_lists_what_docker_lists(
    dockerd: Any, live: dict[str, Any], table: str, flt: list[str]
) -> None:
    want = docker_lists(dockerd, table, flt)
    got = ours(live["report"], table, flt)
    assert got == want
    everything = docker_lists(dockerd, table, [])
    # Guard: every case keeps something and drops something (but driver=local: all are local).
    assert got, (table, flt)
    assert got != everything or flt == ["driver=local"], (table, flt)


def test_sort_orders(live: dict[str, Any]) -> None:
    report: Report = live["report"]
    by_size = filters.select(report, filters.parse([], "size"))
    assert by_size.images is not None and by_size.containers is not None
    sizes = [r.size for r in by_size.images]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) > 1
    by_name = filters.select(report, filters.parse([], "name"))
    assert by_name.containers is not None
    names = [r.container.name for r in by_name.containers]
    assert names == sorted(names)
    by_created = filters.select(report, filters.parse([], "created"))
    assert by_created.images is not None
    created = [r.image.created or "" for r in by_created.images]
    assert created[0] == max(created, key=lambda c: (c[:19], c))  # the newest first


def test_text_report_shows_only_the_matching_rows(
    dockerd: Any, live: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(dockerd.data_root)
    assert main(["report", "--root", root, "--filter", "status=exited", "--sort", "name"]) == 0
    text = capsys.readouterr().out
    assert "Filtered with status=exited; sorted by name" in text
    assert "Images: not shown (--filter status does not apply to images)" in text
    lines = text.splitlines()
    start = lines.index("Containers") + 2  # after the title and the header
    rows = lines[start : lines.index("", start)]
    shown = [re.split(r"\s{2,}", ln.strip())[0] for ln in rows]
    exited = {
        c["Names"][0].lstrip("/")
        for c in dockerd.api.containers(all=True, filters={"status": "exited"})
    }
    assert shown == sorted(exited) and shown


@pytest.mark.parametrize(
    "args",
    [
        ["--filter", "nope=1"],
        ["--filter", "dangling=maybe"],
        ["--filter", "status=sleeping"],
        ["--filter", "name=("],
        ["--filter", "dangling"],
        ["--sort", "colour"],
        ["--filter", "dangling=true", "--format", "json"],
    ],
)
def test_invalid_filters_are_usage_errors(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--root", "sample_data/root", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "error:" in err


def test_before_and_since_pick_their_table(live: dict[str, Any]) -> None:
    report: Report = live["report"]
    with pytest.raises(UsageError):
        filters.select(report, filters.parse(["before=no-such-image:1"]))
    sel = filters.select(report, filters.parse(["before=job"]))  # a container
    assert sel.images is None and sel.volumes is None and sel.containers is not None
    sel = filters.select(report, filters.parse(["since=busybox:base"]))  # an image
    assert sel.containers is None and sel.images is not None
