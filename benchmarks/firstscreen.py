#!/usr/bin/env python3
"""The TUI's first screen and the read stage on a 5,000-layer root, before and after, side by side.

    .venv/bin/python benchmarks/firstscreen.py [--before DIR] [--runs 7] [--root ROOT]

No root privileges, no daemon. On a synthetic metadata root (``benchmarks/synthetic.py``:
5,000 layers, 500 images, 1,000 containers; made in the work dir unless ``--root`` names
one), every measurement runs in a fresh interpreter, round-robin, ``--runs`` times after one
warm-up each (bytecode in the work dir, page cache warm); medians are printed with the
ratio of each "after" to its "before":

- ``read``: ``pipeline.read(root)`` alone, timed inside the interpreter (stage 1);
- ``report``: ``python -m inspector --root ROOT report`` to /dev/null (whole command), wall
  and CPU time (user + system: less sensitive than wall time to other work on the machine);
- ``tui``: from interpreter start (imports included) to the TUI's first screen, headless at
  120x40, as ``docker-inspector tui`` starts it: ``glance`` is the first frame showing the
  root's counts (images, layers, containers, volumes from four listings), ``report`` the
  first frame with the report of the metadata (Overview, Docker's totals, every tab).
  "after" forks the reader before importing Textual (inspector.tui.loader), "thread" is
  the same code reading in a thread worker (the path taken when forking is refused).

``--before DIR``: a source tree of an older version (its ``inspector/`` package), e.g. made
with ``git archive <commit> inspector | tar -x -C DIR``; the same measurements run with
``PYTHONPATH=DIR`` (its TUI reads in a thread worker). The machine may be shared: the load
average is printed before and after; compare ratios, which are measured side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import make_root  # noqa: E402

READ = r"""
import sys, time
t0 = time.perf_counter()
from inspector import pipeline
t1 = time.perf_counter()
pipeline.read(sys.argv[1])
print(f"{time.perf_counter() - t1:.4f}")
"""

TUI = r"""
import asyncio, sys, time
t0 = time.perf_counter()
root, mode = sys.argv[1], sys.argv[2]
prefetch = None
if mode == "fork":
    from inspector.tui import loader
    prefetch = loader.start(root)
    assert prefetch is not None
from inspector.tui.app import make_app

async def main() -> None:
    app = make_app(root=root, efficiency=False, **({"prefetch": prefetch} if prefetch else {}))
    glance = None
    async with app.run_test(size=(120, 40)) as pilot:
        while app.report is None:
            if glance is None and getattr(app, "glance", None) is not None:
                await pilot.pause()  # drawn
                glance = time.perf_counter() - t0
            await asyncio.sleep(0.002)
        await pilot.pause()
        shown = time.perf_counter() - t0
        print(f"{glance if glance is not None else shown:.4f} {shown:.4f}")
        await app.action_quit()

asyncio.run(main())
"""


def run(args: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds (user + system, its children too), stdout) of one fresh
    interpreter.

    Run from "/": ``-c`` and ``-m`` put the working directory first on sys.path, which in
    a checkout would shadow PYTHONPATH's tree with the checkout's own package.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(
        [PY, *args], env=env, capture_output=True, text=True, timeout=300, check=False, cwd="/"
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if res.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed:\n{res.stderr[-3000:]}")
    return wall, cpu, res.stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", help="source tree of the older version (holds inspector/)")
    ap.add_argument("--root", help="an existing synthetic root (default: make one)")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--workdir", help="where to make the root and keep bytecode")
    ap.add_argument("--json", help="write every timing here")
    ns = ap.parse_args()

    work = Path(ns.workdir or tempfile.mkdtemp(prefix="dinspector-firstscreen-"))
    work.mkdir(parents=True, exist_ok=True)
    root = ns.root
    if root is None:
        root = str(work / "root")
        if not os.path.isdir(root):
            print(f"making a 5,000-layer root in {root} …", flush=True)
            make_root(root)
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    trees = {"after": str(REPO)}
    if ns.before:
        trees["before"] = os.path.abspath(ns.before)
    envs = {
        name: {**base, "PYTHONPATH": path, "PYTHONPYCACHEPREFIX": str(work / f"pyc-{name}")}
        for name, path in trees.items()
    }
    for name, env in envs.items():
        _, _, where = run(["-c", "import inspector; print(inspector.__file__)"], env)
        print(f"{name}: {where}")

    # (label, env name, argv, how to read the number(s))
    cases: list[tuple[str, str, list[str]]] = []
    for name in envs:
        cases.append((f"read ({name})", name, ["-c", READ, root]))
        cases.append((f"report ({name})", name, ["-m", "inspector", "--root", root, "report"]))
    cases.append(("tui (after, forked reader)", "after", ["-c", TUI, root, "fork"]))
    cases.append(("tui (after, thread worker)", "after", ["-c", TUI, root, "thread"]))
    if "before" in envs:
        cases.append(("tui (before)", "before", ["-c", TUI, root, "thread"]))

    load0 = os.getloadavg()
    results: dict[str, list[list[float]]] = {label: [] for label, _, _ in cases}
    for rep in range(ns.runs + 1):
        for label, name, argv in cases:
            wall, cpu, out = run(argv, envs[name])
            if rep == 0:
                continue  # warm-up: bytecode, page cache
            if label.startswith("read"):
                results[label].append([float(out)])
            elif label.startswith("report"):
                results[label].append([wall, cpu])
            else:
                results[label].append([float(x) for x in out.split()])
        print(f"run {rep}/{ns.runs} done (load {os.getloadavg()[0]:.2f})", flush=True)
    load1 = os.getloadavg()

    def med(label: str, i: int = 0) -> float:
        return statistics.median(r[i] for r in results[label])

    rows: list[tuple[str, float, str]] = []
    for stage, i, what in (
        ("read", 0, "read"),
        ("report", 0, "report"),
        ("report", 1, "report CPU"),
    ):
        after = med(f"{stage} (after)", i)
        ratio = f"{after / med(f'{stage} (before)', i):.2f}" if "before" in envs else "-"
        rows.append((f"{what} (after)", after, ratio))
        if "before" in envs:
            rows.append((f"{what} (before)", med(f"{stage} (before)", i), "1"))
    ref = "tui (before)" if "before" in envs else "tui (after, thread worker)"
    ref_report = med(ref, 1)
    for label in ("tui (after, forked reader)", "tui (after, thread worker)", "tui (before)"):
        if label not in results:
            continue
        if label == "tui (after, forked reader)":
            rows.append(
                (
                    "tui: counts on screen (forked)",
                    med(label, 0),
                    f"{med(label, 0) / ref_report:.2f}",
                )
            )
        rows.append(
            (f"{label}: first report on screen", med(label, 1), f"{med(label, 1) / ref_report:.2f}")
        )

    print()
    print(
        f"root: {root}; {ns.runs} runs each, medians; load average {load0[0]:.2f} -> {load1[0]:.2f}"
    )
    print(f"{'measurement':<52} {'seconds':>8} {'ratio':>6}")
    for label, value, ratio in rows:
        print(f"{label:<52} {value:>8.3f} {ratio:>6}")
    print(f"(ratios: to the same measurement before; TUI rows to '{ref}: first report')")
    if ns.json:
        Path(ns.json).write_text(
            json.dumps({"root": root, "load": [load0, load1], "runs": results}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
