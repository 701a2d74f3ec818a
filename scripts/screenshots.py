#!/usr/bin/env python3
"""Regenerate ``screenshots/*.svg``: the TUI's main screens on ``sample_data/root``.

Usage::

    python scripts/screenshots.py [--root sample_data/root] [--out screenshots] [--size 120x34]

The app runs headless (Textual's Pilot) on a report of the sample built with
``inspector.tui.sample.stable_report`` (allocated bytes counted as apparent bytes, so the
pictures do not depend on the filesystem of the clone), labelled ``sample_data/root``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from textual.pilot import Pilot  # noqa: E402

from inspector.analysis.results import Report  # noqa: E402
from inspector.tui.app import InspectorApp, make_app  # noqa: E402
from inspector.tui.sample import stable_report  # noqa: E402
from inspector.tui.screens.browse import BrowseScreen  # noqa: E402

#: file name (without .svg) → keys pressed from the start, and the picture's title.
SHOTS: dict[str, tuple[list[str], str]] = {
    "overview": ([], "Overview (1)"),
    "images": (["2"], "Images (2)"),
    "image-layers": (["2", "down", "enter"], "Image drill-down (Enter on an image)"),
    "layers": (["3"], "Layers (3)"),
    "containers": (["4"], "Containers (4)"),
    "volumes": (["5"], "Volumes (5)"),
    "findings": (["6"], "Findings (6)"),
    "help": (["question_mark"], "Keys (?)"),
}

#: The file browser (b) on app:2's top layer, inside its /app dir: marks and a whiteout.
BROWSE = ("browse", "File browser (b on a layer, a container or a volume)")


async def until(pilot: Pilot[InspectorApp], cond: Callable[[], bool], timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit("screenshots: the app did not get there in time")
        await pilot.pause(0.05)


async def shoot_browser(report: Report, label: str, out: Path, size: tuple[int, int]) -> Path:
    top = next(r for r in report.images if "app:2" in r.image.tags).chain[-1]
    app = make_app(report=report, root_label=label)
    app.animation_level = "none"
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.report is not None and not app.measuring)
        await pilot.press("3")
        layers = app.main.view("layers")
        layers.table.move_cursor(row=[r.key for r in layers.shown].index(top))
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BrowseScreen))
        screen = app.screen
        assert isinstance(screen, BrowseScreen)
        await until(pilot, lambda: screen.ftree.done and screen.ftree.marked)
        await pilot.press("enter")
        await pilot.pause()
        path = out / f"{BROWSE[0]}.svg"
        path.write_text(app.export_screenshot(title=f"docker-inspector: {BROWSE[1]}"), "utf-8")
    return path


async def shoot(report: Report, label: str, out: Path, size: tuple[int, int]) -> list[Path]:
    written: list[Path] = []
    for name, (keys, title) in SHOTS.items():
        app = make_app(report=report, root_label=label)
        app.animation_level = "none"
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            if keys:
                await pilot.press(*keys)
            await pilot.pause()
            path = out / f"{name}.svg"
            path.write_text(app.export_screenshot(title=f"docker-inspector: {title}"), "utf-8")
            written.append(path)
    written.append(await shoot_browser(report, label, out, size))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT / "sample_data" / "root")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "screenshots")
    parser.add_argument("--size", default="120x34", help="terminal WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    width, height = (int(x) for x in args.size.lower().split("x"))
    try:
        label = str(args.root.resolve().relative_to(REPO_ROOT))
    except ValueError:
        label = str(args.root)
    args.out.mkdir(parents=True, exist_ok=True)
    report = stable_report(str(args.root))
    for path in asyncio.run(shoot(report, label, args.out, (width, height))):
        print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
