#!/usr/bin/env python3
"""How time and memory grow with the size of a root: files in trees, and layers of metadata.

    .venv/bin/pip install matplotlib        # for the plots (not a dependency of the tool)
    .venv/bin/python benchmarks/growth.py   # ~5 min; no root privileges, no daemon

Two series of generated roots, each measured side by side in one run:

- **files**: a copy of ``sample_data/root`` whose volume ``appdata`` holds N files (10k,
  100k, 1M; 0-6 bytes each, 1,000 per directory). Times ``report`` (default mode, warm size
  cache), ``report --full`` and ``du -s`` on the same root, with each one's peak RSS.
- **layers**: synthetic metadata roots (``benchmarks/synthetic.py``) with 100, 1,000 and
  5,000 layers (images = layers / 10, containers = layers / 5). Times ``report`` and its peak
  RSS.

Writes ``benchmarks/growth.json`` (raw numbers), ``benchmarks/growth-files.png`` and
``benchmarks/growth-layers.png`` (when matplotlib is installed), and prints a table for
benchmarks/README.md. Each command runs ``--runs`` times (default 3) after one warm-up; the
median is kept. Peak RSS comes from GNU time's ``%M`` (the walker processes included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "root"
PY = sys.executable
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import make_root  # noqa: E402


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one run of `cmd`, output discarded."""
    t = time.perf_counter()
    res = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        check=True,
    )
    wall = time.perf_counter() - t
    rss_kb = int(res.stderr.strip().splitlines()[-1])
    return wall, rss_kb / 1024


def measure(cmd: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    timed(cmd, env)  # warm-up: page cache, bytecode, size cache
    walls, rss = [], []
    for _ in range(runs):
        w, r = timed(cmd, env)
        walls.append(w)
        rss.append(r)
    return {"wall": statistics.median(walls), "rss_mb": max(rss)}


def fill(data: Path, n: int) -> None:
    """N tiny files, 1,000 per directory, written fast (no Python objects per file kept)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for start in range(0, n, 1000):
        d = data / f"d{start // 1000:05d}"
        d.mkdir()
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(start, min(start + 1000, n)):
                fd = os.open(f"f{i}", flags, 0o644, dir_fd=dfd)
                if i % 7:
                    os.write(fd, b"x" * (i % 7))
                os.close(fd)
        finally:
            os.close(dfd)


def inspector(root: Path, *extra: str) -> list[str]:
    return [PY, "-m", "inspector", "report", "--root", str(root), "-o", "/dev/null", *extra]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--files", default="10000,100000,1000000")
    ap.add_argument("--layers", default="100,1000,5000")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dinspector-growth-"))
    env = dict(os.environ, XDG_CACHE_HOME=str(work / "cache"), PYTHONPATH=str(REPO))
    results: dict[str, list[dict[str, float]]] = {"files": [], "layers": []}
    try:
        for n in (int(x) for x in args.files.split(",")):
            root = work / f"files-{n}"
            shutil.copytree(SAMPLE, root, symlinks=True)
            t = time.perf_counter()
            fill(root / "volumes" / "appdata" / "_data", n)
            print(f"[files {n:>9,}] made in {time.perf_counter() - t:.1f} s", flush=True)
            row: dict[str, float] = {"files": n}
            for name, cmd in (
                ("report", inspector(root)),
                ("full", inspector(root, "--full")),
                ("du", ["du", "-s", str(root)]),
            ):
                m = measure(cmd, env, args.runs)
                row[f"{name}_s"], row[f"{name}_rss_mb"] = m["wall"], m["rss_mb"]
            print(f"[files {n:>9,}] {row}", flush=True)
            results["files"].append(row)
            shutil.rmtree(root)
        for n in (int(x) for x in args.layers.split(",")):
            root = work / f"layers-{n}"
            make_root(str(root), layers=n, images=max(n // 10, 1), containers=max(n // 5, 1))
            m = measure(inspector(root, "--format", "json"), env, args.runs)
            row = {"layers": n, "report_s": m["wall"], "report_rss_mb": m["rss_mb"]}
            print(f"[layers {n:>6,}] {row}", flush=True)
            results["layers"].append(row)
            shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (args.out / "growth.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, args.out)
    table(results)
    return 0


def plot(results: dict[str, list[dict[str, float]]], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots (pip install matplotlib)")
        return
    files = results["files"]
    if files:
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
        x = [r["files"] for r in files]
        for key, label in (
            ("report", "report (warm cache)"),
            ("full", "report --full"),
            ("du", "du -s"),
        ):
            a.plot(x, [r[f"{key}_s"] for r in files], marker="o", label=label)
            b.plot(x, [r[f"{key}_rss_mb"] for r in files], marker="o", label=label)
        for ax, what in ((a, "wall time (s)"), (b, "peak RSS (MB)")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("files in the root")
            ax.set_ylabel(what)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        fig.suptitle("Growth with files in trees")
        fig.tight_layout()
        fig.savefig(out / "growth-files.png", dpi=90)
    layers = results["layers"]
    if layers:
        fig, a = plt.subplots(figsize=(6, 4))
        x = [r["layers"] for r in layers]
        a.plot(x, [r["report_s"] for r in layers], marker="o", label="report time (s)")
        a2 = a.twinx()
        a2.plot(
            x, [r["report_rss_mb"] for r in layers], marker="s", color="C1", label="peak RSS (MB)"
        )
        a.set_xscale("log")
        a.set_xlabel("layers (images = layers/10, containers = layers/5)")
        a.set_ylabel("wall time (s)")
        a2.set_ylabel("peak RSS (MB)")
        a.grid(True, which="both", alpha=0.3)
        fig.legend(loc="upper left")
        fig.suptitle("Growth with metadata")
        fig.tight_layout()
        fig.savefig(out / "growth-layers.png", dpi=90)


def table(results: dict[str, list[dict[str, float]]]) -> None:
    print(
        "\n| files | report s | --full s | du -s s | report/du | --full/du | RSS MB report/full |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results["files"]:
        print(
            f"| {int(r['files']):,} | {r['report_s']:.2f} | {r['full_s']:.2f} | {r['du_s']:.2f} "
            f"| {r['report_s'] / r['du_s']:.2f} | {r['full_s'] / r['du_s']:.2f} "
            f"| {r['report_rss_mb']:.0f} / {r['full_rss_mb']:.0f} |"
        )
    print("\n| layers | report s | peak RSS MB |")
    print("| --- | --- | --- |")
    for r in results["layers"]:
        print(f"| {int(r['layers']):,} | {r['report_s']:.2f} | {r['report_rss_mb']:.0f} |")


if __name__ == "__main__":
    raise SystemExit(main())
