"""A progress bar on stderr for long walks (``report --full`` on a big host): rate and ETA.

Drawn only when stderr is a terminal (:func:`for_stderr` returns None otherwise), never on
stdout (the data), redrawn in place at most ten times a second, and wiped when the run ends,
so the terminal is left as it was. It is the pipeline's progress callback (stage, done,
total); the measure stage counts directories (cached layer dirs are done at once).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

#: Seconds between redraws (the first and the last state are always drawn).
REDRAW = 0.1
_WIPE = "\r\x1b[K"


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """The pipeline's progress callback, drawing one line on a terminal."""

    def __init__(self, stream: TextIO, width: int | None = None) -> None:
        self.stream = stream
        self.width = width
        self.started: float | None = None
        self.first_done = 0
        self.last_draw = 0.0
        self.drawn = False

    def _columns(self) -> int:
        if self.width is not None:
            return self.width
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError):
            columns = 0
        return columns if columns >= 20 else 80  # a fresh pty says 0

    def line(self, stage: str, done: int, total: int, now: float) -> str:
        """The text of the bar for this state (pure, for tests)."""
        if stage != "measuring" or total <= 0:
            return f"{stage}…"
        if self.started is None:
            self.started, self.first_done = now, done
        elapsed = now - self.started
        walked = done - self.first_done
        pct = done * 100 // total
        if walked > 0 and elapsed > 0:
            rate = walked / elapsed
            eta = _clock((total - done) / rate)
            speed = f"{rate:,.0f} dirs/s" if rate >= 10 else f"{rate:.2g} dirs/s"
        else:
            speed, eta = "- dirs/s", "-:--"
        tail = f" {pct:3d}% {done:,}/{total:,} dirs  {speed}  ETA {eta}"
        room = max(10, min(40, self._columns() - len(tail) - len("measuring ") - 3))
        filled = room * done // total
        bar = "#" * filled + "-" * (room - filled)
        return f"measuring [{bar}]{tail}"

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        final = stage != "measuring" or done >= total
        if self.drawn and not final and now - self.last_draw < REDRAW:
            if self.started is None:
                self.started, self.first_done = now, done
            return
        text = self.line(stage, done, total, now)
        self.stream.write(_WIPE + text[: max(1, self._columns() - 1)])
        self.stream.flush()
        self.drawn = True
        self.last_draw = now

    def close(self) -> None:
        """Wipe the bar (the terminal is left as it was)."""
        if self.drawn:
            self.stream.write(_WIPE)
            self.stream.flush()
            self.drawn = False


def for_stderr() -> ProgressBar | None:
    """A bar on stderr when it is a terminal, else None (silent: logs, pipes, cron)."""
    stream = sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return None
    if not tty or os.environ.get("TERM") == "dumb":
        return None
    return ProgressBar(stream)


__all__ = ["ProgressBar", "for_stderr"]
