"""Running the walks: serially, or in forked worker processes that answer over pipes."""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import signal
import struct
import threading
from collections.abc import Generator, Iterator, Sequence
from typing import Literal, cast

from inspector import frames
from inspector.measure.planning import Job
from inspector.measure.split import Piece
from inspector.measure.walker import Found, Part, walk_piece, walk_tree
from inspector.model import Usage

Executor = Literal["auto", "serial", "process"]

#: Below this many expected entries a process pool costs more than it saves: forking the
#: workers and pickling results cost ~10-20 ms (measured: benchmarks/README.md).
PARALLEL_MIN_ENTRIES = 40_000
#: Batches per worker: enough to balance uneven dirs, few enough to keep IPC cheap.
BATCHES_PER_WORKER = 8

Task = tuple[int, Job | Piece]
"""A tree (by its index in the plan), or a piece of a split tree (see inspector.measure.split)."""
Result = tuple[int, Usage | Part, Found]


def _run_batch(batch: Sequence[Task]) -> list[Result]:
    """Worker entry point: walk each job or piece of a batch."""
    out: list[Result] = []
    for i, job in batch:
        found = Found()
        if isinstance(job, Piece):
            out.append((i, walk_piece(job.node, job.dev, job.mounts, job.settled, found), found))
        else:
            usage = walk_tree(job.path, job.sub, job.skip, job.mounts, job.settled, found)
            out.append((i, usage, found))
    return out


def _batches(tasks: list[tuple[int, Job | Piece, int]], workers: int) -> list[list[Task]]:
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


def _serial(batches: Sequence[Sequence[Task]]) -> Generator[list[Result], None, None]:
    # One dir at a time, so a caller's progress callback can stop the scan between dirs.
    for b in batches:
        for task in b:
            yield _run_batch([task])


class WalkerFailed(RuntimeError):
    """A walker process died or reported an error (a bug: walks turn OSErrors into data)."""


_TASK = struct.Struct("<I")


def _child(tasks: int, out: int, batches: Sequence[Sequence[Task]]) -> None:
    """A walker process: take batch numbers from `tasks`, write pickled results to `out`."""
    # Nothing here creates cycles; a collection would only copy the parent's pages.
    gc.disable()
    while True:
        raw = os.read(tasks, _TASK.size)
        if len(raw) < _TASK.size:
            return
        (n,) = _TASK.unpack(raw)
        frames.send(out, _run_batch(batches[n]))


def _forked(batches: Sequence[Sequence[Task]], workers: int) -> Generator[list[Result], None, None]:
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
    frames.write_all(task_w, b"".join(_TASK.pack(n) for n in range(len(batches))))
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
        yield []  # the walkers are running: the caller may do other work before reading
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
                        yield from cast(Iterator[list[Result]], frames.take(buf))
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
