"""The containerd store's part of the JSON report (schema_version 2).

Added only when the report read a containerd image store, so a graphdriver report is the same
document as before (but for its schema_version). Pinned names (issue 12): ``image_store`` =
``"containerd"`` and ``containerd.root`` at the top; ``images[]``: ``id`` (the target
digest), ``tags``, ``platforms``, ``content_size``, ``unpacked_size``, ``size``,
``shared_size``, ``unique_size``; ``layers[]``: ``chain_id``, ``snapshot_key``, ``diff_dir``
(the snapshot's ``fs`` dir), ``disk_usage`` (containerd's usage); ``containers[]``: ``id``,
``rw_dir`` (its active snapshot's ``fs``), ``disk_usage`` (containerd's usage of it).
"""

from __future__ import annotations

from typing import Any

from inspector.analysis.results import Report


def extend(report: Report, images: list[dict[str, Any]], layers: list[dict[str, Any]]) -> None:
    """Add the containerd fields to the image and layer entries (same order as the rows)."""
    if report.inventory.containerd is None:
        return
    for doc, row in zip(images, report.images, strict=True):
        img = row.image
        doc["platforms"] = list(img.platforms)
        doc["content_size"] = row.content_size
        doc["unpacked_size"] = row.unpacked_size
        doc["names"] = list(img.names)
        doc["manifests"] = [
            {
                "digest": m.digest,
                "platform": m.platform,
                "present": m.present,
                "attestation": m.attestation,
                "runnable": not m.pseudo,
            }
            for m in img.manifests
        ]
    for doc, lrow in zip(layers, report.layers, strict=True):
        doc["snapshot_key"] = lrow.snapshot_key


def section(report: Report) -> dict[str, Any] | None:
    """The top-level ``containerd`` object: which root was read, why, and its totals."""
    data = report.inventory.containerd
    if data is None:
        return None
    kinds: dict[str, int] = {}
    for s in data.snapshots.values():
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    return {
        "root": data.root,
        "reason": data.reason,
        "namespace": data.namespace,
        "snapshotter": data.snapshotter,
        "snapshots": len(data.snapshots),
        "snapshot_kinds": dict(sorted(kinds.items())),
        "blobs": sum(1 for b in data.blobs.values() if b.size is not None),
        "leases": sorted(data.leases),
        "ingests": list(data.ingests),
        "other_namespaces": list(data.other_namespaces),
        "totals": dict(report.totals.containerd),
    }


def other_store(report: Report) -> dict[str, Any] | None:
    """The top-level ``other_store``: the image store the daemon does not use, its images."""
    other = report.inventory.other_store
    if other is None:
        return None
    images = []
    for r in report.other_images:
        doc: dict[str, Any] = {
            "id": r.image.id,
            "tags": list(r.image.tags),
            "created": r.image.created,
            "size": r.size,
            "dangling": r.dangling,
        }
        if other.containerd is not None:
            doc["platforms"] = list(r.image.platforms)
            doc["content_size"] = r.content_size
            doc["unpacked_size"] = r.unpacked_size
        images.append(doc)
    return {
        "image_store": other.image_store.value,
        "storage_driver": other.storage_driver,
        "path": other.path,
        "live": False,
        "evidence": other.evidence,
        "images": images,
        "skipped": [{"path": s.path, "reason": s.reason} for s in other.skipped],
    }


__all__ = ["extend", "other_store", "section"]
