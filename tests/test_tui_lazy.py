"""The TUI's big tables: rows are entered at once and their cells built only when drawn.

On a 5,000-layer host building every cell and adding rows one by one to Textual's DataTable
took ~3 s for the Layers tab (benchmarks/tuiswitch.py). These tests pin what the faster
path must keep: the text a row shows (and filters and measures) is the text its cells
hold, hostile names included; a tab shows every row and counts them all, sorted and
filtered on the model; and only the rows on screen have their cells built.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_tui import screen_text
from textual.pilot import Pilot

from inspector import pipeline
from inspector.analysis.results import Report
from inspector.options import Options
from inspector.tui.app import make_app
from inspector.tui.rows import Column, make_row
from inspector.tui.safe import Inert, t
from inspector.tui.widgets.report_table import ReportTable, column_widths

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from synthetic import make_root

LAYERS = 1000
SIZE = (120, 40)

HOSTILE = [
    "plain",
    "",
    "esc \x1b[31mred\x1b[0m",
    "back\\slash \\x1b",
    "new\nline\ttab\r",
    "bidi \u202eevil\u202c and \u200bzero width",
    "wide 漢字テスト and emoji 🐳",
    "surrogate \udc80 here",
    "x" * 80,
    "[bold]not markup[/bold]",
]


def test_row_texts_are_what_its_cells_show() -> None:
    """make_row's texts (filter, widths) equal the built cells' text for hostile strings,
    cut or not; given Inert cells are kept."""
    cols = (Column("a", "A"), Column("b", "B", width=12), Column("n", "N", numeric=True))
    for s in HOSTILE:
        given = t(s, "red")
        row = make_row(s, cols, [(s, s), (s, s), (given, 1)], extra=s)
        cells = row.cells
        assert row.texts == tuple(c.plain for c in cells)
        assert row.texts[1] == t(s, width=12).plain
        assert cells[2] is given and cells[2].justify == "right"
        assert all(isinstance(c, Inert) for c in cells)
        assert row.cells is cells  # built once
        for text in row.texts:
            assert text.lower() in row.haystack


@pytest.fixture(scope="module")
def big_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    root = tmp_path_factory.mktemp("lazy") / "root"
    made = make_root(str(root), layers=LAYERS, images=LAYERS // 10, containers=LAYERS // 5)
    assert made.layers == LAYERS
    return pipeline.run(str(root), Options(sizes=False))


def built(rt: ReportTable) -> int:
    assert rt.data is not None
    return sum(1 for r in rt.data.rows if r._cells is not None)


def test_layers_tab_shows_every_row_but_builds_only_those_drawn(big_report: Report) -> None:
    app = make_app(report=big_report, root_label="synthetic", efficiency=False)
    assert len(big_report.layers) == LAYERS

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("3")
        await pilot.pause()
        layers = app.main.view("layers")
        data = layers.data
        assert data is not None and len(data.rows) == LAYERS == len(layers.shown)
        text = screen_text(app)
        assert f"Layers  {LAYERS} of {LAYERS}" in text
        # Sorted on the model: size, largest first, ties by chain ID.
        want = sorted(big_report.layers, key=lambda r: r.layer.chain_id)
        want.sort(key=lambda r: r.size or 0, reverse=True)
        assert [r.key for r in layers.shown] == [r.layer.chain_id for r in want]
        assert layers.shown[0].cells[0].plain in text
        # The table holds every row, and the first row's cells are the row's own.
        assert layers.table.row_count == LAYERS
        assert layers.table.get_row_at(0) == list(layers.shown[0].cells)
        # Widths from the texts, as from the built cells.
        assert column_widths(data) == [
            max([len(c.label) + 2, *(r.cells[i].cell_len for r in data.rows)])
            for i, c in enumerate(data.columns)
        ]
        for r in data.rows:  # the comparison above built them all: start again
            object.__setattr__(r, "_cells", None)

        await pilot.press("s")  # ON DISK, then a filter: each redraws from the model
        await pilot.pause()
        needle = layers.shown[5].key.split(":")[-1][:3]
        await pilot.press("slash", *needle)
        await pilot.pause()
        match = [r for r in data.rows if needle in r.haystack]
        assert 0 < len(match) < LAYERS and len(layers.shown) == len(match)
        assert {r.key for r in layers.shown} == {r.key for r in match}
        assert layers.table.row_count == len(match)
        text = screen_text(app)
        assert f"Layers  {len(match)} of {LAYERS}" in text and f"filter: {needle}" in text
        assert layers.shown[int(layers.table.scroll_offset.y)].cells[0].plain in text
        # Only the rows drawn had their cells built: at most a 40-line screen for each of the
        # five redraws since (sort, three characters typed, the filter box shown).
        assert 0 < built(layers) <= 5 * SIZE[1] < LAYERS
        await app.action_quit()

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await script(pilot)

    import asyncio

    asyncio.run(run())


def test_the_report_is_frozen_while_shown_and_released_at_exit(big_report: Report) -> None:
    """inspector.tui.heap: the report is out of full collections while the app shows it
    (gc.freeze), and collectable again once the app has ended (no leak across apps)."""
    import gc

    app = make_app(report=big_report, root_label="synthetic", efficiency=False)
    assert gc.get_freeze_count() == 0
    frozen: list[int] = []

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await pilot.pause()
            frozen.append(gc.get_freeze_count())
            await app.action_quit()

    import asyncio

    asyncio.run(run())
    assert frozen and frozen[0] > 10_000  # the report's objects, at least
    assert gc.get_freeze_count() == 0
