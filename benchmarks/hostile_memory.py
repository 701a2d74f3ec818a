#!/usr/bin/env python3
"""Peak memory of ``docker-inspector report`` on hostile data roots (issue 17, finding 6).

One command, no root privileges, no daemon:

    .venv/bin/python benchmarks/hostile_memory.py                  # every case, ~1 min
    .venv/bin/python benchmarks/hostile_memory.py --case volumes-db-40m-labels --keep
    .venv/bin/python benchmarks/hostile_memory.py --repo /tmp/old-checkout   # compare

Each case copies ``sample_data/root`` into a new temp dir, plants one hostile input in the
copy (``make(root_copy)``), then runs, as a child process,

    python -m inspector report --root COPY --format json -o /dev/null --no-cache

and prints the child's peak RSS and wall time, PASS or FAIL against ``--limit-mb`` (default
512). The exit status is 1 if any case fails (over the limit, or the report itself failed).

Peak RSS comes from GNU time (``/usr/bin/time -f %M``), which reports its child's wait4
rusage (the child's own worker processes included). Without GNU time it falls back to
``wait4`` here, whose figure also counts this process's resident pages at the fork (small:
every case writes its files streaming, never holding them in memory).

To add a case: write ``make_<name>(root: Path) -> str`` that plants the input under ``root``
(a private copy: anything may be changed) and returns a one-line description, and list it in
``CASES``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_ROOT = REPO / "sample_data" / "root"
sys.path.insert(0, str(REPO))

#: GNU time, for the peak RSS of the child (Debian package "time").
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else ""
#: The target of issue 17: a hostile root must not take the tool past this.
LIMIT_MB = 512.0


# --------------------------------------------------------------------------- a bbolt writer

PAGE = 4096
_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
_LEAF_ELEM = struct.Struct("<IIII")  # flags, pos, ksize, vsize
_LEAF, _META, _FREELIST = 0x02, 0x04, 0x10


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & (2**64 - 1)
    return h


def _meta_page(pid: int, root: int, npages: int, txid: int) -> bytes:
    body = struct.pack("<IIIIQQQQQ", 0xED0CDAED, 2, PAGE, 0, root, 0, 2, npages, txid)
    body += struct.pack("<Q", _fnv1a64(body))
    return (_HEADER.pack(pid, _META, 0, 0) + body).ljust(PAGE, b"\0")


#: A value given as (size, chunks): written piece by piece, never held whole.
Streamed = tuple[int, Callable[[], Iterator[bytes]]]


def write_volumes_db(path: Path, entries: Sequence[tuple[bytes, bytes | Streamed]]) -> int:
    """Write a bbolt file: root -> bucket ``volumes`` -> one leaf (with overflow) of entries.

    ``entries`` must be in key order; a value is bytes or (size, chunk generator). Returns the
    file size. The leaf's data is streamed, so a 480 MB value costs a few MB here.
    """
    sizes = [(len(k), v[0] if isinstance(v, tuple) else len(v)) for k, v in entries]
    n = len(entries)
    elems = b""
    data_off = n * _LEAF_ELEM.size  # from the first element to the data area
    for i, (ksize, vsize) in enumerate(sizes):
        pos = data_off - i * _LEAF_ELEM.size  # relative to this element
        elems += _LEAF_ELEM.pack(0, pos, ksize, vsize)
        data_off += ksize + vsize
    leaf_len = _HEADER.size + data_off
    overflow = (leaf_len - 1) // PAGE
    npages = 4 + 1 + overflow  # metas 0-1, freelist 2, root leaf 3, volumes leaf 4+
    root_leaf = _HEADER.pack(3, _LEAF, 1, 0) + _LEAF_ELEM.pack(1, 16, 7, 16)
    root_leaf += b"volumes" + struct.pack("<QQ", 4, 0)  # the bucket's root page: 4
    with open(path, "wb") as f:
        f.write(_meta_page(0, 3, npages, 1))
        f.write(_meta_page(1, 3, npages, 2))
        f.write(_HEADER.pack(2, _FREELIST, 0, 0).ljust(PAGE, b"\0"))
        f.write(root_leaf.ljust(PAGE, b"\0"))
        f.write(_HEADER.pack(4, _LEAF, n, overflow) + elems)
        for key, value in entries:
            f.write(key)
            if isinstance(value, tuple):
                size, chunks = value
                written = 0
                for chunk in chunks():
                    f.write(chunk)
                    written += len(chunk)
                assert written == size, f"{key!r}: streamed {written} bytes, announced {size}"
            else:
                f.write(value)
        f.truncate(npages * PAGE)  # the rest of the last page: a hole
    return npages * PAGE


def _sample_volumes() -> list[tuple[bytes, bytes]]:
    """The sample root's own ``volumes`` entries, read with the project's reader."""
    from inspector.readers.bbolt import load_bolt

    bucket = load_bolt(str(SAMPLE_ROOT / "volumes" / "metadata.db")).bucket(b"volumes")
    assert bucket is not None
    return list(bucket.values().items())


# --------------------------------------------------------------------------- the cases


def make_volumes_db_40m_labels(root: Path) -> str:
    """``volumes/metadata.db`` of ~480 MB: the value of volume ``appdata`` has 40M labels."""
    victim = b"appdata"
    assert (root / "volumes" / victim.decode() / "_data").is_dir()
    labels = 40_000_000
    # Distinct 6-character keys, 12 bytes a label: '"KKKKKK":"",'. A block holds every
    # suffix for one prefix; the prefix placeholder is swapped in with one C-level replace.
    alphabet = [
        bytes([c]) for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    ]
    suffixes = [a + b + c for a in alphabet for b in alphabet for c in alphabet]
    template = b"".join(b'"\0\0\0' + s + b'":"",' for s in suffixes)
    per_block = len(suffixes)
    head = b'{"Name":"appdata","Driver":"local","Labels":{'
    tail = b'},"Options":{}}'
    size = len(head) + 12 * labels - 1 + len(tail)

    def chunks() -> Iterator[bytes]:
        yield head
        left = labels
        block = 0
        while left:
            prefix = alphabet[block // 4096] + alphabet[block // 64 % 64] + alphabet[block % 64]
            take = min(left, per_block)
            chunk = template[: 12 * take].replace(b"\0\0\0", prefix)
            left -= take
            block += 1
            yield chunk if left else chunk[:-1]  # no comma after the last label
        yield tail

    entries: list[tuple[bytes, bytes | Streamed]] = [
        (k, (size, chunks) if k == victim else v) for k, v in _sample_volumes()
    ]
    total = write_volumes_db(root / "volumes" / "metadata.db", entries)
    return f"volumes/metadata.db of {total / 1e6:.0f} MB; {victim.decode()!r} has {labels:,} labels"


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], str]


def make_overlay2_200k_empty_dirs(root: Path) -> str:
    """200,000 empty dirs in ``overlay2/`` that nothing references (200k orphan findings)."""
    home = root / "overlay2"
    old = time.time() - 3600  # older than the live-daemon slack: judged as orphans
    for i in range(200_000):
        d = home / f"{i:064x}"
        d.mkdir()
        os.utime(d, (old, old))
    return "200,000 empty unreferenced dirs in overlay2/"


def make_configs_15mb_labels(root: Path) -> str:
    """Eight containers whose config.v2.json holds ~15 MB of labels each."""
    import json

    cdir = root / "containers"
    template = next(p for p in sorted(cdir.iterdir()) if (p / "config.v2.json").is_file())
    base = json.loads((template / "config.v2.json").read_bytes())
    for n in range(8):
        cid = f"{n:02d}" + "e" * 62
        dst = cdir / cid
        shutil.copytree(template, dst, symlinks=True)
        for f in list(dst.iterdir()):
            if f.name.startswith(template.name):
                f.unlink()  # its logs: named after the template's ID
        doc = dict(base, ID=cid, Name=f"/labels{n}")
        doc["Config"] = dict(base["Config"], Labels={f"k{i:07d}": "v" * 40 for i in range(270_000)})
        (dst / "config.v2.json").write_text(json.dumps(doc))
    return "8 container configs with 270,000 labels (~15 MB) each"


CASES = [
    Case("volumes-db-40m-labels", make_volumes_db_40m_labels),
    Case("overlay2-200k-empty-dirs", make_overlay2_200k_empty_dirs),
    Case("configs-15mb-labels", make_configs_15mb_labels),
]


# --------------------------------------------------------------------------- measuring


@dataclass
class Result:
    case: str
    what: str
    rss_mb: float
    seconds: float
    returncode: int
    stderr: str


def measure(root: Path, repo: Path, python: str, work: Path) -> tuple[float, float, int, str]:
    """Run the report on ``root``: (peak RSS MB, wall s, exit status, stderr tail)."""
    drop = ("DOCKER_", "XDG_CACHE", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["XDG_CACHE_HOME"] = str(work / "cache")
    env["PYTHONPATH"] = str(repo)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")  # never write bytecode into a checkout
    argv = [python, "-m", "inspector", "report", "--root", str(root)]
    argv += ["--format", "json", "-o", "/dev/null", "--no-cache"]
    # Compile first, so the wall time is the report's, not the byte-compiler's.
    compile_cmd = [python, "-m", "compileall", "-q", str(repo / "inspector")]
    subprocess.run(compile_cmd, cwd=repo, env=env, check=True)
    rss_file = work / "rss"
    cmd = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv] if GNU_TIME else argv
    started = time.perf_counter()
    # cwd matters: "python -m" puts the working directory first on sys.path.
    proc = subprocess.Popen(
        cmd,
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()  # the child ends when it closes stderr; wait4 reaps it below
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    kib = int(rss_file.read_text().split()[-1]) if GNU_TIME else usage.ru_maxrss
    tail = err.decode(errors="replace")[-2000:]
    if GNU_TIME and proc.returncode != 0:
        tail = "\n".join(ln for ln in tail.splitlines() if not ln.startswith("Command exited"))
    return kib / 1024, seconds, proc.returncode, tail


def run_case(case: Case, repo: Path, python: str, work: Path, log: Callable[[str], None]) -> Result:
    root = work / case.name
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(SAMPLE_ROOT, root, symlinks=True)
    t = time.perf_counter()
    what = case.make(root)
    log(f"{case.name}: {what} (made in {time.perf_counter() - t:.1f} s)")
    rss, seconds, rc, err = measure(root, repo, python, work)
    return Result(case.name, what, rss, seconds, rc, err)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    names = [c.name for c in CASES]
    ap.add_argument("--case", action="append", choices=names, help="run only this case")
    ap.add_argument("--limit-mb", type=float, default=LIMIT_MB, help="peak RSS allowed (MB)")
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout whose inspector runs")
    ap.add_argument("--python", help="interpreter (default: the repo's .venv, else this one)")
    ap.add_argument("--workdir", type=Path, help="where to build (default: a new /tmp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    ns = ap.parse_args(argv)
    venv_python = REPO / ".venv" / "bin" / "python"
    python = ns.python or (str(venv_python) if venv_python.exists() else sys.executable)
    work = ns.workdir or Path(tempfile.mkdtemp(prefix="dinspector-hostile-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", flush=True)

    if not GNU_TIME:
        log("no /usr/bin/time: peak RSS from wait4 (includes this process's pages at fork)")
    results: list[Result] = []
    try:
        for case in CASES:
            if ns.case and case.name not in ns.case:
                continue
            results.append(run_case(case, ns.repo.resolve(), python, work, log))
    finally:
        if ns.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    cols = f"{'case':<26}{'peak RSS MB':>12}{'wall s':>9}{'exit':>6}"
    print(f"{cols}  verdict (limit {ns.limit_mb:g} MB)")
    failed = False
    for r in results:
        ok = r.returncode == 0 and r.rss_mb <= ns.limit_mb
        failed |= not ok
        why = "" if r.returncode == 0 else " (report failed)"
        verdict = ("PASS" if ok else "FAIL") + why
        print(f"{r.case:<26}{r.rss_mb:>12.1f}{r.seconds:>9.2f}{r.returncode:>6}  {verdict}")
        if r.returncode != 0 and r.stderr:
            print("    " + r.stderr.strip().replace("\n", "\n    "))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
