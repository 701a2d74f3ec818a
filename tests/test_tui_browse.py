"""The TUI's efficiency columns and file browser, driven with Textual's Pilot.

- Images: dive's wasted bytes and efficiency arrive from a worker while the screen is in use,
  equal `docker-inspector efficiency --format json`; intermediate images are hidden like
  `docker images` does, `a` shows them; an image's page lists its inefficient files.
- The browser: a container's writable layer in two keys (select, `b`), a layer with its
  added/modified/removed marks (summed, they equal the efficiency analysis' count), a volume;
  Enter descends, Backspace goes up, sorted by size (or name), sizes equal the files' own;
  it streams (usable while walking, `q` quits at once); hostile names are shown literally and
  never run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from test_tui import ESC, OSC52, QUIT, RED, column, drive, screen_text, until, view
from textual.pilot import Pilot

from inspector.analysis import analyze
from inspector.analysis.efficiency import ImageEfficiency
from inspector.analysis.results import Report
from inspector.cli import main
from inspector.measure import browse as br
from inspector.model import (
    ImageStore,
    Inventory,
    Measurements,
    RootInfo,
    Volume,
)
from inspector.tui.app import InspectorApp, make_app
from inspector.tui.sample import stable_report
from inspector.tui.screens.browse import BrowseScreen
from inspector.tui.screens.image import ImageScreen
from inspector.tui.screens.main import MainScreen
from inspector.tui.widgets.report_table import ReportTable

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "root"


@pytest.fixture(scope="module")
def sample_report() -> Report:
    return stable_report(str(SAMPLE))


def sample_app(report: Report) -> InspectorApp:
    return make_app(report=report, root_label="sample_data/root")


async def efficiency_done(pilot: Pilot[int], app: InspectorApp) -> None:
    await until(pilot, lambda: app.efficiency is not None and not app.efficiency.running, 30)


async def browse_done(pilot: Pilot[int], app: InspectorApp) -> BrowseScreen:
    await until(pilot, lambda: isinstance(app.screen, BrowseScreen))
    screen = app.screen
    assert isinstance(screen, BrowseScreen)
    await until(pilot, lambda: screen.ftree.done, 30)
    await pilot.pause()
    return screen


def table(screen: BrowseScreen) -> ReportTable:
    return screen.query_one(ReportTable)


def names(screen: BrowseScreen) -> list[str]:
    col = next(i for i, c in enumerate(table(screen).data.columns) if c.key == "name")  # type: ignore[union-attr]
    return column(table(screen), col)


def cells(screen: BrowseScreen, key: str) -> list[str]:
    col = next(i for i, c in enumerate(table(screen).data.columns) if c.key == key)  # type: ignore[union-attr]
    return column(table(screen), col)


# -- Images: efficiency and intermediate images -----------------------------------------


def test_efficiency_columns_equal_the_efficiency_command(
    sample_report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["efficiency", "--root", str(SAMPLE), "--format", "json", "--no-cache"]) == 0
    want = {i["id"]: i for i in json.loads(capsys.readouterr().out)["images"]}
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        await efficiency_done(pilot, app)
        await pilot.press("2")
        images = view(app, "images")
        wasted = images.data.columns.index(
            next(c for c in images.data.columns if c.key == "wasted")
        )  # type: ignore[union-attr]
        score = wasted + 1
        shown = {r.key: r for r in images.shown}
        # `docker images` lists what `efficiency` computes by default: the same set.
        assert set(shown) == set(want)
        for iid, img in want.items():
            row = shown[iid]
            assert row.values[wasted] == img["wasted_bytes"]
            assert row.values[score] == round(img["efficiency_score"] * 1e6)
        app2 = next(r for r in images.shown if "app:2" in r.cells[0].plain)
        assert app2.cells[wasted].plain == "7 Bytes" and app2.cells[score].plain == "99.99 %"
        # Worst first: EFFICIENCY sorts numbers like every numeric column.
        images.sort_by(score, reverse=False)
        assert "app:2" in column(images, 0)[0]

    drive(app, script)


def test_intermediate_images_are_hidden_until_a(sample_report: Report) -> None:
    app = sample_app(sample_report)
    intermediate = {r.image.id for r in sample_report.images if r.intermediate}
    assert len(intermediate) == 2

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("2")
        images = view(app, "images")
        assert {r.key for r in images.shown}.isdisjoint(intermediate)
        assert len(images.shown) == len(sample_report.images) - 2
        assert "2 intermediate hidden (a: show)" in screen_text(app)
        await pilot.press("a")
        assert intermediate <= {r.key for r in images.shown}
        assert column(images, 0).count("<none> (intermediate)") == 2
        await pilot.press("a")
        assert len(images.shown) == len(sample_report.images) - 2
        # The filter finds only what is shown.
        await pilot.press("slash", *"intermediate")
        assert images.shown == []
        await pilot.press("escape")
        assert "a All images" in screen_text(app)

    drive(app, script)


def test_image_page_lists_the_inefficient_files(sample_report: Report) -> None:
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        await efficiency_done(pilot, app)
        await pilot.press("2")
        images = view(app, "images")
        images.table.move_cursor(row=[r.cells[0].plain for r in images.shown].index("app:2"))
        await pilot.press("enter")
        assert isinstance(app.screen, ImageScreen)
        text = screen_text(app)
        assert "99.99 % (dive), 7 Bytes wasted, 1 inefficient file" in text
        await pilot.press("tab", "ctrl+end")  # scroll the facts
        await pilot.press("end")
        text = screen_text(app)
        assert "Inefficient files (1: in 2 layers or more" in text
        assert "/app/conf/app.conf  2 layers, 7 Bytes" in text
        # The layer pane says what each layer changed (efficiency's per-layer count).
        await pilot.press("shift+tab")
        await pilot.press("down", "down")
        assert "2 added (2.0 kB), 0 modified (0 Bytes), 1 removed (7 Bytes)" in screen_text(app)

    drive(app, script)


def test_efficiency_numbers_arrive_while_the_screen_is_used(
    sample_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inspector.analysis import efficiency as eff

    real = eff.Engine.image

    def slow(self: Any, *args: Any, **kw: Any) -> ImageEfficiency:
        time.sleep(0.4)
        return real(self, *args, **kw)

    monkeypatch.setattr(eff.Engine, "image", slow)
    monkeypatch.setattr("inspector.tui.app.EFFICIENCY_EVERY", 0.0)
    app = sample_app(sample_report)
    seen_partial: list[bool] = []

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("2")
        images = view(app, "images")

        def partial() -> bool:
            vals = [c.plain for c in (r.cells[8] for r in images.shown)]
            return "…" in vals and any(v.endswith("%") for v in vals)

        await until(pilot, partial, 20)
        seen_partial.append(True)
        assert "dive's numbers" in screen_text(app)  # the caption's progress
        await pilot.press("3", "4", "2")  # the app is usable meanwhile
        await efficiency_done(pilot, app)
        await pilot.pause()
        assert all(c.plain.endswith("%") for c in (r.cells[8] for r in images.shown))
        assert "dive's numbers" not in screen_text(app)

    drive(app, script)
    assert seen_partial


# -- the browser --------------------------------------------------------------------------


def test_why_is_this_container_big_in_two_keys(sample_report: Report) -> None:
    app = sample_app(sample_report)
    web = next(r for r in sample_report.containers if r.container.name == "web")
    assert web.rw_dir is not None and web.size_rw

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("4")
        assert column(view(app, "containers"), 0)[0] == "web"  # largest SIZE RW first
        await pilot.press("b")
        screen = await browse_done(pilot, app)
        # The total is Docker's SIZE RW of the container, as the report counts it.
        assert screen.ftree.root.size == web.size_rw
        assert names(screen) == ["srv/"]
        assert "1.0 MB apparent (Docker's count)" in screen_text(app)
        await pilot.press("enter")
        assert screen.node.path() == "/srv"
        shown = names(screen)
        assert shown[0] == "sparse"  # largest first
        srv = Path(web.rw_dir) / "srv"
        sizes = [r.values[1] for r in table(screen).shown]
        expect = sorted((os.lstat(srv / n.rstrip(" →")).st_size for n in shown), reverse=True)
        assert sizes == expect
        # Sort by name, reverse it, and back to size.
        await pilot.press("n")
        assert names(screen) == ["a", "b", "link →", "sparse"]
        await pilot.press("n")
        assert names(screen) == ["sparse", "link →", "b", "a"]
        await pilot.press("s")
        assert names(screen)[0] == "sparse"
        # Backspace: up, the cursor on the dir we came from; Escape: back to the table.
        await pilot.press("backspace")
        assert screen.node is screen.ftree.root
        assert table(screen).cursor_key == "srv"
        await pilot.press("backspace")  # at the top: nothing happens
        assert screen.node is screen.ftree.root
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen) and app.main.active_tab == "containers"

    drive(app, script)


def test_a_layers_marks_sum_to_its_efficiency_changes(sample_report: Report) -> None:
    app = sample_app(sample_report)
    img = next(r for r in sample_report.images if "app:2" in r.image.tags)
    top = img.chain[-1]

    async def script(pilot: Pilot[int]) -> None:
        await efficiency_done(pilot, app)
        await pilot.press("3")
        layers = view(app, "layers")
        layers.table.move_cursor(row=[r.key for r in layers.shown].index(top))
        await pilot.press("b")
        screen = await browse_done(pilot, app)
        await until(pilot, lambda: screen.ftree.marked)
        assert "layer" in screen.target.title and "app:2" in screen.target.title
        # What the screen holds, summed, is what `efficiency` counts for this layer.
        assert app.efficiency is not None
        changes = app.efficiency.of(img.image.id)
        assert isinstance(changes, ImageEfficiency)
        want = changes.layers[-1]
        with screen.ftree.lock:
            nodes = list(br.nodes(screen.ftree))
        files = [n for n in nodes if n.kind not in (br.DIR, br.WHITEOUT)]
        got = (
            sum(1 for n in files if n.mark == "A"),
            sum(n.size for n in files if n.mark == "A"),
            sum(1 for n in files if n.mark == "M"),
            sum(n.removed for n in nodes),
            sum(n.removed_bytes for n in nodes),
        )
        assert got == (
            want.added,
            want.added_bytes,
            want.modified,
            want.removed,
            want.removed_bytes,
        )
        assert screen.ftree.root.size == want.bytes
        await pilot.press("enter")  # app/
        assert dict(zip(names(screen), cells(screen, "mark"), strict=True)) == {
            "v2/": "A",
            "VERSION": "A",
            "conf/": "",
        }
        table(screen).table.move_cursor(row=names(screen).index("conf/"))
        await pilot.press("enter")
        assert names(screen) == ["app.conf"] and cells(screen, "mark") == ["D"]
        assert cells(screen, "size") == ["−7 Bytes"]
        assert "deletes 1 file (7 bytes) of the layers below" in screen_text(app)
        # The same layer from the image's page.
        await pilot.press("escape", "2")
        images = view(app, "images")
        images.table.move_cursor(row=[r.key for r in images.shown].index(img.image.id))
        await pilot.press("enter", "down", "down", "b")
        again = await browse_done(pilot, app)
        assert again.target.chain_id == top

    drive(app, script)


def test_a_volume_and_a_missing_one(sample_report: Report) -> None:
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("5")
        vols = view(app, "volumes")
        vols.table.move_cursor(row=column(vols, 0).index("appdata"))
        await pilot.press("b")
        screen = await browse_done(pilot, app)
        assert names(screen) == ["blob.bin"] and cells(screen, "size") == ["10.2 kB"]
        assert "CHG" not in screen_text(app)  # no marks on a volume
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)

    drive(app, script)


def test_the_browser_streams_and_quits_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "root" / "volumes" / "big" / "_data"
    for i in range(80):
        (data / f"d{i:02d}").mkdir(parents=True)
        (data / f"d{i:02d}" / "f").write_bytes(b"x" * (i + 1) * 100)
    real = br._lstat_chunk

    def slow(*args: Any) -> Any:
        time.sleep(0.05)
        return real(*args)

    monkeypatch.setattr(br, "_lstat_chunk", slow)
    monkeypatch.setattr(br, "TICK_SECONDS", 0.0)
    app = make_app(report=volume_report(tmp_path / "root", "big"), efficiency=False)
    timing: dict[str, float] = {}

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("5", "b")
        await until(pilot, lambda: isinstance(app.screen, BrowseScreen))
        screen = app.screen
        assert isinstance(screen, BrowseScreen)

        # The dir being walked shows its partial size ("…"); between two dirs no row does,
        # so wait for a moment when one is walked (80 slowed dirs: seconds of walking).
        # The pending row is in the table (sorted last: off screen once many dirs are walked);
        # the header is painted a refresh after the rows on a loaded machine: wait for it.
        def streaming() -> bool:
            if len(table(screen).shown) < 5 or "…" not in "".join(cells(screen, "size")):
                return False
            pending = any("dirs not walked yet" in n for n in names(screen))
            return pending and "reading…" in screen_text(app)

        await until(pilot, streaming)
        assert not screen.ftree.done
        await pilot.press("down", "up")  # usable meanwhile
        timing["q"] = time.monotonic()
        await pilot.press("q")

    drive(app, script)
    assert time.monotonic() - timing["q"] < 2.0
    assert app.return_code == 0


def volume_report(root: Path, name: str) -> Report:
    inv = Inventory(
        root=RootInfo(str(root), "overlay2", ImageStore.GRAPHDRIVER, True),
        images={},
        layers={},
        rw_layers={},
        storage_dirs={},
        short_links={},
        containers={},
        volumes={name: Volume(name, str(root / "volumes" / name))},
    )
    return analyze(inv, Measurements())


def test_hostile_names_are_shown_literally_and_never_run(tmp_path: Path) -> None:
    root = tmp_path / "root"
    data = root / "volumes" / QUIT / "_data"
    data.mkdir(parents=True)
    for name, n in ((QUIT, 100), (ESC, 50), (OSC52, 30), ("\u202eevil", 5)):
        (data / name).write_bytes(b"x" * n)
    fd = os.open(bytes(data) + b"/\xff\xferaw", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"y" * 20)
    os.close(fd)
    (data / RED).mkdir()
    (data / RED / QUIT).write_bytes(b"z" * 10)
    app = make_app(report=volume_report(root, QUIT), root_label=QUIT)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("5", "b")
        screen = await browse_done(pilot, app)
        shown = names(screen)
        assert shown[0] == QUIT  # the largest
        assert set(shown) == {
            QUIT,
            "a\\x1b[31mb\\x0ac",
            "\\x1b]52;c;cHduZWQ=\\x1b\\\\",
            "\\u202eevil",
            "\\xff\\xferaw",
            f"{RED}/",
        }
        cell = table(screen).table.get_row_at(0)[-1]
        assert isinstance(cell, Text) and cell.plain == QUIT and not cell.spans
        text = screen_text(app)
        assert QUIT in text and "\x1b" not in text and "\u202e" not in text
        assert "\\x1b]52;c;cHduZWQ=\\x1b\\\\" in text
        # Clicking right on the name would run app.quit if it were markup.
        y, row = next(
            (i, ln) for i, ln in enumerate(text.splitlines()) if QUIT in ln and "100 Bytes" in ln
        )
        await pilot.click(offset=(row.index(QUIT) + len(QUIT) - 2, y))
        await pilot.pause()
        assert app.is_running
        # Into the dir named like markup: its path is shown literally, its file too.
        table(screen).table.move_cursor(row=shown.index(f"{RED}/"))
        await pilot.press("enter")
        assert screen.node.path() == f"/{RED}" and names(screen) == [QUIT]
        text = screen_text(app)
        assert f"/{RED}" in text and f"/{RED}/{QUIT}" in text
        await pilot.press("escape")
        assert app.is_running and isinstance(app.screen, MainScreen)

    drive(app, script)
