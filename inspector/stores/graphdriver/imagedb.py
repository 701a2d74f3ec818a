"""Read image/<driver>/imagedb: image configs and their metadata (parent, lastUpdated)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from typing import Any

from inspector.errors import ReaderError
from inspector.ids import DIGEST, HEX64
from inspector.model import LIVE_SLACK_SECONDS, HistoryEntry, Image, Skipped
from inspector.readers import fs, limits
from inspector.readers.entrycache import EntryCache, Section

#: Image configs are small; Docker itself caps nothing, but 16 MiB is far beyond any real one.
CONFIG_CAP = fs.JSON_CAP


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def parse_config(image_id: str, path: str, raw: bytes) -> Image:
    """Parse an image config document (pure); ReaderError when it is unusable."""
    try:
        doc = limits.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ReaderError(f"{path}: invalid JSON ({e})") from e
    if not isinstance(doc, dict):
        raise ReaderError(f"{path}: not a JSON object")
    rootfs = doc.get("rootfs")
    diff_ids: list[str] = []
    if isinstance(rootfs, dict):
        ids = rootfs.get("diff_ids") or []
        if not isinstance(ids, list) or not all(
            isinstance(d, str) and DIGEST.fullmatch(d) for d in ids
        ):
            raise ReaderError(f"{path}: rootfs.diff_ids is not a list of sha256 digests")
        diff_ids = list(ids)
    elif rootfs is not None:
        raise ReaderError(f"{path}: rootfs is not an object")
    notes: list[str] = []
    history: list[HistoryEntry] = []
    hist = doc.get("history")
    if isinstance(hist, list):
        # History maps to layers in order: keep enough lines for the deepest chain Docker
        # allows (125 layers) and the empty-layer lines between them.
        for h in limits.first(hist, "history", notes, limit=4 * limits.MAX_ENTRIES):
            if isinstance(h, dict):
                history.append(
                    HistoryEntry(
                        created_by=limits.cut(_str(h.get("created_by"))),
                        created=limits.cut(_str(h.get("created"))) or None,
                        empty_layer=bool(h.get("empty_layer", False)),
                        comment=limits.cut(_str(h.get("comment"))),
                    )
                )
    cfg = doc.get("config")
    labels = (
        limits.str_map(cfg.get("Labels"), "config.Labels", notes, skip_none=False)
        if isinstance(cfg, dict)
        else {}
    )
    verified = hashlib.sha256(raw).hexdigest() == image_id.removeprefix("sha256:")
    return Image(
        id=image_id,
        config_path=path,
        diff_ids=tuple(diff_ids),
        created=limits.cut(_str(doc.get("created"))) or None,
        os=limits.cut(_str(doc.get("os"))),
        architecture=limits.cut(_str(doc.get("architecture"))),
        history=tuple(history),
        labels=labels,
        id_verified=verified,
        truncated=tuple(notes),
    )


def read_imagedb(
    imagedb: str, cache: EntryCache | None = None
) -> tuple[dict[str, Image], list[Skipped]]:
    """Read all image configs and their metadata directory.

    `cache`: configs whose file is unchanged since a previous run (same lstat identity: the
    daemon writes each one by rename, and a content-addressed file is never rewritten) are
    taken from it, parsed; the metadata dir is read every time.
    """
    images: dict[str, Image] = {}
    skipped: list[Skipped] = []
    content = os.path.join(imagedb, "content", "sha256")
    try:
        names = fs.list_dir(content)
    except ReaderError as e:
        return images, [Skipped(content, str(e))]
    configs = cache.section("imageconfigs", Image, {"history": HistoryEntry}) if cache else None
    cdir: fs.Dir | None = None
    if configs is not None:
        with contextlib.suppress(ReaderError, OSError):
            cdir = fs.Dir(content)
    try:
        _read_images(imagedb, content, names, configs, cdir, images, skipped)
    finally:
        if cdir is not None:
            cdir.close()
    return images, skipped


def _config_stat(cdir: fs.Dir | None, name: str) -> os.stat_result | None:
    if cdir is None:
        return None
    try:
        st = cdir.lstat(name)
    except (OSError, ReaderError):
        return None
    return st if st is not None and stat.S_ISREG(st.st_mode) else None


def _read_images(
    imagedb: str,
    content: str,
    names: list[str],
    configs: Section[Image] | None,
    cdir: fs.Dir | None,
    images: dict[str, Image],
    skipped: list[Skipped],
) -> None:
    meta_root = os.path.join(imagedb, "metadata", "sha256")
    temp: list[str] = []
    for name in names:
        path = os.path.join(content, name)
        if name.startswith(".tmp-"):
            temp.append(path)  # the daemon writes each config via a .tmp- file, then renames
            continue
        if not HEX64.fullmatch(name):
            skipped.append(Skipped(path, "unexpected name in imagedb (not an image ID)"))
            continue
        image_id = "sha256:" + name
        st = _config_stat(cdir, name) if configs is not None else None
        img = configs.lookup(name, st) if configs is not None and st is not None else None
        if img is None or img.config_path != path:
            try:
                img = parse_config(image_id, path, fs.read_bytes(path, CONFIG_CAP))
            except FileNotFoundError:
                continue
            except ReaderError as e:
                skipped.append(Skipped(path, str(e)))
                continue
            if configs is not None and st is not None:
                configs.store(name, st, img)
        mdir = os.path.join(meta_root, name)
        parent = last = None
        mst = fs.lstat_or_none(mdir)
        try:
            if mst is not None and not stat.S_ISDIR(mst.st_mode):
                # O_NOFOLLOW guards only the last component: never read through a symlink.
                raise ReaderError(f"{mdir}: not a directory (symlinks are not followed)")
            parent = fs.read_optional_text(os.path.join(mdir, "parent"), 128)
            if parent is not None and not DIGEST.fullmatch(parent):
                skipped.append(Skipped(os.path.join(mdir, "parent"), "malformed parent image ID"))
                parent = None
            last = fs.read_optional_text(os.path.join(mdir, "lastUpdated"), 128)
        except (ReaderError, NotADirectoryError) as e:
            skipped.append(Skipped(mdir, str(e)))
        images[image_id] = Image(
            id=img.id,
            config_path=img.config_path,
            diff_ids=img.diff_ids,
            created=img.created,
            os=img.os,
            architecture=img.architecture,
            history=img.history,
            labels=img.labels,
            parent=parent or None,
            last_updated=last or None,
            id_verified=img.id_verified,
            truncated=img.truncated,
        )
    # Checked last: a write in progress has been renamed into place by now, or is recent.
    for p in temp:
        st = fs.lstat_or_none(p)
        if st is not None and st.st_mtime < time.time() - LIVE_SLACK_SECONDS:
            skipped.append(Skipped(p, "temporary file left by an interrupted image config write"))
