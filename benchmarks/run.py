#!/usr/bin/env python3
"""Benchmark docker-inspector's measurement against ``du -s`` and ``docker system df -v``.

One command, as root, from a clean clone (Debian's docker.io installed, project venv set up):

    python benchmarks/run.py                 # ~3-6 min; prints the tables, cleans up
    python benchmarks/run.py --skip-real     # ~3 min: the 5,000-layer root only, beside dockerd
    python benchmarks/run.py --runs 7 --json /tmp/bench.json --keep

What it does:

1. Starts a private dockerd (tests/dockerlab.py: own data root, exec root and socket; never
   /var/lib/docker or the default socket) and builds a large real root in it: a base image
   made by ``docker import`` of a generated tar (busybox + tiny files), image layers added on
   top by builds FROM it (``ADD <generated tar>``; one branch built with BuildKit), in all
   ``--layer-files`` files (default 160,000) shared by the images; 10 containers with 1,000
   files each in their writable layers; a volume with 5,000 files. File contents are a few
   bytes at most; a few symlinks and hard links are mixed in. Containers are left exited, so
   no overlay mounts sit under the root while ``du -s`` runs.
2. With the daemon running, times in one session, round-robin, ``--runs`` times each (after
   one warm-up run each, which also fills the size cache): ``du -s ROOT``,
   ``docker-inspector report`` (default mode, warm cache), ``report --full``, and
   ``docker system df -v``; wall time and peak RSS (``wait4`` rusage of each child, which
   covers its worker processes) per run; prints medians and ratios.
3. Generates a synthetic metadata root (benchmarks/synthetic.py: 5,000 layers, 500 images,
   1,000 containers, no file data) and times ``report`` on it (warm cache); then (unless
   ``--skip-docker``) makes a second one the data root of a private dockerd and times, side
   by side, ``report`` on it and ``docker system df -v`` against that daemon; then the TUI's
   first screen (started as ``docker-inspector tui`` starts it, the reader forked by
   ``inspector.tui.loader.start`` before Textual is imported, until the first report is
   shown; ``benchmarks/firstscreen.py`` also times the counts shown before it).
4. Prints measured values against the targets, stops the daemon (by its PID), and removes
   everything it made unless ``--keep``.

The machine is not reserved: other processes' load skews wall times, so the load average is
printed with the results.
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

#: GNU time, for the peak RSS of each command (Debian package "time").
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else ""

#: Targets from issue 7: (label, limit, unit).
TARGETS = {
    "report_du": 0.25,
    "full_du": 1.0,
    "report_df": 1.0,
    "rss_mb": 200.0,
    "synthetic_s": 5.0,
    "tui_s": 1.0,
}


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Runs of one command."""

    label: str
    seconds: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """user + system CPU seconds of the command and its children (less load-sensitive)."""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_mb(self) -> float:
        return max(self.rss_kb) / 1024


def run_timed(argv: Sequence[str], env: Mapping[str, str]) -> tuple[float, int, float]:
    """Run a command with stdout to /dev/null; (wall s, peak RSS KiB, CPU s incl. children).

    The peak RSS comes from GNU time (``/usr/bin/time -f %M``), which reports its child's
    wait4 rusage: that covers the child's own worker processes. It is not taken with wait4
    from here because a child forked or vforked from this (large) Python process starts
    with this process's resident pages in its high-water mark.
    """
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = os.path.join(tmp, "rss")
        cmd = [GNU_TIME, "-f", "%M %U %S", "-o", rss_file, *argv] if GNU_TIME else list(argv)
        started = time.perf_counter()
        res = subprocess.run(
            cmd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        wall = time.perf_counter() - started
        if res.returncode != 0:
            err = res.stderr.decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}): {err}")
        rss, cpu = 0, 0.0
        if GNU_TIME:
            kb, user, system = Path(rss_file).read_text().split()[-3:]
            rss, cpu = int(kb), float(user) + float(system)
    return wall, rss, cpu


def measure_round_robin(
    commands: Mapping[str, tuple[Sequence[str], Mapping[str, str]]], runs: int
) -> dict[str, Timing]:
    """One warm-up run each, then `runs` rounds, the order rotating every round."""
    out = {k: Timing(k) for k in commands}
    names = list(commands)
    for name in names:
        run_timed(*commands[name])
    for r in range(runs):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            wall, rss, cpu = run_timed(*commands[name])
            out[name].seconds.append(wall)
            out[name].rss_kb.append(rss)
            out[name].cpu.append(cpu)
    return out


# --------------------------------------------------------------------------- the real root


def files_tar(prefix: str, count: int, seed: int) -> bytes:
    """A tar of `count` tiny files under `prefix`/dNNN/, with a few symlinks and hard links."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        per_dir = 200
        for d in range((count + per_dir - 1) // per_dir):
            info = tarfile.TarInfo(f"{prefix}/d{d:04d}")
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for i in range(count):
            name = f"{prefix}/d{i // per_dir:04d}/f{i:06d}"
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if i % 97 == 1:
                info.type = tarfile.SYMTYPE
                info.linkname = f"f{i - 1:06d}"
                tar.addfile(info)
            elif i % 211 == 2:
                info.type = tarfile.LNKTYPE
                info.linkname = f"{prefix}/d{(i - 2) // per_dir:04d}/f{i - 2:06d}"
                tar.addfile(info)
            else:
                # Mostly empty files (no data blocks); every 8th holds a few bytes.
                data = b"" if (i + seed) % 8 else str(i).encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class RealRoot:
    """What was built in the private daemon."""

    root: Path
    images: dict[str, str]
    containers: list[str]
    layer_files: int


def build_real_root(lab: object, layer_files: int, log: Callable[[str], None]) -> RealRoot:
    """Images from imported + built layers, 10 containers x 1,000 files, a 5,000-file volume."""
    from dockerlab import PrivateDockerd, busybox_rootfs_tar  # type: ignore[import-not-found, unused-ignore]

    assert isinstance(lab, PrivateDockerd)
    per_layer = layer_files // 5
    # The base: busybox plus the first share of files, as one imported layer.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out:
        for part in (busybox_rootfs_tar(), files_tar("data/base", per_layer, 0)):
            with tarfile.open(fileobj=io.BytesIO(part)) as src:
                for member in src.getmembers():
                    out.addfile(member, src.extractfile(member) if member.isfile() else None)
    t = time.perf_counter()
    images = {
        "bench/base": lab.cli(
            "import", "--change", 'CMD ["sh"]', "-", "bench/base", input=buf.getvalue()
        )
        .strip()
        .splitlines()[-1]
    }
    log(f"imported bench/base ({per_layer} files) in {time.perf_counter() - t:.1f} s")
    # A chain s1 -> s2 -> s3 (classic builder) and a BuildKit branch b1 on s1.
    plan = [
        ("bench/s1", "bench/base", False),
        ("bench/s2", "bench/s1", False),
        ("bench/s3", "bench/s2", False),
        ("bench/b1", "bench/s1", True),
    ]
    for k, (tag, parent, buildkit) in enumerate(plan, start=1):
        t = time.perf_counter()
        tar = files_tar(f"data/{tag.split('/')[1]}", per_layer, k)
        images[tag] = lab.build(
            tag,
            f"FROM {parent}\nADD layer.tar /\n",
            {"layer.tar": tar},
            buildkit=buildkit,
        )
        log(f"built {tag} FROM {parent} ({per_layer} files) in {time.perf_counter() - t:.1f} s")
    containers: list[str] = []
    script = "mkdir /w && for i in $(seq 1000); do echo $i > /w/f$i; done"
    tags = list(images)
    t = time.perf_counter()
    for c in range(10):
        containers.append(
            lab.run(tags[c % len(tags)], "sh", "-c", script, name=f"bench-{c}", detach=False)
        )
    lab.cli("volume", "create", "benchvol")
    containers.append(
        lab.run(
            "bench/base",
            "sh",
            "-c",
            "for i in $(seq 5000); do echo $i > /v/f$i; done",
            name="bench-vol",
            options=["-v", "benchvol:/v"],
            detach=False,
        )
    )
    took = time.perf_counter() - t
    log(f"ran 11 containers (10 x 1,000 files, 5,000 in a volume) in {took:.1f} s")
    return RealRoot(Path(lab.data_root), images, containers, per_layer * 5)


def count_files(root: str) -> dict[str, int]:
    """Entries per kind of tree, from a full scan (no cache)."""
    from inspector import inventory, measure

    inv = inventory.read(root)
    used = measure.measure(inv, full=True, cache=False).usage
    layer_dirs = {la.cache_id for la in inv.layers.values()}
    counts = {"image layer dirs": 0, "container layer dirs": 0, "volumes": 0}
    for name, d in inv.storage_dirs.items():
        key = "image layer dirs" if name in layer_dirs else "container layer dirs"
        counts[key] += used[d.path].files
    counts["volumes"] = sum(used[v.path].files for v in inv.volumes.values())
    du = subprocess.run(["du", "-s", "--inodes", root], capture_output=True, text=True, check=True)
    counts["root total (du --inodes)"] = int(du.stdout.split()[0])
    return counts


# --------------------------------------------------------------------------- TUI timing

TUI_SNIPPET = r"""
import asyncio, sys, time
t0 = time.perf_counter()
root = sys.argv[1]
# As `docker-inspector tui` starts: the reader forked before Textual is imported.
from inspector.tui import loader
prefetch = loader.start(root)
from inspector.tui.app import make_app

async def main() -> None:
    app = make_app(root=root, prefetch=prefetch)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.report is None:
            await asyncio.sleep(0.002)  # pilot.pause() would wait for idle: slower
        await pilot.pause()  # let the screen render what it was given
        print(f"{time.perf_counter() - t0:.4f} first-report")
        await app.action_quit()

asyncio.run(main())
"""


def time_tui(root: str, env: Mapping[str, str], runs: int) -> tuple[list[float], str]:
    """Seconds from interpreter start-up (imports included) to the TUI's first report."""
    out: list[float] = []
    how = ""
    for _ in range(runs + 1):
        res = subprocess.run(
            [sys.executable, "-c", TUI_SNIPPET, root],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"TUI timing failed:\n{res.stderr[-3000:]}")
        value, how = res.stdout.strip().splitlines()[-1].split()
        out.append(float(value))
    return out[1:], how  # the first run warms the page cache


# --------------------------------------------------------------------------- main


def fmt_row(cols: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))


def synthetic_under_dockerd(
    work: Path,
    py: list[str],
    env: dict[str, str],
    runs: int,
    timings: dict[str, Timing],
    log: Callable[[str], None],
) -> Any:
    """A second synthetic root, the data root of a private dockerd: `report` on it and
    `docker system df -v` against that daemon, side by side (the daemon reads the same
    5,000 layers, 500 images and 1,000 containers at start-up and answers from memory)."""
    from dockerlab import PrivateDockerd  # type: ignore[import-not-found, unused-ignore]
    from synthetic import make_root

    base = work / "synthetic-dockerd"
    make_root(str(base / "root"))
    lab = PrivateDockerd(base, "overlay2")
    lab.start()
    log(f"private dockerd pid {lab.pid} on a synthetic root, {lab.data_root}")
    try:
        root = str(lab.data_root)
        cmds = {
            "report, synthetic under dockerd": ([*py, "report", "--root", root], env),
            "docker system df -v, synthetic": (
                ["/usr/bin/docker", "system", "df", "-v"],
                lab.client_env(),
            ),
        }
        timings.update(measure_round_robin(cmds, runs))
    except BaseException:
        lab.stop()
        raise
    return lab


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    ap.add_argument("--layer-files", type=int, default=160_000, help="files in image layers")
    ap.add_argument("--workdir", help="where to build (default: a new dir under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the roots and cache afterwards")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    ap.add_argument("--skip-docker", action="store_true", help="synthetic root only (no root)")
    ap.add_argument(
        "--skip-real",
        action="store_true",
        help="no real root: only the synthetic one, with and without a dockerd on it",
    )
    ns = ap.parse_args(argv)
    t_start = time.perf_counter()
    work = Path(ns.workdir or tempfile.mkdtemp(prefix="dinspector-bench-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", flush=True)

    drop = ("DOCKER_", "XDG_CACHE", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["XDG_CACHE_HOME"] = str(work / "cache")
    env["PYTHONPATH"] = str(REPO)
    # Installed packages run from compiled bytecode; a checkout with PYTHONDONTWRITEBYTECODE
    # set would recompile every module on every run (~70 ms here). The warm-up runs write
    # the bytecode into the work dir, never into the checkout.
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    py = [sys.executable, "-m", "inspector"]
    results: dict[str, object] = {"load_before": os.getloadavg()}
    timings: dict[str, Timing] = {}
    lab = None
    try:
        if not (ns.skip_docker or ns.skip_real):
            from dockerlab import PrivateDockerd  # type: ignore[import-not-found, unused-ignore]

            lab = PrivateDockerd(work / "dockerd")
            lab.start()
            log(f"private dockerd pid {lab.pid}, data root {lab.data_root}")
            real = build_real_root(lab, ns.layer_files, log)
            root = str(real.root)
            counts = count_files(root)
            results["files"] = counts
            log(
                "entries walked by a full scan: " + ", ".join(f"{k} {v}" for k, v in counts.items())
            )
            docker_env = lab.client_env()
            commands = {
                "du -s": (["du", "-s", root], env),
                "report": ([*py, "report", "--root", root], env),
                "report --full": ([*py, "report", "--root", root, "--full"], env),
                "docker system df -v": (["/usr/bin/docker", "system", "df", "-v"], docker_env),
            }
            log(f"timing {len(commands)} commands x {ns.runs} runs (+1 warm-up each)")
            timings = measure_round_robin(commands, ns.runs)
            full_json = subprocess.run(
                [*py, "report", "--root", root, "--full", "--format", "json"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            mismatches = [
                f for f in json.loads(full_json)["findings"] if f["kind"] == "size_mismatch"
            ]
            results["size_mismatch_findings"] = len(mismatches)
            log(f"report --full: {len(mismatches)} size_mismatch finding(s) (expected 0)")
            lab.stop()
            log("private dockerd stopped")
        synth = work / "synthetic"
        if synth.exists():
            shutil.rmtree(synth)
        t = time.perf_counter()
        from synthetic import make_root

        made = make_root(str(synth))
        log(
            f"synthetic root: {made.layers} layers, {made.images} images, {made.containers} "
            f"containers, {made.storage_dirs} storage dirs in {time.perf_counter() - t:.1f} s"
        )
        synth_cmds = {"synthetic report": ([*py, "report", "--root", str(synth)], env)}
        timings.update(measure_round_robin(synth_cmds, ns.runs))
        if not ns.skip_docker:
            lab = synthetic_under_dockerd(work, py, env, ns.runs, timings, log)
            lab.stop()
            log("private dockerd on the synthetic root stopped")
        tui, how = time_tui(str(synth), env, max(ns.runs, 3))
        timings["TUI first screen"] = Timing("TUI first screen", tui, [0])
        results["tui_timed"] = how
    finally:
        if lab is not None:
            lab.stop()
        if not ns.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    results["load_after"] = os.getloadavg()

    # ---- tables
    print()
    widths = (26, 9, 9, 9, 12, 12)
    print(fmt_row(("command", "median s", "min s", "max s", "median CPU s", "peak RSS MB"), widths))
    for tm in timings.values():
        rss = f"{tm.peak_mb:.0f}" if max(tm.rss_kb) else "-"
        cpu = f"{statistics.median(tm.cpu):.2f}" if tm.cpu else "-"
        cols = (tm.label, f"{tm.median:.3f}", f"{min(tm.seconds):.3f}", f"{max(tm.seconds):.3f}")
        print(fmt_row((*cols, cpu, rss), widths))
    checks: list[tuple[str, float, float, str]] = []
    if "du -s" in timings:
        du = timings["du -s"].median
        checks += [
            (
                "report (warm cache) / du -s",
                timings["report"].median / du,
                TARGETS["report_du"],
                "x",
            ),
            (
                "report --full / du -s",
                timings["report --full"].median / du,
                TARGETS["full_du"],
                "x",
            ),
            (
                "report / docker system df -v",
                timings["report"].median / timings["docker system df -v"].median,
                TARGETS["report_df"],
                "x",
            ),
            ("peak RSS report", timings["report"].peak_mb, TARGETS["rss_mb"], "MB"),
            ("peak RSS report --full", timings["report --full"].peak_mb, TARGETS["rss_mb"], "MB"),
        ]
    if "docker system df -v, synthetic" in timings:
        checks.append(
            (
                "synthetic report / docker system df -v",
                timings["report, synthetic under dockerd"].median
                / timings["docker system df -v, synthetic"].median,
                TARGETS["report_df"],
                "x",
            )
        )
    checks += [
        ("peak RSS synthetic report", timings["synthetic report"].peak_mb, TARGETS["rss_mb"], "MB"),
        ("synthetic root report", timings["synthetic report"].median, TARGETS["synthetic_s"], "s"),
        (f"TUI first screen ({how})", timings["TUI first screen"].median, TARGETS["tui_s"], "s"),
    ]
    print()
    check_widths = (34, 10, 10, 5)
    print(fmt_row(("measured vs target", "value", "target", "ok"), check_widths))
    for label, value, limit, unit in checks:
        ok = "yes" if value <= limit else "NO"
        print(fmt_row((label, f"{value:.3f}{unit}", f"<= {limit:g}{unit}", ok), check_widths))
    print(
        f"\nload average before {results['load_before']}, after {results['load_after']}; "
        f"total benchmark time {time.perf_counter() - t_start:.0f} s"
    )
    if ns.json:
        results["timings"] = {
            k: {"seconds": t.seconds, "rss_kb": t.rss_kb, "cpu": t.cpu} for k, t in timings.items()
        }
        results["checks"] = [
            {"label": la, "value": v, "target": li, "unit": u} for la, v, li, u in checks
        ]
        Path(ns.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
