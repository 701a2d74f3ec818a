"""The pipeline run in a forked process, its results streamed back over a pipe.

For a face that must show something before the whole pipeline could run in its own process:
the TUI forks it at the top of ``docker-inspector tui``, before Textual is imported, so the
root is read on one core while Textual starts on the other (inspector.tui.loader). Only a
single-threaded process forks (nothing holds a lock a child could inherit); the child runs
the pipeline's stages, as :func:`inspector.pipeline.run` does, and sends frames:

- ``glance``: four listings' counts (:func:`inspector.pipeline.glance`), within milliseconds;
- ``inventory``: what stage 1 read (the caller analyses it: the report of the metadata
  alone; an Inventory pickles in about half the time of the Report that holds it);
- ``progress``: the walk (at most :data:`PROGRESS_EVERY` apart); ``measured``: stage 2's
  Measurements (the caller analyses them with the Inventory: the final report);
- ``error``: what a stage raised.

The child is single-threaded too, so the measure stage may fork its walkers there. It leaves
with ``os._exit`` and dies with its parent (``PR_SET_PDEATHSIG``); :meth:`ForkedRun.close`
kills and reaps it by its PID. This module imports no stage before forking (the child does).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import cast

from inspector import frames
from inspector.options import Options

#: Progress frames are sent at most this often (seconds); a stage change is always sent.
PROGRESS_EVERY = 0.05
#: How often a waiting reader checks whether it should stop (seconds).
POLL = 0.05

_PR_SET_PDEATHSIG = 1

Frame = tuple[str, object]
"""(kind, payload): glance / inventory / progress / measured / error."""


class ForkedRun:
    """A forked pipeline run: its frames as they arrive, then the child reaped."""

    def __init__(self, pid: int, fd: int, options: Options) -> None:
        self.pid = pid
        self.fd = fd
        self.options = options
        """What the child runs with (the app shows the same options)."""
        self._closed = False

    def frames(self, cancelled: Callable[[], bool] | None = None) -> Iterator[Frame]:
        """Each frame the child sends, in order, until it is done (EOF).

        Stops quietly when `cancelled()` turns true (checked every :data:`POLL` seconds).
        """
        buf = bytearray()
        while True:
            if cancelled is not None and cancelled():
                return
            ready, _, _ = select.select([self.fd], [], [], POLL)
            if not ready:
                continue
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                if buf:
                    yield "error", RuntimeError("the reading process stopped mid-message")
                return
            buf += chunk
            yield from cast(Iterator[Frame], frames.take(buf))

    def close(self) -> None:
        """Stop the child if it still runs, reap it and close the pipe (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(OSError):
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                os.kill(self.pid, signal.SIGTERM)
                os.waitpid(self.pid, 0)


def start(root: str, options: Options) -> ForkedRun | None:
    """Fork a process that runs the pipeline on `root`; None where forking is unsafe.

    With another thread running, a forked child could inherit a held lock (an import lock,
    a logging lock): it is refused, and the caller runs the pipeline itself.
    """
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return None
    return _fork(root, options)


def _fork(root: str, opts: Options) -> ForkedRun:
    """The child, started; it leaves with os._exit (no atexit, no inherited buffers)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, which never returns
        code = 0
        try:
            os.close(r)
            _child(w, root, opts)
        except BaseException:  # noqa: BLE001 - the parent sees the pipe end early
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    run = ForkedRun(pid, r, opts)
    atexit.register(run.close)
    return run


def _child(w: int, root: str, opts: Options) -> None:
    """Run the pipeline and send its results (the forked process)."""
    _die_with_parent()
    # The terminal's Ctrl-C belongs to the app: the child stops when the app closes it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def send(kind: str, payload: object) -> None:
        frames.send(w, (kind, payload))

    try:
        from inspector import pipeline

        _fast_pickling()
        send("glance", pipeline.glance(root, opts))
        # The stages of pipeline.run, one by one: the Inventory pickles in about half the
        # time of a Report (which holds it), so the app analyses it itself (~0.2 s).
        inv = pipeline.read(root, opts.containerd_root, opts.daemon_config, opts.cache)
        send("inventory", inv)
        sent = 0.0
        last_stage = ""

        def progress(stage: str, done: int, total: int) -> None:
            nonlocal sent, last_stage
            now = time.monotonic()
            if stage != last_stage or now - sent >= PROGRESS_EVERY or done == total:
                sent, last_stage = now, stage
                send("progress", (stage, done, total))

        if opts.sizes:
            # The app analyses and draws the first report on the other core meanwhile: two
            # walkers and this process busy at once made that report ~1 s later
            # (benchmarks/README.md, "Settled metadata dirs").
            send("measured", pipeline.measure_root(inv, opts, progress, overlap=False))
    except BrokenPipeError:
        return  # the app is gone
    except Exception as e:  # noqa: BLE001 - handed to the app's one error handler
        try:
            send("error", e)
        except BrokenPipeError:
            return
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            send("error", RuntimeError(f"{type(e).__name__}: {e}"))


def _fast_pickling() -> None:
    """The model's dataclasses pickled as (class, values) in this process
    (:func:`inspector.frames.fast_pickling`)."""
    import dataclasses

    from inspector import model

    frames.fast_pickling(
        cls
        for cls in vars(model).values()
        if isinstance(cls, type)
        and dataclasses.is_dataclass(cls)
        and cls.__module__ == model.__name__
        and all(f.init for f in dataclasses.fields(cls))
    )


def _die_with_parent() -> None:
    """Ask the kernel to end this process when its parent ends (Linux; else nothing)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


__all__ = ["POLL", "PROGRESS_EVERY", "ForkedRun", "Frame", "start"]
