"""The one pipeline every face runs: read → measure → analyse.

``report``, ``audit`` and the TUI all call :func:`run` with one :class:`Options`; each stage
knows only the one before it: :func:`inspector.inventory.read` gives the final Inventory,
:func:`inspector.measure.measure` the Measurements (nothing is added to the Inventory), and
:func:`inspector.analysis.analyze` the Report the presenters show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from inspector import inventory
from inspector.analysis import analyze
from inspector.analysis.results import Report
from inspector.measure import Progress, measure
from inspector.model import Inventory, Measurements
from inspector.options import DEFAULT_DAEMON_CONFIG, DEFAULT_LARGE_LOG, Options

if TYPE_CHECKING:
    from inspector.analysis.efficiency import EfficiencyReport, Thresholds

__all__ = [
    "DEFAULT_LARGE_LOG",
    "MeasureFn",
    "Options",
    "Progress",
    "analyse",
    "efficiency",
    "measure_root",
    "read",
    "run",
]


def read(
    root: str,
    containerd_root: str | None = None,
    daemon_config: str | None = DEFAULT_DAEMON_CONFIG,
) -> Inventory:
    """Stage 1: every metadata file of the root (fast: no tree walks)."""
    return inventory.read(root, containerd_root, daemon_config)


def measure_root(
    inv: Inventory, options: Options, progress: Progress | None = None
) -> Measurements | None:
    """Stage 2: walk what needs walking (None when `options.sizes` is off)."""
    if not options.sizes:
        return None
    return measure(inv, progress, full=options.full, cache=options.cache)


def analyse(inv: Inventory, meas: Measurements | None, options: Options) -> Report:
    """Stage 3: Docker's numbers, sharing, findings and the reconciliation."""
    return analyze(inv, meas, options)


MeasureFn = Callable[[Inventory, Options, Progress | None], Measurements | None]
"""The measure stage's signature (:func:`measure_root`; tests pass slow or broken fakes)."""


def run(
    root: str,
    options: Options | None = None,
    progress: Progress | None = None,
    first: Callable[[Report], None] | None = None,
    measure_fn: MeasureFn | None = None,
) -> Report:
    """Read, measure and analyse `root`; the Report every face shows.

    `first`, when given, receives a report of the metadata alone before the trees are walked
    (the TUI shows it at once); `progress` is called while walking (stage, done, total) and
    once more with stage "analysing" (a callback may raise to stop the run); `measure_fn`
    replaces the measure stage (default: :func:`measure_root`, looked up at each call).
    """
    opts = options or Options()
    inv = read(root, opts.containerd_root, opts.daemon_config)
    if first is not None and opts.sizes:
        first(analyse(inv, None, opts))
    meas = (measure_fn or measure_root)(inv, opts, progress)
    if progress is not None and meas is not None:
        progress("analysing", 0, 0)
    return analyse(inv, meas, opts)


def efficiency(
    root: str,
    options: Options | None = None,
    names: Sequence[str] = (),
    thresholds: Thresholds | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EfficiencyReport:
    """``efficiency``: dive's numbers for every image ``docker images`` lists (or `names`).

    Read the root (stage 1); the layers' tar entries come from layerdb's tar-split, or a walk
    of the diff dir (stage 2, :mod:`inspector.measure.layerfiles`, with its cache unless
    ``options.cache`` is off); dive's numbers, the layers' changes and the duplicates across
    images are pure analysis (:mod:`inspector.analysis.efficiency`). UsageError for a name
    that is no image; `progress` gets (images done, images).
    """
    from inspector.analysis import efficiency as eff
    from inspector.analysis.sizes import Sizes
    from inspector.measure.layerfiles import layer_source

    opts = options or Options()
    inv = read(root, opts.containerd_root, opts.daemon_config)
    sizes = Sizes(inv)
    ids = eff.select_images(sizes, names)
    with layer_source(inv, cache=opts.cache) as source:
        return eff.analyse(sizes, ids, source, source.cache, thresholds, progress)
