"""Advice from the data: info findings with the bytes at stake, not problems to clean up.

- ``large_writable_layer``: a container holding more than the threshold in its writable
  layer. Docker's storage docs' first rule: data a container writes belongs in a volume (the
  writable layer is lost with the container, is slower to write through copy-on-write, and
  grows the data root where no volume backup looks).
- ``unbounded_log``: containers logging with ``json-file`` and no ``max-size``: the default,
  and their logs grow without limit (moby ``daemon/logger/jsonfilelog``). The remedy is the
  ``daemon.json`` ``log-opts`` line (new containers) or ``--log-opt`` (per container); Docker
  copies the daemon's defaults into a container's ``hostconfig.json`` when it creates it, so
  what is read there is what the container uses.
- ``plugin``: each managed plugin (``plugins/<id>/``), with its name and bytes (its rootfs and
  its blobs in ``plugins/storage``; a blob two plugins share is counted in both).

Pure: over the Inventory, its Measurements and the container rows.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator

from inspector.analysis.results import ContainerRow, Finding, Kind, Severity
from inspector.analysis.sizes import storage_path
from inspector.model import Inventory, Measurements

#: The daemon.json that bounds json-file logs (10 MB x 3 files per container).
DAEMON_JSON_LOG_OPTS = (
    '{"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}'
)
#: Containers named in the detail of an ``unbounded_log`` finding.
NAMED = 5


def _q(word: str) -> str:
    return shlex.quote(word)


def large_writable_layers(
    inv: Inventory, rows: list[ContainerRow], threshold: int
) -> Iterator[Finding]:
    """Containers with more than `threshold` bytes (SizeRw) in their writable layer."""
    for row in rows:
        if row.size_rw is None or row.size_rw <= threshold:
            continue
        c = row.container
        m = inv.rw_layers.get(c.id)
        path = storage_path(inv, m.mount_id if m else None) or row.rw_dir or c.dir
        name = c.name or c.id[:12]
        yield Finding(
            Kind.LARGE_WRITABLE_LAYER,
            Severity.INFO,
            path,
            row.size_rw,
            row.disk_usage,
            f"container {name} ({c.state}) holds {row.size_rw} bytes in its writable layer "
            f"(over the {threshold}-byte threshold): data written there is lost with the "
            "container, written through copy-on-write, and grows the data root; Docker's "
            "storage docs: keep what a container writes in a volume",
            f"See what it writes with `docker diff {_q(name)}`, mount a volume at that path "
            f"(docker run -v <volume>:<path> …) and recreate the container; `docker container "
            f"rm {_q(name)}` frees the writable layer.",
            object_id=c.id,
            reclaimable=False,
        )


def unbounded_logs(inv: Inventory, rows: list[ContainerRow]) -> Iterator[Finding]:
    """One finding for every container logging with json-file and no max-size."""
    loose = [
        r
        for r in rows
        if r.container.log_driver == "json-file" and "max-size" not in r.container.log_opts
    ]
    if not loose:
        return
    loose.sort(key=lambda r: (-r.log_size, r.container.name, r.container.id))
    named = ", ".join(
        f"{r.container.name or r.container.id[:12]} ({r.log_size} bytes)" for r in loose[:NAMED]
    )
    more = f", and {len(loose) - NAMED} more" if len(loose) > NAMED else ""
    total = sum(r.log_size for r in loose)
    yield Finding(
        Kind.UNBOUNDED_LOG,
        Severity.INFO,
        os.path.join(inv.root.path, "containers"),
        total,
        sum(r.log_disk for r in loose),
        f"{len(loose)} container(s) log with json-file and no max-size, so their logs grow "
        f"without limit ({total} bytes now): {named}{more}",
        f"Bound the logs of new containers in /etc/docker/daemon.json: {DAEMON_JSON_LOG_OPTS} "
        "and restart dockerd, or per container: docker run --log-opt max-size=10m --log-opt "
        "max-file=3 …; existing containers keep their settings until they are recreated.",
        reclaimable=False,
    )


def plugins(inv: Inventory, meas: Measurements) -> Iterator[Finding]:
    """Each managed plugin, with its name and the bytes it holds."""
    for p in inv.plugins:
        u = meas.usage.get(p.path)
        apparent = (u.apparent if u else 0) + sum(size for _, size, _ in p.blobs)
        disk = (u.disk if u else 0) + sum(d for _, _, d in p.blobs)
        kinds = ", ".join(p.types) or "no interface types"
        state = "enabled" if p.enabled else "disabled"
        name = p.name or p.id[:12]
        yield Finding(
            Kind.PLUGIN,
            Severity.INFO,
            p.path,
            apparent,
            disk,
            f"managed plugin {name} ({state}; {kinds}) holds {apparent} bytes: its "
            f"rootfs in {p.path} and {len(p.blobs)} blob(s) in plugins/storage/blobs",
            (
                "docker plugin ls; if it is no longer needed: "
                + (f"docker plugin disable {_q(name)} && " if p.enabled else "")
                + f"docker plugin rm {_q(name)}"
            ),
            object_id=p.id,
            reclaimable=False,
            bytes_known=u is not None,
        )


__all__ = ["DAEMON_JSON_LOG_OPTS", "large_writable_layers", "plugins", "unbounded_logs"]
