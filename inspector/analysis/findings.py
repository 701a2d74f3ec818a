"""Findings: orphaned data and integrity problems, each with bytes, evidence and a remedy.

Pure functions over an Inventory and its Sizes. Nothing here deletes or suggests `rm` for
data Docker knows about: remedies are docker commands, or a manual procedure with a warning
when Docker has lost track of the data.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from inspector.analysis.results import (
    ContainerRow,
    Finding,
    ImageRow,
    Kind,
    Severity,
    VolumeRow,
)
from inspector.analysis.sizes import Sizes, diff_path, storage_path
from inspector.analysis.verify import size_mismatches
from inspector.model import Inventory, Usage

BUILDKIT_ID = re.compile(r"[0-9a-z]{25}")
HEX64 = re.compile(r"[0-9a-f]{64}(-init)?")
DEFAULT_LARGE_LOG = 100 * 1024 * 1024
#: A dir modified this close to (or after) the scan start may be a daemon's work in progress.
LIVE_SLACK_SECONDS = 2.0

MANUAL = (
    "Docker no longer tracks this data, so no docker command removes it. Safe procedure: stop "
    "the daemon (systemctl stop docker docker.socket), back up {path}, run docker-inspector again "
    "to confirm the finding, then delete that path only and start the daemon. WARNING: deleting "
    "anything under the data root while dockerd runs, or deleting a dir that is in use, corrupts "
    "images and containers."
)


@dataclass(frozen=True, slots=True)
class Options:
    """Knobs for findings."""

    large_log_bytes: int = DEFAULT_LARGE_LOG


def _u(inv: Inventory, path: str | None, sub_apparent: bool = True) -> Usage:
    if path is None:
        return Usage(0, 0)
    return inv.usage.get(path, Usage(0, 0))


def _short(i: str) -> str:
    return i.removeprefix("sha256:")[:12]


def orphan_dirs(inv: Inventory) -> list[Finding]:
    """Storage dirs nothing references (layerdb, mounts, BuildKit), live-daemon aware."""
    out: list[Finding] = []
    refs = inv.referenced_dirs()
    bk = inv.buildkit
    for name in sorted(inv.storage_dirs):
        d = inv.storage_dirs[name]
        if name in refs:
            continue
        if inv.scan_started and d.mtime >= inv.scan_started - LIVE_SLACK_SECONDS:
            continue  # created while we scanned: a daemon at work, not an orphan
        u = _u(inv, d.path)
        checked = "no layerdb cache-id, no layerdb/mounts mount-id or init-id"
        if BUILDKIT_ID.fullmatch(name):
            out.append(
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
                    "daemon restart, treat it as an orphan. " + MANUAL.format(path=d.path),
                    confidence="low",
                    object_id=name,
                )
            )
            continue
        base = name.removesuffix("-init")
        sev = Severity.WARNING
        conf = "certain"
        extra = ""
        if not HEX64.fullmatch(name):
            conf = "likely"
            extra = (
                "; the name is not a graphdriver ID, so something other than Docker may have"
                " made it"
            )
        if name.endswith("-init") and base in refs:
            conf = "likely"
            extra = f"; its base dir {base} is in use"
        out.append(
            Finding(
                Kind.ORPHAN_DIR,
                sev,
                d.path,
                u.apparent,
                u.disk,
                f"{checked} and no BuildKit snapshot names it{extra}",
                MANUAL.format(path=d.path),
                confidence=conf,
                object_id=name,
            )
        )
    return out


def missing_dirs(inv: Inventory, sizes: Sizes) -> list[Finding]:
    """Layers and containers whose storage dir is gone."""
    out: list[Finding] = []
    if not inv.driver_home:
        return out
    for ch in sorted(inv.layers):
        layer = inv.layers[ch]
        if layer.cache_id in inv.storage_dirs:
            continue
        users = sizes.layer_images.get(ch, [])
        path = storage_path(inv, layer.cache_id) or ""
        remedy = (
            "Remove the images that use it and pull or build them again: "
            + " ".join(f"docker image rm {_short(i)}" for i in users[:5])
            if users
            else "Restart the daemon; if the entry stays, it is unused metadata. "
            + MANUAL.format(path=layer.metadata_dir)
        )
        out.append(
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
                f"docker container rm -f {name[:12]} (its filesystem is lost; recreate it)"
                if name in inv.containers
                else MANUAL.format(path=m.metadata_dir)
            )
            out.append(
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
    return out


def broken_links(inv: Inventory) -> list[Finding]:
    """overlay2 l/ symlinks and the link/lower files of layer dirs that do not match."""
    out: list[Finding] = []
    if inv.root.storage_driver != "overlay2":
        return out
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
        out.append(
            Finding(
                Kind.BROKEN_LINK,
                Severity.WARNING,
                sl.path,
                0,
                0,
                f"overlay2 short link l/{name} is dangling: {why}",
                "Harmless by itself (it holds no data) but a sign of an interrupted removal. "
                + MANUAL.format(path=sl.path),
                object_id=name,
                reclaimable=False,
            )
        )
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
            short = entry.removeprefix("l/")
            if not entry.startswith("l/") or short not in links:
                problems.append(f"its lower file names {entry!r}, which does not exist")
        problems.extend(d.problems)
        if not problems:
            continue
        out.append(
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
    return out


def removing_dirs(inv: Inventory) -> list[Finding]:
    """layerdb entries left as <chain>-<random>-removing by an interrupted removal."""
    out: list[Finding] = []
    for r in inv.removing_layers:
        sdir = storage_path(inv, r.cache_id)
        u = _u(inv, sdir) if sdir and r.cache_id in inv.storage_dirs else Usage(0, 0)
        md = _u(inv, r.metadata_dir)
        where = (
            f"its storage dir {sdir} still exists and holds {u.apparent} bytes"
            if r.cache_id in inv.storage_dirs
            else f"its storage dir {sdir or '(cache-id unreadable)'} is already gone"
        )
        out.append(
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
            )
        )
    return out


def dangling_layers(inv: Inventory, sizes: Sizes) -> list[Finding]:
    """layerdb layers no image, container, child layer or BuildKit record uses."""
    out: list[Finding] = []
    used = sizes.used_layers()
    for ch in sorted(inv.layers):
        if ch in used:
            continue
        layer = inv.layers[ch]
        sdir = storage_path(inv, layer.cache_id)
        u = _u(inv, sdir)
        out.append(
            Finding(
                Kind.DANGLING_LAYER,
                Severity.WARNING,
                layer.metadata_dir,
                layer.size or 0,
                u.disk,
                f"layer {ch} (storage dir {layer.cache_id}) is in no image's rootfs, is no parent "
                "of a layer or container, and BuildKit does not record it",
                "A daemon restart does not free it, and no docker command names it. "
                + MANUAL.format(path=f"{layer.metadata_dir} and {sdir}"),
                confidence="likely",
                object_id=ch,
            )
        )
    return out


def incomplete_layers(inv: Inventory) -> list[Finding]:
    """Staging leftovers in layerdb/tmp from an interrupted layer registration."""
    out: list[Finding] = []
    for path in inv.layerdb_tmp:
        u = _u(inv, path)
        out.append(
            Finding(
                Kind.INCOMPLETE_LAYER,
                Severity.WARNING,
                path,
                u.apparent,
                u.disk,
                "staging entry in layerdb/tmp: a layer registration (pull, build, commit, load)"
                " was interrupted before it was moved into layerdb/sha256",
                MANUAL.format(path=path),
                object_id=os.path.basename(path),
            )
        )
    return out


def containers(inv: Inventory, rows: list[ContainerRow]) -> list[Finding]:
    """Container dirs without config, and containers whose image is gone."""
    out: list[Finding] = []
    for s in inv.container_dirs_without_config:
        cid = os.path.basename(s.path)
        u = _u(inv, s.path)
        m = inv.rw_layers.get(cid)
        extra = ""
        if m is not None and m.mount_id:
            rw = _u(inv, storage_path(inv, m.mount_id))
            init = _u(inv, storage_path(inv, m.init_id)) if m.init_id else Usage(0, 0)
            u = u + rw + init
            extra = f"; its layers {m.mount_id} (+ -init) are still in {inv.driver_home}"
        out.append(
            Finding(
                Kind.CONTAINER_WITHOUT_CONFIG,
                Severity.WARNING,
                s.path,
                u.apparent,
                u.disk,
                f"the daemon skips this container at start-up: {s.reason}{extra}",
                "Docker does not load a container without a valid config, so docker container rm "
                "cannot name it. " + MANUAL.format(path=s.path),
                object_id=cid,
            )
        )
    if inv.root.image_store.value != "graphdriver":
        return out
    for row in rows:
        if row.image_present:
            continue
        c = row.container
        out.append(
            Finding(
                Kind.CONTAINER_MISSING_IMAGE,
                Severity.WARNING,
                c.dir,
                0,
                0,
                f"container {c.name} uses image {c.image_id or '(none recorded)'}, which is not in "
                "the image store",
                f"docker container rm {c.id[:12]} if it is no longer needed (it cannot be "
                "re-created from its image)",
                object_id=c.id,
                reclaimable=False,
            )
        )
    return out


def missing_layers(inv: Inventory, rows: list[ImageRow]) -> list[Finding]:
    """Images whose rootfs names layers absent from layerdb."""
    out: list[Finding] = []
    for row in rows:
        if not row.missing_layers:
            continue
        out.append(
            Finding(
                Kind.MISSING_LAYER,
                Severity.ERROR,
                row.image.config_path,
                0,
                0,
                f"image {_short(row.image.id)} needs {len(row.missing_layers)} layer(s) that "
                "layerdb does "
                f"not have: {', '.join(row.missing_layers[:3])}",
                f"docker image rm {_short(row.image.id)}, then pull or build it again",
                object_id=row.image.id,
                reclaimable=False,
            )
        )
    return out


def volumes(rows: list[VolumeRow]) -> list[Finding]:
    """Volumes no container references."""
    out: list[Finding] = []
    for row in rows:
        if row.links:
            continue
        v = row.volume
        anon = v.anonymous
        out.append(
            Finding(
                Kind.UNUSED_VOLUME,
                Severity.INFO,
                v.path,
                row.size or 0,
                row.disk_usage,
                ("anonymous" if anon else "named")
                + f" volume {v.name} (driver {v.driver}) is mounted by no container, running or "
                "stopped",
                f"docker volume rm {v.name}"
                + (
                    "  (or docker volume prune, which removes unused anonymous volumes)"
                    if anon
                    else "  (check it holds nothing you need; docker volume prune -a removes all "
                    "unused volumes)"
                ),
                object_id=v.name,
            )
        )
    return out


def dangling_images(rows: list[ImageRow]) -> list[Finding]:
    """Untagged images with no child images."""
    out: list[Finding] = []
    for row in rows:
        if not row.dangling:
            continue
        img = row.image
        users = f"; {len(row.containers)} container(s) still use it" if row.containers else ""
        out.append(
            Finding(
                Kind.DANGLING_IMAGE,
                Severity.INFO,
                img.config_path,
                row.reclaimable,
                0,
                f"image {_short(img.id)} has no tag and no child image "
                f"(created {img.created}); "
                f"removing it frees {row.reclaimable} bytes of layers no other image uses{users}",
                f"docker image rm {_short(img.id)}"
                "  (or docker image prune for all dangling images)",
                object_id=img.id,
                reclaimable=not row.containers,
            )
        )
    return out


def large_logs(rows: list[ContainerRow], threshold: int) -> list[Finding]:
    """Containers whose logs exceed the threshold."""
    out: list[Finding] = []
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
        out.append(
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
                f"docker container rm {c.id[:12]} frees the log with the container.",
                object_id=c.id,
            )
        )
    return out


def build_cache(inv: Inventory) -> list[Finding]:
    """BuildKit's cache: reclaimable vs in use (information)."""
    bk = inv.buildkit
    if not bk.present or not bk.records:
        return []
    total = sum(r.size or 0 for r in bk.records)
    in_use = sum(r.size or 0 for r in bk.records if r.in_use)
    shared = sum(r.size or 0 for r in bk.records if r.shared and not r.in_use)
    reclaimable = total - in_use - shared
    path = os.path.join(inv.root.path, "buildkit")
    return [
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
    ]


def unreadable(inv: Inventory) -> list[Finding]:
    """Everything the readers skipped, and subtrees the walker could not list."""
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    items = list(inv.skipped)
    for u in inv.usage.values():
        items.extend(u.unreadable)
    for s in items:
        # Readers name the path in their reason; the walker does not: same problem, one finding.
        reason = s.reason.removeprefix(f"{s.path}: ")
        if (s.path, reason) in seen:
            continue
        seen.add((s.path, reason))
        detail, remedy = _unreadable_text(reason)
        out.append(
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
    return out


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


def all_findings(
    inv: Inventory,
    sizes: Sizes,
    images: list[ImageRow],
    conts: list[ContainerRow],
    vols: list[VolumeRow],
    options: Options,
) -> list[Finding]:
    """Every finding, largest reclaimable bytes first."""
    out: list[Finding] = []
    if inv.driver_home:
        out += orphan_dirs(inv)
        out += missing_dirs(inv, sizes)
        out += broken_links(inv)
        out += dangling_layers(inv, sizes)
        out += size_mismatches(inv, inv.layer_walks, sizes)
    out += removing_dirs(inv)
    out += incomplete_layers(inv)
    out += containers(inv, conts)
    out += missing_layers(inv, images)
    out += volumes(vols)
    out += dangling_images(images)
    out += large_logs(conts, options.large_log_bytes)
    out += build_cache(inv)
    out += unreadable(inv)
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    out.sort(key=lambda f: (-f.bytes if f.reclaimable else 1, order[f.severity], f.kind, f.path))
    return out


__all__ = ["DEFAULT_LARGE_LOG", "Options", "all_findings", "diff_path"]
