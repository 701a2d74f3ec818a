"""Measurement orchestration: which trees of a data root to walk, how, and what to reuse.

Two modes (``docker-inspector report`` and ``report --full``):

- **default**: committed image layers are immutable and layerdb records each one's size, so
  Docker's numbers for them need no walk (analysis uses ``layer.size``). Their allocated bytes
  come from the per-root :mod:`inspector.sizecache`; a dir missing from the cache (or whose
  identity changed) is walked once and stored. Everything that can change is walked on every
  run: containers' writable and -init layer dirs, volumes, container dirs (logs, configs),
  BuildKit-only and unreferenced storage dirs, layerdb staging leftovers, and the other areas
  of the root.
- **full** (verify): every tree is walked, the cache is refreshed, and for each image layer the
  walk's :class:`DiffWalk` (Docker's ``directory.Size`` and the tar payload bytes of its diff
  dir) is returned so :mod:`inspector.analysis.verify` can compare it with the recorded size.

Walks run in parallel across dirs in forked worker processes, one per core, when the plan is
big enough to pay for them and this process runs no other threads (forking those is unsafe);
otherwise serially. Threads were measured no faster than one thread (the GIL), so none are
used. Each walk is iterative, uses one ``lstat`` (fstatat relative to the
open directory) per entry, opens directories with O_NOFOLLOW|O_DIRECTORY and never crosses
into another filesystem. Hard links are counted once per filesystem across the whole root:
a walk counts links whose every name it saw; the rest are handed back and counted by the
first dir (in plan order) that holds them. Memory stays O(dirs measured + hard-linked inodes).
"""

import contextlib
import dataclasses
import errno
import gc
import os
import pickle
import selectors
import signal
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, NamedTuple

from inspector import sizecache
from inspector.errors import ReaderError
from inspector.model import DiffWalk, Inventory, Skipped, Usage
from inspector.readers import fs
from inspector.readers.dirfd import MAX_OPEN_DIRS, DirNode, DirWalk, Swapped
from inspector.sizecache import Link, SizeCache

Progress = Callable[[str, int, int], None]
"""Callback (stage, done, total); the same contract as ``inventory.Progress``."""

Executor = Literal["auto", "serial", "process"]

#: Below this many expected entries a process pool costs more than it saves: forking the
#: workers and pickling results cost ~10-20 ms (measured: benchmarks/README.md).
PARALLEL_MIN_ENTRIES = 40_000
#: Expected entries of a dir never walked before (a guess, used only to order and batch).
UNKNOWN_COST = 2_000
#: Cache hint: entries walked outside image layers last run (to choose serial or parallel).
HINT_MUTABLE = "mutable_entries"
#: Batches per worker: enough to balance uneven dirs, few enough to keep IPC cheap.
BATCHES_PER_WORKER = 8

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class TreeWalk(NamedTuple):
    """What one walk of one tree found (picklable: it crosses process boundaries)."""

    apparent: int = 0
    """Docker's directory.Size of the counted subtree: non-dirs with size > 0, inode once."""
    payload: int = 0
    """Tar payload bytes of the counted subtree: regular files only, inode once."""
    disk: int = 0
    """Allocated bytes of the whole tree, without `links`."""
    files: int = 0
    """Entries seen, the top dir included."""
    unreadable: tuple[Skipped, ...] = ()
    links: tuple[Link, ...] = ()
    """(dev, ino, bytes) of multi-link inodes with names outside this tree."""


class Job(NamedTuple):
    """One tree to measure."""

    path: str
    sub: str | None = None
    """Count `apparent` only under this top-level subdir (overlay2 `diff`, volume `_data`)."""
    skip: frozenset[str] = frozenset()
    """Top-level names not entered (measured by jobs of their own)."""
    shared: bool = True
    """Takes part in once-per-filesystem hard-link counting (False for nested trees)."""
    layer: str | None = None
    """Cache-id when this is a committed image layer's dir (immutable, cacheable)."""
    mounts: frozenset[str] = frozenset()
    """Mount points inside the root (never entered; one set shared by every job)."""


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


class ScanResult(NamedTuple):
    """The measured inventory, per-layer walks (full mode) and statistics."""

    inventory: Inventory
    layer_walks: dict[str, DiffWalk]
    """Cache-id → walk of that image layer's diff dir, for every layer walked in this run."""
    stats: ScanStats


# --------------------------------------------------------------------------- the walker

#: Docker's walk lstats every entry by its full path, which fails past the kernel's PATH_MAX
#: (4096 bytes with the NUL): `docker system df` then shows -1. The walker goes by directory
#: descriptors and could go deeper; it reports the same point as unreadable instead, so that
#: a size is either Docker's or unknown, never a third number.
PATH_MAX = 4096


def _top_error(path: str, e: Exception) -> TreeWalk:
    reason = str(e).removeprefix(f"{path}: ") if isinstance(e, ReaderError) else None
    if reason is None:
        assert isinstance(e, OSError)
        reason = e.strerror or str(e)
    return TreeWalk(unreadable=(Skipped(path, reason),))


def walk_tree(
    path: str,
    sub: str | None = None,
    skip: frozenset[str] = frozenset(),
    mounts: frozenset[str] = frozenset(),
) -> TreeWalk:
    """Measure the tree at `path` (see :class:`TreeWalk`); a missing path measures as zero.

    Same rules as the reference walker in tests/refwalk.py, plus the tar payload and hard links
    leaving the tree. `path` is reached beneath the data root (no symlink on the way is
    followed) and itself lstat'ed: a symlink is counted, never followed. Below it, every dir is
    opened relative to its parent's descriptor (see ``DirWalk.reach`` in
    inspector.readers.dirfd); `mounts` (absolute paths of mount points) and anything on
    another device are not entered.
    """
    try:
        top = fs.lstat(path)
    except FileNotFoundError:
        return TreeWalk()
    except (OSError, ReaderError) as e:
        return _top_error(path, e)
    blocks = top.st_blocks * 512
    if not stat.S_ISDIR(top.st_mode):
        counted = sub is None and top.st_size > 0
        app = top.st_size if counted else 0
        pay = app if stat.S_ISREG(top.st_mode) else 0
        if top.st_nlink > 1:
            return TreeWalk(app, pay, 0, 1, (), ((top.st_dev, top.st_ino, blocks),))
        return TreeWalk(app, pay, blocks, 1)
    if path in mounts:
        return TreeWalk(files=1)  # a mount point: another filesystem's bytes
    dev = top.st_dev
    try:
        top_fd = fs.open_dir(path)
    except FileNotFoundError:
        return TreeWalk()
    except (OSError, ReaderError) as e:
        return _top_error(path, e)
    w = DirWalk(dev)
    first = DirNode(None, "", path, top.st_ino, sub is None, True)
    w.hold(first, top_fd)
    st_top = os.fstat(top_fd)
    if st_top.st_ino != top.st_ino or st_top.st_dev != dev:
        w.close(first)
        return TreeWalk()  # replaced or mounted over since its lstat: as if it had vanished
    apparent = payload = 0
    disk = blocks
    files = 1
    # Multi-link non-dirs: (dev, ino) -> [bytes, names not yet seen].
    links: dict[tuple[int, int], list[int]] = {}
    seen_ino: set[int] = set()  # directory.Size keys its map by inode number only
    unreadable: list[Skipped] = []
    s_isdir, s_isreg = stat.S_ISDIR, stat.S_ISREG
    lstat_at = os.stat
    stack: list[DirNode] = [first]
    try:
        while stack:
            node = stack.pop()
            current = node.path
            try:
                fd = w.reach(node)
            except (FileNotFoundError, NotADirectoryError):
                w.done_with_parent(node)
                continue  # vanished under a live daemon: Docker ignores it too
            except Swapped:
                # Replaced by another dir, or mounted over (a container starting): not ours to
                # enter, and like a vanished entry not worth a finding (Docker skips it too).
                w.done_with_parent(node)
                continue
            except OSError as e:
                # ELOOP: a dir replaced by a symlink after its listing; never followed.
                w.done_with_parent(node)
                unreadable.append(Skipped(current, e.strerror or str(e)))
                continue
            assert fd is not None
            w.done_with_parent(node)
            try:
                names = os.listdir(fd)
            except OSError as e:
                unreadable.append(Skipped(current, e.strerror or str(e)))
                w.close(node)
                continue
            prefix = current + "/"
            # Bytes left for a name (a char is 1 to 4 bytes): most names need no encoding.
            room = PATH_MAX - 1 - len(os.fsencode(prefix))
            counts, is_top = node.counts, node.is_top
            for name in names:
                if is_top and name in skip:
                    continue
                n = len(name)
                if n > room or (4 * n > room and len(os.fsencode(name)) > room):
                    # Docker's lstat of this path fails: so does its whole size.
                    unreadable.append(Skipped(current, os.strerror(errno.ENAMETOOLONG)))
                    break
                try:
                    st = lstat_at(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    unreadable.append(Skipped(prefix + name, e.strerror or str(e)))
                    continue
                if st.st_dev != dev:
                    continue  # a mount point (merged/, mounts/shm): another fs's bytes
                files += 1
                mode = st.st_mode
                if s_isdir(mode):
                    disk += st.st_blocks * 512
                    child_path = prefix + name
                    if child_path in mounts:
                        continue  # a bind mount from the same filesystem: not ours to count
                    child_counts = counts or (is_top and name == sub)
                    stack.append(DirNode(node, name, child_path, st.st_ino, child_counts, False))
                    node.pending += 1
                    continue
                size = st.st_size
                if st.st_nlink > 1:
                    key = (dev, st.st_ino)
                    seen = links.get(key)
                    if seen is None:
                        links[key] = [st.st_blocks * 512, st.st_nlink - 1]
                    else:
                        seen[1] -= 1
                    if counts and size > 0 and st.st_ino not in seen_ino:
                        seen_ino.add(st.st_ino)
                        apparent += size
                        if s_isreg(mode):
                            payload += size
                    continue
                disk += st.st_blocks * 512
                if counts and size > 0:
                    apparent += size
                    if s_isreg(mode):
                        payload += size
            if node.pending == 0 or w.open > MAX_OPEN_DIRS:
                w.close(node)  # reopened through `reach` if a child still needs it
    finally:
        w.close_all()
    leaving: list[Link] = []
    for (ldev, ino), (nbytes, left) in links.items():
        if left <= 0:
            disk += nbytes  # every name is in this tree: count it here, once
        else:
            leaving.append((ldev, ino, nbytes))
    return TreeWalk(apparent, payload, disk, files, tuple(unreadable), tuple(leaving))


# --------------------------------------------------------------------------- planning


def _top_level(root: str) -> list[str]:
    try:
        return fs.list_dir(root)
    except ReaderError:
        return []


def _immutable_dirs(inv: Inventory) -> set[str]:
    """Names of committed image layers' storage dirs that nothing else writes to."""
    mutable: set[str] = set()
    for m in inv.rw_layers.values():
        mutable.update(x for x in (m.mount_id, m.init_id) if x)
    # A layer being removed is about to change; a dir that is also someone's mount too.
    mutable.update(r.cache_id for r in inv.removing_layers if r.cache_id)
    return {
        layer.cache_id
        for layer in inv.layers.values()
        if layer.cache_id not in mutable and layer.cache_id in inv.storage_dirs
    }


def plan(inv: Inventory) -> list[Job]:
    """Every tree to measure, in the order usage is assembled (the same trees as before).

    Per-object dirs first (storage dirs, volumes, container dirs, staging leftovers), then
    each top-level area of the root with the per-object dirs it contains left out.
    """
    jobs: list[Job] = []
    driver = inv.root.storage_driver
    if inv.driver_home:
        sub = "diff" if driver == "overlay2" else None
        immutable = _immutable_dirs(inv)
        for name in sorted(inv.storage_dirs):
            d = inv.storage_dirs[name]
            jobs.append(Job(d.path, sub, layer=name if name in immutable else None))
    jobs += [Job(v.path, "_data") for _, v in sorted(inv.volumes.items()) if v.has_dir]
    jobs += [Job(c.dir) for _, c in sorted(inv.containers.items())]
    jobs += [Job(s.path) for s in inv.container_dirs_without_config]
    # Inside image/, which is measured whole too: keep their hard links to themselves.
    jobs += [Job(p, shared=False) for p in inv.layerdb_tmp]
    jobs += [Job(r.metadata_dir, shared=False) for r in inv.removing_layers]
    own = {j.path for j in jobs}
    measured_dirs = {os.path.dirname(p) for p in own}
    root = inv.root.path

    def beside(area: str) -> Job:
        skip = frozenset(os.path.basename(p) for p in own if os.path.dirname(p) == area)
        return Job(area, None, skip)

    for name in _top_level(root):
        path = os.path.join(root, name)
        if path in measured_dirs or path == inv.driver_home:
            # containers/, volumes/, overlay2/: only what is beside the per-ID dirs.
            jobs.append(beside(path))
        elif driver and name == driver and inv.driver_home and inv.driver_home != path:
            # vfs/: the per-layer dirs live one level deeper, in vfs/dir/.
            jobs.append(beside(inv.driver_home))
            jobs.append(Job(path, None, frozenset({"dir"})))
        else:
            jobs.append(Job(path))
    mounts = frozenset(m.path for m in inv.mounts)
    return [j._replace(mounts=mounts) for j in jobs] if mounts else jobs


# --------------------------------------------------------------------------- running


Task = tuple[int, Job]


def _run_batch(batch: Sequence[Task]) -> list[tuple[int, TreeWalk]]:
    """Worker entry point: walk each job of a batch."""
    return [(i, walk_tree(job.path, job.sub, job.skip, job.mounts)) for i, job in batch]


def _batches(tasks: list[tuple[int, Job, int]], workers: int) -> list[list[Task]]:
    """Largest first (so a huge dir does not start last), small ones grouped."""
    tasks = sorted(tasks, key=lambda t: -t[2])
    total = sum(t[2] for t in tasks)
    target = max(total // max(workers * BATCHES_PER_WORKER, 1), 1)
    out: list[list[Task]] = []
    cur: list[Task] = []
    cost = 0
    for i, job, c in tasks:
        cur.append((i, job))
        cost += c
        if cost >= target:
            out.append(cur)
            cur, cost = [], 0
    if cur:
        out.append(cur)
    return out


def _can_fork() -> bool:
    # Forking a process that runs other threads (the TUI) can deadlock the child on a lock
    # one of them held; such callers walk serially. (Threads are no alternative: the walk is
    # bound by the GIL between syscalls and measured no faster than one thread.)
    return hasattr(os, "fork") and threading.active_count() == 1


def _choose(executor: Executor, expected: int, workers: int) -> str:
    if executor != "auto":
        return executor
    if workers < 2 or expected < PARALLEL_MIN_ENTRIES or not _can_fork():
        return "serial"
    return "process"


def _serial(batches: list[list[Task]]) -> Iterator[list[tuple[int, TreeWalk]]]:
    # One dir at a time, so a caller's progress callback can stop the scan between dirs.
    for b in batches:
        for task in b:
            yield _run_batch([task])


class WalkerFailed(RuntimeError):
    """A walker process died or reported an error (a bug: walks turn OSErrors into data)."""


_HEADER = struct.Struct("<Q")
_TASK = struct.Struct("<I")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _child(tasks: int, out: int, batches: list[list[Task]]) -> None:
    """A walker process: take batch numbers from `tasks`, write pickled results to `out`."""
    # Nothing here creates cycles; a collection would only copy the parent's pages.
    gc.disable()
    while True:
        raw = os.read(tasks, _TASK.size)
        if len(raw) < _TASK.size:
            return
        (n,) = _TASK.unpack(raw)
        data = pickle.dumps(_run_batch(batches[n]), protocol=pickle.HIGHEST_PROTOCOL)
        _write_all(out, _HEADER.pack(len(data)) + data)


def _forked(batches: list[list[Task]], workers: int) -> Iterator[list[tuple[int, TreeWalk]]]:
    """Walk the batches in `workers` forked processes; yield each batch's results.

    Plain os.fork and pipes rather than multiprocessing: importing it and starting a Pool
    (with its helper threads) cost more than the walk of a typical root's writable layers.
    Every batch number is written to one pipe before forking; each child takes the next one
    with a 4-byte read (pipe reads are atomic, so each batch goes to exactly one child) and
    answers on a pipe of its own. Children leave with os._exit (no atexit handlers, no
    flushing of buffers inherited from the parent) and are killed and reaped, by their PIDs,
    if the caller stops early (an exception, the progress callback raising, Ctrl-C).
    """
    task_r, task_w = os.pipe()
    # _batches makes about workers * BATCHES_PER_WORKER batches: far below a pipe's 64 KiB.
    _write_all(task_w, b"".join(_TASK.pack(n) for n in range(len(batches))))
    os.close(task_w)
    children: dict[int, int] = {}  # result pipe fd -> pid
    try:
        for _ in range(min(workers, len(batches))):
            out_r, out_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child, which never returns
                code = 0
                try:
                    os.close(out_r)
                    _child(task_r, out_w, batches)
                except BaseException:  # noqa: BLE001 - reported through the exit status
                    code = 1
                finally:
                    os._exit(code)
            os.close(out_w)
            children[out_r] = pid
        os.close(task_r)
        task_r = -1
        buffers = {fd: bytearray() for fd in children}
        with selectors.DefaultSelector() as sel:
            for fd in children:
                sel.register(fd, selectors.EVENT_READ)
            while children:
                for key, _ in sel.select():
                    fd = int(key.fd)
                    chunk = os.read(fd, 1 << 20)
                    buf = buffers[fd]
                    if chunk:
                        buf += chunk
                        while len(buf) >= _HEADER.size:
                            (size,) = _HEADER.unpack_from(buf)
                            if len(buf) < _HEADER.size + size:
                                break
                            body = bytes(buf[_HEADER.size : _HEADER.size + size])
                            del buf[: _HEADER.size + size]
                            yield pickle.loads(body)  # noqa: S301 - our own child's bytes
                        continue
                    sel.unregister(fd)
                    os.close(fd)
                    pid = children.pop(fd)
                    _, status = os.waitpid(pid, 0)
                    if buf or os.waitstatus_to_exitcode(status) != 0:
                        raise WalkerFailed(f"walker process {pid} failed (wait status {status})")
    finally:
        if task_r >= 0:
            os.close(task_r)
        for fd, pid in children.items():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
            with contextlib.suppress(OSError):
                os.close(fd)


def _default_workers() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- the scan


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
) -> ScanResult:
    """Measure the root of `inv` (see the module doc for the modes); the inventory is unchanged.

    `cache`: True for the user's cache dir (CacheRefused if it is inside the root), False for
    none (``--no-cache``: nothing read, nothing written), or a SizeCache to use.
    Every tree is reached beneath the root (see inspector.readers.fs.anchored).
    """
    with fs.anchored(inv.root.path):
        return _scan(inv, progress, full, cache, workers, executor)


def _scan(
    inv: Inventory,
    progress: Progress | None,
    full: bool,
    cache: bool | SizeCache,
    workers: int | None,
    executor: Executor,
) -> ScanResult:
    started = time.perf_counter()
    sc = _open_cache(inv.root.path, cache)
    jobs = plan(inv)
    walks: dict[int, TreeWalk] = {}
    idents: dict[int, sizecache.Identity | None] = {}
    pending: list[tuple[int, Job, int]] = []
    facts = _layer_facts(inv)
    for i, job in enumerate(jobs):
        if job.layer is None:
            pending.append((i, job, UNKNOWN_COST))
            continue
        # Identity before the walk: a change during the walk makes the next run miss.
        ident = _layer_identity(inv, job.path, facts.get(job.layer, [job.layer]))
        idents[i] = ident
        hit = None if full else sc.get(job.layer, ident)
        if hit is not None:
            walks[i] = TreeWalk(hit.apparent, hit.payload, hit.disk, hit.files, (), hit.links)
            continue
        known = sc.entries.get(job.layer)
        pending.append((i, job, known.files if known is not None else UNKNOWN_COST))
    nworkers = workers or _default_workers()
    # Layer dirs: their last walk's entry count; the rest: what it was last run, if known.
    expected = sum(c for _, job, c in pending if job.layer is not None)
    mutable = [p for p in pending if p[1].layer is None]
    expected += sc.hints.get(HINT_MUTABLE, len(mutable) * UNKNOWN_COST)
    how = _choose(executor, expected, nworkers) if pending else "serial"
    batches = _batches(pending, 1 if how == "serial" else nworkers)
    total = len(jobs)
    done = total - len(pending)
    if progress is not None:
        progress("measuring", done, total)
    runner = _forked(batches, nworkers) if how == "process" else _serial(batches)
    walked_entries = mutable_entries = 0
    reported = done
    for results in runner:
        for i, w in results:
            walks[i] = w
            walked_entries += w.files
            if jobs[i].layer is None:
                mutable_entries += w.files
        done += len(results)
        # Every 16 dirs is often enough for a progress bar and for a caller to cancel.
        if progress is not None and (done - reported >= 16 or done == total):
            progress("measuring", done, total)
            reported = done
    layer_walks: dict[str, DiffWalk] = {}
    pending_ids = {i for i, _, _ in pending}
    for i, job in enumerate(jobs):
        if job.layer is None or i not in pending_ids:
            continue
        w = walks[i]
        layer_walks[job.layer] = DiffWalk(w.apparent, w.payload, w.files, not w.unreadable)
        ident = idents.get(i)
        if ident is not None and not w.unreadable:
            sc.put(
                job.layer,
                sizecache.Entry(ident, w.apparent, w.payload, w.disk, w.files, w.links),
            )
    usage = _assemble(jobs, walks)
    vfs_changes = _vfs_container_sizes(inv) if inv.root.storage_driver == "vfs" else {}
    if sc.enabled:
        sc.hint(HINT_MUTABLE, mutable_entries)
        sc.save(present=inv.storage_dirs.keys())
    measured = dataclasses.replace(
        inv,
        usage=usage,
        measured=True,
        vfs_changes=vfs_changes,
        # Recorded sizes are judged in --full mode only: a cold-cache default run walks
        # layers too, but whether it judges them must not depend on the cache's state.
        layer_walks=layer_walks if full else {},
    )
    stats = ScanStats(
        mode="full" if full else "default",
        executor=how,
        workers=1 if how == "serial" else nworkers,
        walked_dirs=len(pending),
        cached_dirs=total - len(pending),
        walked_entries=walked_entries,
        cache_file=sc.path,
        seconds=time.perf_counter() - started,
    )
    return ScanResult(measured, layer_walks, stats)


def _assemble(jobs: Sequence[Job], walks: dict[int, TreeWalk]) -> dict[str, Usage]:
    """Usage per path; hard links leaving a tree are counted by the first tree holding them."""
    seen: set[tuple[int, int]] = set()
    usage: dict[str, Usage] = {}
    for i, job in enumerate(jobs):
        w = walks[i]
        disk = w.disk
        local: set[tuple[int, int]] = set()
        for dev, ino, nbytes in w.links:
            claim = seen if job.shared else local
            if (dev, ino) in claim:
                continue
            claim.add((dev, ino))
            disk += nbytes
        usage[job.path] = Usage(w.apparent, disk, w.files, w.unreadable)
    return usage


def _vfs_container_sizes(inv: Inventory) -> dict[str, int]:
    """vfs SizeRw: naive diff of each container's copy against its -init copy."""
    from inspector.readers.vfsdiff import changes_size

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
) -> Inventory:
    """Walk what needs walking and attach Usage (keyed by absolute path) to the inventory."""
    return scan(inv, progress, full=full, cache=cache).inventory
