"""Snapshots (pytest-textual-snapshot) of the main TUI screens on sample_data/root.

Everything that could vary is pinned: the report is built once from the committed sample
with filesystem-neutral sizes (:func:`inspector.tui.sample.stable_report`: allocated bytes
depend on the filesystem of the clone), the root is labelled ``sample_data/root`` and every
path on screen is relative to the root (so the clone location does not matter), rows are
sorted with the ID as tie-breaker, no clock is shown and animations are off.

Update after an intended change (or a regenerated sample) with::

    pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from test_build_cache_report import buildkit_root
from textual.pilot import Pilot

from inspector.analysis.results import Report
from inspector.tui.app import InspectorApp, make_app
from inspector.tui.sample import stable_report
from inspector.tui.screens.browse import BrowseScreen

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "root"
SIZE = (120, 34)


@pytest.fixture(scope="module")
def report() -> Report:
    assert SAMPLE.is_dir(), "sample_data/root is missing"
    return stable_report(str(SAMPLE))


def sample_app(report: Report) -> InspectorApp:
    app = make_app(report=report, root_label="sample_data/root")
    app.animation_level = "none"
    return app


SCREENS = {
    "overview": [],
    "images": ["2"],
    "image_layers": ["2", "enter"],
    "layers": ["3"],
    "layer_detail": ["3", "enter"],
    "containers": ["4"],
    "container_detail": ["4", "enter"],
    "volumes": ["5"],
    "findings": ["6"],
    "buildcache": ["7"],
    "help": ["question_mark"],
}


async def until(pilot: Pilot[int], cond: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        await pilot.pause(0.05)


async def settled(pilot: Pilot[int]) -> None:
    """Wait for dive's numbers (the efficiency worker): the Images tab is complete then."""
    app = pilot.app
    assert isinstance(app, InspectorApp)
    await until(pilot, lambda: app.efficiency is not None and not app.efficiency.running)


@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(snap_compare: Callable[..., bool], report: Report, name: str) -> None:
    assert snap_compare(
        sample_app(report), press=SCREENS[name], terminal_size=SIZE, run_before=settled
    )


@pytest.mark.parametrize("name", ["overview", "images", "image_layers", "findings"])
def test_screen_80x24(snap_compare: Callable[..., bool], report: Report, name: str) -> None:
    assert snap_compare(
        sample_app(report), press=SCREENS[name], terminal_size=(80, 24), run_before=settled
    )


def browse_layer(report: Report, keys: list[str]) -> Callable[[Pilot[int]], Awaitable[None]]:
    """Open the file browser on app:2's top layer (a whiteout in it), then press `keys`.

    A layer's sizes are its tar's (no allocated bytes): the same on every filesystem.
    """
    top = next(r for r in report.images if "app:2" in r.image.tags).chain[-1]

    async def run(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, InspectorApp)
        await settled(pilot)
        await pilot.press("3")
        layers = app.main.view("layers")
        layers.table.move_cursor(row=[r.key for r in layers.shown].index(top))
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BrowseScreen))
        screen = app.screen
        assert isinstance(screen, BrowseScreen)
        await until(pilot, lambda: screen.ftree.done and screen.ftree.marked)
        await pilot.press(*keys)
        await pilot.pause()

    return run


@pytest.mark.parametrize(
    ("size", "keys"),
    [(SIZE, ["enter"]), (SIZE, ["enter", "down", "down", "enter"]), ((80, 24), ["enter"])],
    ids=["app", "whiteout", "app-80x24"],
)
def test_browse_screen(
    snap_compare: Callable[..., bool], report: Report, size: tuple[int, int], keys: list[str]
) -> None:
    assert snap_compare(
        sample_app(report), terminal_size=size, run_before=browse_layer(report, keys)
    )


@pytest.fixture(scope="module")
def buildkit_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The sample has no BuildKit records: a root holding tests/data/bbolt's (real, fixed)."""
    return stable_report(str(buildkit_root(tmp_path_factory.mktemp("bk"))))


@pytest.mark.parametrize("keys", [["7"], ["7", "enter"]], ids=["table", "detail"])
def test_build_cache_screen(
    snap_compare: Callable[..., bool], buildkit_report: Report, keys: list[str]
) -> None:
    app = make_app(report=buildkit_report, root_label="buildkit-root")
    app.animation_level = "none"
    assert snap_compare(app, press=keys, terminal_size=SIZE)
