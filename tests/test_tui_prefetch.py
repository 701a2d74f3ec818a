"""The TUI's forked reader (inspector.tui.loader) and the glance it shows first.

``docker-inspector tui`` forks the pipeline run before Textual is imported; the app must show
the same reports as when it reads in a thread, reap the child, and count from the listings
what the readers read. The app runs in a fresh interpreter (a forked child must start from a
single-threaded process, which a pytest run need not be).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_tui import SAMPLE, column, drive, screen_text, until, view
from textual.pilot import Pilot

from inspector import background, pipeline
from inspector.background import ForkedRun, Frame
from inspector.inventory import Glance
from inspector.options import Options
from inspector.tui.app import make_app

REPO = Path(__file__).resolve().parents[1]
CONTAINERD_SAMPLE = REPO / "sample_data" / "containerd"

#: Runs the app with a forked reader; prints what it showed and whether the child is gone.
SCRIPT = r"""
import asyncio, json, os, sys
root, quit_early = sys.argv[1], sys.argv[2] == "1"
from inspector.tui import loader
prefetch = loader.start(root)
assert prefetch is not None, "single-threaded here: the reader must be forked"
from inspector.tui.app import make_app

async def main() -> None:
    app = make_app(root, prefetch=prefetch, efficiency=False)
    app.animation_level = "none"
    out = {}
    async with app.run_test(size=(120, 40)) as pilot:
        while app.glance is None:
            await pilot.pause(0.01)
        out["glance"] = list(app.glance)
        if not quit_early:
            while app.measuring:
                await pilot.pause(0.02)
            await pilot.pause()
            rep = app.report
            out["measured"] = rep.measured
            out["counts"] = [len(rep.images), len(rep.layers), len(rep.containers),
                             len(rep.volumes)]
            out["disk_total"] = rep.totals.disk_total
            out["findings"] = sorted(f.kind.value for f in rep.findings)
            await pilot.press("2")
            out["tags"] = sorted(r.cells[0].plain for r in app.main.view("images").shown)
        await app.action_quit()
    try:
        os.kill(prefetch.pid, 0)
        out["child_alive"] = True
    except ProcessLookupError:
        out["child_alive"] = False
    print(json.dumps(out))

asyncio.run(main())
"""


def run_forked(root: Path, quit_early: bool = False) -> dict[str, object]:
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root), "1" if quit_early else "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, object] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def test_glance_counts_what_the_readers_read() -> None:
    # sample_data/root is a real dockerd's root: its listings hold no stray entry.
    inv = pipeline.read(str(SAMPLE))
    counts = (len(inv.images), len(inv.layers), len(inv.containers), len(inv.volumes))
    assert tuple(pipeline.glance(str(SAMPLE))) == counts
    assert counts == (8, 6, 3, 3)


def test_glance_of_a_containerd_store_leaves_images_and_layers_unknown() -> None:
    glance = pipeline.glance(str(CONTAINERD_SAMPLE / "root"))
    inv = pipeline.read(str(CONTAINERD_SAMPLE / "root"))
    assert glance.images is None and glance.layers is None
    assert (glance.containers, glance.volumes) == (len(inv.containers), len(inv.volumes))


def test_forked_reader_shows_the_same_reports_as_the_thread_worker() -> None:
    forked = run_forked(SAMPLE)
    app = make_app(str(SAMPLE), efficiency=False)
    seen: dict[str, object] = {}

    async def script(pilot: Pilot[int]) -> None:
        await until(pilot, lambda: app.report is not None and not app.measuring)
        rep = app.report
        assert rep is not None
        seen["measured"] = rep.measured
        seen["counts"] = [len(rep.images), len(rep.layers), len(rep.containers), len(rep.volumes)]
        seen["disk_total"] = rep.totals.disk_total
        seen["findings"] = sorted(f.kind.value for f in rep.findings)
        await pilot.press("2")
        seen["tags"] = sorted(column(view(app, "images"), 0))

    drive(app, script)
    assert app.glance is None  # the thread worker has no glance step
    assert forked["glance"] == [8, 6, 3, 3]
    assert forked["measured"] is True
    for key, value in seen.items():
        assert forked[key] == value, key
    assert "app:2" in seen["tags"]  # type: ignore[operator]
    assert forked["child_alive"] is False


def test_quitting_at_once_stops_and_reaps_the_reader() -> None:
    out = run_forked(SAMPLE, quit_early=True)
    assert out["glance"] == [8, 6, 3, 3]
    assert out["child_alive"] is False


def test_tui_on_a_missing_root_exits_2_and_leaves_no_reader(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from inspector.cli import main\n"
        "rc = main(['tui', '--root', sys.argv[1]])\n"
        "try:\n"
        "    os.waitpid(-1, os.WNOHANG)\n"
        "    print(rc, 'child')\n"
        "except ChildProcessError:\n"
        "    print(rc, 'none')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert res.stdout.split() == ["2", "none"], res.stderr[-2000:]
    assert "no such directory" in res.stderr


def test_the_childs_pickling_gives_equal_inventories() -> None:
    # background._fast_pickling changes how this interpreter pickles: a fresh one.
    code = (
        "import pickle, sys\n"
        "from inspector import background, pipeline\n"
        "invs = [pipeline.read(r) for r in sys.argv[1:]]\n"
        "before = [pickle.dumps(i) for i in invs]\n"
        "background._fast_pickling()\n"
        "after = [pickle.dumps(i) for i in invs]\n"
        "assert after != before, 'the reducers are not used'\n"
        "assert [pickle.loads(b) for b in after] == invs\n"
        "print('ok')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(SAMPLE), str(CONTAINERD_SAMPLE / "root")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd="/",
    )
    assert res.stdout.strip() == "ok", res.stderr[-3000:]


class StalledRun(ForkedRun):
    """A forked run that sent its counts and then reads on (no process: the app's side)."""

    def __init__(self) -> None:
        super().__init__(pid=-1, fd=-1, options=Options())
        self.closed = False

    def frames(self, cancelled: Callable[[], bool] | None = None) -> Iterator[Frame]:
        yield "glance", Glance(500, 5000, 1000, 100)
        while cancelled is None or not cancelled():
            time.sleep(0.01)

    def close(self) -> None:
        self.closed = True


def test_counts_are_on_screen_until_the_report_comes_and_q_stops_the_reader() -> None:
    run = StalledRun()
    # A short label: the header must fit one line whatever the checkout's path.
    app = make_app(str(SAMPLE), prefetch=run, efficiency=False, root_label="sample_data/root")
    seen: dict[str, float] = {}

    async def script(pilot: Pilot[int]) -> None:
        await until(pilot, lambda: app.glance is not None)
        counts = "500 images · 5,000 layers · 1,000 containers · 100 volumes"
        # The status line and the Overview's header are painted in separate refreshes:
        # wait for both (one pause was not always enough on a loaded CI machine).
        status, header = f"Reading metadata: {counts}", f"found {counts}, reading"
        await until(pilot, lambda: header in screen_text(app) and status in screen_text(app))
        text = screen_text(app)
        assert status in text and header in text
        assert app.report is None and app.measuring
        seen["q"] = time.monotonic()
        await pilot.press("q")

    drive(app, script)
    assert time.monotonic() - seen["q"] < 2.0
    assert run.closed


def test_the_forked_reader_measures_without_the_warm_cache_overlap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The app draws the first report meanwhile: the reader must not keep three processes
    # busy (inspector.measure.scan's overlap); the fake measure stage, inherited by the
    # forked child, reports how it was called.
    def fake(inv: object, opts: Options, progress: object = None, **kw: object) -> None:
        raise RuntimeError(f"measure_root called with {sorted(kw.items())}")

    monkeypatch.setattr(pipeline, "measure_root", fake)
    run = background.start(str(SAMPLE), Options())
    assert run is not None
    try:
        errors = [p for kind, p in run.frames() if kind == "error"]
    finally:
        run.close()
    assert [str(e) for e in errors] == ["measure_root called with [('overlap', False)]"]
