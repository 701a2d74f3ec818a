"""Presenters of ``docker-inspector explain``: one object, who uses it, what removing it frees.

Both take the :class:`inspector.analysis.explain.Explanation`. Every name and path comes from
the root: the text form escapes them with :func:`inspector.textsafe.clean`, the JSON form goes
through :func:`inspector.report.json_report.dumps`.
"""

from __future__ import annotations

from typing import Any

from inspector import __version__
from inspector.analysis.dockerdf import human_size
from inspector.analysis.explain import Explanation, Freeing
from inspector.ids import short
from inspector.report.json_report import dumps, finding_dict, json_safe
from inspector.report.text import size
from inspector.textsafe import clean

#: Version of the JSON document (its ``schema_version``).
SCHEMA_VERSION = 1
#: Users listed in the text (the JSON lists all).
SHOWN = 12


def _bytes(n: int | None, known: bool = True) -> str:
    if n is None:
        return "unknown"
    return f"{size(n)}" if known else f"at least {size(n)}"


def _list(items: list[str]) -> str:
    more = f", and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def _freeing_lines(f: Freeing) -> list[str]:
    out: list[str] = []
    if f.commands:
        out.append("removing it (with what uses it):")
        out += [f"    {clean(c)}" for c in f.commands]
    else:
        out.append("removing it: no docker command removes it")
    counted = []
    for label, items in (
        ("container", f.containers),
        ("image", f.images),
        ("volume", f.volumes),
        ("build cache record", f.build_cache),
        ("layer", f.layers),
    ):
        if items:
            counted.append(f"{len(items)} {label}{'s' if len(items) > 1 else ''}")
    reported = human_size(f.reported) + ("" if f.reported_known else " or more")
    disk = "unknown" if f.disk is None else size(f.disk)
    if f.commands:
        out.append(
            f"  frees {reported} as Docker counts it, {disk} on disk"
            + (f" ({', '.join(counted)})" if counted else " (nothing goes)")
        )
    elif f.disk is not None:
        out.append(f"  its dir holds {disk} on disk")
    if f.untagged:
        out.append(f"  references removed: {clean(_list(list(f.untagged)))}")
    if f.note:
        out.append(f"  note: {clean(f.note)}")
    return out


def render_text(e: Explanation) -> str:
    """The explanation as lines of text."""
    out = [clean(e.query), f"  {clean(e.title)}"]
    if e.path is not None:
        where = f"path: {clean(e.path)}"
        if e.within:
            where += f"  ({clean(e.within)})"
        out.append(f"  {where}")
        p = e.probe
        if p is not None and p.error:
            out.append(f"  could not be looked at: {clean(p.error)}")
        elif p is not None and e.within and p.type != "dir":
            out.append(f"  it is a {p.type} of {p.size} bytes ({size(p.disk)} on disk)")
    if e.area or e.category:
        area = f"{clean(e.area)}/" if e.area else "-"
        out.append(f"  area: {area}   category: {e.category or '-'}")
    for label, value in e.facts:
        out.append(f"  {label}: {clean(value)}")
    users = []
    if e.images and e.kind != "image":
        users.append("images " + _list([short(i) for i in e.images]))
    if e.containers and e.kind != "container":
        users.append("containers " + _list([c[:12] for c in e.containers]))
    if e.buildkit and e.kind != "build_cache":
        users.append("BuildKit's build cache")
    if e.kind in ("layer", "volume", "storage_dir", "image"):
        out.append(f"  used by: {'; '.join(users) if users else 'nothing'}")
    sizes = []
    if e.docker_size_what:
        dsize = "unknown" if e.docker_size is None else human_size(e.docker_size)
        sizes.append(f"Docker {dsize} ({clean(e.docker_size_what)})")
    if e.apparent is not None and e.kind in ("storage_dir", "area"):
        sizes.append(f"apparent {size(e.apparent)}")
    sizes.append(f"on disk {_bytes(e.disk)}")
    out.append(f"  sizes: {'; '.join(sizes)}")
    if not e.findings:
        out.append("  findings: none")
    else:
        out.append(f"  findings ({len(e.findings)}):")
        for f in e.findings:
            amount = size(f.bytes) if f.bytes_known else "size unknown"
            out.append(f"  - [{f.severity.value}] {f.kind.value}: {amount}  {clean(f.path)}")
            out.append(f"      {clean(f.detail)}")
            out.append(f"      remedy: {clean(f.remedy)}")
    if e.freeing is not None:
        out += [f"  {ln}" for ln in _freeing_lines(e.freeing)]
    return "\n".join(out) + "\n"


def to_dict(e: Explanation) -> dict[str, Any]:
    """The explanation as JSON-ready data."""
    f = e.freeing
    p = e.probe
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "query": e.query,
        "kind": e.kind,
        "id": e.key or None,
        "title": e.title,
        "path": e.path,
        "within": e.within or None,
        "file": None
        if p is None
        else {"type": p.type, "size": p.size, "disk_usage": p.disk, "error": p.error or None},
        "area": e.area or None,
        "category": e.category,
        "facts": {label: value for label, value in e.facts},
        "images": list(e.images),
        "containers": list(e.containers),
        "buildkit": e.buildkit,
        "docker_size": e.docker_size,
        "docker_size_is": e.docker_size_what or None,
        "apparent": e.apparent,
        "disk_usage": e.disk,
        "findings": [finding_dict(x) for x in e.findings],
        "removal": None
        if f is None
        else {
            "commands": list(f.commands),
            "reported": f.reported,
            "reported_known": f.reported_known,
            "disk_usage": f.disk,
            "containers": list(f.containers),
            "images": list(f.images),
            "untagged": list(f.untagged),
            "volumes": list(f.volumes),
            "build_cache": list(f.build_cache),
            "layers": list(f.layers),
            "dirs": list(f.dirs),
            "note": f.note or None,
        },
    }
    return json_safe(doc)  # type: ignore[no-any-return]


def render_json(e: Explanation) -> str:
    """The JSON text (every name escaped for a terminal)."""
    return dumps(to_dict(e))


__all__ = ["SCHEMA_VERSION", "render_json", "render_text", "to_dict"]
