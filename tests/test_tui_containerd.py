"""The TUI on a containerd image store root (sample_data/containerd): Pilot and snapshots.

The six screens (Overview, Images with an image's layers, Layers, Containers, Volumes,
Findings) show the store's own objects: images by target digest, layers as snapshots (their
``fs`` dir and snapshot ID), containers' active snapshots, the store's findings, and the
content store beside the snapshots on the Overview. Sizes are filesystem-neutral
(:func:`inspector.tui.sample.stable_report`); update the pictures after an intended change with
``pytest tests/test_tui_containerd.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from dockerlab import copy_tree
from test_tui import column, screen_text
from textual.pilot import Pilot

from inspector.analysis.results import Report
from inspector.tui.app import InspectorApp, make_app
from inspector.tui.sample import stable_report
from inspector.tui.screens.detail import DetailScreen
from inspector.tui.screens.image import ImageScreen
from inspector.tui.screens.main import MainScreen
from inspector.tui.widgets.report_table import ReportTable

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "containerd" / "root"
LABEL = "sample_data/containerd/root"
SIZE = (120, 34)


@pytest.fixture(scope="module")
def report() -> Report:
    assert SAMPLE.is_dir(), "sample_data/containerd/root is missing"
    return stable_report(str(SAMPLE))


def app_of(report: Report) -> InspectorApp:
    app = make_app(report=report, root_label=LABEL, efficiency=False)
    app.animation_level = "none"
    return app


def drive(
    app: InspectorApp,
    script: Callable[[Pilot[int]], Awaitable[None]],
    size: tuple[int, int] = SIZE,
) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(pilot)

    asyncio.run(main())


def test_overview_shows_the_store_and_its_double_storage(report: Report) -> None:
    app = app_of(report)
    ctrd = report.totals.containerd

    async def script(pilot: Pilot[int]) -> None:
        text = screen_text(app)
        assert "image store containerd" in text
        # The containerd root, relative to the data root like every path in the app.
        assert "containerd/daemon" in text and str(SAMPLE.parent) not in text
        assert "Content" in text and "layers stored twice" in text
        from inspector.analysis.dockerdf import human_size

        assert human_size(ctrd["content_bytes"]) in text
        assert human_size(ctrd["stored_twice_unpacked_bytes"]) in text

    drive(app, script, (140, 50))


def test_images_and_an_images_layers(report: Report) -> None:
    app = app_of(report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("2")
        images = app.main.view("images")
        assert sorted(column(images, 0)) == ["<none> (dangling)", "app:1", "base:1", "multi:1"]
        app_row = next(r for r in report.images if "app:1" in r.image.tags)
        images.table.move_cursor(row=[r.key for r in images.shown].index(app_row.image.id))
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, ImageScreen)
        layers = screen.query_one(ReportTable)
        assert len(layers.shown) == len(app_row.chain) == 2
        assert "snapshots/" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)

    drive(app, script)


def test_layers_are_snapshots(report: Report) -> None:
    app = app_of(report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("3")
        layers = app.main.view("layers")
        text = screen_text(app)
        assert "FS DIR" in text and "SNAPSHOT" in text and "USAGE" in text
        want = {r.layer.cache_id for r in report.layers}
        assert set(column(layers, 2)) == want
        assert all(c.endswith("/fs") or "…" in c for c in column(layers, 1))
        top = next(r for r in report.layers if r.layer.parent)
        layers.table.move_cursor(row=[r.key for r in layers.shown].index(top.layer.chain_id))
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        text = screen_text(app)
        assert "Parent snapshots (nearest first)" in text and "Snapshot ID" in text
        assert top.layer.parent is not None and top.layer.parent[:20] in text

    drive(app, script)


def test_containers_volumes_findings(report: Report) -> None:
    app = app_of(report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("4")
        assert sorted(column(app.main.view("containers"), 0)) == ["fresh", "job", "web"]
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        assert "overlayfs/snapshots/" in screen_text(app)
        await pilot.press("escape", "5")
        assert column(app.main.view("volumes"), 0) == []
        await pilot.press("6")
        kinds = column(app.main.view("findings"), 1)
        assert "unreferenced_snapshot" in kinds and "dangling_image" in kinds
        text = screen_text(app)
        assert "Evidence" in text and "lease moby-leaked-pull" in text

    drive(app, script)


def test_the_app_reads_the_given_containerd_root(tmp_path: Path) -> None:
    """``tui --containerd-root``: the app's pipeline reads the store where it is told."""
    data = tmp_path / "docker"
    copy_tree(SAMPLE, data, exclude=["containerd"])
    ctrd = tmp_path / "var-lib-containerd"
    copy_tree(SAMPLE / "containerd" / "daemon", ctrd)
    app = make_app(str(data), containerd_root=str(ctrd), efficiency=False)
    app.animation_level = "none"

    async def script(pilot: Pilot[int]) -> None:
        end = time.monotonic() + 30
        while app.measuring or app.report is None or not app.report.measured:
            assert time.monotonic() < end, "timed out"
            await pilot.pause(0.05)
        assert app.report.inventory.root.containerd_root == str(ctrd)
        assert len(app.report.images) == 4 and len(app.report.layers) == 4
        await pilot.press("2")
        assert len(app.main.view("images").shown) == 4

    drive(app, script)


SCREENS = {
    "overview": [],
    "images": ["2"],
    "image_layers": ["2", "enter"],
    "layers": ["3"],
    "layer_detail": ["3", "enter"],
    "containers": ["4"],
    "container_detail": ["4", "enter"],
    "findings": ["6"],
}


@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(snap_compare: Callable[..., bool], report: Report, name: str) -> None:
    assert snap_compare(app_of(report), press=SCREENS[name], terminal_size=SIZE)
