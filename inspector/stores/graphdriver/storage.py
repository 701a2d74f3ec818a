"""Read the storage driver's layer directories: overlay2/<id> (+ l/) and vfs/dir/<id>."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from inspector.errors import ReaderError
from inspector.model import ShortLink, Skipped, StorageDir
from inspector.readers import fs

#: overlay2 short names: 26 chars of uppercase base32 (the daemon makes them with
#: overlayutils.GenerateID). Accept any base32 length so odd-but-harmless ones still map.
LINK_NAME = re.compile(r"[A-Z2-7]{1,64}")
#: `lower` holds at most 128 entries in the daemon (getLower's maxDepth); read 4 KiB per entry.
LOWER_CAP = 128 * 40 + 64
LINK_TARGET = re.compile(r"\.\./([^/]+)/diff")


@dataclass
class StorageArea:
    """The directories of one storage driver home."""

    home: str
    dirs: dict[str, StorageDir] = field(default_factory=dict)
    links: dict[str, ShortLink] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)
    """Paths in the home that are neither layer dirs nor l/ (backingFsBlockDev, stray files)."""
    skipped: list[Skipped] = field(default_factory=list)


def _read_overlay_dir(path: str, name: str, st: os.stat_result) -> StorageDir:
    problems: list[str] = []
    link: str | None = None
    lower: tuple[str, ...] = ()
    names: set[str] = set()
    diff_st: os.stat_result | None = None
    try:
        d = fs.Dir(path)
    except FileNotFoundError:
        d = None  # removed while we read: the inventory's recheck drops it
    except ReaderError as e:
        problems.append(f"cannot list: {str(e).removeprefix(path + ': ')}")
        d = None
    if d is not None:
        with d:
            try:
                link = d.read_text("link", 128)
                if link is not None and not LINK_NAME.fullmatch(link):
                    problems.append("link file does not hold a base32 short name")
                    link = None
            except ReaderError as e:
                problems.append(str(e))
            try:
                raw = d.read_text("lower", LOWER_CAP)
                if raw:
                    lower = tuple(raw.split(":"))
            except ReaderError as e:
                problems.append(str(e))
            try:
                names = set(d.names())
            except ReaderError as e:
                problems.append(f"cannot list: {str(e).removeprefix(path + ': ')}")
            try:
                diff_st = d.lstat("diff")
            except OSError as e:
                problems.append(f"{path}/diff: {e.strerror or e}")
    return StorageDir(
        name=name,
        path=path,
        link=link,
        lower=lower,
        has_diff=diff_st is not None and stat.S_ISDIR(diff_st.st_mode),
        committed="committed" in names,
        has_work="work" in names,
        mounted="merged" in names,
        mtime=st.st_mtime,
        problems=tuple(problems),
    )


def read_overlay2(home: str) -> StorageArea:
    """Read overlay2/: per-layer dirs and the l/ short-link directory."""
    area = StorageArea(home)
    try:
        names = fs.list_dir(home)
    except ReaderError as e:
        area.skipped.append(Skipped(home, str(e)))
        return area
    for name in names:
        path = os.path.join(home, name)
        try:
            st = fs.lstat_or_none(path)
        except ReaderError as e:
            area.skipped.append(Skipped(path, str(e)))
            continue
        if st is None:
            continue
        if name == "l" and stat.S_ISDIR(st.st_mode):
            area.links = read_short_links(path, area.skipped)
            continue
        if not stat.S_ISDIR(st.st_mode):
            area.other.append(path)
            continue
        area.dirs[name] = _read_overlay_dir(path, name, st)
    return area


def read_short_links(ldir: str, skipped: list[Skipped]) -> dict[str, ShortLink]:
    """Read overlay2/l: readlink only, never follow."""
    links: dict[str, ShortLink] = {}
    try:
        names = fs.list_dir(ldir)
    except ReaderError as e:
        skipped.append(Skipped(ldir, str(e)))
        return links
    for name in names:
        path = os.path.join(ldir, name)
        try:
            target: str | None = fs.readlink(path)
        except FileNotFoundError:
            continue
        except (OSError, ReaderError):
            target = None  # not a symlink
        target_dir = None
        if target is not None:
            m = LINK_TARGET.fullmatch(target)
            if m:
                target_dir = m.group(1)
        links[name] = ShortLink(name, path, target, target_dir)
    return links


def read_vfs(driver_dir: str) -> StorageArea:
    """Read vfs/dir/: one full copy per layer, no link or lower files."""
    home = os.path.join(driver_dir, "dir")
    area = StorageArea(home)
    try:
        names = fs.list_dir(home)
    except ReaderError as e:
        area.skipped.append(Skipped(home, str(e)))
        return area
    for name in names:
        path = os.path.join(home, name)
        try:
            st = fs.lstat_or_none(path)
        except ReaderError as e:
            area.skipped.append(Skipped(path, str(e)))
            continue
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            area.other.append(path)
            continue
        area.dirs[name] = StorageDir(name=name, path=path, mtime=st.st_mtime)
    return area
