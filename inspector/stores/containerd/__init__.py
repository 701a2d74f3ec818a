"""The containerd image store (Docker 29's default): not read yet.

Detected by inspector.root (containers with a snapshotter driver, ``rootfs/``,
``buildkit/containerd-*``, ``image/identity-cache.db``) and stated plainly in every face
(``supported: false`` and a note); containers, volumes and logs are still reported. The reader
of containerd's metadata (``io.containerd.metadata.v1.bolt/meta.db``), content store and
overlayfs snapshots will implement :class:`inspector.stores.ImageStoreReader` here; the
layout is in shared/docker-format.md §8.
"""

from __future__ import annotations

from inspector.stores import NoStore


class ContainerdStore(NoStore):
    """Reads nothing yet: images and snapshots of this store are not reported."""


__all__ = ["ContainerdStore"]
