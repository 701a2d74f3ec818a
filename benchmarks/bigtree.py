#!/usr/bin/env python3
"""One huge volume: time and peak memory of ``report`` and ``report --full`` against ``du -s``.

    .venv/bin/python benchmarks/bigtree.py                    # 5,000,000 files, ~10 min
    .venv/bin/python benchmarks/bigtree.py --files 1000000 --runs 3
    .venv/bin/python benchmarks/bigtree.py --baseline /tmp/before   # also an older checkout

No root privileges and no daemon: the root is a copy of ``sample_data/root`` whose volume
``appdata`` is filled with N files (0-6 bytes each, 1,000 per directory; see growth.fill),
in a new dir under ``--workdir`` (default: the system temp dir), deleted at the end unless
``--keep``. The size cache lives there too (``XDG_CACHE_HOME``). After one warm-up run of each
command (page cache, bytecode, the size cache and its hints), the commands run round-robin
``--runs`` times; the median wall time and the largest peak RSS are kept. Peak RSS is GNU
time's ``%M``: the largest of the process and the walker processes it forks and waits for.
The load average is printed before and after each round, since the machine may be shared.

``--baseline DIR`` times ``report --full`` of another checkout too (e.g. the last commit,
unpacked with ``git archive HEAD | tar -x -C DIR``), interleaved with the others.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from growth import fill  # noqa: E402


def fill_parallel(data: Path, n: int, jobs: int) -> None:
    """growth.fill's files (0-6 bytes, 1,000 per dir), made by `jobs` forked processes, each
    a range of whole directories (file creation is bound by the kernel, not by Python)."""
    data.mkdir(parents=True, exist_ok=True)
    dirs = (n + 999) // 1000
    pids = []
    for j in range(jobs):
        lo, hi = dirs * j // jobs, dirs * (j + 1) // jobs
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
                for k in range(lo, hi):
                    d = data / f"d{k:05d}"
                    d.mkdir()
                    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        for i in range(k * 1000, min(k * 1000 + 1000, n)):
                            fd = os.open(f"f{i}", flags, 0o644, dir_fd=dfd)
                            if i % 7:
                                os.write(fd, b"x" * (i % 7))
                            os.close(fd)
                    finally:
                        os.close(dfd)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"filling process {pid} failed")


#: Targets of issue 14 for this root.
FULL_RATIO = 1.0
RSS_MB = 500.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MB, CPU seconds: user + system, children included) of one run
    of `cmd` in `cwd` (``-m inspector`` imports the checkout there), output discarded."""
    t = time.perf_counter()
    res = subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        check=True,
    )
    wall = time.perf_counter() - t
    rss_kb, user, system = res.stderr.strip().splitlines()[-1].split()
    return wall, int(rss_kb) / 1024, float(user) + float(system)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=5_000_000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--keep", action="store_true", help="keep the generated root")
    ap.add_argument("--baseline", type=Path, help="another checkout to time --full of")
    ap.add_argument("--json", type=Path, help="write the raw timings here")
    ap.add_argument("--jobs", type=int, default=2, help="processes generating the files")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dinspector-bigtree-", dir=args.workdir))
    root = work / "root"
    pycache = work / "pycache"

    def env_for(src: Path) -> dict[str, str]:
        env = dict(os.environ, XDG_CACHE_HOME=str(work / f"cache-{src.name}"))
        env["PYTHONPATH"] = str(src)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache / src.name)
        return env

    def report(src: Path, *extra: str) -> list[str]:
        return [
            *(sys.executable, "-m", "inspector", "report", "--root", str(root)),
            *("-o", "/dev/null", *extra),
        ]

    commands: dict[str, tuple[list[str], dict[str, str], Path]] = {
        "du -s": (["du", "-s", str(root)], dict(os.environ), REPO),
        "report": (report(REPO), env_for(REPO), REPO),
        "report --full": (report(REPO, "--full"), env_for(REPO), REPO),
    }
    if args.baseline is not None:
        base = args.baseline.resolve()
        commands["baseline --full"] = (report(base, "--full"), env_for(base), base)
    raw: dict[str, list[tuple[float, float, float]]] = {k: [] for k in commands}
    loads: list[str] = []
    try:
        shutil.copytree(SAMPLE, root, symlinks=True)
        t = time.perf_counter()
        data = root / "volumes" / "appdata" / "_data"
        if args.jobs > 1:
            fill_parallel(data, args.files, args.jobs)
        else:
            fill(data, args.files)
        made = time.perf_counter() - t
        print(f"[bigtree] {args.files:,} files made in {made:.1f} s (load {load()})", flush=True)
        for name, (c, env, cwd) in commands.items():
            w, r, u = timed(c, env, cwd)  # warm-up
            print(f"[bigtree] warm-up {name}: {w:.2f} s, CPU {u:.2f} s, {r:.0f} MB", flush=True)
        for n in range(args.runs):
            loads.append(load())
            for name, (c, env, cwd) in commands.items():
                w, r, u = timed(c, env, cwd)
                raw[name].append((w, r, u))
                line = f"{w:.2f} s, CPU {u:.2f} s, {r:.0f} MB"
                print(f"[bigtree] run {n + 1} {name}: {line}", flush=True)
        loads.append(load())
    finally:
        if args.keep:
            print(f"[bigtree] kept {work}")
        else:
            # rm is several times faster than shutil.rmtree on millions of files.
            t = time.perf_counter()
            subprocess.run(["rm", "-rf", "--one-file-system", "--", str(work)], check=False)
            print(f"[bigtree] removed in {time.perf_counter() - t:.1f} s", flush=True)
    med = {k: statistics.median(w for w, _, _ in v) for k, v in raw.items()}
    best = {k: min(w for w, _, _ in v) for k, v in raw.items()}
    cpu = {k: statistics.median(u for _, _, u in v) for k, v in raw.items()}
    rss = {k: max(r for _, r, _ in v) for k, v in raw.items()}
    du = med["du -s"]
    print(
        f"\n{args.files:,} files in one volume; {args.runs} runs each, interleaved; load "
        f"average (1/5/15 min) before each round and at the end: {' | '.join(loads)}\n"
    )
    print(
        "| command | wall s (median) | x du -s | best wall s | x du -s (best) | CPU s "
        "| peak RSS MB | target | met (median) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in commands:
        ratio = med[name] / du
        if name == "report --full":
            target = f"<= {FULL_RATIO:.1f} x du -s, RSS <= {RSS_MB:.0f} MB"
            met = "yes" if ratio <= FULL_RATIO and rss[name] <= RSS_MB else "no"
        elif name == "report":
            target = f"RSS <= {RSS_MB:.0f} MB"
            met = "yes" if rss[name] <= RSS_MB else "no"
        else:
            target = met = ""
        print(
            f"| {name} | {med[name]:.2f} | {ratio:.2f} | {best[name]:.2f} | "
            f"{best[name] / best['du -s']:.2f} | {cpu[name]:.2f} | {rss[name]:.0f} | "
            f"{target} | {met} |"
        )
    if args.json is not None:
        args.json.write_text(
            json.dumps({"files": args.files, "loads": loads, "runs": raw}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
