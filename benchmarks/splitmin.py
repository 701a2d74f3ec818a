#!/usr/bin/env python3
"""Where splitting one tree across the walker processes starts to pay (split.SPLIT_MIN_ENTRIES).

    .venv/bin/python benchmarks/splitmin.py [--sizes 10000,25000,50000,100000] [--runs 7]

For each size, a tree of that many files (100 per dir below one ``_data`` dir, like a volume)
is walked whole by one forked walker process and in pieces by two (the parent lists the first
levels, see inspector.measure.split), in this process's pool, alternately; the median wall
times are printed. No root privileges; the trees live in a temp dir, deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inspector.measure import planning, pool, split
from inspector.model import Usage


def make(top: Path, n: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    data = top / "_data"
    for start in range(0, n, 100):
        d = data / f"d{start // 100:05d}"
        d.mkdir(parents=True)
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(start, min(start + 100, n)):
                os.close(os.open(f"f{i}", flags, 0o644, dir_fd=dfd))
        finally:
            os.close(dfd)


def whole(job: planning.Job) -> tuple[float, Usage]:
    t = time.perf_counter()
    (res,) = [r for b in pool._forked([[(0, job)]], 1) for r in b]
    assert isinstance(res[1], Usage)
    return time.perf_counter() - t, res[1]


def pieces(job: planning.Job, n: int) -> tuple[float, Usage]:
    t = time.perf_counter()
    got = split.open_split(job, 2, n)
    if isinstance(got, Usage):
        return time.perf_counter() - t, got
    try:
        tasks: list[tuple[int, planning.Job | split.Piece, int]] = [(0, p, 1) for p in got.pieces]
        for b in pool._forked(pool._batches(tasks, 2), 2):
            for _, part in b:
                assert not isinstance(part, Usage)
                got.merge.add(part)
    finally:
        got.walk.close_all()
    return time.perf_counter() - t, got.merge.usage()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,25000,50000,100000")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dinspector-splitmin-"))
    try:
        print("| entries | whole, 1 process ms | split, 2 processes ms | load |")
        print("| --- | --- | --- | --- |")
        for n in (int(x) for x in args.sizes.split(",")):
            top = work / f"t{n}"
            make(top, n)
            job = planning.Job(str(top), "_data")
            a: list[float] = []
            b: list[float] = []
            for _ in range(args.runs):
                ta, ua = whole(job)
                tb, ub = pieces(job, n)
                assert ua == ub
                a.append(ta)
                b.append(tb)
            la = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(
                f"| {n:,} | {1000 * statistics.median(a):.0f} | "
                f"{1000 * statistics.median(b):.0f} | {la} |"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
