"""Read volumes/: the per-volume directories and metadata.db (driver, labels, options)."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from inspector.errors import ReaderError
from inspector.model import Skipped, Volume
from inspector.readers import fs
from inspector.readers.volumes_db import read_volume_metadata

#: Entries of volumes/ that are not volumes.
NOT_VOLUMES = frozenset({"metadata.db", "backingFsBlockDev"})
#: The names Docker accepts for volumes (moby volume/local: RestrictedNamePattern). A name
#: outside it was not made by Docker: it is never joined to a path or put in a command line.
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", re.ASCII)


@dataclass
class VolumeArea:
    """All of volumes/."""

    volumes: dict[str, Volume] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)


def _invalid(where: str, name: str) -> Skipped:
    return Skipped(
        where,
        f"volume name {name!r} is not one Docker accepts ([a-zA-Z0-9][a-zA-Z0-9_.-]+): "
        "not reported as a volume",
    )


def read_volumes(volumes_dir: str) -> VolumeArea:
    """Read volume dirs and metadata.db; a volume appears if either knows it."""

    area = VolumeArea()
    db_path = os.path.join(volumes_dir, "metadata.db")
    meta: dict[str, tuple[str, dict[str, str], dict[str, str], tuple[str, ...]]] = {}
    try:
        has_db = fs.lstat_or_none(db_path) is not None
    except ReaderError as e:
        area.skipped.append(Skipped(db_path, str(e)))
        has_db = False
    if has_db:
        try:
            found, skips = read_volume_metadata(db_path)
            for name, vm in found.items():
                if not VOLUME_NAME.fullmatch(name):
                    area.skipped.append(_invalid(db_path, name))
                    continue
                meta[name] = (vm.driver or "local", vm.labels, vm.options, vm.truncated)
            area.skipped += [Skipped(f"{db_path}:{s.path}", s.reason) for s in skips]
        except FileNotFoundError:
            pass  # removed between the lstat and the read: no metadata
        except ReaderError as e:
            area.skipped.append(Skipped(db_path, str(e)))
    try:
        names = fs.list_dir(volumes_dir)
    except ReaderError as e:
        area.skipped.append(Skipped(volumes_dir, str(e)))
        names = []
    on_disk: set[str] = set()
    for name in names:
        if name in NOT_VOLUMES:
            continue
        path = os.path.join(volumes_dir, name)
        try:
            st = fs.lstat_or_none(path)
        except ReaderError as e:
            area.skipped.append(Skipped(path, str(e)))
            continue
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            area.skipped.append(Skipped(path, "unexpected non-directory in volumes/"))
            continue
        # The local driver treats a dir holding _data or opts.json as a volume.
        try:
            inner = set(fs.list_dir(path))
        except ReaderError as e:
            if not fs.exists(path):
                continue  # removed while we read
            area.skipped.append(Skipped(path, str(e).removeprefix(f"{path}: ")))
            inner = {"_data"}
        if not ({"_data", "opts.json"} & inner):
            if not fs.recently_changed(path):  # else a volume being created or removed
                area.skipped.append(
                    Skipped(path, "directory in volumes/ without _data: not a volume")
                )
            continue
        if not VOLUME_NAME.fullmatch(name):
            area.skipped.append(_invalid(path, name))
            continue
        on_disk.add(name)
    for name in sorted(on_disk | set(meta)):
        driver, labels, options, truncated = meta.get(name, ("local", {}, {}, ()))
        area.volumes[name] = Volume(
            name=name,
            path=os.path.join(volumes_dir, name),
            driver=driver,
            labels=labels,
            options=options,
            has_dir=name in on_disk,
            in_metadata=name in meta,
            truncated=truncated,
        )
    return area
