"""Which data does the daemon use? Every tree of Docker data under a root, and the live one.

A root can hold more than the daemon sees (docker/cli#942): userns-remap roots
(``<root>/<uid>.<gid>/``, where a remapped daemon keeps everything), the top-level tree of the
daemon before remap was switched on, a graphdriver's tree left by a driver switch
(``vfs/`` + ``image/vfs/`` beside ``overlay2/``), a whole root left behind when ``data-root``
moved. This module finds them (inspector.readers.trees gathers the facts) and decides which one
the daemon uses, best evidence first:

1. the daemon config (``--daemon-config``, default /etc/docker/daemon.json when it describes the
   root read): ``data-root``, ``userns-remap``, ``storage-driver``;
2. a running daemon: mount points inside the tree (its layers, containers' shm, its root bound
   onto itself);
3. the marks dockerd leaves at every start: the group of the root as given is the remapped
   root's (0 without remap); ``volumes/backingFsBlockDev`` is made anew; a driver's dir changes;
4. dockerd's own choice from what is on disk: a root holding nothing but one remapped root; a
   single graphdriver holding data (vfs is never chosen from prior data, moby graphdriver New).

The decisions are pure functions of those facts (:func:`choose_root`, :func:`choose_driver`);
:func:`locate` and :func:`drivers` read the facts. The tree reported is the live one when it
holds data, else the one that does (it is then reported as inactive, with the evidence).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from inspector.errors import ReaderError
from inspector.model import (
    Container,
    DaemonConfig,
    ImageStore,
    Mount,
    RootInfo,
    Tree,
    TreeKind,
)
from inspector.readers import daemonconfig, fs
from inspector.readers.mounts import mounts_under
from inspector.readers.trees import (
    DRIVERS,
    REMAP_DIR,
    DriverFacts,
    RootFacts,
    driver_facts,
    root_facts,
)

CERTAIN = "certain"
LIKELY = "likely"


def _when(t: float | None) -> str:
    if t is None:
        return "never"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _same(a: str, b: str) -> bool:
    """Whether two paths name the same directory (by resolved path, or by device and inode)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


# ------------------------------------------------------------------------------ daemon config


def read_config(top: str, path: str | None, etc: str = "/etc") -> tuple[DaemonConfig | None, str]:
    """The daemon config at `path` and whether it describes the root `top`; plus a note.

    None when there is no file (the default path on a host without one). A file that cannot
    be read or parsed is no evidence: a DaemonConfig that does not apply, saying why.
    """
    if path is None:
        return None, ""
    try:
        cfg = daemonconfig.read_config(path)
    except FileNotFoundError:
        return None, ""
    except ReaderError as e:
        return DaemonConfig(path, False, f"cannot be used: {e}"), f"daemon config {e}"
    return describe_config(cfg, top, etc)


def describe_config(
    cfg: daemonconfig.ConfigFile, top: str, etc: str = "/etc"
) -> tuple[DaemonConfig, str]:
    """Whether the config `cfg` describes the root `top` (its data-root), and a note if not."""
    eff = cfg.data_root or daemonconfig.DEFAULT_DATA_ROOT
    named = f"data-root {eff}" if cfg.data_root else f"no data-root (so {eff})"
    note = ""
    if _same(eff, top):
        applies, why = True, f"it sets {named}: this root"
    elif REMAP_DIR.fullmatch(os.path.basename(top)) and _same(eff, os.path.dirname(top)):
        applies, why = True, f"it sets {named}, which holds this remapped root"
    elif cfg.data_root and _same(top, daemonconfig.DEFAULT_DATA_ROOT):
        applies, why = True, f"it sets data-root {eff}: dockerd does not use {top}"
    else:
        applies, why = False, f"it sets {named}, not this root: not used as evidence"
        note = f"daemon config {cfg.path}: {why}"
    remap = daemonconfig.remap_root(cfg.userns_remap, etc) if cfg.userns_remap else None
    return (
        DaemonConfig(
            path=cfg.path,
            applies=applies,
            why=why,
            data_root=cfg.data_root,
            userns_remap=cfg.userns_remap,
            storage_driver=cfg.storage_driver,
            containerd_snapshotter=cfg.containerd_snapshotter,
            remap_root=remap,
        ),
        note,
    )


def _stale(cfg: DaemonConfig | None, top: str) -> bool:
    """The config moved the data root away from `top` (the default root, left behind)."""
    if cfg is None or not cfg.applies or not cfg.data_root:
        return False
    return not _same(cfg.data_root, top) and not _same(cfg.data_root, os.path.dirname(top))


# ------------------------------------------------------------------------------ data roots


@dataclass(frozen=True, slots=True)
class RootChoice:
    """Which data root the daemon uses, and which one to report."""

    live: str | None
    """Path of the root the daemon uses, when it is here (None: none of these)."""
    reported: str
    """The root to report: the live one when it holds data, else the one that does."""
    evidence: str
    confidence: str
    trees: tuple[Tree, ...]


def choose_root(
    given: RootFacts, remapped: Sequence[RootFacts], cfg: DaemonConfig | None
) -> RootChoice:
    """Decide which of the root as given and its userns-remap roots the daemon uses (pure)."""
    top = given.path
    live, evidence, conf = _live_root(given, remapped, cfg)
    by_path = {r.path: r for r in (given, *remapped)}
    reported = live if live is not None and by_path[live].has_tree else None
    if reported is None:
        holding = [r for r in (given, *remapped) if r.has_tree]
        # The data the user has: the root as given first, else the most recently started.
        holding.sort(key=lambda r: (r is not given, -(r.started or 0.0), r.path))
        reported = holding[0].path if holding else (live or top)
    names = tuple(r.name for r in remapped)
    trees: list[Tree] = []
    for r in (given, *remapped):
        if not r.has_tree and r.path not in (live, reported):
            continue  # holds no data of its own (the root as given: only remapped roots)
        part: tuple[str, ...] = ()
        if r.path != reported:
            part = (r.path,)
        trees.append(
            Tree(
                kind=TreeKind.ROOT,
                name=r.name,
                path=r.path,
                live=r.path == live,
                evidence=evidence,
                confidence=conf,
                holds=r.holds,
                parts=part,
                skip=names if r is given else (),
            )
        )
    return RootChoice(live, reported, evidence, conf, tuple(trees))


def _live_root(
    given: RootFacts, remapped: Sequence[RootFacts], cfg: DaemonConfig | None
) -> tuple[str | None, str, str]:
    """(path of the live root or None, the evidence, its confidence)."""
    top = given.path
    if cfg is not None and cfg.applies:
        src = f"daemon config {cfg.path}"
        if _stale(cfg, top):
            return (
                None,
                f"{src} sets data-root {cfg.data_root}: dockerd does not use {top}",
                CERTAIN,
            )
        if REMAP_DIR.fullmatch(os.path.basename(top)) and not remapped:
            # --root names a remapped root itself: in use only with that remap.
            if not cfg.userns_remap:
                return (
                    None,
                    f"{src} sets no userns-remap: dockerd uses {os.path.dirname(top)}",
                    CERTAIN,
                )
            if cfg.remap_root and cfg.remap_root != os.path.basename(top):
                return (
                    None,
                    f"{src} sets userns-remap={cfg.userns_remap}, which maps to {cfg.remap_root}",
                    CERTAIN,
                )
            return top, f"{src} sets userns-remap={cfg.userns_remap}", CERTAIN
        if not cfg.userns_remap:
            return top, f"{src} sets no userns-remap: dockerd keeps its data in {top}", CERTAIN
        spec = f"{src} sets userns-remap={cfg.userns_remap}"
        if cfg.remap_root:
            path = os.path.join(top, cfg.remap_root)
            how = f"{spec}, which maps to {cfg.remap_root} (/etc/subuid, /etc/subgid)"
            if any(r.path == path for r in remapped):
                return path, how, CERTAIN
            return None, f"{how}; {path} does not exist yet", CERTAIN
        if len(remapped) == 1:
            return (
                remapped[0].path,
                f"{spec}, and {remapped[0].name} is the only remapped root",
                CERTAIN,
            )
        if not remapped:
            return None, f"{spec}, but no remapped root (<uid>.<gid>) exists here", CERTAIN
        # Remap is on, but which range is unknown here: the disk decides among them.
        live, ev, conf = _by_signs(None, remapped)
        return live, f"{spec} (not resolved here); {ev}", conf
    if not remapped:
        return top, "the only data root here (no userns-remap root <uid>.<gid> in it)", CERTAIN
    return _by_signs(given, remapped)


def _by_signs(
    given: RootFacts | None, remapped: Sequence[RootFacts]
) -> tuple[str | None, str, str]:
    """The live root by the signs dockerd leaves on disk (see the module doc)."""
    cands = ([given] if given is not None and given.has_tree else []) + list(remapped)
    if given is not None and not given.has_tree and len(remapped) == 1:
        r = remapped[0]
        return r.path, f"the data root holds nothing but the userns-remap root {r.name}", CERTAIN
    mounted = [r for r in cands if r.mounted]
    if len(mounted) == 1:
        r = mounted[0]
        return r.path, f"{r.mounted} is mounted in it: a running dockerd uses it", CERTAIN
    if given is not None and given.gid is not None:
        if given.gid != 0:
            match = [r for r in remapped if r.name.split(".")[1] == str(given.gid)]
            if len(match) == 1:
                r = match[0]
                return (
                    r.path,
                    f"{given.path} has group {given.gid}: dockerd sets the data root's group to "
                    f"the remapped root's ({r.name}) at every start with userns-remap",
                    CERTAIN,
                )
        elif given.has_tree:
            newer = [r for r in remapped if (r.started or 0) > (given.started or 0)]
            if not newer:
                return (
                    given.path,
                    f"{given.path} has group 0: dockerd sets it at every start without "
                    "userns-remap (to the remapped group with it)",
                    CERTAIN,
                )
    started = sorted(
        (r for r in cands if r.started is not None), key=lambda r: (-(r.started or 0), r.path)
    )
    if started:
        r = started[0]
        others = ", ".join(f"{x.name or x.path} {_when(x.started)}" for x in started[1:])
        return (
            r.path,
            f"the last daemon start was on {r.name or r.path} (volumes/backingFsBlockDev, made "
            f"at every start: {_when(r.started)}" + (f"; {others}" if others else "") + ")",
            LIKELY,
        )
    r = cands[0]
    return r.path, "no sign decided: reporting the root as given", LIKELY


# ------------------------------------------------------------------------------ graphdrivers


@dataclass(frozen=True, slots=True)
class DriverChoice:
    """Which graphdriver tree of a data root the daemon uses."""

    live: str | None
    """The driver name (None: no graphdriver tree holds data, or it cannot be told)."""
    forced: str | None
    """The driver inspector.root must report (None: let it choose, as it does alone)."""
    trees: tuple[Tree, ...]
    configured: bool = False
    """The daemon config named the driver."""


def choose_driver(facts: Sequence[DriverFacts], cfg: DaemonConfig | None) -> DriverChoice:
    """Decide which graphdriver tree the daemon uses (pure).

    `cfg`: the daemon config when it describes this data root and the daemon uses that root
    (else None: a config about another tree says nothing of this one's drivers).
    """
    with_data = [f for f in facts if f.has_data]
    live: str | None = None
    evidence, conf = "", CERTAIN
    if cfg is not None and cfg.applies and cfg.storage_driver:
        live = cfg.storage_driver
        evidence = f"daemon config {cfg.path} sets storage-driver={live}"
    elif len(with_data) <= 1:
        if with_data:
            live = with_data[0].name
            evidence = "the only graphdriver tree holding data"
    else:
        mounted = [f for f in with_data if f.mounted]
        if len(mounted) == 1:
            live = mounted[0].name
            evidence = f"{mounted[0].mounted} is mounted: a running dockerd uses {live}"
        else:
            ranked = sorted(with_data, key=lambda f: (-(f.mtime or 0.0), f.name))
            live = ranked[0].name
            conf = LIKELY
            others = ", ".join(f"{f.name}/ {_when(f.mtime)}" for f in ranked[1:])
            evidence = (
                f"{live}/ changed last ({_when(ranked[0].mtime)}; {others}): a driver's dir "
                "changes when dockerd starts with it or makes layers"
            )
            non_vfs = [f.name for f in with_data if f.name != "vfs"]
            if len(non_vfs) == 1:
                evidence += (
                    f"; without a configured storage-driver dockerd picks {non_vfs[0]} "
                    "(vfs is never chosen from prior data)"
                )
            elif len(non_vfs) > 1:
                evidence += (
                    "; with data of several drivers dockerd starts only with one named "
                    "explicitly (storage-driver), so check `docker info`"
                )
    trees = []
    if live is not None and live not in {f.name for f in facts}:
        trees.append(
            Tree(TreeKind.GRAPHDRIVER, live, "", True, evidence, conf, "nothing yet (no dir)")
        )
    for f in facts:
        if not f.has_data and f.name != live:
            continue
        parts = tuple(p for p, ok in ((f.home, f.home_exists), (f.meta, f.meta_exists)) if ok)
        trees.append(
            Tree(
                kind=TreeKind.GRAPHDRIVER,
                name=f.name,
                path=f.home,
                live=f.name == live,
                evidence=evidence,
                confidence=conf,
                holds=f.holds(),
                parts=() if f.name == live else parts,
            )
        )
    forced = (
        live if len(with_data) > 1 or (live and live not in {f.name for f in with_data}) else None
    )
    configured = cfg is not None and cfg.applies and bool(cfg.storage_driver)
    return DriverChoice(live, forced, tuple(trees), configured)


# ------------------------------------------------------------------------------ reading


@dataclass(frozen=True, slots=True)
class Located:
    """The root as given, the data root to report, and what decided it."""

    top: str
    reported: str
    root: RootChoice | None
    """None when the root as given could not be looked at (opening it will say why)."""
    config: DaemonConfig | None
    notes: tuple[str, ...] = ()


def _mounts(path: str) -> list[Mount]:
    """Mount points at `path` and below it, named under `path` as given (it may be a symlink)."""
    real = os.path.realpath(path)
    out = []
    for m in mounts_under(os.path.dirname(real) or "/"):
        if m.path == real or m.path.startswith(real.rstrip("/") + "/"):
            out.append(dataclasses.replace(m, path=path + m.path[len(real) :]))
    return out


def locate(path: str, daemon_config: str | None) -> Located:
    """Find the data roots under `path` and decide which one to report (never raises)."""
    top = os.path.abspath(path)
    cfg, note = read_config(top, daemon_config)
    notes = (note,) if note else ()
    try:
        os.listdir(top)
    except OSError:
        return Located(top, top, None, cfg, notes)  # open_root says what is wrong
    mounts = _mounts(top)
    try:
        with fs.anchored(top):
            given, remapped = root_facts(top, mounts)
    except ReaderError:
        return Located(top, top, None, cfg, notes)
    choice = choose_root(given, remapped, cfg)
    return Located(top, choice.reported, choice, cfg, notes)


def drivers(located: Located) -> DriverChoice:
    """The graphdriver trees of the data root to report, and the live one (anchored at top)."""
    root = located.reported
    mounts = _mounts(root)
    live = located.root is not None and located.root.live == root
    return choose_driver(driver_facts(root, mounts), located.config if live else None)


def attach(info: RootInfo, located: Located, choice: DriverChoice) -> RootInfo:
    """`info` (inspector.root's description of the reported root) with the trees and evidence."""
    trees = list(located.root.trees if located.root is not None else ())
    root_used = located.root is None or located.root.live == info.path
    for t in choice.trees:
        if not t.path:
            t = dataclasses.replace(t, path=os.path.join(info.path, t.name))
        if t.live and not root_used:
            # The driver this root's daemon used; the daemon uses none of this root now.
            t = dataclasses.replace(t, live=False, evidence=f"in an unused data root; {t.evidence}")
        trees.append(t)
    ctrd_live = info.image_store is ImageStore.CONTAINERD
    if ctrd_live:
        # The daemon uses the containerd store: every graphdriver tree is left from before.
        trees = [
            dataclasses.replace(
                t,
                live=False,
                evidence=f"the containerd image store is used ({info.containerd_reason})",
                parts=t.parts or _driver_parts(t, info.path),
            )
            if t.kind is TreeKind.GRAPHDRIVER
            else t
            for t in trees
        ]
    # inspector.root finds the containerd store and tells whether the daemon uses it.
    if ctrd_live or any(n.startswith(_CTRD_ALSO) for n in info.notes):
        live = ctrd_live
        trees.append(
            Tree(
                kind=TreeKind.CONTAINERD,
                name="containerd",
                path=info.containerd_root or info.path,
                live=live,
                evidence=info.containerd_reason
                or ("the image store detected" if live else "graphdriver data is used"),
                confidence=LIKELY,
                holds="the containerd image store",
                parts=() if live else _containerd_parts(info),
            )
        )
    notes = list(info.notes)
    if choice.live is not None and info.other_drivers:
        # inspector.root's "several drivers" note named its priority guess; the trees say more.
        notes = [n for n in notes if not n.startswith("several storage drivers hold data")]
    notes += located.notes
    cfg = located.config
    if (
        cfg is not None
        and cfg.applies
        and cfg.containerd_snapshotter
        and info.image_store is ImageStore.GRAPHDRIVER
    ):
        notes.append(
            f"daemon config {cfg.path} enables the containerd image store "
            "(features.containerd-snapshotter): dockerd then does not use the graphdriver data "
            "reported here (unless it sets storage-driver), but no containerd root holding "
            "its images was found: pass --containerd-root"
        )
    top = located.top if located.top != info.path else ""
    return dataclasses.replace(
        info, trees=tuple(trees), top=top, daemon_config=cfg, notes=tuple(notes)
    )


#: inspector.root's note when containerd-store data is present beside the graphdriver's.
_CTRD_ALSO = "containerd image store data also present"


#: What of a containerd root is its image store (the rest is runtime state dockerd's
#: containerd keeps in graphdriver mode too).
_CTRD_STORE_DIRS = ("io.containerd.content.v1.content", "io.containerd.snapshotter.v1.overlayfs")


def _containerd_parts(info: RootInfo) -> tuple[str, ...]:
    """An unused containerd store's dirs under the data root (a system one is not ours)."""
    ctrd = info.containerd_root
    if not ctrd or not ctrd.startswith(info.path.rstrip("/") + "/"):
        return ()
    out = []
    for name in _CTRD_STORE_DIRS:
        p = os.path.join(ctrd, name)
        try:
            if fs.lstat_or_none(p) is not None:
                out.append(p)
        except (OSError, ReaderError):
            continue
    return tuple(out)


def _driver_parts(t: Tree, root: str) -> tuple[str, ...]:
    """A graphdriver tree's dirs that exist: its layer dir and ``image/<driver>/``."""
    out = []
    for p in (t.path, os.path.join(root, "image", t.name)):
        try:
            if fs.lstat_or_none(p) is not None:
                out.append(p)
        except (OSError, ReaderError):
            continue
    return tuple(out)


def forced_driver(info: RootInfo, choice: DriverChoice) -> str | None:
    """The graphdriver inspector.root must report instead of its guess, if any.

    Not over a containerd store it found, unless the daemon config names the driver (an
    explicit storage-driver makes dockerd use the graphdriver store).
    """
    if choice.forced is None or choice.forced == info.storage_driver:
        return None
    if info.image_store is ImageStore.CONTAINERD and not choice.configured:
        return None
    return choice.forced


def set_aside(
    info: RootInfo, containers: Mapping[str, Container]
) -> tuple[dict[str, Container], RootInfo]:
    """Containers the daemon loads, and `info` with the others in their driver's tree.

    dockerd loads only containers created with its current storage driver (moby daemon.go:
    "not restoring container because it was created with another storage driver"); the
    others belong with that driver's inactive data, not with this report's containers.
    """
    live = info.storage_driver  # in the containerd store: the snapshotter's name
    if not live:
        return dict(containers), info
    kept: dict[str, Container] = {}
    aside: dict[str, list[Container]] = {}
    for cid, c in containers.items():
        if c.driver and c.driver != live and c.driver in DRIVERS:
            aside.setdefault(c.driver, []).append(c)
        else:
            kept[cid] = c
    if not aside:
        return kept, info
    trees = list(info.trees)
    live_tree = next((t for t in trees if t.kind is TreeKind.GRAPHDRIVER and t.live), None)
    for drv in sorted(aside):
        cs = sorted(aside[drv], key=lambda c: c.id)
        ids = tuple(c.id for c in cs)
        dirs = tuple(c.dir for c in cs)
        i = next(
            (k for k, t in enumerate(trees) if t.kind is TreeKind.GRAPHDRIVER and t.name == drv),
            None,
        )
        if i is None:
            trees.append(
                Tree(
                    kind=TreeKind.GRAPHDRIVER,
                    name=drv,
                    path=os.path.join(info.path, drv),
                    live=False,
                    evidence=live_tree.evidence if live_tree else f"the storage driver is {live}",
                    confidence=live_tree.confidence if live_tree else CERTAIN,
                    holds=f"{len(ids)} containers",
                    parts=dirs,
                    containers=ids,
                )
            )
            continue
        t = trees[i]
        trees[i] = dataclasses.replace(
            t,
            holds=f"{t.holds}, {len(ids)} containers",
            parts=t.parts + dirs,
            containers=t.containers + ids,
        )
    return kept, dataclasses.replace(info, trees=tuple(trees))


# ------------------------------------------------------------------------------ no root given


#: The snap package's data root.
SNAP_ROOT = "/var/snap/docker/common/var-lib-docker"
#: Home dirs looked at for rootless roots (more are not listed).
MAX_HOMES = 64


def other_roots(env: Mapping[str, str] | None = None) -> list[str]:
    """Data roots of rootless Docker and the snap package that exist on this host."""
    env = os.environ if env is None else env
    found: list[str] = []
    cands: list[str] = []
    xdg = env.get("XDG_DATA_HOME")
    if xdg:
        cands.append(os.path.join(xdg, "docker"))
    home = env.get("HOME")
    if home:
        cands.append(os.path.join(home, ".local", "share", "docker"))
    try:
        homes = sorted(os.listdir("/home"))[:MAX_HOMES]
    except OSError:
        homes = []
    cands += [os.path.join("/home", h, ".local", "share", "docker") for h in homes]
    cands.append(SNAP_ROOT)
    for c in cands:
        if c not in found and os.path.isdir(c):
            found.append(c)
    return found


def default_root(daemon_config: str | None) -> tuple[str, str]:
    """The root to read when none is given, and why ("" for /var/lib/docker as usual).

    The daemon config's data-root when it sets one (dockerd then keeps nothing in
    /var/lib/docker), else /var/lib/docker.
    """
    if daemon_config is not None:
        try:
            cfg = daemonconfig.read_config(daemon_config)
        except (OSError, ReaderError):
            cfg = None
        if cfg is not None and cfg.data_root:
            return cfg.data_root, f"data-root of {daemon_config}"
    return daemonconfig.DEFAULT_DATA_ROOT, ""


__all__ = [
    "DriverChoice",
    "Located",
    "RootChoice",
    "attach",
    "choose_driver",
    "choose_root",
    "default_root",
    "describe_config",
    "drivers",
    "locate",
    "other_roots",
    "read_config",
    "set_aside",
]
