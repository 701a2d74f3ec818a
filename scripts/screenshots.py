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
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from inspector.analysis.results import Report  # noqa: E402
from inspector.tui.app import make_app  # noqa: E402
from inspector.tui.sample import stable_report  # noqa: E402

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
