"""The measure stage: walk what needs walking, reuse what cannot have changed.

``measure(inventory, ...) -> Measurements``; the inventory is not changed. Two modes
(``docker-inspector report`` and ``report --full``):

- **default**: committed image layers are immutable and layerdb records each one's size, so
  Docker's numbers for them need no walk (analysis uses ``layer.size``). Their allocated bytes
  come from the per-root size cache (:mod:`inspector.measure.sizecache`); a dir missing from
  the cache (or whose identity changed) is walked once and stored. Everything that can change
  is walked on every run: containers' writable and -init layer dirs, volumes, container dirs
  (logs, configs), BuildKit-only and unreferenced storage dirs, layerdb staging leftovers, and
  the other areas of the root.
- **full** (verify): every tree is walked, the cache is refreshed, and each image layer's walk
  is kept in ``Measurements.layer_walks`` so :mod:`inspector.analysis.verify` can compare it
  with the recorded size.

The package: :mod:`.planning` (which trees), :mod:`.walker` (one tree, by directory descriptors),
:mod:`.pool` (serial or forked workers), :mod:`.sizecache`, :mod:`.vfsdiff` (vfs's naive
diff), :mod:`.dirfd` (walking by descriptors) and :mod:`.split` (one big tree in pieces).
Walks run in parallel across dirs in forked worker processes, one per core, when the plan is
big enough to pay for them and this process runs no other threads (forking those is unsafe);
otherwise serially. A tree the last run found too big for one process (a huge volume) is
split: its first levels are listed here and its subdirs walked by all the workers, merged into
the Usage the serial walk gives. Hard links are counted
once per filesystem across the whole root: a walk counts links whose every name it saw; the
rest are handed back and counted by the first dir (in plan order) that holds them. Memory stays
O(dirs measured + hard-linked inodes).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Generator, Sequence
from typing import NamedTuple

from inspector.errors import ReaderError
from inspector.measure import sizecache, split
from inspector.measure.containerd import anchored as ctrd_anchored
from inspector.measure.planning import Job, init_dirs, plan, settled_dirs
from inspector.measure.pool import (
    PARALLEL_MIN_ENTRIES,
    Executor,
    Result,
    Task,
    _batches,
    _choose,
    _default_workers,
    _forked,
    _run_batch,
    _serial,
)
from inspector.measure.sizecache import SizeCache
from inspector.measure.walker import Found, Settled
from inspector.model import Inventory, Measurements, Usage
from inspector.readers import fs

Progress = Callable[[str, int, int], None]
"""Callback (stage, done, total) for long measurements; must be cheap and thread-safe."""

#: Expected entries of a dir never walked before (a guess, used only to order and batch).
UNKNOWN_COST = 2_000
#: Cache hint: entries walked outside image layers last run (to choose serial or parallel).
HINT_MUTABLE = "mutable_entries"
#: With this many image and init layer dirs or more, nearly all in the cache, the walkers start
#: on the other trees before the layers' identities are taken (see _scan).
OVERLAP_MIN_LAYERS = 500
#: In that case, layer dirs that changed after all are walked by this process when they
#: held fewer entries than this last time, else by walker processes of their own.
EARLY_SERIAL_MAX = 20_000
#: A settled dir (walker.Settled) changed less than this before the scan is not recorded: a
#: change within its timestamps' granularity would leave its identity as it is.
SETTLE_NS = 2_000_000_000
#: Cache hints: a tree's path after this prefix, its entries last run (trees outside image
#: layers big enough to be split across the walker processes; see inspector.measure.split).
HINT_TREE = "entries:"
#: The biggest trees only (a root with thousands of big volumes keeps its cache file small).
MAX_TREE_HINTS = 64


class ScanStats(NamedTuple):
    """How a scan went (for benchmarks and diagnostics)."""

    mode: str
    executor: str
    workers: int
    walked_dirs: int
    cached_dirs: int
    walked_entries: int
    cache_file: str | None
    seconds: float
    split_trees: int = 0
    """Trees walked in pieces by several walker processes."""


class ScanResult(NamedTuple):
    """The measurements and how the scan went."""

    measurements: Measurements
    stats: ScanStats


def _open_cache(root: str, cache: bool | SizeCache) -> SizeCache:
    if isinstance(cache, SizeCache):
        return cache
    return SizeCache.open(root) if cache else sizecache.disabled(root)


def _layer_facts(inv: Inventory) -> dict[str, list[int | str]]:
    """Cache-id → what layerdb says about the layer(s) stored there (part of the identity)."""
    facts: dict[str, list[int | str]] = {}
    for ch in sorted(inv.layers):
        layer = inv.layers[ch]
        facts.setdefault(layer.cache_id, [layer.cache_id, inv.root.storage_driver or ""])
        facts[layer.cache_id] += [ch, layer.diff_id, -1 if layer.size is None else layer.size]
    # A container's init layer: its container's layer and the image layer below it.
    for cid in sorted(inv.rw_layers):
        m = inv.rw_layers[cid]
        if m.init_id:
            facts.setdefault(m.init_id, [m.init_id, inv.root.storage_driver or ""])
            facts[m.init_id] += ["init", cid, m.mount_id or "", m.parent or ""]
    return facts


def _layer_identity(inv: Inventory, path: str, facts: list[int | str]) -> sizecache.Identity | None:
    diff = os.path.join(path, "diff") if inv.root.storage_driver == "overlay2" else None
    return sizecache.identity(path, diff, facts)


def scan(
    inv: Inventory,
    progress: Progress | None = None,
    *,
    full: bool = False,
    cache: bool | SizeCache = True,
    workers: int | None = None,
    executor: Executor = "auto",
    overlap: bool = True,
) -> ScanResult:
    """Measure the root of `inv` (see the module doc for the modes), with statistics.

    `cache`: True for the user's cache dir (CacheRefused if it is inside the root), False for
    none (``--no-cache``: nothing read, nothing written), or a SizeCache to use. `overlap`:
    with a warm cache, walk while the layers' identities are taken (three busy processes;
    False when another process needs a core meanwhile, as the TUI drawing its first report).
    Every tree is reached beneath the root (see inspector.readers.fs.anchored).
    """
    # The root as given first: a tree outside the reported root (the root as given, when a
    # userns-remap root in it is reported) is measured beneath it too.
    with fs.anchored(inv.root.given), fs.anchored(inv.root.path), ctrd_anchored(inv):
        return _scan(inv, progress, full, cache, workers, executor, overlap)


def _scan(
    inv: Inventory,
    progress: Progress | None,
    full: bool,
    cache: bool | SizeCache,
    workers: int | None,
    executor: Executor,
    overlap: bool = True,
) -> ScanResult:
    started = time.perf_counter()
    sc = _open_cache(inv.root.path, cache)
    jobs = plan(inv)
    parents, dirs = settled_dirs(inv)
    if sc.enabled and (parents or dirs):
        # --full walks them all (and records them afresh).
        last = {} if full else sc.settled_known()
        settled = Settled(parents, dirs, last, time.time_ns() - SETTLE_NS)
        jobs = [j._replace(settled=settled) for j in jobs]
    walks: dict[int, Usage] = {}
    idents: dict[int, sizecache.Identity | None] = {}
    guess = _mutable_guess(jobs, sc)
    mutable = [
        (i, job, sc.hints.get(HINT_TREE + job.path, guess))
        for i, job in enumerate(jobs)
        if job.layer is None
    ]
    layers = [(i, job) for i, job in enumerate(jobs) if job.layer is not None]
    nworkers = workers or _default_workers()
    # Layer dirs with no entry in the cache are walked whatever their identity. When nearly
    # all have one (a warm cache), the walkers start on the rest at once and this process
    # takes the layers' identities meanwhile, then walks the few that changed itself.
    unknown = sum(1 for _, job in layers if job.layer not in sc.entries)
    early = (
        overlap
        and not full
        and len(layers) >= OVERLAP_MIN_LAYERS
        and unknown * 20 <= len(layers)
        and bool(mutable)
        and _choose(executor, PARALLEL_MIN_ENTRIES, nworkers) == "process"
    )
    pending: list[tuple[int, Job, int]] = []
    if not early:
        hits, misses = _lookup(inv, sc, layers, full, idents)
        walks.update(hits)
        pending = misses + mutable
    # Layer dirs: their last walk's entry count; the rest: what it was last run, if known.
    expected = sum(c for _, job, c in pending if job.layer is not None)
    expected += sc.hints.get(HINT_MUTABLE, len(mutable) * UNKNOWN_COST)
    how = "process" if early else _choose(executor, expected, nworkers) if pending else "serial"
    total = len(jobs)
    done = len(walks)
    if progress is not None:
        progress("measuring", done, total)
    walked_entries = mutable_entries = 0
    merges: dict[int, split.Merge] = {}
    opened: list[split.Opened] = []
    found = Found()  # settled dirs: what the walks used and learned (walker.Settled)
    reported = done
    runner: Generator[list[Result], None, None] | None = None

    def take(results: list[Result]) -> None:
        nonlocal done, reported
        for i, part, learned in results:
            found.add(learned)
            if isinstance(part, Usage):
                walks[i] = part
            else:
                m = merges[i]
                m.add(part)
                if m.left:
                    continue
                walks[i] = m.usage()
                del merges[i]
            done += 1
        # Every 16 dirs is often enough for a progress bar and for a caller to cancel.
        if progress is not None and (done - reported >= 16 or done == total):
            progress("measuring", done, total)
            reported = done

    try:
        walking = mutable if early else pending
        tasks: list[tuple[int, Job | split.Piece, int]] = list(walking)
        if how == "process":
            tasks = _split_big(walking, nworkers, walks, merges, opened, found)
            done += sum(1 for i, _, _ in walking if i in walks)  # walked whole while splitting
        batches: list[list[Task]] = _batches(tasks, 1 if how == "serial" else nworkers)
        runner = _forked(batches, nworkers) if how == "process" else _serial(batches)
        if early:
            take(next(runner))  # forks the walkers (an empty first answer)
            hits, misses = _lookup(inv, sc, layers, full, idents)
            walks.update(hits)
            done += len(hits)
            if sum(c for _, _, c in misses) < EARLY_SERIAL_MAX:
                for i, job, _ in misses:
                    take(_run_batch([(i, job)]))
            else:
                # Many changed (a restored root: new inode numbers): walkers of their own.
                extra = _forked(_batches(list(misses), nworkers), nworkers)
                try:
                    for results in extra:
                        take(results)
                finally:
                    extra.close()
            pending = misses + mutable
        for results in runner:
            take(results)
    finally:
        if runner is not None:
            runner.close()  # stops and reaps walker processes still running (an exception)
        for o in opened:
            o.walk.close_all()
    for i, _, _ in pending:
        w = walks[i]
        walked_entries += w.files
        if jobs[i].layer is None:
            mutable_entries += w.files
    layer_walks: dict[str, Usage] = {}
    pending_ids = {i for i, _, _ in pending}
    inits = init_dirs(inv)
    for i, job in enumerate(jobs):
        if job.layer is None or i not in pending_ids:
            continue
        w = walks[i]
        if job.layer not in inits:
            layer_walks[job.layer] = w
        ident = idents.get(i)
        if ident is not None and w.complete:
            sc.put(job.layer, sizecache.Entry(ident, w))
    usage = _assemble(jobs, walks)
    vfs_changes = _vfs_container_sizes(inv) if inv.root.storage_driver == "vfs" else {}
    if sc.enabled:
        sc.settle(found.records, found.used)
        # What the walkers will list next time: the entries of settled dirs are counted only.
        mutable_entries = max(mutable_entries - found.files, 0)
        sc.hint(HINT_MUTABLE, mutable_entries)
        big = sorted(
            (walks[i].files, jobs[i].path)
            for i, job, _ in pending
            if job.layer is None and walks[i].files >= split.SPLIT_MIN_ENTRIES
        )[-MAX_TREE_HINTS:]
        sc.hint_group(HINT_TREE, {HINT_TREE + path: n for n, path in big})
        sc.save(present=inv.storage_dirs.keys())
    measured = Measurements(
        usage=usage,
        full=full,
        # Every layer walked this run; recorded sizes are judged in --full mode only (a
        # cold-cache default run walks layers too, but whether it judges them must not depend
        # on the cache's state).
        layer_walks=layer_walks,
        vfs_changes=vfs_changes,
    )
    stats = ScanStats(
        mode="full" if full else "default",
        executor=how,
        workers=1 if how == "serial" else nworkers,
        walked_dirs=len(pending),
        cached_dirs=total - len(pending),
        walked_entries=max(walked_entries - found.files, 0),
        cache_file=sc.path,
        seconds=time.perf_counter() - started,
        split_trees=len(opened),
    )
    return ScanResult(measured, stats)


def _lookup(
    inv: Inventory,
    sc: SizeCache,
    layers: list[tuple[int, Job]],
    full: bool,
    idents: dict[int, sizecache.Identity | None],
) -> tuple[dict[int, Usage], list[tuple[int, Job, int]]]:
    """The layer dirs' identities (into `idents`), taken before their walk (a change during
    the walk makes the next run miss): their cached walks, and the dirs left to walk."""
    facts = _layer_facts(inv)
    # The dirs of overlay2/ are stat'ed relative to it, opened once.
    home = inv.driver_home
    batched: dict[str, sizecache.Identity | None] = {}
    if home and inv.root.storage_driver == "overlay2":
        names = [
            j.layer for _, j in layers if j.layer is not None and j.path == f"{home}/{j.layer}"
        ]
        batched = sizecache.identities(home, names, "diff", {n: facts.get(n, [n]) for n in names})
    hits: dict[int, Usage] = {}
    misses: list[tuple[int, Job, int]] = []
    for i, job in layers:
        assert job.layer is not None
        if job.layer in batched:
            ident = batched[job.layer]
        else:
            ident = _layer_identity(inv, job.path, facts.get(job.layer, [job.layer]))
        idents[i] = ident
        hit = None if full else sc.get(job.layer, ident)
        if hit is not None:
            hits[i] = hit.usage
            continue
        known = sc.entries.get(job.layer)
        misses.append((i, job, known.usage.files if known is not None else UNKNOWN_COST))
    return hits, misses


def _mutable_guess(jobs: Sequence[Job], sc: SizeCache) -> int:
    """Expected entries of a tree outside image layers with no hint of its own: an equal
    share of what the others held last run (UNKNOWN_COST on a first run)."""
    total = sc.hints.get(HINT_MUTABLE)
    if total is None:
        return UNKNOWN_COST
    own = 0
    rest = 0
    for job in jobs:
        if job.layer is None:
            n = sc.hints.get(HINT_TREE + job.path)
            if n is None:
                rest += 1
            else:
                own += n
    return max((total - own) // max(rest, 1), 1)


def _split_big(
    pending: list[tuple[int, Job, int]],
    workers: int,
    walks: dict[int, Usage],
    merges: dict[int, split.Merge],
    opened: list[split.Opened],
    found: Found,
) -> list[tuple[int, Job | split.Piece, int]]:
    """The tasks for the walker processes: trees too big for one, in pieces (see
    inspector.measure.split); their first levels are listed here, before forking."""
    total = sum(c for _, _, c in pending)
    tasks: list[tuple[int, Job | split.Piece, int]] = []
    for i, job, cost in pending:
        if not split.worth_splitting(cost, total, workers):
            tasks.append((i, job, cost))
            continue
        got = split.open_split(job, workers, cost, found)
        if isinstance(got, Usage):
            walks[i] = got  # nothing left to hand out: walked whole here
            continue
        opened.append(got)
        merges[i] = got.merge
        each = max(cost // len(got.pieces), 1)
        tasks += [(i, p, each) for p in got.pieces]
    return tasks


def _assemble(jobs: Sequence[Job], walks: dict[int, Usage]) -> dict[str, Usage]:
    """Usage per path; hard links leaving a tree are counted by the first tree holding them."""
    seen: set[tuple[int, int]] = set()
    usage: dict[str, Usage] = {}
    for i, job in enumerate(jobs):
        w = walks[i]
        if not w.links:
            usage[job.path] = w
            continue
        disk = w.disk
        local: set[tuple[int, int]] = set()
        for dev, ino, nbytes in w.links:
            claim = seen if job.shared else local
            if (dev, ino) in claim:
                continue
            claim.add((dev, ino))
            disk += nbytes
        usage[job.path] = Usage(w.apparent, disk, w.files, w.unreadable, w.payload)
    return usage


def _vfs_container_sizes(inv: Inventory) -> dict[str, int]:
    """vfs SizeRw: naive diff of each container's copy against its -init copy."""
    from inspector.measure.vfsdiff import changes_size

    out: dict[str, int] = {}
    for cid in sorted(inv.containers):
        m = inv.rw_layers.get(cid)
        if m is None or not m.mount_id:
            continue
        new = os.path.join(inv.driver_home, m.mount_id)
        old = os.path.join(inv.driver_home, m.init_id) if m.init_id else None
        try:
            st = fs.lstat_or_none(new)
        except ReaderError:
            continue
        if st is None or not stat.S_ISDIR(st.st_mode):
            continue
        out[cid] = changes_size(new, old)
    return out


def measure(
    inv: Inventory,
    progress: Progress | None = None,
    *,
    full: bool = False,
    cache: bool | SizeCache = True,
    overlap: bool = True,
) -> Measurements:
    """Walk what needs walking (see the module doc); the inventory is not changed."""
    return scan(inv, progress, full=full, cache=cache, overlap=overlap).measurements


__all__ = ["Executor", "Measurements", "Progress", "ScanResult", "ScanStats", "measure", "scan"]
