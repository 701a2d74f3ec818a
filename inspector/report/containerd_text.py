"""The text report's section on the image store the daemon does not use (both stores present)."""

from __future__ import annotations

from inspector.analysis.results import Report
from inspector.ids import short
from inspector.report.trees_text import _table, size
from inspector.textsafe import clean


def other_store_lines(report: Report) -> list[str]:
    """Its images as its own store counts them (no lines when there is no other store)."""
    other = report.inventory.other_store
    if other is None:
        return []
    ctrd = other.containerd is not None
    out = [
        "",
        f"Images in the {other.image_store.value} image store the daemon does not use "
        f"({clean(other.path)}: {clean(other.evidence)}); docker images does not list them",
    ]
    rows = []
    for r in sorted(report.other_images, key=lambda r: (-r.size, r.image.id)):
        name = ", ".join(clean(x) for x in r.image.tags) or "<none>"
        row = [name, short(r.image.id), size(r.size)]
        if ctrd:
            row += [size(r.content_size or 0), size(r.unpacked_size or 0)]
        rows.append(row)
    headers = ["REPOSITORY:TAG", "IMAGE ID", "SIZE"]
    if ctrd:
        headers += ["CONTENT", "UNPACKED"]
    out += _table(headers, rows, set(range(2, len(headers))))
    return out


__all__ = ["other_store_lines"]
