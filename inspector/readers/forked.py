"""One reader run in a forked process, on the other core, while this process reads the rest.

On a big host stage 1 is bound by system calls and the Python around them (~200 k for 5,000
layers and 7,000 overlay2 dirs, benchmarks/README.md) on one core; where another core is
idle (the caller decides: inspector.stores.graphdriver looks at the load average), a
reader whose result is independent of the others (the overlay2 dirs beside layerdb and
imagedb) runs in a child forked from this process: the same code, the same anchored roots
(the child inherits their descriptors) and the same rules; the child pickles its result into
a pipe and leaves with ``os._exit``.

Forking happens only in a single-threaded process (a child could otherwise inherit a lock
another thread held: the TUI, tests, embedding); anywhere else, and whenever the child fails
(it died, its result did not pickle), the reader runs here instead, so the caller gets the
same result either way, only later.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

from inspector import frames

T = TypeVar("T")

#: The child's answer: ("ok", result) or ("error", the exception it raised).
_OK = "ok"


class Pending(Generic[T]):
    """A reader's result, computed in a forked child or, failing that, by :meth:`result`."""

    def __init__(self, fn: Callable[[], T], pid: int = 0, fd: int = -1) -> None:
        self._fn = fn
        self.pid = pid
        """The child's PID (0: no child, :meth:`result` runs the reader here)."""
        self._fd = fd

    def result(self) -> T:
        """The reader's result (its exception re-raised, as if it ran here)."""
        if self.pid == 0:
            return self._fn()
        answer = self._collect()
        if answer is None:
            return self._fn()  # the child failed: read here (read-only, so safe to repeat)
        kind, value = answer
        if kind == _OK:
            return cast(T, value)
        if isinstance(value, BaseException):
            raise value
        return self._fn()

    def _collect(self) -> tuple[str, object] | None:
        chunks: list[bytes] = []
        try:
            while True:
                chunk = os.read(self._fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            chunks = []
        finally:
            self.close()
        if not chunks:
            return None
        try:
            answer = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's bytes
        except Exception:  # noqa: BLE001 - a truncated answer: read here instead
            return None
        if not (isinstance(answer, tuple) and len(answer) == 2):
            return None
        return answer[0], answer[1]

    def close(self) -> None:
        """Close the pipe, stop the child if it still runs and reap it (idempotent)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        if self.pid > 0:
            pid, self.pid = self.pid, -1
            with contextlib.suppress(OSError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done == 0:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)


def can_fork() -> bool:
    """Whether this process may fork a reader: a POSIX system and no other thread."""
    return hasattr(os, "fork") and threading.active_count() == 1


def start(fn: Callable[[], T], fork: bool = True, fast: Sequence[type] = ()) -> Pending[T]:
    """`fn` started in a forked child (when `fork` and :func:`can_fork`), else deferred.

    `fast`: dataclasses (all fields in ``__init__``) the child pickles as (class, values),
    which the parent rebuilds with one constructor call each: a slotted dataclass's default
    is a Python ``__setstate__`` loop, about three times slower to unpickle (the parent waits
    for that). The caller must call :meth:`Pending.result` (which reaps the child), or
    :meth:`Pending.close` when it no longer needs the result.
    """
    if not (fork and can_fork()):
        return Pending(fn)
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return Pending(fn)
    if pid == 0:  # pragma: no cover - the child, which never returns
        code = 0
        try:
            os.close(r)
            _child(w, fn, fast)
        except BaseException:  # noqa: BLE001 - the parent sees no answer and reads itself
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return Pending(fn, pid, r)


def _child(w: int, fn: Callable[[], T], fast: Sequence[type]) -> None:
    # Nothing the readers make holds cycles; a collection would only copy the parent's pages.
    gc.disable()
    frames.fast_pickling(fast)  # this process only: it exits after this one answer
    try:
        answer: tuple[str, object] = (_OK, fn())
    except Exception as e:  # noqa: BLE001 - re-raised in the parent
        answer = ("error", e)
    frames.write_all(w, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


__all__ = ["Pending", "can_fork", "start"]
