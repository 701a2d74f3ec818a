"""Running the pipeline from thread workers so that `q` (or Escape) never waits for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from textual.worker import Worker

T = TypeVar("T")

#: How often a waiting worker checks whether it was cancelled (seconds).
POLL = 0.05


class LoadCancelled(Exception):
    """A worker was cancelled (the user quit, or left the screen, while it ran)."""


def interruptible(fn: Callable[[], T], worker: Worker[object]) -> T:
    """Run `fn` in a daemon thread; give up waiting as soon as `worker` is cancelled.

    A single tree walk (a volume with a million files) can take long between two progress
    callbacks; this lets `q` return at once. The abandoned daemon thread only reads, stops
    at its next progress callback, and cannot keep the process alive.
    """
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the waiting worker
            box["error"] = e

    thread = threading.Thread(target=target, name="docker-inspector-load", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(POLL)
        if worker.is_cancelled:
            raise LoadCancelled
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


__all__ = ["POLL", "LoadCancelled", "interruptible"]
