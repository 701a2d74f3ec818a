"""Read the storage driver's layer directories: overlay2/<id> (+ l/) and vfs/dir/<id>."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from inspector.errors import ReaderError
from inspector.model import ShortLink, Skipped, StorageDir
from inspector.readers import fs
from inspector.readers.entrycache import Section

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


def _read_overlay_dir(
    path: str,
    name: str,
    st: os.stat_result,
    home: fs.Dir | None = None,
    shared: dict[str, str] | None = None,
) -> StorageDir:
    problems: list[str] = []
    link: str | None = None
    lower: tuple[str, ...] = ()
    names: dict[str, bool] = {}
    try:
        d = fs.Dir(path, home)
    except FileNotFoundError:
        d = None  # removed while we read: the inventory's recheck drops it
    except ReaderError as e:
        problems.append(f"cannot list: {str(e).removeprefix(path + ': ')}")
        d = None
    if d is not None:
        with d:
            # One listing says which files exist and whether diff/ is a dir: nothing absent
            # is opened and nothing is stat'ed (7,000 dirs on a big host).
            try:
                names = d.kinds()
            except ReaderError as e:
                problems.append(f"cannot list: {str(e).removeprefix(path + ': ')}")
            try:
                link = d.read_text("link", 128) if "link" in names else None
                if link is not None and not LINK_NAME.fullmatch(link):
                    problems.append("link file does not hold a base32 short name")
                    link = None
            except ReaderError as e:
                problems.append(str(e))
            try:
                raw = d.read_text("lower", LOWER_CAP) if "lower" in names else None
                if raw:
                    lower = tuple(raw.split(":"))
                    if shared is not None:
                        # Each l/<short> name is in the lower file of every layer above it:
                        # one string per name keeps 7,000 dirs' chains small in memory and
                        # quick to pickle from a forked reader (inspector.readers.forked).
                        lower = tuple([shared.setdefault(x, x) for x in lower])
            except ReaderError as e:
                problems.append(str(e))
    return StorageDir(
        name=name,
        path=path,
        link=link,
        lower=lower,
        has_diff=names.get("diff", False),
        committed="committed" in names,
        has_work="work" in names,
        mounted="merged" in names,
        mtime=st.st_mtime,
        problems=tuple(problems),
    )


def _entries(
    home: str, area: StorageArea
) -> tuple[fs.Dir, list[tuple[str, os.stat_result]]] | None:
    """The home dir, open, with (name, lstat) of every entry (None when it cannot be read).

    One descriptor for the whole listing: each entry is lstat'ed relative to it, not by a
    path resolved again from the root (~7,000 entries on a big host).
    """
    try:
        home_dir = fs.Dir(home)
    except FileNotFoundError:
        return None
    except ReaderError as e:
        area.skipped.append(Skipped(home, str(e)))
        return None
    try:
        names = home_dir.names()
    except ReaderError as e:
        home_dir.close()
        area.skipped.append(Skipped(home, str(e)))
        return None
    out: list[tuple[str, os.stat_result]] = []
    for name in names:
        try:
            st = home_dir.lstat(name)
        except OSError as e:
            area.skipped.append(Skipped(os.path.join(home, name), e.strerror or str(e)))
            continue
        if st is not None:  # else removed while we read
            out.append((name, st))
    return home_dir, out


def read_overlay2(
    home: str,
    cache: Section[StorageDir] | None = None,
    links: Section[ShortLink] | None = None,
) -> StorageArea:
    """Read overlay2/: per-layer dirs and the l/ short-link directory.

    `cache`: dirs unchanged since a previous run (same lstat identity) are taken from it;
    `links`: the short links, all of them, while l/ itself is unchanged.
    """
    area = StorageArea(home)
    listed = _entries(home, area)
    if listed is None:
        return area
    home_dir, entries = listed
    shared: dict[str, str] = {}
    with home_dir:
        for name, st in entries:
            path = os.path.join(home, name)
            if name == "l" and stat.S_ISDIR(st.st_mode):
                area.links = read_short_links(path, area.skipped, home_dir, links, st)
                continue
            if not stat.S_ISDIR(st.st_mode):
                area.other.append(path)
                continue
            if cache is not None:
                hit = cache.lookup(name, st)
                if hit is not None and hit.path == path:
                    area.dirs[name] = hit
                    continue
            found = _read_overlay_dir(path, name, st, home_dir, shared)
            area.dirs[name] = found
            if cache is not None and not found.problems:
                cache.store(name, st, found)
    return area


def read_short_links(
    ldir: str,
    skipped: list[Skipped],
    parent: fs.Dir | None = None,
    cache: Section[ShortLink] | None = None,
    st: os.stat_result | None = None,
) -> dict[str, ShortLink]:
    """Read overlay2/l: readlink only, never follow.

    `cache` with `st` (l/'s lstat): a symlink is never changed in place, only made or
    removed, which changes l/ itself; while l/ is unchanged its links are taken from it.
    """
    if cache is not None and st is not None:
        kept = cache.lookup_all(st)
        if kept is not None and all(x.path == os.path.join(ldir, n) for n, x in kept.items()):
            return kept
    links = _read_links(ldir, skipped, parent)
    if cache is not None and st is not None:
        for name, link in links.items():
            cache.store(name, st, link)
    return links


def _read_links(ldir: str, skipped: list[Skipped], parent: fs.Dir | None) -> dict[str, ShortLink]:
    links: dict[str, ShortLink] = {}
    try:
        d = fs.Dir(ldir, parent)
    except FileNotFoundError:
        return links
    except ReaderError as e:
        skipped.append(Skipped(ldir, str(e)))
        return links
    with d:
        try:
            names = d.names()
        except ReaderError as e:
            skipped.append(Skipped(ldir, str(e)))
            return links
        for name in names:
            path = os.path.join(ldir, name)
            try:
                target: str | None = d.readlink(name)
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
    listed = _entries(home, area)
    if listed is None:
        return area
    home_dir, entries = listed
    with home_dir:
        for name, st in entries:
            path = os.path.join(home, name)
            if not stat.S_ISDIR(st.st_mode):
                area.other.append(path)
                continue
            area.dirs[name] = StorageDir(name=name, path=path, mtime=st.st_mtime)
    return area
