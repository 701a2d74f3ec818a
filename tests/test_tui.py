"""The TUI, driven with Textual's Pilot: navigation, drill-down, filter, sort, export,
quitting while loading, small terminals, hostile names, and a live private dockerd root."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from test_build_cache_report import DF, buildkit_root
from textual.pilot import Pilot
from textual.widgets import Input, Tabs

from inspector.analysis import analyze
from inspector.analysis.results import Report
from inspector.model import (
    BuildCacheRecord,
    BuildKitInfo,
    Container,
    HistoryEntry,
    Image,
    ImageStore,
    Inventory,
    Layer,
    Measurements,
    MountPoint,
    RootInfo,
    RWLayerRef,
    ShortLink,
    StorageDir,
    Volume,
)
from inspector.pipeline import Options, Progress
from inspector.tui.app import InspectorApp, make_app
from inspector.tui.details import render_sections
from inspector.tui.safe import Inert, line, t
from inspector.tui.sample import stable_report
from inspector.tui.screens.detail import DetailScreen
from inspector.tui.screens.export import ExportScreen
from inspector.tui.screens.help import HelpScreen
from inspector.tui.screens.image import ImageScreen
from inspector.tui.screens.main import TABS, MainScreen
from inspector.tui.widgets.report_table import ReportTable
from inspector.tui.widgets.views import TableView

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "root"
SIZE = (120, 40)


def drive(
    app: InspectorApp,
    script: Callable[[Pilot[int]], Awaitable[None]],
    size: tuple[int, int] = SIZE,
) -> None:
    """Run `script` against `app` in a headless terminal (no pytest-asyncio needed)."""

    app.animation_level = "none"  # no tab-underline animations to wait for

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await script(pilot)

    asyncio.run(main())


async def until(pilot: Pilot[int], cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until `cond()` holds (on time-out, the assertion shows the screen)."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() >= end:
            app = pilot.app
            assert isinstance(app, InspectorApp)
            raise AssertionError(f"timed out; the screen:\n{screen_text(app)}")
        await pilot.pause(0.02)


def view(app: InspectorApp, tab: str) -> TableView:
    """A tab's view with the current report (tabs are filled when first shown)."""
    return app.main.view(tab)


def column(rt: ReportTable, index: int) -> list[str]:
    """The plain text of one column, in display order."""
    return [r.cells[index].plain for r in rt.shown]


def screen_text(app: InspectorApp) -> str:
    """Everything on screen as plain text."""
    import io

    from rich.console import Console

    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), record=True, color_system=None)
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


@pytest.fixture(scope="module")
def sample_report() -> Report:
    assert SAMPLE.is_dir(), "sample_data/root is missing"
    return stable_report(str(SAMPLE))


def sample_app(report: Report) -> InspectorApp:
    return make_app(report=report, root_label="sample_data/root")


# -- loading ----------------------------------------------------------------------------


def test_loads_then_measures_the_sample_root() -> None:
    app = make_app(str(SAMPLE))
    seen: list[bool] = []

    async def script(pilot: Pilot[int]) -> None:
        await until(pilot, lambda: app.report is not None)
        seen.append(app.report is not None and app.report.measured)
        await until(pilot, lambda: not app.measuring)
        assert app.report is not None and app.report.measured
        await pilot.press("2")
        tags = column(view(app, "images"), 0)
        assert "app:2" in tags and "busybox:base" in tags
        text = screen_text(app)
        assert "MB" in text and "8 images" in text
        await pilot.press("6")
        kinds = column(view(app, "findings"), 1)
        assert "unused_volume" in kinds and "dangling_image" in kinds

    drive(app, script)
    assert app.return_code in (None, 0)


def slow_measure(
    started: threading.Event,
) -> Callable[[Inventory, Options, Progress | None], Measurements]:
    """A measure stage that would take a minute, reporting progress as it goes."""

    def measure(inv: Inventory, opts: Options, progress: Progress | None) -> Measurements:
        assert progress is not None
        for i in range(6000):
            progress("measuring", i, 6000)
            started.set()
            time.sleep(0.01)
        return Measurements()

    return measure


def test_quit_while_measuring_is_immediate() -> None:
    started = threading.Event()
    app = make_app(str(SAMPLE), measure_fn=slow_measure(started))
    timing: dict[str, float] = {}

    async def script(pilot: Pilot[int]) -> None:
        await until(pilot, started.is_set)
        await until(pilot, lambda: app.main.status.has_class("busy"))
        assert app.measuring
        timing["q"] = time.monotonic()
        await pilot.press("q")

    t0 = time.monotonic()
    drive(app, script)
    assert time.monotonic() - timing["q"] < 2.0
    assert time.monotonic() - t0 < 10
    assert app.return_code == 0


def test_worker_errors_become_a_notification() -> None:
    def broken(inv: Inventory, opts: Options, progress: Progress | None) -> Measurements:
        raise RuntimeError("disk on fire [@click=app.quit]")

    app = make_app(str(SAMPLE), measure_fn=broken)

    async def script(pilot: Pilot[int]) -> None:
        await until(pilot, lambda: not app.measuring)
        await pilot.pause()
        notes = list(app._notifications)
        assert any("disk on fire" in n.message for n in notes)
        assert all(not n.markup for n in notes)
        assert "failed" in screen_text(app)
        await pilot.press("2")  # still usable with the first (unmeasured) report
        assert column(view(app, "images"), 0)

    drive(app, script)
    assert app.return_code in (None, 0)


# -- navigation -------------------------------------------------------------------------


def test_number_keys_switch_between_all_seven_tabs(sample_report: Report) -> None:
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.pause()
        from textual.widgets import TabbedContent

        tabs = app.main.query_one(TabbedContent)
        for key in "2345671":
            await pilot.press(key)
            tab = TABS[int(key) - 1][0]
            assert tabs.active == tab
            if tab != "overview":
                assert app.focused is view(app, tab).table
        # Number keys also leave a detail page.
        await pilot.press("2", "enter")
        assert isinstance(app.screen, ImageScreen)
        await pilot.press("5")
        assert isinstance(app.screen, MainScreen) and tabs.active == "volumes"

    drive(app, script)


def test_drill_into_an_image_and_back(sample_report: Report) -> None:
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("2")
        images = view(app, "images")
        row = [r.key for r in images.shown].index(
            next(r.image.id for r in sample_report.images if "app:2" in r.image.tags)
        )
        images.table.move_cursor(row=row)
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, ImageScreen)
        layers = screen.query_one(ReportTable)
        image = screen.ix.images[screen.image_id]
        assert len(layers.shown) == len(image.chain) == 3
        # Base first, with the history line that created each layer.
        assert column(layers, 0) == ["1", "2", "3"]
        created = column(layers, 5)
        assert created[0].startswith("Imported")
        assert "echo 2 > /app/VERSION" in created[2] or "echo 2 >" in created[2]
        assert column(layers, 6)[1].startswith("app:1, <none>@")
        assert "ctr:web" in layers.shown[1].haystack
        # Enter on a layer shows its details; Escape twice goes back to the images.
        await pilot.press("end", "enter")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert app.focused is images.table

    drive(app, script)


def test_details_of_layers_containers_volumes_findings(sample_report: Report) -> None:
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        for key, expect in (
            ("3", "Lower chain"),
            ("4", "Mounts"),
            ("5", "Volume"),
            ("6", "Remedy"),
        ):
            await pilot.press(key, "enter")
            assert isinstance(app.screen, DetailScreen), key
            assert expect in screen_text(app)
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)
        # The findings tab shows the evidence of the highlighted finding.
        await pilot.press("6")
        assert "Evidence" in screen_text(app)

    drive(app, script)


def test_help_lists_the_bindings(sample_report: Report) -> None:
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for word in ("1 … 7", "7 Build cache", "filter", "sort", "export", "quit"):
            assert word in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)

    drive(app, script)


# -- filter and sort --------------------------------------------------------------------


def test_filter_with_slash(sample_report: Report) -> None:
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("2")
        images = view(app, "images")
        total = len(images.shown)
        await pilot.press("slash")
        assert app.focused is images.filter_input
        await pilot.press(*"app:")
        assert sorted(column(images, 0)) == ["app:1", "app:2"]
        assert "filter: app:" in screen_text(app)
        await pilot.press("enter")
        assert app.focused is images.table
        assert len(images.shown) == 2
        # Typing replaces the filter (it is selected on focus); digits do not switch tabs.
        await pilot.press("slash", *"app:2")
        assert app.main.active_tab == "images"
        assert column(images, 0) == ["app:2"]
        await pilot.press("escape")
        assert len(images.shown) == total and images.filter_text == ""
        # Every table filters, also on IDs not shown in full.
        await pilot.press("3", "slash", *"zzz-no-such")
        assert view(app, "layers").shown == []

    drive(app, script)


def test_sort_keys_and_header_click(sample_report: Report) -> None:
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("4")
        ctrs = view(app, "containers")
        assert ctrs.sort_column == 4 and ctrs.sort_reverse  # SIZE RW, largest first
        assert column(ctrs, 0)[0] == "web"
        await pilot.press("s", "s", "s")  # -> NAME (wraps around), A to Z
        assert ctrs.sort_column == 0 and not ctrs.sort_reverse
        assert column(ctrs, 0) == ["fresh", "job", "web"]
        await pilot.press("S")
        assert column(ctrs, 0) == ["web", "job", "fresh"]
        assert "sorted by NAME ▼" in screen_text(app)
        # Clicking a header sorts by it; clicking again reverses.
        await pilot.click(ctrs.table, offset=(2, 0))
        assert ctrs.sort_column == 0 and not ctrs.sort_reverse
        await pilot.press("5")
        vols = view(app, "volumes")
        cols = list(vols.table.columns.values())
        x = sum(c.get_render_width(vols.table) for c in cols[:4])
        await pilot.click(vols.table, offset=(x + 2, 0))  # LINKS
        assert vols.sort_column == 4 and vols.sort_reverse

    drive(app, script)


# -- export -----------------------------------------------------------------------------


def test_export_writes_the_json_report(sample_report: Report, tmp_path: Path) -> None:
    app = sample_app(sample_report)
    out = tmp_path / "report.json"

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)
        field = app.screen.query_one("#export-path", Input)
        assert field.value == "./docker-inspector-report.json"
        # Inside the data root: refused, the dialog stays.
        inside = SAMPLE / "x.json"
        field.value = str(inside)
        await pilot.press("end", "enter")
        assert isinstance(app.screen, ExportScreen)
        assert "inside the inspected data root" in screen_text(app)
        assert not inside.exists()
        await pilot.press("ctrl+u", *"../x")
        assert field.value.endswith("../x")
        field.value = str(out)
        await pilot.press("enter")
        await until(pilot, out.exists)
        await until(pilot, lambda: any("written" in n.message for n in app._notifications))

    drive(app, script)
    doc = json.loads(out.read_text("utf-8"))
    assert doc["schema_version"] == 2
    assert len(doc["images"]) == len(sample_report.images)


def test_export_can_be_cancelled(sample_report: Report, tmp_path: Path) -> None:
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("e", "escape")
        assert isinstance(app.screen, MainScreen)

    drive(app, script)


def test_export_paths_inside_the_root_are_refused(tmp_path: Path) -> None:
    from inspector.tui.screens.export import check_path

    roots = [str(SAMPLE)]
    assert check_path(str(tmp_path / "r.json"), roots) is None
    assert check_path(str(SAMPLE / "r.json"), roots) is not None
    assert check_path(str(SAMPLE), roots) is not None
    link = tmp_path / "link"
    link.symlink_to(SAMPLE)
    assert check_path(str(link / "r.json"), roots) is not None  # resolved through symlinks
    assert check_path(str(tmp_path), roots) is not None  # a directory
    assert check_path(str(tmp_path / "no" / "r.json"), roots) is not None
    assert check_path("  ", roots) is not None


def test_run_rejects_a_missing_root_before_starting(tmp_path: Path) -> None:
    from inspector.cli import main
    from inspector.errors import RootError
    from inspector.tui.app import run

    with pytest.raises(RootError):
        run(str(tmp_path / "missing"))
    assert main(["tui", "--root", str(tmp_path / "missing")]) == 2


# -- small terminal ---------------------------------------------------------------------


def test_usable_at_80x24(sample_report: Report) -> None:
    app = sample_app(sample_report)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.pause()
        text = screen_text(app)
        for _, title in TABS:
            assert title in text
        tabs = app.main.query_one(Tabs)
        assert tabs.region.y == 0 and tabs.region.height >= 1
        await pilot.press("6")
        assert "Evidence" in screen_text(app)
        await pilot.press("2", "enter")
        assert isinstance(app.screen, ImageScreen)
        assert "DIFF ID" in screen_text(app)
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "e")
        assert "Export" in screen_text(app)

    drive(app, script, size=(80, 24))


# -- build cache ------------------------------------------------------------------------


def test_build_cache_tab_lists_records_and_opens_one(tmp_path: Path) -> None:
    api = DF  # what the daemon that wrote these databases listed
    report = stable_report(str(buildkit_root(tmp_path)))
    app = make_app(report=report, root_label="root")

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("7")
        assert app.main.active_tab == "buildcache"
        cache = view(app, "buildcache")
        assert app.focused is cache.table
        # One row per record the daemon listed, with the CLI's 12-character CACHE ID.
        assert {r.key for r in cache.shown} == set(api)
        assert sorted(column(cache, 0)) == sorted(i[:12] for i in api)
        # Largest first, like the other tables.
        sizes = [r.values[2] for r in cache.shown]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] == max(
            b["Size"] for b in api.values()
        )
        top = api[cache.shown[0].key]
        assert column(cache, 1)[0] == top["Type"]
        assert column(cache, 4)[0] == str(top["UsageCount"])

        # Sorting by LAST USED goes by the instant, not by the text of the time (Go drops
        # trailing zeros of fractions: "…:52.8Z" is earlier than "…:52.82Z").
        def instant(i: str) -> tuple[str, str, str]:
            base, _, frac = api[i]["LastUsedAt"].rstrip("Z").partition(".")
            return (base, frac.ljust(9, "0")[:6], i)  # microseconds, ties by ID

        cache.sort_by(5, reverse=False)
        assert [r.key for r in cache.shown] == sorted(api, key=instant)
        # Enter: every field of the record, in full.
        cache.sort_by(2)
        await pilot.press("home", "enter")
        assert isinstance(app.screen, DetailScreen)
        text = screen_text(app)
        for word in (top["ID"], top["Type"], "Usage count", "Description", "Parents"):
            assert word in text
        assert top["Description"][:40] in text
        if top["Parent"]:
            assert top["Parent"] in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen) and app.focused is cache.table
        # Filter by a parent's full ID finds its children.
        child = next(i for i, b in api.items() if b["Parent"])
        cache.set_filter(api[child]["Parent"])
        assert child in {r.key for r in cache.shown}

    drive(app, script)


def test_build_cache_descriptions_are_shown_literally() -> None:
    """A description comes from a Dockerfile: markup and escapes in it stay inert text."""
    rid = "a" * 25
    record = BuildCacheRecord(
        rid,
        rid,
        12,
        record_type=RED,
        description=f"mount / from exec {QUIT} {ESC} {OSC52}",
        shared=True,
        created="2026-01-02T03:04:05.5Z",
        last_used="2026-01-02T03:04:06Z",
        usage_count=2,
        parents=(QUIT,),
    )
    inv = Inventory(
        root=RootInfo("/r", "overlay2", ImageStore.GRAPHDRIVER, True),
        images={},
        layers={},
        rw_layers={},
        storage_dirs={},
        short_links={},
        containers={},
        volumes={},
        buildkit=BuildKitInfo(present=True, records=(record,)),
    )
    app = make_app(report=analyze(inv))

    async def script(pilot: Pilot[int]) -> None:
        await pilot.press("7")
        cache = view(app, "buildcache")
        cells = cache.table.get_row_at(0)
        assert all(isinstance(c, Text) and not c.spans for c in cells)
        assert cells[1].plain == RED and cells[3].plain == "yes"
        text = screen_text(app)
        assert cells[6].plain.startswith(f"mount / from exec {QUIT} a\\x1b[31mb\\x0ac")
        assert f"from exec {QUIT}" in text and "\x1b" not in text
        # Clicking on the description would run app.quit if it were markup.
        y, row = next((i, ln) for i, ln in enumerate(text.splitlines()) if QUIT in ln)
        await pilot.click(offset=(row.index(QUIT) + 3, y))
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, MainScreen)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        text = screen_text(app)
        assert QUIT in text and RED in text and "a\\x1b[31mb\\x0ac" in text
        assert "\\x1b]52;c;cHduZWQ=\\x1b\\\\" in text and "\x1b" not in text
        assert "2026-01-02T03:04:05.5Z" in text
        y, row = next((i, ln) for i, ln in enumerate(text.splitlines()) if QUIT in ln)
        await pilot.click(offset=(row.index(QUIT) + len(QUIT) - 1, y))
        await pilot.pause()
        assert app.is_running

    drive(app, script)


# -- hostile names ----------------------------------------------------------------------

QUIT = "[@click=app.quit]x"
RED = "[bold red]y"
ESC = "a\x1b[31mb\nc"
OSC52 = "\x1b]52;c;cHduZWQ=\x1b\\"
"""Writes "pwned" to the clipboard of a terminal that receives it (here: as a label key)."""
HEX = "0123456789abcdef" * 4


def hostile_report() -> Report:
    """A hand-built root whose every name tries markup or control sequences."""
    root = "/r"
    diff = "sha256:" + "d" * 64
    iid = "sha256:" + "1" * 64
    cid = "c" * 64
    cache = "e" * 64
    img = Image(
        iid,
        f"{root}/image/overlay2/imagedb/content/sha256/{'1' * 64}",
        (diff,),
        created="2024-01-02T03:04:05Z",
        tags=(QUIT + ":latest", RED + ":1"),
        labels={QUIT: RED, OSC52: "image"},
        history=(HistoryEntry(f"/bin/sh -c {QUIT} {ESC}", None, False),),
    )
    inv = Inventory(
        root=RootInfo(root, "overlay2", ImageStore.GRAPHDRIVER, True, notes=(f"note {QUIT}",)),
        images={iid: img},
        layers={diff: Layer(diff, diff, None, cache, 10, f"{root}/image/overlay2/layerdb/x")},
        rw_layers={cid: RWLayerRef(cid, "f" * 64, None, diff, f"{root}/image/overlay2/m")},
        storage_dirs={
            cache: StorageDir(cache, f"{root}/overlay2/{cache}", link="L" * 26),
            "f" * 64: StorageDir("f" * 64, f"{root}/overlay2/{'f' * 64}", link="M" * 26),
        },
        short_links={"L" * 26: ShortLink("L" * 26, f"{root}/overlay2/l/x", "../x", cache)},
        containers={
            cid: Container(
                cid,
                f"{root}/containers/{cid}",
                ESC,
                iid,
                image_ref=RED,
                labels={RED: QUIT, OSC52: "container", ESC: ESC},
                mounts=(
                    MountPoint("/data", "volume", name=QUIT),
                    MountPoint("/m" + ESC, "bind", source="/srv"),
                ),
            )
        },
        volumes={
            QUIT: Volume(QUIT, f"{root}/volumes/{QUIT}", labels={QUIT: ESC}, options={OSC52: ESC}),
            RED: Volume(RED, f"{root}/volumes/{RED}"),
        },
        driver_home=f"{root}/overlay2",
    )
    return analyze(inv)


def test_hostile_names_are_shown_literally_and_never_run(tmp_path: Path) -> None:
    report = hostile_report()
    app = make_app(report=report, root_label=QUIT)

    async def script(pilot: Pilot[int]) -> None:
        await pilot.pause()
        assert QUIT in screen_text(app)  # root label and the note
        await pilot.press("2")
        images = view(app, "images")
        cell = images.table.get_row_at(0)[0]
        assert isinstance(cell, Text)
        assert cell.plain.startswith(f"{QUIT}:latest, [bol")  # cut to the column width
        assert not cell.spans
        # Clicking the cell would run app.quit if the tag were markup.
        await pilot.click(images.table, offset=(3, 1))
        await pilot.click(images.table, offset=(3, 1))
        await pilot.pause()
        assert app.is_running
        await pilot.press("4")
        ctrs = view(app, "containers")
        name = ctrs.table.get_row_at(0)[0]
        assert isinstance(name, Text) and name.plain == "a\\x1b[31mb\\x0ac"
        assert ctrs.table.get_row_at(0)[3].plain == RED
        text = screen_text(app)
        assert "a\\x1b[31mb\\x0ac" in text and "\x1b" not in text
        await pilot.press("enter")
        text = screen_text(app)
        assert QUIT in text and RED in text  # labels and mount, literally
        # Label keys and mount destinations are escaped like values (issue 17).
        assert "\x1b" not in text and "\\x1b]52;c;cHduZWQ=\\x1b\\\\" in text
        assert "/ma\\x1b[31mb\\x0ac" in text
        # Click right on the label text in the detail page: still nothing runs.
        y, line = next((i, ln) for i, ln in enumerate(text.splitlines()) if QUIT in ln)
        await pilot.click(offset=(line.index(QUIT) + len(QUIT) - 1, y))
        await pilot.pause()
        assert app.is_running
        await pilot.press("5")
        names = column(view(app, "volumes"), 0)
        assert QUIT in names and RED in names
        volumes = view(app, "volumes")
        volumes.table.move_cursor(row=names.index(QUIT))
        await pilot.press("enter")
        text = screen_text(app)
        assert "\x1b" not in text and "\\x1b]52;c;cHduZWQ=" in text  # an option key
        await pilot.press("escape")
        await pilot.press("6", "enter")
        assert "[@click=app.quit]" in screen_text(app)
        await pilot.press("2", "enter")
        assert isinstance(app.screen, ImageScreen)
        text = screen_text(app)
        assert f"/bin/sh -c {QUIT}" in text
        assert "\x1b" not in text and "\\x1b]52;c;cHduZWQ=" in text  # an image label key
        await pilot.click(ReportTable, offset=(60, 3))
        await pilot.pause()
        assert app.is_running

    drive(app, script)


def test_root_notes_and_an_empty_root() -> None:
    note = "images live in containerd's snapshotter store, which this tool cannot read yet"
    inv = Inventory(
        root=RootInfo("/r", None, ImageStore.CONTAINERD, False, notes=(note,)),
        images={},
        layers={},
        rw_layers={},
        storage_dirs={},
        short_links={},
        containers={},
        volumes={},
    )
    app = make_app(report=analyze(inv, Measurements()))

    async def script(pilot: Pilot[int]) -> None:
        await pilot.pause()
        text = screen_text(app)
        assert "containerd's snapshotter store" in text
        assert "cannot read" in text
        for key in "736":  # empty tables: Enter, filter and sort do nothing harmful
            await pilot.press(key, "enter", "slash", "x", "escape", "s")
            assert isinstance(app.screen, MainScreen)
        assert "No findings." in screen_text(app)

    drive(app, script, size=(80, 24))


def test_safe_text_helper() -> None:
    for raw in (QUIT, RED, ESC, "[/]", "\u202eevil"):
        text = t(raw)
        assert isinstance(text, Text) and not text.spans
        assert "\x1b" not in text.plain and "\n" not in text.plain and "\u202e" not in text.plain
    assert t(QUIT).plain == QUIT
    assert t("x" * 50, width=10).plain == "x" * 9 + "…"
    assert t("\x1b" * 5, width=6).plain == "\\x1b\\…"  # cut after escaping: what is shown


def test_inert_text_cannot_hold_a_control_character() -> None:
    """Every way of putting characters into an Inert escapes them (issue 17)."""
    raw = OSC52 + ESC + "\x9b\u202e"
    assert isinstance(t(raw), Inert)
    built = [
        t(raw),
        line(raw),
        line((raw, "bold"), t(raw), Text(raw, style="red")),
        line("x").append(raw),
        line("x").append(raw, "red"),
        line("x").append(Text(raw, style="red")),
        line("x").append_text(Text(raw)),
        line("x").append_tokens([(raw, "red")]),
        Inert.assemble(raw, (raw, "red")),
        Inert.styled(raw, "red"),
        Inert(raw),
    ]
    for text in built:
        assert isinstance(text, Inert)
        assert text.plain.isprintable(), repr(text.plain)
        assert "\\x1b]52;c;cHduZWQ=\\x1b\\\\" in text.plain
    later = line("x")
    later.plain = raw
    assert later.plain.isprintable()
    with pytest.raises(TypeError):
        Inert.from_markup(QUIT)
    with pytest.raises(TypeError):
        Inert.from_ansi(raw)


def test_inert_keeps_styles_on_the_same_characters() -> None:
    source = Text.assemble(("a\x1bb", "red"), ("c", "blue"))
    text = line(source)
    assert text.plain == "a\\x1bbc"
    assert [(s.start, s.end, s.style) for s in text.spans] == [(0, 6, "red"), (6, 7, "blue")]


def test_escaped_text_is_not_escaped_twice() -> None:
    """Rich rewrites `plain` of Inert text itself (rstrip, truncate): no doubled backslashes."""
    text = t("a\\b \x1b  ")
    assert text.plain == "a\\\\b \\x1b  "
    text.rstrip()
    assert text.plain == "a\\\\b \\x1b"
    text.truncate(4)
    assert text.plain == "a\\\\b"


def test_detail_keys_are_escaped_like_values() -> None:
    """Issue 17: label keys and mount destinations were sent to the terminal raw."""
    import io

    from rich.console import Console

    group = render_sections([("Labels", [(OSC52, OSC52), ("k", t(ESC))])])
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(group)
    shown = out.getvalue()
    assert "\x1b" not in shown
    assert shown.count("\\x1b]52;c;cHduZWQ=\\x1b\\\\") == 2


# -- a live root ------------------------------------------------------------------------


@pytest.mark.dockerd
def test_live_private_dockerd_root(dockerd: Any, scenario: dict[str, dict[str, str]]) -> None:
    root = str(dockerd.data_root)
    app = make_app(root)

    async def script(pilot: Pilot[int]) -> None:
        await until(pilot, lambda: app.report is not None and not app.measuring, timeout=60)
        assert app.report is not None and app.report.measured
        await pilot.press("2")
        tags = " ".join(column(view(app, "images"), 0))
        for name in scenario["images"]:
            if not name.startswith("<"):
                assert name in tags
        await pilot.press("4")
        names = column(view(app, "containers"), 0)
        assert "web" in names and "job" in names
        await pilot.press("2", "enter")
        assert isinstance(app.screen, ImageScreen)

    drive(app, script)
