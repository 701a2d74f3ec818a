"""dockerd's config file (``daemon.json``) and the host's id files userns-remap is resolved with.

These files are the operator's, outside any data root: they are read once, before the root is
opened, capped, and never written. What they say is only evidence of which tree the daemon
uses (see inspector.trees); whether a config applies to the root being read is decided there.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inspector.errors import ReaderError
from inspector.options import DEFAULT_DAEMON_CONFIG
from inspector.readers import limits

#: The data root dockerd uses when its config names none.
DEFAULT_DATA_ROOT = "/var/lib/docker"
#: A daemon.json is small; anything bigger is not a config.
CONFIG_CAP = 1 << 20
#: /etc/passwd, /etc/group, /etc/subuid, /etc/subgid: read this much at most.
ID_FILE_CAP = 4 << 20
#: ``userns-remap=default`` makes (or uses) this user and group (moby daemon_unix.go).
DEFAULT_REMAP_USER = "dockremap"

_NUMBER = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """The keys of a daemon.json that say where the daemon keeps its data."""

    path: str
    data_root: str | None = None
    userns_remap: str | None = None
    storage_driver: str | None = None
    containerd_snapshotter: bool | None = None


def _read_capped(path: str, cap: int) -> bytes:
    """Read a small host file (following a symlink: it is the operator's file, not the root's)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if st.st_size > cap:
            raise ReaderError(f"{path}: {st.st_size} bytes, over the {cap}-byte cap")
        data = os.read(fd, cap + 1)
        if len(data) > cap:
            raise ReaderError(f"{path}: over the {cap}-byte cap")
        return data
    finally:
        os.close(fd)


def _text(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return limits.cut(value) if isinstance(value, str) and value else None


def read_config(path: str) -> ConfigFile:
    """The data-location keys of the daemon config at `path`.

    FileNotFoundError when it does not exist; ReaderError (naming the file) when it cannot be
    read or is not a JSON object.
    """
    try:
        raw = _read_capped(path, CONFIG_CAP)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise FileNotFoundError(e.errno, e.strerror, path) from e
        raise ReaderError(f"{path}: {e.strerror or e}") from e
    try:
        doc = limits.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ReaderError(f"{path}: not valid JSON ({str(e)[:200]})") from e
    if not isinstance(doc, dict):
        raise ReaderError(f"{path}: not a JSON object")
    features = doc.get("features")
    snap = features.get("containerd-snapshotter") if isinstance(features, dict) else None
    return ConfigFile(
        path=path,
        data_root=_text(doc, "data-root") or _text(doc, "graph"),
        userns_remap=_text(doc, "userns-remap"),
        storage_driver=_text(doc, "storage-driver"),
        containerd_snapshotter=snap if isinstance(snap, bool) else None,
    )


def _id_lines(path: str) -> list[list[str]]:
    """The colon-separated fields of each line of an /etc id file ([] when unreadable)."""
    try:
        text = _read_capped(path, ID_FILE_CAP).decode("utf-8", "replace")
    except (OSError, ReaderError):
        return []
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.split(":"))
    return out


def _first_start(path: str, keys: tuple[str, ...]) -> int | None:
    """The start of the first subordinate-id range of the first key that has one.

    dockerd looks a user up by uid first, then by name, and maps the container's root to the
    start of the first range in file order (moby pkg/idtools, lookupSubUIDRanges).
    """
    lines = _id_lines(path)
    for key in keys:
        for fields in lines:
            if len(fields) == 3 and fields[0] == key and _NUMBER.fullmatch(fields[1]):
                return int(fields[1])
    return None


def remap_root(spec: str, etc: str = "/etc") -> str | None:
    """The ``<uid>.<gid>`` dir dockerd uses with ``--userns-remap=spec``, or None if unknown.

    `spec` is ``default`` (user dockremap), a user name or uid, optionally ``:group`` (the
    group does not change the ranges: both come from the user's entries).
    """
    user = spec.split(":", 1)[0]
    if user == "default":
        user = DEFAULT_REMAP_USER
    name, uid = user, None
    passwd = _id_lines(os.path.join(etc, "passwd"))
    if _NUMBER.fullmatch(user):
        uid = user
        name = next((f[0] for f in passwd if len(f) > 2 and f[2] == user), "")
    else:
        uid = next((f[2] for f in passwd if len(f) > 2 and f[0] == user), None)
    keys = tuple(k for k in (uid, name) if k)
    if not keys:
        return None
    sub_u = _first_start(os.path.join(etc, "subuid"), keys)
    sub_g = _first_start(os.path.join(etc, "subgid"), keys)
    if sub_u is None or sub_g is None:
        return None
    return f"{sub_u}.{sub_g}"


__all__ = [
    "DEFAULT_DAEMON_CONFIG",
    "DEFAULT_DATA_ROOT",
    "DEFAULT_REMAP_USER",
    "ConfigFile",
    "read_config",
    "remap_root",
]
