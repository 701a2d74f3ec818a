"""Presenters of ``docker-inspector prune``: what each prune command would free, text and JSON.

Both take the Report and its :class:`inspector.analysis.prune.PrunePreview`. Names (tags,
container and volume names, paths) come from the root: the text form escapes them with
:func:`inspector.textsafe.clean`, the JSON form goes through
:func:`inspector.report.json_report.dumps`.
"""

from __future__ import annotations

from typing import Any

from inspector import __version__
from inspector.analysis.dockerdf import human_size
from inspector.analysis.prune import PruneCommand, PrunePreview
from inspector.analysis.results import Report
from inspector.ids import short
from inspector.report.json_report import dumps, json_safe
from inspector.report.text import size
from inspector.textsafe import clean

#: Version of the JSON document (its ``schema_version``).
SCHEMA_VERSION = 1

#: Objects listed per kind and command in the text (the JSON lists all).
SHOWN = 12


def _reported(c: PruneCommand) -> str:
    text = human_size(c.reported)
    return text if c.reported_known else f">= {text}"


def _names(report: Report) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    images = {r.image.id: r.image.tags for r in report.images}
    containers = {c.id: c.name for c in report.inventory.containers.values()}
    return images, containers


def _listed(label: str, items: list[str]) -> list[str]:
    if not items:
        return []
    more = f", and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return [f"    {label} ({len(items)}): " + ", ".join(items[:SHOWN]) + more]


def render_text(report: Report, preview: PrunePreview) -> str:
    """The preview as a table, then each command's objects."""
    info = report.inventory.root
    out = [
        f"docker-inspector {__version__}: prune preview of {clean(info.path)} "
        f"(driver {info.storage_driver or 'none'}, {info.image_store.value} image store)",
        "Nothing was removed. DOCKER SAYS is the space the daemon will report "
        '("Total reclaimed space"); ON DISK the allocated bytes of the directories that go.',
        "",
    ]
    rows: list[list[str]] = []
    for c in preview.commands:
        if not c.supported:
            rows.append([c.command, "-", "-", "", "", "", "", c.semantics])
            continue
        rows.append(
            [
                c.command,
                _reported(c),
                size(c.disk) if c.disk is not None else "unknown",
                str(len(c.containers)),
                str(len(c.images)),
                str(len(c.volumes)),
                str(len(c.build_cache)),
                c.semantics,
            ]
        )
    headers = ["COMMAND", "DOCKER SAYS", "ON DISK", "CONTAINERS", "IMAGES", "VOLUMES", "CACHE"]
    headers.append("SEMANTICS")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    right = {1, 2, 3, 4, 5, 6}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out += [line(headers), *(line(r) for r in rows)]
    images, containers = _names(report)
    for c in preview.commands:
        out.append("")
        out.append(f"{c.command}  ({c.semantics})")
        out.append(f"  {c.what}")
        if not c.supported:
            continue
        if not (c.containers or c.images or c.untagged or c.volumes or c.build_cache):
            out.append("    nothing to remove")
            continue
        out += _listed(
            "containers",
            [f"{clean(containers.get(x, ''))} ({x[:12]})" for x in c.containers],
        )
        out += _listed(
            "images deleted",
            [f"{clean(', '.join(images.get(x, ())) or '<none>')} ({short(x)})" for x in c.images],
        )
        out += _listed("references removed", [clean(x) for x in c.untagged])
        out += _listed("volumes", [clean(x) for x in c.volumes])
        out += _listed("build cache records", [clean(x[:12]) for x in c.build_cache])
        out += _listed("layers deleted", [short(x) for x in c.layers])
        if c.unknown:
            out.append(
                f"    size unknown offline (counted as 0): {len(c.unknown)} "
                f"({clean(', '.join(c.unknown[:3]))}{', …' if len(c.unknown) > 3 else ''})"
            )
    for note in preview.notes:
        out.append("")
        out.append(f"NOTE: {clean(note)}")
    return "\n".join(out) + "\n"


def command_dict(c: PruneCommand, report: Report) -> dict[str, Any]:
    """One command as plain data."""
    images, containers = _names(report)
    return {
        "command": c.command,
        "semantics": c.semantics,
        "what": c.what,
        "supported": c.supported,
        "reported": c.reported if c.supported else None,
        "reported_known": c.reported_known,
        "disk_usage": c.disk,
        "containers": [{"id": x, "name": containers.get(x, "")} for x in c.containers],
        "images": [{"id": x, "tags": list(images.get(x, ()))} for x in c.images],
        "untagged": list(c.untagged),
        "volumes": list(c.volumes),
        "build_cache": list(c.build_cache),
        "layers": list(c.layers),
        "dirs": list(c.dirs),
        "unknown": list(c.unknown),
    }


def to_dict(report: Report, preview: PrunePreview) -> dict[str, Any]:
    """The whole preview as JSON-ready data."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "root": report.inventory.root.path,
        "measured": report.measured,
        "commands": [command_dict(c, report) for c in preview.commands],
        "notes": list(preview.notes),
    }
    return json_safe(doc)  # type: ignore[no-any-return]


def render_json(report: Report, preview: PrunePreview) -> str:
    """The JSON text (every name escaped for a terminal)."""
    return dumps(to_dict(report, preview))


__all__ = ["SCHEMA_VERSION", "command_dict", "render_json", "render_text", "to_dict"]
