"""Presenters of ``docker-inspector efficiency``: text like dive's CI summary, and JSON.

Both take the :class:`inspector.analysis.efficiency.EfficiencyReport` and return text. Every
path and tag comes from the root (file names written by containers): the text form escapes
them with :func:`inspector.textsafe.clean`, the JSON form writes them through
:func:`inspector.report.json_report.dumps`.
"""

from __future__ import annotations

import math
from typing import Any

from inspector import __version__
from inspector.analysis.efficiency import (
    Duplicate,
    EfficiencyReport,
    ImageEfficiency,
    Thresholds,
)
from inspector.ids import short
from inspector.report.json_report import dumps, json_safe
from inspector.textsafe import clean

#: Version of the JSON document (its ``schema_version``).
SCHEMA_VERSION = 1
_SI = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def go_bytes(n: int) -> str:
    """A size as dive prints it (go-humanize ``Bytes``: decimal units, ``3.2 MB``)."""
    if n < 10:
        return f"{n} B"
    e = math.floor(math.log(n) / math.log(1000))
    e = min(e, len(_SI) - 1)
    val = math.floor(n / 1000**e * 10 + 0.5) / 10
    return f"{val:.1f} {_SI[e]}" if val < 10 else f"{val:.0f} {_SI[e]}"


def _name(img: ImageEfficiency) -> str:
    label = img.tags[0] if img.tags else "<none>"
    more = f" (+{len(img.tags) - 1} more)" if len(img.tags) > 1 else ""
    return f"{clean(label)}{more} {short(img.id)}"


def _percent(value: float | None) -> str:
    if value is None:
        return "n/a (no layer above the base)"
    return f"{value * 100:.4f} %"


def _image_block(img: ImageEfficiency, top: int) -> list[str]:
    lines = [
        f"Image: {_name(img)}",
        f"  efficiency: {img.efficiency_score * 100:.4f} %",
        f"  wastedBytes: {img.wasted_bytes} bytes ({go_bytes(img.wasted_bytes)})",
        f"  userWastedPercent: {_percent(img.user_wasted_percent)}",
        "Inefficient Files:",
        f"{'Count':>5}  {'Wasted Space':>12}  File Path",
    ]
    if not img.inefficient_files:
        lines.append("None")
    for f in img.inefficient_files[:top]:
        lines.append(f"{f.count:>5}  {go_bytes(f.bytes):>12}  {clean(f.path)}")
    if img.inefficient_total > top:
        rest = img.inefficient_total - top
        lines.append(f"  … and {rest} more (--top N, or --format json)")
    lines.append("Layers:")
    lines.append(f"  {'Layer':<12}  {'Added':>14}  {'Modified':>14}  {'Removed':>14}  Source")
    for layer in img.layers:
        src = layer.source if layer.source == "tar-split" else f"{layer.source} ({layer.note})"
        lines.append(
            f"  {short(layer.chain_id):<12}  "
            f"{_count(layer.added, layer.added_bytes):>14}  "
            f"{_count(layer.modified, layer.modified_bytes):>14}  "
            f"{_count(layer.removed, layer.removed_bytes):>14}  {src}"
        )
    lines.append("Results:")
    fails = passes = skips = 0
    for r in img.rules:
        lines.append(
            f"  {r.status}: {r.key}: {r.message}" if r.message else f"  {r.status}: {r.key}"
        )
        fails += r.status == "FAIL"
        passes += r.status == "PASS"
        skips += r.status == "SKIP"
    status = "FAIL" if fails else "PASS"
    lines.append(
        f"Result:{status} [Total:{len(img.rules)}] [Passed:{passes}] [Failed:{fails}] "
        f"[Warn:0] [Skipped:{skips}]"
    )
    return lines


def _count(n: int, nbytes: int) -> str:
    return f"{n} ({go_bytes(nbytes)})" if n else "0"


def _dup_line(d: Duplicate) -> str:
    digest = f"crc64 {d.crc:016x}" if d.crc is not None else "no checksum (walked layer)"
    return (
        f"  {go_bytes(d.bytes_saved):>8} saved  {go_bytes(d.size):>8} × {len(d.layers)} layers "
        f"in {len(d.images)} images  {clean(d.path)}  [{digest}]"
    )


def render_text(report: EfficiencyReport, top: int = 20) -> str:
    """dive's CI summary for every image, largest waste first, then duplicates and notes."""
    out: list[str] = []
    for img in report.images:
        out += _image_block(img, top)
        out.append("")
    if not report.images:
        out += ["No image to analyse.", ""]
    out.append(
        f"Duplicates across images (files of 64 KiB or more in distinct layers): "
        f"{report.duplicate_groups}, {go_bytes(report.duplicate_bytes)} a shared base could save"
    )
    for d in report.duplicates[:top]:
        out.append(_dup_line(d))
    if report.duplicate_groups > min(top, len(report.duplicates)):
        out.append(f"  … and {report.duplicate_groups - min(top, len(report.duplicates))} more")
    if report.walked_layers:
        out.append(
            f"{len(report.walked_layers)} layer(s) had no tar-split.json.gz: their diff dir "
            "was walked instead (no checksums, so their duplicates are not certain)"
        )
    for s in report.skipped:
        out.append(f"skipped: {clean(s.path)}: {clean(s.reason)}")
    for note in report.notes:
        out.append(f"note: {clean(note)}")
    failed = sum(1 for i in report.images if i.failed)
    if report.thresholds.any:
        out.append(f"Thresholds crossed by {failed} of {len(report.images)} image(s).")
    return "\n".join(out) + "\n"


def _thresholds(t: Thresholds) -> dict[str, Any]:
    return {
        "lowest_efficiency": t.lowest_efficiency,
        "highest_wasted_bytes": t.highest_wasted_bytes,
        "highest_user_wasted_percent": t.highest_user_wasted_percent,
    }


def image_dict(img: ImageEfficiency) -> dict[str, Any]:
    """One image of the JSON document."""
    return {
        "id": img.id,
        "tags": list(img.tags),
        "size": img.size,
        "efficiency_score": img.efficiency_score,
        "wasted_bytes": img.wasted_bytes,
        "user_wasted_percent": img.user_wasted_percent,
        "inefficient_files": [
            {"path": f.path, "count": f.count, "bytes": f.bytes} for f in img.inefficient_files
        ],
        "inefficient_files_total": img.inefficient_total,
        "layers": [
            {
                "chain_id": layer.chain_id,
                "added": layer.added,
                "modified": layer.modified,
                "removed": layer.removed,
                "bytes": layer.bytes,
                "added_bytes": layer.added_bytes,
                "modified_bytes": layer.modified_bytes,
                "removed_bytes": layer.removed_bytes,
                "entries": layer.entries,
                "source": layer.source,
            }
            for layer in img.layers
        ],
        "rules": [{"key": r.key, "status": r.status, "message": r.message} for r in img.rules],
        "failed": img.failed,
    }


def to_dict(report: EfficiencyReport) -> dict[str, Any]:
    """The JSON document as plain dicts."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "root": report.root,
        "thresholds": _thresholds(report.thresholds),
        "failed": report.failed,
        "images": [image_dict(i) for i in report.images],
        "duplicates": [
            {
                "path": d.path,
                "size": d.size,
                "digest": f"crc64:{d.crc:016x}" if d.crc is not None else None,
                "certain": d.crc is not None,
                "count": len(d.layers),
                "bytes_saved": d.bytes_saved,
                "layers": list(d.layers),
                "images": list(d.images),
            }
            for d in report.duplicates
        ],
        "duplicate_groups": report.duplicate_groups,
        "duplicate_bytes": report.duplicate_bytes,
        "walked_layers": list(report.walked_layers),
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
        "notes": list(report.notes),
    }


def render_json(report: EfficiencyReport) -> str:
    """The JSON document (terminal-safe: see json_report.dumps)."""
    return dumps(json_safe(to_dict(report)))


__all__ = ["go_bytes", "image_dict", "render_json", "render_text", "to_dict"]
