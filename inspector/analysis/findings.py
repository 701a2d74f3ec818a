"""Findings: orphaned data and integrity problems, each with bytes, evidence and a remedy.

Pure functions over an Inventory and its Sizes. Nothing here deletes or suggests `rm` for
data Docker knows about: remedies are docker commands, or a manual procedure with a warning
when Docker has lost track of the data.
"""

from __future__ import annotations

import dataclasses
import heapq
import os
import re
import shlex
from collections.abc import Iterable, Iterator

from inspector.analysis import advice, containerd_findings
from inspector.analysis import trees as analysis_trees
from inspector.analysis.results import (
    Category,
    ContainerRow,
    Finding,
    ImageRow,
    Kind,
    Severity,
    VolumeRow,
    finding_order,
)
from inspector.analysis.sizes import Sizes, diff_path, storage_path
from inspector.analysis.verify import size_mismatches
from inspector.ids import BUILDKIT_ID, short
from inspector.model import (
    LIVE_SLACK_SECONDS,
    ZERO,
    Inventory,
    Measurements,
    Tree,
    TreeKind,
    Usage,
)
from inspector.options import DEFAULT_LARGE_LOG, Options

#: A graphdriver dir name: a layer or RW layer ID, or a container's -init layer.
GRAPH_ID = re.compile(r"[0-9a-f]{64}(-init)?")

_MANUAL = (
    "Docker no longer tracks this data, so no docker command removes it. Safe procedure: stop "
    "the daemon (systemctl stop docker docker.socket), back up {path}, run docker-inspector again "
    "to confirm the finding, then delete that path only and start the daemon. WARNING: deleting "
    "anything under the data root while dockerd runs, or deleting a dir that is in use, corrupts "
    "images and containers."
)


def q(word: str) -> str:
    """`word` quoted for a POSIX shell: remedies are pasted into terminals, names are hostile."""
    return shlex.quote(word)


def manual(*paths: str) -> str:
    """The manual-removal procedure for `paths` (quoted: they may hold any character)."""
    return _MANUAL.format(path=" and ".join(q(p) for p in paths))


def orphan_dirs(inv: Inventory, meas: Measurements) -> Iterator[Finding]:
    """Storage dirs nothing references (layerdb, mounts, BuildKit), live-daemon aware."""
    refs = inv.referenced_dirs()
    bk = inv.buildkit
    for name in sorted(inv.storage_dirs):
        d = inv.storage_dirs[name]
        if name in refs:
            continue
        if inv.scan_started and d.mtime >= inv.scan_started - LIVE_SLACK_SECONDS:
            continue  # created while we scanned: a daemon at work, not an orphan
        u = meas.of(d.path)
        checked = "no layerdb cache-id, no layerdb/mounts mount-id or init-id"
        if BUILDKIT_ID.fullmatch(name):
            yield (
                Finding(
                    Kind.ORPHAN_DIR,
                    Severity.INFO,
                    d.path,
                    u.apparent,
                    u.disk,
                    f"{checked} names it, and it is not a bucket of buildkit/snapshots.db"
                    + ("" if bk.readable else " (BuildKit state could not be read)")
                    + "; its 25-character name is BuildKit's style, so it may belong to"
                    " BuildKit (a build in progress or state this tool does not read)",
                    "Try `docker builder prune` first; if the dir remains after that and after a "
                    "daemon restart, treat it as an orphan. " + manual(d.path),
                    confidence="low",
                    object_id=name,
                    bytes_known=d.path in meas.usage,
                )
            )
            continue
        base = name.removesuffix("-init")
        sev = Severity.WARNING
        conf = "certain"
        extra = ""
        if not GRAPH_ID.fullmatch(name):
            conf = "likely"
            extra = (
                "; the name is not a graphdriver ID, so something other than Docker may have"
                " made it"
            )
        if name.endswith("-init") and base in refs:
            conf = "likely"
            extra = f"; its base dir {base} is in use"
        yield (
            Finding(
                Kind.ORPHAN_DIR,
                sev,
                d.path,
                u.apparent,
                u.disk,
                f"{checked} and no BuildKit snapshot names it{extra}",
                manual(d.path),
                confidence=conf,
                object_id=name,
                bytes_known=d.path in meas.usage,
            )
        )


def missing_dirs(inv: Inventory, sizes: Sizes) -> Iterator[Finding]:
    """Layers and containers whose storage dir is gone."""
    if not inv.driver_home:
        return
    for ch in sorted(inv.layers):
        layer = inv.layers[ch]
        if layer.cache_id in inv.storage_dirs:
            continue
        users = sizes.layer_images.get(ch, [])
        path = storage_path(inv, layer.cache_id) or ""
        remedy = (
            "Remove the images that use it and pull or build them again: "
            + " ".join(f"docker image rm {q(short(i))}" for i in users[:5])
            if users
            else "Restart the daemon; if the entry stays, it is unused metadata. "
            + manual(layer.metadata_dir)
        )
        yield (
            Finding(
                Kind.MISSING_DIFF_DIR,
                Severity.ERROR,
                path,
                0,
                0,
                f"layer {ch} (layerdb {layer.metadata_dir}) names cache-id {layer.cache_id}, "
                f"but {path} does not exist; images using it: {len(users)}",
                remedy,
                object_id=ch,
                reclaimable=False,
            )
        )
    for name in sorted(inv.rw_layers):
        m = inv.rw_layers[name]
        for dir_id, what in ((m.mount_id, "writable layer"), (m.init_id, "init layer")):
            if not dir_id or dir_id in inv.storage_dirs:
                continue
            path = storage_path(inv, dir_id) or ""
            remedy = (
                f"docker container rm -f {q(name[:12])} (its filesystem is lost; recreate it)"
                if name in inv.containers
                else manual(m.metadata_dir)
            )
            yield (
                Finding(
                    Kind.MISSING_DIFF_DIR,
                    Severity.ERROR,
                    path,
                    0,
                    0,
                    f"layerdb mount {name} names {what} {dir_id}, but {path} does not exist",
                    remedy,
                    object_id=name,
                    reclaimable=False,
                )
            )


def broken_links(inv: Inventory) -> Iterator[Finding]:
    """overlay2 l/ symlinks and the link/lower files of layer dirs that do not match."""
    if inv.root.storage_driver != "overlay2":
        return
    links = inv.short_links
    for name in sorted(links):
        sl = links[name]
        target_ok = sl.target_dir is not None and sl.target_dir in inv.storage_dirs
        if target_ok and sl.target_dir is not None and inv.storage_dirs[sl.target_dir].has_diff:
            continue
        why = (
            "it is not a symlink"
            if sl.target is None
            else f"its target {sl.target!r} is not ../<id>/diff"
            if sl.target_dir is None
            else f"its target dir {sl.target_dir} does not exist"
            if not target_ok
            else f"{sl.target_dir} has no diff/"
        )
        yield (
            Finding(
                Kind.BROKEN_LINK,
                Severity.WARNING,
                sl.path,
                0,
                0,
                f"overlay2 short link l/{name} is dangling: {why}",
                "Harmless by itself (it holds no data) but a sign of an interrupted removal. "
                + manual(sl.path),
                object_id=name,
                reclaimable=False,
            )
        )
    # Each l/ name is in the lower file of every dir above it: check each distinct entry once.
    known_lower = {"l/" + n for n in links}
    for dname in sorted(inv.storage_dirs):
        d = inv.storage_dirs[dname]
        problems: list[str] = []
        if d.link is None:
            problems.append("it has no readable link file")
        elif d.link not in links:
            problems.append(f"its link file names l/{d.link}, which does not exist")
        elif links[d.link].target_dir != dname:
            problems.append(f"l/{d.link} points at {links[d.link].target_dir}, not at this dir")
        for entry in d.lower:
            if entry not in known_lower:
                problems.append(f"its lower file names {entry!r}, which does not exist")
        problems.extend(d.problems)
        if not problems:
            continue
        yield (
            Finding(
                Kind.BROKEN_LINK,
                Severity.ERROR,
                d.path,
                0,
                0,
                f"overlay2 dir {dname}: "
                + "; ".join(problems[:5])
                + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
                + ". Mounting this layer (running a container on it) fails.",
                "Remove the images and containers that use this layer with docker image rm / "
                "docker container rm and pull or build them again.",
                object_id=dname,
                reclaimable=False,
            )
        )


def removing_dirs(inv: Inventory, meas: Measurements) -> Iterator[Finding]:
    """layerdb entries left as <chain>-<random>-removing by an interrupted removal."""
    for r in inv.removing_layers:
        sdir = storage_path(inv, r.cache_id)
        u = meas.of(sdir) if sdir and r.cache_id in inv.storage_dirs else ZERO
        md = meas.of(r.metadata_dir)
        where = (
            f"its storage dir {sdir} still exists and holds {u.apparent} bytes"
            if r.cache_id in inv.storage_dirs
            else f"its storage dir {sdir or '(cache-id unreadable)'} is already gone"
        )
        yield (
            Finding(
                Kind.LEFTOVER_REMOVING_DIR,
                Severity.WARNING,
                r.metadata_dir,
                u.apparent,
                u.disk + md.disk,
                f"layer removal was interrupted (crash or kill during docker rmi): {where}",
                "Restart the Docker daemon (systemctl restart docker): at start-up its layer store "
                "finishes removals it finds marked -removing.",
                object_id=r.name,
                bytes_known=bool(meas.usage),  # measured at all (--no-sizes: not)
            )
        )


def dangling_layers(inv: Inventory, sizes: Sizes, meas: Measurements) -> Iterator[Finding]:
    """layerdb layers no image, container, child layer or BuildKit record uses."""
    used = sizes.used_layers()
    for ch in sorted(inv.layers):
        if ch in used:
            continue
        layer = inv.layers[ch]
        sdir = storage_path(inv, layer.cache_id)
        u = meas.of(sdir)
        yield (
            Finding(
                Kind.DANGLING_LAYER,
                Severity.WARNING,
                layer.metadata_dir,
                layer.size or 0,
                u.disk,
                f"layer {ch} (storage dir {layer.cache_id}) is in no image's rootfs, is no parent "
                "of a layer or container, and BuildKit does not record it",
                "A daemon restart does not free it, and no docker command names it. "
                + manual(layer.metadata_dir, sdir or ""),
                confidence="likely",
                object_id=ch,
            )
        )


def incomplete_layers(inv: Inventory, meas: Measurements) -> Iterator[Finding]:
    """Staging leftovers in layerdb/tmp from an interrupted layer registration."""
    for path in inv.layerdb_tmp:
        u = meas.of(path)
        yield (
            Finding(
                Kind.INCOMPLETE_LAYER,
                Severity.WARNING,
                path,
                u.apparent,
                u.disk,
                "staging entry in layerdb/tmp: a layer registration (pull, build, commit, load)"
                " was interrupted before it was moved into layerdb/sha256",
                manual(path),
                object_id=os.path.basename(path),
                bytes_known=path in meas.usage,
            )
        )


def containers(inv: Inventory, meas: Measurements, rows: list[ContainerRow]) -> Iterator[Finding]:
    """Container dirs without config, and containers whose image is gone."""
    for s in inv.container_dirs_without_config:
        cid = os.path.basename(s.path)
        u = meas.of(s.path)
        m = inv.rw_layers.get(cid)
        extra = ""
        if m is not None and m.mount_id:
            rw = meas.of(storage_path(inv, m.mount_id))
            init = meas.of(storage_path(inv, m.init_id)) if m.init_id else ZERO
            u = u + rw + init
            extra = f"; its layers {m.mount_id} (+ -init) are still in {inv.driver_home}"
        yield (
            Finding(
                Kind.CONTAINER_WITHOUT_CONFIG,
                Severity.WARNING,
                s.path,
                u.apparent,
                u.disk,
                f"the daemon skips this container at start-up: {s.reason}{extra}",
                "Docker does not load a container without a valid config, so docker container rm "
                "cannot name it. " + manual(s.path),
                object_id=cid,
                bytes_known=s.path in meas.usage,
            )
        )
    if inv.root.image_store.value != "graphdriver":
        return
    for row in rows:
        if row.image_present:
            continue
        c = row.container
        yield (
            Finding(
                Kind.CONTAINER_MISSING_IMAGE,
                Severity.WARNING,
                c.dir,
                0,
                0,
                f"container {c.name} uses image {c.image_id or '(none recorded)'}, which is not in "
                "the image store",
                f"docker container rm {q(c.id[:12])} if it is no longer needed (it cannot be "
                "re-created from its image)",
                object_id=c.id,
                reclaimable=False,
            )
        )


def missing_layers(inv: Inventory, rows: list[ImageRow]) -> Iterator[Finding]:
    """Images whose rootfs names layers absent from layerdb."""
    for row in rows:
        if not row.missing_layers:
            continue
        yield (
            Finding(
                Kind.MISSING_LAYER,
                Severity.ERROR,
                row.image.config_path,
                0,
                0,
                f"image {short(row.image.id)} needs {len(row.missing_layers)} layer(s) that "
                "layerdb does "
                f"not have: {', '.join(row.missing_layers[:3])}",
                f"docker image rm {q(short(row.image.id))}, then pull or build it again",
                object_id=row.image.id,
                reclaimable=False,
            )
        )


def volumes(rows: list[VolumeRow]) -> Iterator[Finding]:
    """Volumes no container references."""
    for row in rows:
        if row.links:
            continue
        v = row.volume
        anon = v.anonymous
        yield (
            Finding(
                Kind.UNUSED_VOLUME,
                Severity.INFO,
                v.path,
                row.size or 0,
                row.disk_usage,
                ("anonymous" if anon else "named")
                + f" volume {v.name} (driver {v.driver}) is mounted by no container, running or "
                "stopped",
                f"docker volume rm {q(v.name)}"
                + (
                    "  (or docker volume prune, which removes unused anonymous volumes)"
                    if anon
                    else "  (check it holds nothing you need; docker volume prune -a removes all "
                    "unused volumes)"
                ),
                object_id=v.name,
                bytes_known=row.size is not None,
            )
        )


def dangling_images(rows: list[ImageRow]) -> Iterator[Finding]:
    """Untagged images with no child images."""
    for row in rows:
        if not row.dangling:
            continue
        img = row.image
        users = f"; {len(row.containers)} container(s) still use it" if row.containers else ""
        yield (
            Finding(
                Kind.DANGLING_IMAGE,
                Severity.INFO,
                img.config_path,
                row.reclaimable,
                0,
                f"image {short(img.id)} has no tag and no child image "
                f"(created {img.created}); "
                f"removing it frees {row.reclaimable} bytes of layers no other image uses{users}",
                f"docker image rm {q(short(img.id))}"
                "  (or docker image prune for all dangling images)",
                object_id=img.id,
                reclaimable=not row.containers,
            )
        )


def large_logs(rows: list[ContainerRow], threshold: int) -> Iterator[Finding]:
    """Containers whose logs exceed the threshold."""
    for row in rows:
        if row.log_size <= threshold:
            continue
        c = row.container
        opts = c.log_opts
        rot = (
            f"rotation max-size={opts.get('max-size')} max-file={opts.get('max-file', '1')}"
            f" compress={opts.get('compress', 'false')}"
            if "max-size" in opts
            else "no rotation (max-size unset: the log grows without limit)"
        )
        main = sorted(row.container.logs, key=lambda lf: lf.path)
        path = main[0].path if main else c.dir
        yield (
            Finding(
                Kind.LARGE_LOG,
                Severity.WARNING,
                path,
                row.log_size,
                row.log_disk,
                f"container {c.name} has {row.log_size} bytes of {c.log_driver} logs in "
                f"{len(c.logs)} file(s), over the {threshold}-byte threshold; {rot}",
                "Recreate the container with rotation (docker run --log-opt max-size=10m "
                "--log-opt max-file=3, or log-opts in /etc/docker/daemon.json); "
                f"docker container rm {q(c.id[:12])} frees the log with the container.",
                object_id=c.id,
            )
        )


def build_cache(inv: Inventory) -> Iterator[Finding]:
    """BuildKit's cache: reclaimable vs in use (information)."""
    bk = inv.buildkit
    if not bk.present or not bk.records:
        return
    total, reclaimable = bk.total, bk.reclaimable
    in_use = sum(r.size or 0 for r in bk.records if r.in_use)
    shared = total - in_use - reclaimable
    path = os.path.join(inv.root.path, "buildkit")
    yield (
        Finding(
            Kind.BUILD_CACHE,
            Severity.INFO,
            path,
            reclaimable,
            0,
            f"BuildKit cache: {len(bk.records)} records, {total} bytes in all, {in_use} in use, "
            f"{shared} shared with images, {reclaimable} reclaimable",
            "docker builder prune  (add --all to drop cache still usable by future builds)",
        )
    )


def truncated(inv: Inventory) -> Iterator[Finding]:
    """Objects whose metadata was over the per-object limits: what was not kept."""
    items: list[tuple[str, str, tuple[str, ...]]] = []
    items += [(i.config_path, i.id, i.truncated) for i in inv.images.values() if i.truncated]
    items += [(c.dir, c.id, c.truncated) for c in inv.containers.values() if c.truncated]
    items += [(v.path, v.name, v.truncated) for v in inv.volumes.values() if v.truncated]
    for path, oid, notes in sorted(items):
        yield (
            Finding(
                Kind.TRUNCATED,
                Severity.INFO,
                path,
                0,
                0,
                "more metadata than this tool keeps per object (memory stays bounded on hostile "
                "roots): " + "; ".join(notes),
                "Nothing to do for Docker; the numbers are not affected. Labels, options or "
                "mounts shown for this object are incomplete.",
                object_id=oid,
                reclaimable=False,
            )
        )


def unreadable(inv: Inventory, meas: Measurements) -> Iterator[Finding]:
    """Everything the readers skipped, and subtrees the walker could not list."""
    seen: set[tuple[str, str]] = set()
    items = list(inv.skipped)
    for u in meas.usage.values():
        items.extend(u.unreadable)
    for s in items:
        # Readers name the path in their reason; the walker does not: same problem, one finding.
        reason = s.reason.removeprefix(f"{s.path}: ")
        if (s.path, reason) in seen:
            continue
        seen.add((s.path, reason))
        detail, remedy = _unreadable_text(reason)
        yield (
            Finding(
                Kind.UNREADABLE,
                Severity.WARNING,
                s.path,
                0,
                0,
                detail,
                remedy,
                reclaimable=False,
            )
        )


def _unreadable_text(reason: str) -> tuple[str, str]:
    """Detail and remedy of an unreadable finding, by cause."""
    if "name too long" in reason:
        return (
            f"{reason}: this tree is nested deeper than the kernel's path limit (PATH_MAX, "
            "4096 bytes), so nothing below this point is counted; Docker's own size walk fails "
            "on it too (docker system df shows -1), so the container's or volume's size is "
            "reported as unknown",
            "Nothing is wrong with Docker: a container wrote this tree. Remove it from inside "
            "the container, or remove the container or volume, if it is not wanted.",
        )
    if "ermission denied" in reason or "Operation not permitted" in reason:
        return (
            reason,
            "Run as root (sudo docker-inspector …) so every file can be read, or inspect a "
            "copy this user can read (sudo cp -a, then chown -R): numbers above exclude it.",
        )
    return (
        reason,
        "Check this path (numbers above exclude it); run as root (sudo) if it is a permission "
        "problem.",
    )


#: Paths named one by one in an inactive tree's remedy (its containers' dirs may be many).
INACTIVE_PATHS_SHOWN = 12

_CONFIRM = (
    "Confirm first with `docker info` that the daemon does not use it: {what}. Never delete "
    "anything under a data root while dockerd runs. "
)


def _live_root(inv: Inventory) -> Tree | None:
    return next((t for t in inv.root.trees if t.kind is TreeKind.ROOT and t.live), None)


def _some(paths: tuple[str, ...]) -> tuple[str, ...]:
    return paths[:INACTIVE_PATHS_SHOWN]


def _delete(*paths: str) -> str:
    """Removing a tree the daemon does not use by hand (paths quoted: they may hold anything)."""
    named = " and ".join(q(p) for p in paths)
    return (
        f"with the daemon stopped (systemctl stop docker docker.socket), back up {named}, run "
        "docker-inspector again to confirm this finding, then delete those paths only and "
        "start the daemon."
    )


def inactive_trees(inv: Inventory, meas: Measurements) -> Iterator[Finding]:
    """Trees the daemon does not use: other data roots, another storage driver's data."""
    reported = analysis_trees.reported_tree(inv)
    whole = reported is not None and not reported.live  # one finding for all of it: after totals
    live_root = _live_root(inv)
    for t in analysis_trees.inactive(inv):
        u = analysis_trees.usage(t, meas) or ZERO
        conf = "certain" if t.confidence == "certain" else "likely"
        if t.kind is TreeKind.ROOT:
            yield _inactive_root(inv, t, u, live_root, conf, bool(meas.usage))
        elif t.kind is TreeKind.GRAPHDRIVER and not whole:
            yield _inactive_driver(inv, t, u, conf, bool(meas.usage))


def _inactive_root(
    inv: Inventory, t: Tree, u: Usage, live: Tree | None, conf: str, known: bool
) -> Finding:
    uses = (
        f"the daemon uses {live.path}"
        if live is not None
        else f"the daemon uses none of the roots under {inv.root.given}"
    )
    detail = f"data root {t.path} ({t.holds}) is not the one the daemon uses; {uses}: {t.evidence}"
    userns = (
        "Security Options list name=userns"
        if live is not None and live.name
        else "Security Options do not list name=userns"
    )
    what = (
        f"Docker Root Dir shows {live.path if live is not None else 'another directory'} "
        f"(not {t.path}), {userns}"
    )
    if t.skip:
        keep = ", ".join(q(os.path.join(t.path, n)) for n in t.skip)
        detail += f"; not counted here: its remapped roots {', '.join(t.skip)}"
        delete = (
            "with the daemon stopped (systemctl stop docker docker.socket), back up the entries "
            f"of {q(t.path)} other than {keep}, run docker-inspector again to confirm this "
            f"finding, then delete those entries only (never {keep}, which holds the remapped "
            "data) and start the daemon."
        )
    else:
        delete = _delete(t.path)
    return Finding(
        Kind.INACTIVE_ROOT,
        Severity.WARNING,
        t.path,
        u.apparent,
        u.disk,
        detail,
        _CONFIRM.format(what=what)
        + "Docker's own way to free it: start dockerd once with the data-root and userns-remap "
        "that used this tree, remove what you no longer need with docker container rm, docker "
        "image rm and docker volume rm, then start it as before. Or: " + delete,
        confidence=conf,
        object_id=t.name or t.path,
        bytes_known=known,
    )


def _inactive_driver(inv: Inventory, t: Tree, u: Usage, conf: str, known: bool) -> Finding:
    live = inv.root.storage_driver or "another driver"
    detail = (
        f"storage driver {t.name}'s data ({t.holds}) is not used: the daemon uses {live}: "
        f"{t.evidence}"
    )
    if t.containers:
        ids = ", ".join(short(c) for c in t.containers[:5])
        more = f" and {len(t.containers) - 5} more" if len(t.containers) > 5 else ""
        detail += (
            f"; {len(t.containers)} container(s) created with {t.name} ({ids}{more}) are part "
            "of it: dockerd loads only containers of its storage driver, so docker ps does not "
            "list them"
        )
    paths = _some(t.parts)
    rest = len(t.parts) - len(paths)
    delete = _delete(*paths) + (
        f" The {rest} other container dirs of {t.name} (see the detail) go the same way."
        if rest
        else ""
    )
    return Finding(
        Kind.INACTIVE_DRIVER_DATA,
        Severity.WARNING,
        t.path,
        u.apparent,
        u.disk,
        detail,
        _CONFIRM.format(
            what=f"Storage Driver shows {live} (not {t.name}), Docker Root Dir shows "
            f"{inv.root.path}"
        )
        + f"Docker's own way to free it: stop dockerd, start it once with --storage-driver="
        f"{q(t.name)} on this data root, remove its containers and images (docker container "
        "prune, docker image prune -a; not volumes or networks, which both drivers share), then "
        f"start it again with {q(live)}. Or: " + delete,
        confidence=conf,
        object_id=t.name,
        bytes_known=known,
    )


def inactive_reported_root(
    inv: Inventory, categories: Iterable[Category], meas: Measurements
) -> Finding | None:
    """The root reported, when the daemon does not use it (a data root left behind).

    Its bytes are the whole report's but the other data roots' (its other drivers' data
    included), so it is made once the reconciliation is known; the findings inside it are
    part of it (see results.counted).
    """
    t = analysis_trees.reported_tree(inv)
    if t is None or t.live:
        return None
    cats = list(categories)
    whole = Usage(sum(c.apparent for c in cats), sum(c.disk for c in cats))
    for other in analysis_trees.inactive(inv):
        if other.kind is TreeKind.ROOT:
            u = analysis_trees.usage(other, meas) or ZERO
            whole = Usage(max(whole.apparent - u.apparent, 0), max(whole.disk - u.disk, 0))
    return _inactive_root(
        inv,
        dataclasses.replace(t, skip=()),
        whole,
        _live_root(inv),
        "certain" if t.confidence == "certain" else "likely",
        bool(meas.usage),
    )


def all_findings(
    inv: Inventory,
    sizes: Sizes,
    images: list[ImageRow],
    conts: list[ContainerRow],
    vols: list[VolumeRow],
    options: Options,
) -> list[Finding]:
    """Every finding, largest reclaimable bytes first; many of one kind grouped (see Groups)."""
    meas = sizes.meas
    groups = Groups()
    # The overlay2/vfs checks below mean nothing for containerd's snapshots.
    if inv.driver_home and sizes.ctrd is None:
        groups.add(orphan_dirs(inv, meas))
        groups.add(missing_dirs(inv, sizes))
        groups.add(broken_links(inv))
        groups.add(dangling_layers(inv, sizes, meas))
        if meas.full:
            groups.add(size_mismatches(inv, meas.layer_walks, sizes))
    if sizes.ctrd is not None:
        groups.add(containerd_findings.findings(inv, sizes.ctrd))
    groups.add(removing_dirs(inv, meas))
    groups.add(incomplete_layers(inv, meas))
    groups.add(containers(inv, meas, conts))
    groups.add(missing_layers(inv, images))
    groups.add(volumes(vols))
    groups.add(dangling_images(images))
    groups.add(large_logs(conts, options.large_log_bytes))
    groups.add(advice.large_writable_layers(inv, conts, options.large_rw_bytes))
    groups.add(advice.unbounded_logs(inv, conts))
    groups.add(advice.plugins(inv, meas))
    groups.add(build_cache(inv))
    groups.add(truncated(inv))
    groups.add(unreadable(inv, meas))
    groups.add(inactive_trees(inv, meas))
    return sorted(groups.findings(), key=finding_order)


#: Findings of one kind beyond this many are reported as one finding with a count: 200,000
#: empty dirs planted in overlay2/ must not cost 200,000 findings in every output.
GROUP_OVER = 200
#: Paths a grouped finding names (the largest first).
GROUP_EXAMPLES = 20

GroupKey = tuple[Kind, Severity, str, bool]


class _Group:
    """A set of like findings: kept one by one up to GROUP_OVER, then only as totals."""

    __slots__ = ("count", "disk", "items", "known", "nbytes", "prefix", "seq", "top")

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.known = True
        self.count = 0
        self.nbytes = 0
        self.disk = 0
        self.prefix: str | None = None
        self.seq = 0
        self.top: list[tuple[int, int, Finding]] = []
        """A min-heap of the largest: (bytes, -arrival, finding); ties keep the earliest."""

    def add(self, f: Finding) -> None:
        self.count += 1
        self.known = self.known and f.bytes_known
        self.nbytes += f.bytes
        self.disk += f.disk_usage
        if f.path:
            p = self.prefix
            if p is None:
                self.prefix = f.path
            elif not (f.path.startswith(p) and f.path[len(p) : len(p) + 1] in ("", "/")):
                self.prefix = _common(p, f.path)
        if self.count <= GROUP_OVER:
            self.items.append(f)
        elif self.items:
            for g in self.items:  # past the limit: from now on, only the largest are kept
                self._rank(g)
            self.items = []
        if self.count > GROUP_OVER:
            self._rank(f)

    def _rank(self, f: Finding) -> None:
        # Keep the GROUP_EXAMPLES largest; among equal bytes the first made (producers go in
        # path order), so the examples do not depend on anything but the root.
        self.seq += 1
        entry = (f.bytes, -self.seq, f)
        if len(self.top) < GROUP_EXAMPLES:
            heapq.heappush(self.top, entry)
        elif entry[:2] > self.top[0][:2]:
            heapq.heapreplace(self.top, entry)


def _common(a: str, b: str) -> str:
    try:
        return os.path.commonpath([a, b])
    except ValueError:
        return ""  # one absolute, one not: nothing in common


class Groups:
    """Collects findings as they are made; more than GROUP_OVER alike become one finding.

    Alike means the same kind, severity, confidence and reclaimability, so every total (bytes,
    reclaimable bytes, the audit's orphan bytes) is the same as without grouping. Memory stays
    at GROUP_OVER findings per group however many are made: a producer yields one at a time.
    """

    def __init__(self) -> None:
        self._groups: dict[GroupKey, _Group] = {}

    def add(self, findings: Iterable[Finding]) -> None:
        """Take every finding of `findings` (typically a producer's generator)."""
        groups = self._groups
        for f in findings:
            key = (f.kind, f.severity, f.confidence, f.reclaimable)
            g = groups.get(key)
            if g is None:
                g = groups[key] = _Group()
            g.add(f)

    def findings(self) -> list[Finding]:
        """The findings: each small group as it is, each large one as one grouped finding."""
        out: list[Finding] = []
        for (kind, severity, confidence, reclaimable), g in self._groups.items():
            if g.count <= GROUP_OVER:
                out += g.items
                continue
            top = [e[2] for e in sorted(g.top, key=lambda e: (-e[0], -e[1]))]
            shown = ", ".join(f"{f.path} ({f.bytes} bytes)" for f in top[:5])
            out.append(
                Finding(
                    kind,
                    severity,
                    g.prefix or top[0].path,
                    g.nbytes,
                    g.disk,
                    f"{g.count} {kind.value} findings, grouped into one (more than {GROUP_OVER} "
                    f"of one kind); the largest: {shown}; the largest in full: {top[0].detail}",
                    f"For each of them (see examples), as for the largest: {top[0].remedy}",
                    confidence=confidence,
                    reclaimable=reclaimable,
                    count=g.count,
                    examples=tuple(f.path for f in top),
                    bytes_known=g.known,
                )
            )
        return out


__all__ = ["DEFAULT_LARGE_LOG", "Options", "all_findings", "diff_path"]
