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
    from inspector.analysis.efficiency import EfficiencyReport, ImageEfficiency, Thresholds
    from inspector.analysis.explain import Explanation, PathProbe
    from inspector.analysis.prune import PrunePreview
    from inspector.measure.browse import FileTree, Target
    from inspector.model import Skipped

__all__ = [
    "DEFAULT_LARGE_LOG",
    "MeasureFn",
    "Options",
    "Progress",
    "analyse",
    "browse",
    "efficiency",
    "explain",
    "glance",
    "measure_root",
    "prune_preview",
    "read",
    "run",
]


def read(
    root: str,
    containerd_root: str | None = None,
    daemon_config: str | None = DEFAULT_DAEMON_CONFIG,
    cache: bool = False,
) -> Inventory:
    """Stage 1: every metadata file of the root (fast: no tree walks); `cache`: with the
    metadata cache of unchanged entries (``Options.cache``)."""
    return inventory.read(root, containerd_root, daemon_config, cache)


def glance(root: str, options: Options | None = None) -> inventory.Glance:
    """Before stage 1: counts of images, layers, containers and volumes from four listings
    (what a face can show within milliseconds, while the metadata is read)."""
    opts = options or Options()
    return inventory.glance(root, opts.containerd_root, opts.daemon_config)


def measure_root(
    inv: Inventory, options: Options, progress: Progress | None = None, *, overlap: bool = True
) -> Measurements | None:
    """Stage 2: walk what needs walking (None when `options.sizes` is off). `overlap`: see
    :func:`inspector.measure.scan`."""
    if not options.sizes:
        return None
    return measure(inv, progress, full=options.full, cache=options.cache, overlap=overlap)


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
    inv = read(root, opts.containerd_root, opts.daemon_config, opts.cache)
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
    *,
    ids: Sequence[str] | None = None,
    each: Callable[[str, ImageEfficiency | Skipped], None] | None = None,
) -> EfficiencyReport:
    """``efficiency``: dive's numbers for every image ``docker images`` lists (or `names`).

    Read the root (stage 1); the layers' tar entries come from layerdb's tar-split, or a walk
    of the diff dir (stage 2, :mod:`inspector.measure.layerfiles`, with its cache unless
    ``options.cache`` is off); dive's numbers, the layers' changes and the duplicates across
    images are pure analysis (:mod:`inspector.analysis.efficiency`). UsageError for a name
    that is no image; `progress` gets (images done, images). `ids` (full image IDs; those
    the root does not hold are left out) replaces `names`; `each` gets every image's result,
    or why it was skipped, as soon as it is known (the TUI streams them).
    """
    from inspector.analysis import efficiency as eff
    from inspector.analysis.sizes import Sizes
    from inspector.measure.layerfiles import layer_source

    opts = options or Options()
    inv = read(root, opts.containerd_root, opts.daemon_config, opts.cache)
    sizes = Sizes(inv)
    if ids is not None:
        chosen = [i for i in dict.fromkeys(ids) if i in inv.images]
    else:
        chosen = eff.select_images(sizes, names)
    with layer_source(inv, cache=opts.cache) as source:
        return eff.analyse(sizes, chosen, source, source.cache, thresholds, progress, each)


def browse(
    inv: Inventory,
    target: Target,
    tree: FileTree,
    cancelled: Callable[[], bool] | None = None,
    tick: Callable[[], None] | None = None,
) -> None:
    """The file browser: fill `tree` with what `target` holds (a layer, a writable layer, a
    volume, any dir under the root), streaming (another thread reads it meanwhile).

    A layer is read from its tar entries (tar-split, else its diff dir as Docker tars it) and
    marked against the layers below it (:mod:`inspector.analysis.layermarks`); if neither can
    be read, and for every other target, the dir is walked by descriptors
    (:func:`inspector.measure.browse.walk`: no symlink followed, no mount entered).
    """
    from inspector.measure import browse as br
    from inspector.measure.containerd import anchored as ctrd_anchored
    from inspector.readers import fs

    with fs.anchored(inv.root.given), fs.anchored(inv.root.path), ctrd_anchored(inv):
        if target.chain_id is not None and _browse_layer(inv, target.chain_id, tree, cancelled):
            return
        if target.path is None:
            br.end(tree, "no directory holds its files here")
            return
        overlay = target.kind in ("layer", "container") and inv.root.storage_driver != "vfs"
        br.walk(
            tree,
            target.path,
            mounts=frozenset(m.path for m in inv.mounts),
            overlay=overlay,
            cancelled=cancelled,
            tick=tick,
        )


def _browse_layer(
    inv: Inventory, chain: str, tree: FileTree, cancelled: Callable[[], bool] | None
) -> bool:
    """A layer from its tar entries, then its marks; False when its entries cannot be read."""
    from inspector.analysis.layermarks import layer_marks
    from inspector.measure import browse as br
    from inspector.measure import effcache
    from inspector.measure.layerfiles import LayerSource
    from inspector.model import LayerFiles

    if chain not in inv.layers:
        return False
    source = LayerSource(inv, effcache.disabled(inv.root.path))
    top = source(chain)
    if not isinstance(top, LayerFiles):
        tree.note(f"its tar entries cannot be read ({top.reason}): the dir is walked instead")
        return False
    with tree.lock:
        tree.source = top.source
        tree.has_disk = False
    tree.note("sizes as in the layer's tar (docker save): a symlink or a hard link is 0 bytes")
    if top.note:
        tree.note(top.note)
    br.fill_from_entries(tree, top.entries)
    below: list[LayerFiles] = []
    parent = inv.layers[chain].parent
    while parent is not None and len(below) < len(inv.layers):
        if cancelled is not None and cancelled():
            return True
        layer = inv.layers.get(parent)
        got = source(parent) if layer is not None else None
        if not isinstance(got, LayerFiles):
            why = got.reason if got is not None else f"layer {parent} is not in layerdb"
            tree.note(f"no added/modified/removed marks: a layer below cannot be read ({why})")
            return True
        below.append(got)
        parent = layer.parent if layer is not None else None
    br.apply_marks(tree, layer_marks([*reversed(below), top]))
    return True


def prune_preview(
    root: str, options: Options | None = None, progress: Progress | None = None
) -> tuple[Report, PrunePreview]:
    """``prune``: the report of `root` and what each ``docker … prune`` would free on it.

    The prune commands are replayed on the report's objects (pure analysis,
    :mod:`inspector.analysis.prune`); nothing is removed.
    """
    from inspector.analysis import prune

    report = run(root, options, progress)
    return report, prune.preview(report)


def explain(
    root: str, query: str, options: Options | None = None, progress: Progress | None = None
) -> Explanation:
    """``explain``: what `query` (a path under the root, an ID or a name) is in `root`.

    The root is read, measured and analysed as for ``report``; a path is lstat'ed beneath the
    root (never through a symlink) and placed in it; the rest is pure analysis
    (:mod:`inspector.analysis.explain`). NotFound / Ambiguous (usage errors) when `query`
    names nothing or several objects.
    """
    from inspector.analysis import explain as ex

    report = run(root, options, progress)
    probe = _probe(report, query)
    return ex.explain(report, query, probe)


def _probe(report: Report, query: str) -> PathProbe | None:
    """The lstat of `query` when it is a path under the root; None when it is an ID or name.

    An absolute path outside the root is an error unless it is a container's ``/name``; a
    relative one is a path only when it exists here (``library/app:1`` is an image name).
    """
    import os
    import stat

    from inspector.analysis.explain import NotFound, PathProbe
    from inspector.errors import ReaderError
    from inspector.readers import fs

    info = report.inventory.root
    given = info.given.rstrip("/") or "/"
    if not query.startswith("/"):
        if "/" not in query and not query.startswith("."):
            return None
        if not os.path.lexists(query):
            return None
    path = os.path.abspath(query)
    inside = path == given or path.startswith(given + "/")
    if not inside:
        # A symlinked root (/var/lib/docker -> /srv/docker) named by its other path.
        # Only the root's own path is resolved: nothing below it is followed.
        real_root = os.path.realpath(given)
        if path == real_root or path.startswith(real_root + "/"):
            path = given + path[len(real_root) :]
            inside = True
    if not inside:
        name = query.removeprefix("/")
        if query.startswith("/") and "/" not in name and name:
            return None  # a container's name as docker inspect shows it
        raise NotFound(f"{query}: not under the data root {given}")
    try:
        with fs.anchored(given):
            st = fs.lstat(path)
    except FileNotFoundError:
        raise NotFound(f"{query}: no such file or directory under {given}") from None
    except (OSError, ReaderError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return PathProbe(path, True, error=reason)
    kind = (
        "dir"
        if stat.S_ISDIR(st.st_mode)
        else "file"
        if stat.S_ISREG(st.st_mode)
        else "symlink"
        if stat.S_ISLNK(st.st_mode)
        else "other"
    )
    return PathProbe(path, True, kind, st.st_size, st.st_blocks * 512)
