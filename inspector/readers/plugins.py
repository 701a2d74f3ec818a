"""Managed plugins: ``<root>/plugins/<id>/config.json`` and their blobs (read-only, capped).

Layout (moby ``plugin/manager.go``, ``plugin/v2/plugin.go``; checked with ``docker plugin
create`` on 20.10): ``plugins/<64 hex>/config.json`` is the JSON of a ``v2.Plugin`` —
``{"plugin": {"Id", "Name", "Enabled", "Config": {"Description", "Interface": {"Types"}, …},
…}, "Config": <digest>, "Manifest": <digest>, "Blobsums": [<digest>…]}`` — beside the plugin's
unpacked ``rootfs/`` (and ``propagated-mount/``); the blobs live in the plugin manager's own
content store ``plugins/storage/blobs/sha256/<hex>`` (``storage/ingest`` for downloads), and
``plugins/tmp`` is scratch. ``<id>-removing`` dirs are interrupted removals the daemon
finishes at its next start.
"""

from __future__ import annotations

import os
from typing import Any

from inspector.errors import ReaderError
from inspector.ids import DIGEST, HEX64
from inspector.model import Plugin, Skipped
from inspector.readers import fs, limits

#: Blobs looked up per plugin (a plugin has a config, a manifest and a few layers).
MAX_BLOBS = 64


def _str(value: Any) -> str:
    return limits.cut(value) if isinstance(value, str) else ""


def read_plugins(root: str) -> tuple[list[Plugin], list[Skipped]]:
    """Every managed plugin under ``<root>/plugins`` (none when there is no such dir)."""
    pdir = os.path.join(root, "plugins")
    skipped: list[Skipped] = []
    try:
        names = fs.list_dir(pdir)
    except ReaderError as e:
        return [], [Skipped(pdir, str(e))]
    plugins: list[Plugin] = []
    for name in names:
        if not HEX64.fullmatch(name):
            continue
        path = os.path.join(pdir, name)
        conf = os.path.join(path, "config.json")
        try:
            doc = limits.loads(fs.read_bytes(conf, fs.JSON_CAP))
        except FileNotFoundError:
            skipped.append(Skipped(conf, "missing: the plugin's config is gone"))
            continue
        except (ReaderError, OSError, ValueError, RecursionError) as e:
            skipped.append(Skipped(conf, str(e) if isinstance(e, ReaderError) else f"{e}"))
            continue
        obj = doc.get("plugin") if isinstance(doc, dict) else None
        if not isinstance(obj, dict):
            skipped.append(Skipped(conf, 'not a plugin config (no "plugin" object)'))
            continue
        config = obj.get("Config") if isinstance(obj.get("Config"), dict) else {}
        assert isinstance(config, dict)
        iface = config.get("Interface") if isinstance(config.get("Interface"), dict) else {}
        assert isinstance(iface, dict)
        types = iface.get("Types") if isinstance(iface.get("Types"), list) else []
        assert isinstance(types, list)
        digests = [doc.get("Config"), doc.get("Manifest")]
        sums = doc.get("Blobsums")
        if isinstance(sums, list):
            digests += sums[:MAX_BLOBS]
        plugins.append(
            Plugin(
                id=name,
                name=_str(obj.get("Name")),
                path=path,
                enabled=obj.get("Enabled") is True,
                description=_str(config.get("Description")),
                types=tuple(_str(t) for t in types[: limits.MAX_ENTRIES] if isinstance(t, str)),
                blobs=_blobs(pdir, digests, skipped),
            )
        )
    return plugins, skipped


def _blobs(
    pdir: str, digests: list[Any], skipped: list[Skipped]
) -> tuple[tuple[str, int, int], ...]:
    out: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for d in digests:
        if not isinstance(d, str) or not DIGEST.fullmatch(d) or d in seen:
            continue
        seen.add(d)
        path = os.path.join(pdir, "storage", "blobs", "sha256", d.removeprefix("sha256:"))
        try:
            st = fs.lstat_or_none(path)
        except ReaderError as e:
            skipped.append(Skipped(path, str(e)))
            continue
        if st is not None:
            out.append((path, st.st_size, st.st_blocks * 512))
    return tuple(out)


__all__ = ["read_plugins"]
