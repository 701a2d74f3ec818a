"""Keep a big report out of Python's full garbage collections while the TUI shows it.

A full collection walks every object alive. With a 5,000-layer report in memory (the
Inventory, the Report, the tables built from it, Textual's widgets) each took 0.12-0.28 s
on the shared 2-core machine, several a minute while Textual draws, and each landed on the
key being answered: a tab switch of 0.15 s took 0.45 s (``gc.callbacks`` beside
benchmarks/tuiswitch.py). What the app holds once a report or a tab's table is shown lives
as long as that report: :func:`settle` moves everything alive into the permanent
generation (``gc.freeze``), which collections skip (measured: full collections of
0.03-0.08 s, the worst switch per run 0.29-0.43 s against 0.46-0.69 s). Frozen objects are
still freed by reference counting when dropped; only reference cycles among them wait for
:func:`release`, which the app calls when it ends.
"""

from __future__ import annotations

import gc

_frozen = False


def settle() -> None:
    """Freeze everything alive now (see the module's doc)."""
    global _frozen
    gc.freeze()
    _frozen = True


def release() -> None:
    """Undo :func:`settle`: frozen objects are collectable again."""
    global _frozen
    if _frozen:
        _frozen = False
        gc.unfreeze()
