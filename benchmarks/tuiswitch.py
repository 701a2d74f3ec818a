#!/usr/bin/env python3
"""The TUI's speed targets: first screen, every screen switch, the 5,000-row Layers screen.

    .venv/bin/python benchmarks/tuiswitch.py [--runs 5] [--root ROOT] [--tiny ROOT]

No root privileges, no daemon. Two roots: a 5,000-layer synthetic metadata root
(``benchmarks/synthetic.py``: 5,000 layers, 500 images, 1,000 containers; made in a temp
dir unless ``--root`` names one) and a tiny one (``sample_data/root``). Each repetition is a
fresh interpreter that starts the app as ``docker-inspector tui`` does (the reader forked
first, :mod:`inspector.tui.loader`; efficiency computed in the background), headless at
120x40 through Textual's ``App.run_test()``. Repetitions go round-robin over the two roots
after one warm-up each (bytecode, page cache); medians, minima and maxima are printed.

What is timed, always until the frame that shows the result (the compositor's output, as
``tests/test_tui.py``'s ``screen_text`` reads it, holds the expected text):

- first screen: from interpreter start (imports included) to the first frame showing the
  root's counts (the glance) or a report, and to the first frame with the report of the
  metadata (the Overview's header);
- once loading is over (sizes measured, efficiency done), from each key press to the frame
  showing the new screen complete: the tab's caption with its row count (``Layers  5000 of
  5000``) and the table's first visible row; the keys 2-7 the first time (the tab's table
  is built then) and again, key 1 (Overview); on Layers ``s`` (sort by the next column),
  ``/`` (filter box) and three typed characters (each re-filters all rows: the caption's
  count must equal the rows matching, the first matching row visible), Escape (filter
  cleared); on Images Enter (the image page with its layer table) and Escape (back).

Key events are posted to the app's driver directly (``Pilot.press`` waits for the process to
go idle, ≥ 40 ms per key); the check that the frame is complete is not counted. The machine
may be shared: the load average is printed before and after.

``--profile DIR``: one more run on the big root with each key press under cProfile (from
the press to the complete frame), stats written to DIR/NN-KEY.prof.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # interpreter start, as near as the child can tell

import argparse  # noqa: E402
import asyncio  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

if TYPE_CHECKING:
    from inspector.tui.app import InspectorApp
    from inspector.tui.widgets.report_table import ReportTable

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "sample_data" / "root"
SIZE = (120, 40)
TIMEOUT = 60.0

#: (label, target seconds) per measurement, in table order. First-screen rows are filled
#: from both roots; the rest come from each root's run.
TARGETS: dict[str, float | None] = {
    "first screen (counts or report)": 1.0,
    "first report on screen": None,
    "key 2 Images (first visit)": 0.3,
    "key 3 Layers (first visit, all rows)": 1.0,
    "key 4 Containers (first visit)": 0.3,
    "key 5 Volumes (first visit)": 0.3,
    "key 6 Findings (first visit)": 0.3,
    "key 7 Build cache (first visit)": 0.3,
    "key 1 Overview": 0.3,
    "key 2 Images (again)": 0.3,
    "key 3 Layers (again)": 0.3,
    "key 4 Containers (again)": 0.3,
    "key 5 Volumes (again)": 0.3,
    "key 6 Findings (again)": 0.3,
    "key 7 Build cache (again)": 0.3,
    "Layers: s (sort by next column)": 0.3,
    "Layers: / (filter box)": 0.3,
    "Layers: filter keystroke (worst of 3)": 0.3,
    "Layers: Esc (filter cleared)": 0.3,
    "Images: Enter (image page)": 0.3,
    "image page: Esc (back to Images)": 0.3,
}
TABS = ["overview", "images", "layers", "containers", "volumes", "findings", "buildcache"]
TITLES = ["Overview", "Images", "Layers", "Containers", "Volumes", "Findings", "Build cache"]


# ----------------------------------------------------------------------------- the child


def screen_text(app: InspectorApp) -> str:
    """Everything the compositor would draw now, as plain text (tests/test_tui.py)."""
    from rich.console import Console

    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), record=True, color_system=None)
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


def visible_row_text(rt: ReportTable) -> list[str]:
    """What must be on screen for a table to count as drawn: its caption's count and the
    first cell of the first row in view (cells are at most their column's width)."""
    data = rt.data
    assert data is not None
    out = [f"{data.name.capitalize()}  {len(rt.shown)} of {len(data.rows)}"]
    top = int(rt.table.scroll_offset.y)
    if rt.shown and top < len(rt.shown):
        first = next((c.plain for c in rt.shown[top].cells if c.plain.strip()), "")
        if first:
            out.append(first)
    return out


def key_event(key: str) -> Any:
    """The Key event Textual's own ``App._press_keys`` makes for `key`."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    original = REPLACED_KEYS.get(key, key)
    char: str | None
    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(original))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


async def until(
    app: InspectorApp, ready: Callable[[], bool], expect: Callable[[], list[str]], t0: float
) -> float:
    """Seconds from `t0` to the first frame holding every string of `expect()` once
    `ready()` (cheap) holds; the time of the successful check itself is not counted."""
    while True:
        await asyncio.sleep(0.001)
        if time.perf_counter() - t0 > TIMEOUT:
            raise TimeoutError(f"not on screen after {TIMEOUT} s: {expect()}")
        try:
            if not ready():
                continue
            want = expect()
        except Exception:  # widgets not mounted yet
            continue
        t = time.perf_counter()
        text = screen_text(app)
        if all(w in text for w in want):
            return t - t0


PROFILE: list[str] = []
"""The --profile dir, when given, and the number of presses profiled so far."""


async def press(
    app: InspectorApp, key: str, ready: Callable[[], bool], expect: Callable[[], list[str]]
) -> float:
    assert app._driver is not None
    event = key_event(key)
    event.set_sender(app)
    prof = None
    if PROFILE:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    app._driver.send_message(event)
    took = await until(app, ready, expect, t0)
    if prof is not None:
        prof.disable()
        PROFILE.append(key)
        prof.dump_stats(os.path.join(PROFILE[0], f"{len(PROFILE) - 1:02d}-{key}.prof"))
    return took


async def child(root: str, profile: str | None) -> dict[str, float]:
    from inspector.tui import loader

    prefetch = loader.start(root)
    from inspector.tui.app import make_app
    from inspector.tui.screens.image import ImageScreen
    from inspector.tui.widgets.report_table import ReportTable
    from inspector.tui.widgets.views import TableView

    app = make_app(root=root, prefetch=prefetch)
    out: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:

        def glanced() -> list[str]:
            if app.report is not None:
                return ["   driver "]
            g = app.glance
            assert g is not None and g.layers is not None
            return [f"found {g.images:,} images · {g.layers:,} layers"]

        out["first screen (counts or report)"] = await until(
            app, lambda: app.glance is not None or app.report is not None, glanced, T0
        )
        out["first report on screen"] = await until(
            app, lambda: app.report is not None, lambda: ["   driver "], T0
        )
        # Loading over: sizes measured, dive's numbers computed (their updates redraw Images).
        while app.measuring or (app.efficiency is not None and app.efficiency.running):
            await asyncio.sleep(0.02)
            if time.perf_counter() - T0 > 10 * TIMEOUT:
                raise TimeoutError("loading did not end")
        await pilot.pause()
        await pilot.pause()

        main = app.main

        def on_main() -> bool:
            return app.screen is main

        def view(tab: str) -> TableView:
            return main.query_one(f"#{tab}-view", TableView)

        async def key_tab(n: int) -> float:
            tab = TABS[n - 1]
            if tab == "overview":
                return await press(
                    app,
                    "1",
                    lambda: on_main() and main.active_tab == "overview",
                    lambda: ["   driver ", "measured"],
                )
            return await press(
                app,
                str(n),
                lambda: on_main() and main.active_tab == tab and view(tab).data is not None,
                lambda: visible_row_text(view(tab)),
            )

        if profile:
            os.makedirs(profile, exist_ok=True)
            PROFILE.append(profile)
        for n in range(2, 8):
            what = TITLES[n - 1] + (" (first visit, all rows)" if n == 3 else " (first visit)")
            out[f"key {n} {what}"] = await key_tab(n)
        out["key 1 Overview"] = await key_tab(1)
        for n in range(2, 8):
            out[f"key {n} {TITLES[n - 1]} (again)"] = await key_tab(n)

        await key_tab(3)
        layers = view("layers")
        before = layers.sort_column
        out["Layers: s (sort by next column)"] = await press(
            app,
            "s",
            lambda: layers.sort_column != before,
            lambda: [
                *visible_row_text(layers),
                f"sorted by {layers.data.columns[layers.sort_column].label}",  # type: ignore[union-attr]
            ],
        )
        out["Layers: / (filter box)"] = await press(
            app,
            "slash",
            lambda: layers.filter_input.has_focus,
            lambda: ["filter (Enter: back to the table"],
        )
        # The first characters of a chain ID in view: the first matches nearly every row.
        data = layers.data
        assert data is not None
        needle = layers.shown[min(3, len(layers.shown) - 1)].key.split(":")[-1][:3]
        worst = 0.0
        for i in range(1, len(needle) + 1):
            typed = needle[:i]
            n_match = sum(1 for r in data.rows if r.matches(typed))
            worst = max(
                worst,
                await press(
                    app,
                    typed[-1],
                    lambda typed=typed: layers.filter_text == typed,  # type: ignore[misc]
                    lambda typed=typed, n_match=n_match: [  # type: ignore[misc]
                        f"Layers  {n_match} of {len(data.rows)}",
                        f"filter: {typed}",
                        *visible_row_text(layers)[1:],
                    ],
                ),
            )
        out["Layers: filter keystroke (worst of 3)"] = worst
        out["Layers: Esc (filter cleared)"] = await press(
            app,
            "escape",
            lambda: layers.filter_text == "",
            lambda: [t for t in visible_row_text(layers)],
        )

        await key_tab(2)
        images = view("images")
        out["Images: Enter (image page)"] = await press(
            app,
            "enter",
            lambda: isinstance(app.screen, ImageScreen) and app.screen.is_mounted,
            lambda: [
                "Image ",
                *visible_row_text(app.screen.query_one("#image-layers", ReportTable)),
            ],
        )
        out["image page: Esc (back to Images)"] = await press(
            app, "escape", on_main, lambda: visible_row_text(images)
        )
        await app.action_quit()
    return out


# ----------------------------------------------------------------------------- the parent


def run_child(root: str, env: dict[str, str], profile: str | None = None) -> dict[str, float]:
    """One fresh interpreter (from "/": ``-c``/a script dir first on sys.path must not
    shadow the package under test)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", root]
    if profile:
        argv += ["--profile", profile]
    res = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=600, check=False, cwd="/"
    )
    if res.returncode != 0:
        raise RuntimeError(f"child on {root} failed:\n{res.stderr[-4000:]}")
    last = res.stdout.strip().splitlines()[-1]
    data: dict[str, float] = json.loads(last)
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--root", help="an existing 5,000-layer synthetic root (default: make one)")
    ap.add_argument("--tiny", default=str(TINY), help="the tiny root (sample_data/root)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workdir", help="where to make the root and keep bytecode")
    ap.add_argument("--json", help="write every timing here")
    ap.add_argument(
        "--profile",
        help="dir for cProfile stats of each key press (one more run, big root)",
    )
    ap.add_argument(
        "--before",
        help="source tree of an older version (holds inspector/): timed too, interleaved",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ns = ap.parse_args()

    if ns.child:
        print(json.dumps(asyncio.run(child(ns.child, ns.profile))))
        return 0

    work = Path(ns.workdir or tempfile.mkdtemp(prefix="dinspector-tuiswitch-"))
    work.mkdir(parents=True, exist_ok=True)
    big = ns.root
    if big is None:
        big = str(work / "root")
        if not os.path.isdir(big):
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from synthetic import make_root

            print(f"making a 5,000-layer root in {big} …", flush=True)
            make_root(big)
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base["XDG_CACHE_HOME"] = str(work / "cache")  # the size cache: not the user's
    trees = {"after": str(REPO)}
    if ns.before:
        trees["before"] = os.path.abspath(ns.before)
    envs = {
        tree: {**base, "PYTHONPATH": path, "PYTHONPYCACHEPREFIX": str(work / f"pyc-{tree}")}
        for tree, path in trees.items()
    }
    for tree, env in envs.items():
        where = subprocess.run(
            [sys.executable, "-c", "import inspector; print(inspector.__file__)"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd="/",
        ).stdout.strip()
        print(f"{tree}: {where}")
        if not where.startswith(trees[tree]):
            raise SystemExit(f"{tree} imports {where}, not the tree in {trees[tree]}")
    roots = {"5,000 layers": big, "tiny": ns.tiny}
    cases = [(tree, name) for tree in trees for name in roots]

    load0 = os.getloadavg()
    runs: dict[tuple[str, str], list[dict[str, float]]] = {case: [] for case in cases}
    for rep in range(ns.runs + 1):
        for tree, name in cases:
            got = run_child(roots[name], envs[tree])
            if rep:
                runs[tree, name].append(got)
        print(
            f"run {rep}/{ns.runs} done{' (warm-up)' if not rep else ''}"
            f" (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    load1 = os.getloadavg()
    if ns.profile:
        run_child(big, envs["after"], ns.profile)
        print(f"profile of one run on {big}: {ns.profile}")
    results = {name: runs["after", name] for name in roots}

    def stats(name: str, label: str) -> tuple[float, float, float]:
        xs = [r[label] for r in results[name]]
        return statistics.median(xs), min(xs), max(xs)

    print()
    print(f"big root: {big}; tiny root: {ns.tiny}; {ns.runs} runs each after a warm-up")
    print(
        f"load average (1, 5, 15 min): {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} before, "
        f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} after"
    )
    head = f"| {'measurement':<40} | root | median s | min s | max s | target s | met |"
    print(head)
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, target in TARGETS.items():
        names = list(roots) if label.startswith("first") else ["5,000 layers", "tiny"]
        for name in names:
            med, lo, hi = stats(name, label)
            tgt = "-" if target is None else f"{target:g}"
            met = "-" if target is None else ("yes" if med <= target else "NO")
            if name == "tiny" and not label.startswith("first"):
                tgt, met = "-", "-"  # the targets are about the big root
            print(f"| {label:<40} | {name} | {med:.3f} | {lo:.3f} | {hi:.3f} | {tgt} | {met} |")
    for label in ("first screen (counts or report)", "first report on screen"):
        ratio = stats("5,000 layers", label)[0] / stats("tiny", label)[0]
        print(
            f"{label}: 5,000 layers / tiny = {ratio:.2f} (target <= 2: "
            f"{'yes' if ratio <= 2 else 'NO'})"
        )
    if ns.before:
        print()
        print("| measurement (5,000 layers) | before median s | after median s | after / before |")
        print("| --- | --- | --- | --- |")
        for label in TARGETS:
            b = statistics.median(r[label] for r in runs["before", "5,000 layers"])
            a = statistics.median(r[label] for r in runs["after", "5,000 layers"])
            print(f"| {label} | {b:.3f} | {a:.3f} | {a / b:.2f} |")
    if ns.json:
        raw = {f"{tree} {name}": got for (tree, name), got in runs.items()}
        Path(ns.json).write_text(
            json.dumps({"roots": roots, "load": [load0, load1], "runs": raw}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
