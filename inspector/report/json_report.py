"""The versioned JSON report: plain dicts with a schema_version, deterministic order."""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from importlib import resources
from typing import Any

from inspector import __version__
from inspector.analysis import dockerdf
from inspector.analysis.results import Finding, Report
from inspector.report import containerd_json, trees_json

#: 2: the containerd image store (issue 12): ``containerd``, image ``platforms``,
#: ``content_size``, ``unpacked_size``, layer ``snapshot_key``; graphdriver reports unchanged.
SCHEMA_VERSION = 2


#: What json_safe rewrites: a backslash, and a lone surrogate (a byte of a name that is not
#: UTF-8, as os.fsdecode leaves it).
_SURROGATE = re.compile("[\\\\\udc80-\udcff]")


def _escape_name_char(m: re.Match[str]) -> str:
    ch = m.group()
    return "\\\\" if ch == "\\" else f"\\x{ord(ch) - 0xDC00:02x}"


def json_safe(value: Any) -> Any:
    """Every string as the report writes it: a byte that is not UTF-8 as ``\\xNN``, and so
    that this stays unambiguous, a backslash of the data as two (see :func:`name_bytes`)."""
    if isinstance(value, str):
        # A regex search is C-speed; a per-character check was half of a 5,000-layer report.
        if _SURROGATE.search(value) is not None:
            return _SURROGATE.sub(_escape_name_char, value)
        return value
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


_UNESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")


def name_bytes(text: str) -> bytes:
    """The exact bytes of a string of the JSON report (the inverse of :func:`json_safe`).

    ``\\\\`` is one backslash, ``\\xNN`` the byte NN that was not UTF-8; everything else is
    UTF-8. For a name from the root, these are the bytes of its file name or database key.
    """
    out = bytearray()
    pos = 0
    for m in _UNESCAPE.finditer(text):
        # surrogatepass: a hostile JSON config may hold a lone \udXXX escape; keep it as is.
        out += text[pos : m.start()].encode("utf-8", "surrogatepass")
        esc = m.group(1)
        out += b"\\" if esc == "\\" else bytes([int(esc[1:], 16)])
        pos = m.end()
    out += text[pos:].encode("utf-8", "surrogatepass")
    return bytes(out)


def finding_dict(f: Finding) -> dict[str, Any]:
    """One finding as a plain dict (shared with the audit's JSON)."""
    d: dict[str, Any] = {
        "kind": f.kind.value,
        "severity": f.severity.value,
        "path": f.path,
        "bytes": f.bytes if f.bytes_known else None,
        "disk_usage": f.disk_usage if f.bytes_known else None,
        "detail": f.detail,
        "remedy": f.remedy,
        "confidence": f.confidence,
        "reclaimable": f.reclaimable,
        "object_id": f.object_id,
    }
    if f.kind.value == "dangling_image":
        d["image_id"] = f.object_id
    if f.count > 1:
        d["count"] = f.count
        d["examples"] = list(f.examples)
    return d


def to_dict(report: Report, generated_at: dt.datetime | None = None) -> dict[str, Any]:
    """The whole report as JSON-ready data (every string as :func:`json_safe` writes it)."""
    return json_safe(_raw_dict(report, generated_at))  # type: ignore[no-any-return]


def _raw_dict(report: Report, generated_at: dt.datetime | None = None) -> dict[str, Any]:
    """:func:`to_dict` before :func:`json_safe` (:func:`render` escapes the text instead)."""
    inv = report.inventory
    when = (generated_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    images = [
        {
            "id": r.image.id,
            "tags": list(r.image.tags),
            "digests": list(r.image.digests),
            "created": r.image.created,
            "os": r.image.os,
            "architecture": r.image.architecture,
            "layers": list(r.chain),
            "diff_ids": list(r.image.diff_ids),
            "size": r.size,
            "shared_size": r.shared_size,
            "unique_size": r.unique_size,
            "reclaimable": r.reclaimable,
            "disk_usage": r.disk_usage,
            "containers": len(r.containers),
            "container_ids": list(r.containers),
            "dangling": r.dangling,
            "intermediate": r.intermediate,
            "parent": r.image.parent,
            "children": list(r.children),
            "labels": dict(sorted(r.image.labels.items())),
            "history": [
                {"created_by": h.created_by, "created": h.created, "empty_layer": h.empty_layer}
                for h in r.image.history
            ],
            "missing_layers": list(r.missing_layers),
        }
        for r in report.images
    ]
    layers = [
        {
            "chain_id": r.layer.chain_id,
            "diff_id": r.layer.diff_id,
            "parent": r.layer.parent,
            "cache_id": r.layer.cache_id,
            "registry_digests": list(r.layer.registry_digests),
            "has_tar_split": r.layer.has_tar_split,
            "diff_dir": r.diff_dir,
            "link": r.link,
            "lower": list(r.lower),
            "size": r.size,
            "disk_usage": r.disk_usage,
            "measured_size": r.measured_size,
            "dir_exists": r.dir_exists,
            "buildkit_only": r.buildkit_only,
            "images": list(r.images),
            "containers": list(r.containers),
        }
        for r in report.layers
    ]
    containers = [
        {
            "id": r.container.id,
            "name": r.container.name,
            "image_id": r.container.image_id,
            "image": r.container.image_ref,
            "state": r.container.state,
            "created": r.container.created,
            "rw_dir": r.rw_dir,
            "init_dir": r.init_dir,
            "size_rw": r.size_rw,
            "virtual_size": r.virtual_size,
            "disk_usage": r.disk_usage,
            "log_driver": r.container.log_driver,
            "log_options": dict(sorted(r.container.log_opts.items())),
            "log_size": r.log_size,
            "log_disk_usage": r.log_disk,
            "log_files": [lf.path for lf in r.container.logs],
            "volumes": list(r.volumes),
            "mounts": [
                {
                    "type": m.type,
                    "name": m.name,
                    "source": m.source,
                    "destination": m.destination,
                    "driver": m.driver,
                    "rw": m.rw,
                }
                for m in r.container.mounts
            ],
            "labels": dict(sorted(r.container.labels.items())),
        }
        for r in report.containers
    ]
    volumes = [
        {
            "name": r.volume.name,
            "anonymous": r.volume.anonymous,
            "driver": r.volume.driver,
            "labels": dict(sorted(r.volume.labels.items())),
            "options": dict(sorted(r.volume.options.items())),
            "path": r.volume.path,
            "size": r.size,
            "disk_usage": r.disk_usage,
            "links": r.links,
            "containers": list(r.containers),
            "in_docker_df": r.in_docker_df,
            "mounted": r.mounted,
        }
        for r in report.volumes
    ]
    # The records `docker system df -v` lists, with the API's full IDs (the CLI's table cuts
    # them to 12 characters for display only). Sorted by ID: a stable order to diff reports.
    build_cache = [
        {
            "id": r.id,
            "type": r.record_type,
            "size": r.size,
            "shared": r.shared,
            "in_use": r.in_use,
            "created": r.created,
            "last_used": r.last_used,
            "usage_count": r.usage_count,
            "description": r.description,
        }
        for r in sorted(inv.buildkit.records, key=lambda r: r.id)
    ]
    t = report.totals
    # Unknown is null, never 0: without walks (--no-sizes) nothing measured is known.
    walked = report.measured
    totals = {
        "images_size": t.docker_images_size,
        "containers_size": t.docker_containers_size if walked else None,
        "volumes_size": t.docker_volumes_size if walked else None,
        "build_cache_size": t.docker_build_cache_size,
        "build_cache_reclaimable": t.build_cache_reclaimable,
        "log_size": t.log_size,
        "reclaimable": t.reclaimable,
        "disk_usage": t.disk_total if walked else None,
        "categories": {
            c.name: {
                "bytes": c.apparent if walked else None,
                "disk_usage": c.disk if walked else None,
                "description": c.description,
            }
            for c in t.categories
        },
    }
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "docker-inspector", "version": __version__},
        "root": inv.root.path,
        "storage_driver": inv.root.storage_driver,
        "image_store": inv.root.image_store.value,
        "supported": inv.root.supported,
        "notes": list(inv.root.notes),
        **trees_json.fields(report),
        "generated_at": when,
        "measured": report.measured,
        "images": images,
        "layers": layers,
        "containers": containers,
        "volumes": volumes,
        "build_cache": build_cache,
        "findings": [finding_dict(f) for f in report.findings],
        "totals": totals,
        "docker_df": dockerdf.docker_df(report).as_dict(),
        "skipped": [{"path": s.path, "reason": s.reason} for s in inv.skipped],
    }
    ctrd = containerd_json.section(report)
    if ctrd is not None:  # the containerd store (absent from a graphdriver report)
        containerd_json.extend(report, images, layers)
        doc["containerd"] = ctrd
    other = containerd_json.other_store(report)
    if other is not None:  # both stores hold images: the one the daemon does not use
        doc["other_store"] = other
    return doc


#: Non-ASCII characters a terminal may act on or that hide or reorder text: C1 controls
#: (U+0080-U+009F, e.g. the 8-bit CSI), bidi overrides and other format characters, line and
#: paragraph separators. json.dumps escapes only U+0000-U+001F.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"})
_NON_ASCII = re.compile(r"[^\x00-\x7e]")


def _escape_unsafe(match: re.Match[str]) -> str:
    ch = match.group()
    if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
        return json.dumps(ch)[1:-1]  # \uXXXX (a surrogate pair above U+FFFF)
    return ch


def render(report: Report) -> str:
    """The JSON text (indented, sorted where order carries no meaning, trailing newline).

    Printable non-ASCII text is kept as UTF-8; every control, format or separator character
    (DEL included) is written as a \\uXXXX escape, so the report can be printed to a terminal
    and still decodes to the same strings.
    """
    return _dumps_safe(_raw_dict(report))


#: A lone surrogate of a name in JSON text (json.dumps with ensure_ascii=False keeps it).
_TEXT_SURROGATE = re.compile("[\udc80-\udcff]")


def _surrogate_in_text(m: re.Match[str]) -> str:
    return f"\\\\x{ord(m.group()) - 0xDC00:02x}"


def _dumps_safe(doc: Any) -> str:
    """``dumps(json_safe(doc))`` without a Python-level pass over every value: the same
    rewriting done on the JSON text. A backslash of the data is ``\\\\`` in JSON text and
    every other escape json writes is a backslash and one other char, so replacing pairs of
    backslashes from the left (as str.replace does) pairs them as JSON does."""
    text = _layout(doc)
    if "\\" in text:
        text = text.replace("\\\\", "\\\\\\\\")
    if text.isascii():
        return dumps_text(text)  # no surrogate in ASCII
    return dumps_text(_TEXT_SURROGATE.sub(_surrogate_in_text, text))


def dumps(doc: Any) -> str:
    """JSON text safe to print to a terminal: UTF-8 kept, unsafe characters as \\uXXXX.

    Shared by every JSON output (report, audit) so none of them lets a C1 control or a bidi
    override from a hostile name through.
    """
    return dumps_text(_layout(doc))


def dumps_text(text: str) -> str:
    """:func:`dumps` of JSON text already laid out."""
    if text.isascii() and "\x7f" not in text:
        return text  # json.dumps escaped the C0 controls; DEL is the one ASCII left to do
    return _NON_ASCII.sub(_escape_unsafe, text)


def _compact(value: Any) -> str:
    # indent=None is what lets json use its C encoder: ~10x faster than the indenting one.
    return json.dumps(value, ensure_ascii=False)


def _layout(doc: Any) -> str:
    """One member of the top object per line, and one element per line in its lists.

    Readable and diffable (an image, a layer, a finding per line) without the pure-Python
    indenting encoder, which was most of a 5,000-layer report's time.
    """
    if not isinstance(doc, dict) or not doc:
        return _compact(doc) + "\n"
    members: list[str] = []
    for key, value in doc.items():
        head = f"  {_compact(key)}: "
        if isinstance(value, list) and value:
            items = ",\n".join("    " + _compact(v) for v in value)
            members.append(f"{head}[\n{items}\n  ]")
        else:
            members.append(head + _compact(value))
    return "{\n" + ",\n".join(members) + "\n}\n"


def schema() -> dict[str, Any]:
    """The JSON Schema shipped with the package."""
    text = resources.files("inspector.report").joinpath("schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]
