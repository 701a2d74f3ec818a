"""The images of the image store the daemon does not use (a host that switched stores). Pure.

They are computed as their own store computes them, from recorded numbers only (no walk):
the graphdriver's layerdb sizes, or containerd's descriptor sizes and recorded snapshot usage,
on an inventory of that store alone (no containers: the daemon's containers use the other
store).
"""

from __future__ import annotations

import dataclasses

from inspector.analysis.results import ImageRow
from inspector.analysis.sizes import Sizes
from inspector.model import Inventory


def image_rows(inv: Inventory) -> tuple[ImageRow, ...]:
    """One row per image of the store the daemon does not use (empty when there is none)."""
    other = inv.other_store
    if other is None:
        return ()
    root = dataclasses.replace(
        inv.root,
        image_store=other.image_store,
        storage_driver=other.storage_driver or None,
        supported=True,
    )
    alone = dataclasses.replace(
        inv,
        root=root,
        images=other.images,
        layers=other.layers,
        containerd=other.containerd,
        rw_layers={},
        containers={},
        storage_dirs={},
        short_links={},
        other_store=None,
    )
    return tuple(Sizes(alone).image_rows())


__all__ = ["image_rows"]
