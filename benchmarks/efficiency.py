#!/usr/bin/env python3
"""Benchmark ``docker-inspector efficiency`` (every image at once) against dive (one by one).

As root, from a clone with the project's venv (``pip install -e '.[test]'`` brings dive):

    .venv/bin/python benchmarks/efficiency.py              # ~2-4 min, cleans up after itself
    .venv/bin/python benchmarks/efficiency.py --images 16 --base-files 40000 --runs 3

1. Starts a private dockerd (tests/dockerlab.py: own data root, exec root and socket) and
   builds a host: a base image imported from a generated tar (busybox, ``--base-files`` small
   files and a 4 MiB blob), then ``--images`` images FROM it, each with three layers made by
   the classic builder (every third by BuildKit): a tar of 4,000 new small files, an
   overwrite of the base blob, and a deletion of a base dir.
2. Times, side by side, ``--runs`` times each (the first dive and inspector runs also warm
   the page cache): ``docker-inspector efficiency --no-cache`` (every layer's tar-split read),
   ``docker-inspector efficiency`` with a warm cache, and ``CI=true dive ID --source docker
   --json F`` run once per image (summed: what checking every image with dive costs). Prints
   the medians and the ratio to dive's total (target: at most 1/5), and checks that the
   scores, wasted bytes and inefficient files of both are equal.
3. Reads every layer's entries both ways in one process, tar-split and the fallback walk of
   the diff dir, and prints the time of each (which one the tool uses first was decided from
   this number).

The machine is not reserved: the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from run import files_tar  # noqa: E402

DIVE = shutil.which("dive", path=str(Path(sys.executable).parent)) or shutil.which("dive")


def base_tar(files: int) -> bytes:
    """busybox + `files` small files + a 4 MiB blob, as one tar."""
    from dockerlab import busybox_rootfs_tar

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out:
        for part in (busybox_rootfs_tar(), files_tar("data/base", files, 0)):
            with tarfile.open(fileobj=io.BytesIO(part)) as src:
                for member in src.getmembers():
                    out.addfile(member, src.extractfile(member) if member.isfile() else None)
        blob = (b"base blob " * 420_000)[: 4 * 1024 * 1024]
        info = tarfile.TarInfo("data/blob.bin")
        info.size = len(blob)
        out.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def build_host(lab: Any, images: int, base_files: int) -> list[str]:
    """The images (IDs) of the benchmark host."""
    base = lab.cli("import", "-", "effbench/base", input=base_tar(base_files))
    ids = [base.strip().splitlines()[-1]]
    for k in range(images):
        dockerfile = (
            "FROM effbench/base\n"
            "ADD layer.tar /\n"
            f"RUN yes {k} | head -c 4194304 > /data/blob.bin\n"
            f"RUN rm -rf /data/base/d{k % 10:04d}\n"
        )
        ids.append(
            lab.build(
                f"effbench/img{k}",
                dockerfile,
                {"layer.tar": files_tar(f"data/img{k}", 4000, k)},
                buildkit=k % 3 == 2,
            )
        )
    return ids


def timed(argv: Sequence[str], env: dict[str, str], cwd: str | None = None) -> float:
    started = time.perf_counter()
    res = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    took = time.perf_counter() - started
    if res.returncode not in (0, 1):
        raise RuntimeError(f"{argv[:3]} failed: {res.stderr.decode(errors='replace')[-2000:]}")
    return took


def dive_all(lab: Any, ids: Sequence[str], out_dir: Path) -> tuple[float, dict[str, Any]]:
    env = lab.client_env()
    env["CI"] = "true"
    total = 0.0
    docs: dict[str, Any] = {}
    for iid in ids:
        out = out_dir / f"{iid[7:19]}.json"
        assert DIVE is not None
        total += timed([DIVE, iid, "--source", "docker", "--json", str(out)], env)
        docs[iid] = json.loads(out.read_text())["image"]
    return total, docs


def read_both_ways(root: str) -> tuple[float, float, int]:
    """Seconds to read every layer's entries from tar-split, and by walking its diff dir."""
    from inspector import inventory
    from inspector.measure.layerfiles import walk_diff
    from inspector.readers import fs
    from inspector.stores.graphdriver.tarsplit import read_entries

    inv = inventory.read(root)
    ts = walk = 0.0
    entries = 0
    with fs.anchored(inv.root.path):
        for layer in inv.layers.values():
            t = time.perf_counter()
            entries += len(read_entries(os.path.join(layer.metadata_dir, "tar-split.json.gz")))
            ts += time.perf_counter() - t
            t = time.perf_counter()
            walk_diff(os.path.join(inv.driver_home, layer.cache_id, "diff"))
            walk += time.perf_counter() - t
    return ts, walk, entries


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--base-files", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    ns = ap.parse_args(argv)
    if DIVE is None:
        print("dive not found: pip install -e '.[test]'", file=sys.stderr)
        return 2
    from dockerlab import PrivateDockerd

    work = Path(tempfile.mkdtemp(prefix="dinspector-effbench-"))
    env = dict(os.environ, XDG_CACHE_HOME=str(work / "cache"))
    lab = PrivateDockerd(work / "dockerd")
    try:
        lab.start()
        t = time.perf_counter()
        ids = build_host(lab, ns.images, ns.base_files)
        print(f"built {len(ids)} images in {time.perf_counter() - t:.0f} s")
        root = str(lab.data_root)
        cli = [sys.executable, "-m", "inspector", "efficiency", "--root", root, "--format", "json"]
        cold: list[float] = []
        warm: list[float] = []
        dive: list[float] = []
        docs: dict[str, Any] = {}
        for r in range(ns.runs + 1):
            cold.append(timed([*cli, "--no-cache"], env))
            warm.append(timed(cli, env))
            took, docs = dive_all(lab, ids, work)
            dive.append(took)
            if r == 0:  # warm-up: page cache, bytecode, size cache
                cold.clear()
                warm.clear()
                dive.clear()
        ours = json.loads(subprocess.run([*cli, "--no-cache"], env=env, capture_output=True).stdout)
        by_id = {i["id"]: i for i in ours["images"]}
        equal = all(
            by_id[iid]["efficiency_score"] == d["efficiencyScore"]
            and by_id[iid]["wasted_bytes"] == d["inefficientBytes"]
            and sorted((f["path"], f["count"], f["bytes"]) for f in by_id[iid]["inefficient_files"])
            == sorted((f["file"], f["count"], f["sizeBytes"]) for f in d["fileReference"])
            for iid, d in docs.items()
        )
        ts, walk, entries = read_both_ways(root)
        med = statistics.median
        print(f"load average: {os.getloadavg()}")
        print(f"{len(ids)} images, {entries} tar entries in their layers, {ns.runs} runs each")
        print(f"  dive, once per image (sum)        {med(dive):8.2f} s")
        for label, times in (("--no-cache", cold), ("warm cache", warm)):
            ratio = med(times) / med(dive)
            print(f"  efficiency, {label} (all)      {med(times):8.2f} s   ratio {ratio:.3f}")
        print("  target: ratio <= 0.2")
        print(f"  numbers equal to dive's for every image: {equal}")
        print(f"  reading every layer: tar-split {ts:.2f} s, walking the diff dirs {walk:.2f} s")
        return 0 if equal else 1
    finally:
        lab.stop()
        if not ns.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    raise SystemExit(main())
