"""Image stores: where a Docker daemon keeps images and their layers, behind one interface.

A daemon keeps images either in a graphdriver store (``image/<driver>/`` metadata with
``overlay2/`` or ``vfs/`` layer dirs: Docker <= 28 and upgraded hosts) or in containerd's
image store (Docker 29's default on fresh installs). Each is an :class:`ImageStoreReader`
yielding the same model records: images, layers with their dirs, and containers' writable
layers. Containers, volumes, logs and BuildKit's state live under the data root in both
cases and are read by the shared readers in :mod:`inspector.readers`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from inspector.model import (
    ContainerdData,
    Image,
    ImageStore,
    Inventory,
    Layer,
    RemovingLayer,
    RootInfo,
    RWLayerRef,
    ShortLink,
    Skipped,
    StorageDir,
)

if TYPE_CHECKING:
    from inspector.readers.entrycache import EntryCache


@dataclass(frozen=True, slots=True)
class StoreContents:
    """What an image store holds, as model records (the image half of an Inventory)."""

    images: Mapping[str, Image] = field(default_factory=dict)
    layers: Mapping[str, Layer] = field(default_factory=dict)
    rw_layers: Mapping[str, RWLayerRef] = field(default_factory=dict)
    """Writable layers by name (a container ID, or a build step's key)."""
    storage_dirs: Mapping[str, StorageDir] = field(default_factory=dict)
    short_links: Mapping[str, ShortLink] = field(default_factory=dict)
    removing_layers: tuple[RemovingLayer, ...] = ()
    layerdb_tmp: tuple[str, ...] = ()
    driver_home: str = ""
    """Absolute path of the dir holding the layer dirs ("" when the store has none)."""
    skipped: tuple[Skipped, ...] = ()
    containerd: ContainerdData | None = None
    """The containerd store's own records (content, snapshots, leases), when it was read."""


BuildkitKeys = Callable[[], frozenset[str]]
"""Reads BuildKit's state again and returns the storage dir names it owns now."""


class ImageStoreReader(Protocol):
    """One image store's reader."""

    def read(self, info: RootInfo) -> StoreContents:
        """Read the store's metadata (paths are resolved beneath the root)."""
        ...

    def recheck(self, inv: Inventory, buildkit_keys: BuildkitKeys) -> Inventory:
        """Under a live daemon, read again what the first reading may have caught mid-change."""
        ...


class NoStore:
    """No image store this tool can read (none found, or an unsupported driver)."""

    def read(self, info: RootInfo) -> StoreContents:
        """Nothing: the root's notes say why."""
        return StoreContents()

    def recheck(self, inv: Inventory, buildkit_keys: BuildkitKeys) -> Inventory:
        """Nothing to look at again."""
        return inv


def reader_for(info: RootInfo, cache: EntryCache | None = None) -> ImageStoreReader:
    """The reader of the image store the root uses (see inspector.root for the detection).

    `cache`: the metadata cache of unchanged entries (the graphdriver store uses it).
    """
    if info.image_store is ImageStore.GRAPHDRIVER and info.storage_driver and info.supported:
        from inspector.stores.graphdriver import GraphdriverStore

        return GraphdriverStore(cache)
    if info.image_store is ImageStore.CONTAINERD:
        from inspector.stores.containerd import ContainerdStore

        return ContainerdStore()
    return NoStore()


__all__ = ["BuildkitKeys", "ImageStoreReader", "NoStore", "StoreContents", "reader_for"]
