"""The text report's ``--filter`` and ``--sort``: docker's filters on the report's tables (pure).

Each filter is ``key=value``, as ``docker images``, ``docker ps`` and ``docker volume ls`` take
them; values of one key are ORed, different keys ANDed (docker's rule). A key applies to the
tables whose docker command knows it; with filters given, a table some key does not apply to
is left out (and the report says why), so every table shown satisfies every filter:

============  =======================================================================
key           tables (the docker command that has it)
============  =======================================================================
dangling      images (``true``: no tag, no child image), volumes (``true``: no container
              references it)
label         images, containers, volumes: ``label=KEY`` or ``label=KEY=VALUE``
reference     images: a ``repository[:tag]`` pattern (``*`` and ``?`` do not cross ``/``)
status        containers: created, restarting, running, removing, paused, exited, dead
name          containers, volumes: a regular expression searched in the name
driver        volumes: the volume driver
before/since  images and containers: created before / after the one named (tag or ID)
============  =======================================================================

``--sort``: ``size`` (Docker's size: Size, SizeRw, volume size; largest first, the default),
``disk`` (allocated bytes, largest first), ``name`` (A to Z) or ``created`` (newest first).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from inspector.analysis.removal import parse_ref
from inspector.analysis.results import ContainerRow, ImageRow, Report, VolumeRow
from inspector.errors import UsageError

TABLES = ("images", "containers", "volumes")
#: Filter key → the tables it applies to.
KEYS: dict[str, tuple[str, ...]] = {
    "dangling": ("images", "volumes"),
    "label": TABLES,
    "reference": ("images",),
    "status": ("containers",),
    "name": ("containers", "volumes"),
    "driver": ("volumes",),
    "before": ("images", "containers"),
    "since": ("images", "containers"),
}
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
SORTS = ("size", "disk", "name", "created")
_BOOL = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True, slots=True)
class View:
    """Which rows of the text report's tables to show, and in which order."""

    filters: tuple[tuple[str, str], ...] = ()
    sort: str = "size"


@dataclass(frozen=True, slots=True)
class Selection:
    """The rows to show per table (None: the table is left out) and why tables are left out."""

    images: list[ImageRow] | None
    containers: list[ContainerRow] | None
    volumes: list[VolumeRow] | None
    notes: list[str] = field(default_factory=list)


def parse(filters: Sequence[str], sort: str = "size") -> View:
    """Check ``--filter`` and ``--sort`` values (UsageError, before any work)."""
    if sort not in SORTS:
        raise UsageError(f"--sort {sort}: use one of {', '.join(SORTS)}")
    out: list[tuple[str, str]] = []
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or not key:
            raise UsageError(f"--filter {f}: expected KEY=VALUE (e.g. dangling=true)")
        if key not in KEYS:
            raise UsageError(f"--filter {f}: unknown key {key!r}; use one of {', '.join(KEYS)}")
        if key == "dangling" and value.lower() not in _BOOL:
            raise UsageError(f"--filter {f}: dangling takes true or false")
        if key == "status" and value not in STATUSES:
            raise UsageError(f"--filter {f}: status is one of {', '.join(STATUSES)}")
        if key == "name":
            try:
                re.compile(value)
            except re.error as e:
                raise UsageError(f"--filter {f}: not a regular expression: {e}") from None
        if key in ("label", "reference", "driver", "before", "since") and not value:
            raise UsageError(f"--filter {f}: {key} needs a value")
        out.append((key, value))
    return View(tuple(out), sort)


def _label_ok(labels: Mapping[str, str], values: list[str]) -> bool:
    for v in values:
        k, sep, want = v.partition("=")
        have = labels.get(k)
        if have is None or (sep and have != want):
            return False
    return True


def _pattern(pat: str) -> re.Pattern[str]:
    """Go's path.Match as a regex: ``*`` and ``?`` do not match ``/``; ``[...]`` classes."""
    out = []
    i = 0
    while i < len(pat):
        ch = pat[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pat.find("]", i + 1)
            if end < 0:
                raise UsageError(f"--filter reference={pat}: unclosed [")
            body = pat[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _reference_ok(row: ImageRow, patterns: list[str]) -> bool:
    """docker images ``reference``: a pattern matches a reference or its repository name."""
    for tag in (*row.image.tags, *row.image.digests):
        name = tag.partition("@")[0]
        if "@" not in tag:
            slash, colon = name.rfind("/"), name.rfind(":")
            name = name[:colon] if colon > slash else name
        for pat in patterns:
            rx = _pattern(pat)
            if rx.match(tag) or rx.match(name):
                return True
    return False


def _image_named(report: Report, value: str) -> ImageRow:
    want = parse_ref(value).full
    hexq = value.removeprefix("sha256:")
    for r in report.images:
        refs = (*r.image.tags, *r.image.digests)
        if value in refs or any(parse_ref(t).full == want for t in refs):
            return r
    hits = [r for r in report.images if r.image.id.removeprefix("sha256:").startswith(hexq)]
    if len(hits) == 1 and re.fullmatch(r"[0-9a-f]+", hexq):
        return hits[0]
    raise UsageError(f"--filter before/since={value}: no such image")


def _container_named(report: Report, value: str) -> ContainerRow:
    name = value.removeprefix("/")
    for r in report.containers:
        if r.container.name == name or r.container.id == value:
            return r
    hits = [r for r in report.containers if r.container.id.startswith(value)]
    if len(hits) == 1:
        return hits[0]
    raise UsageError(f"--filter before/since={value}: no such container")


def _applies(report: Report, view: View) -> dict[str, bool]:
    """Which tables every filter applies to; ``before``/``since`` apply to the table of what
    they name (an image, a container), as ``docker images`` and ``docker ps`` read them."""
    out = {t: all(t in KEYS[k] for k, _ in view.filters) for t in TABLES}
    for k, v in view.filters:
        if k not in ("before", "since"):
            continue
        image = _find(_image_named, report, v)
        container = _find(_container_named, report, v)
        if not image and not container:
            raise UsageError(f"--filter {k}={v}: no image or container of this name or ID")
        out["images"] = out["images"] and image
        out["containers"] = out["containers"] and container
    return out


def _find(lookup: Callable[[Report, str], object], report: Report, value: str) -> bool:
    try:
        lookup(report, value)
    except UsageError:
        return False
    return True


def select(report: Report, view: View) -> Selection:
    """The rows of each table that pass every filter, sorted; UsageError for a before/since
    naming nothing."""
    vals: dict[str, list[str]] = {}
    for k, v in view.filters:
        vals.setdefault(k, []).append(v)
    shown = _applies(report, view)
    notes = []
    for t in TABLES:
        if not shown[t]:
            keys = ", ".join(sorted(k for k in vals if t not in KEYS[k])) or "before/since"
            notes.append(f"{t.capitalize()}: not shown (--filter {keys} does not apply to {t})")
    return Selection(
        images=_images(report, vals, view.sort) if shown["images"] else None,
        containers=_containers(report, vals, view.sort) if shown["containers"] else None,
        volumes=_volumes(report, vals, view.sort) if shown["volumes"] else None,
        notes=notes,
    )


_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def _created(value: str | None) -> int:
    """An RFC 3339 time (nanoseconds kept) as nanoseconds since the epoch; -1 when unknown."""
    m = _TIME.fullmatch(value or "")
    if m is None:
        return -1
    base, frac, zone = m.groups()
    when = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return int(when.timestamp()) * 1_000_000_000 + int((frac or "0")[:9].ljust(9, "0"))


def _images(report: Report, vals: dict[str, list[str]], sort: str) -> list[ImageRow]:
    rows = [r for r in report.images if not r.intermediate]
    if "dangling" in vals:
        want = {_BOOL[v.lower()] for v in vals["dangling"]}
        rows = [r for r in rows if r.dangling in want]
    if "label" in vals:
        rows = [r for r in rows if _label_ok(r.image.labels, vals["label"])]
    if "reference" in vals:
        rows = [r for r in rows if _reference_ok(r, vals["reference"])]
    for key in ("before", "since"):
        for v in vals.get(key, []):
            ref = _created(_image_named(report, v).image.created)
            if key == "before":
                rows = [r for r in rows if _created(r.image.created) < ref]
            else:
                rows = [r for r in rows if _created(r.image.created) > ref]
    if sort == "name":
        return sorted(rows, key=lambda r: (not r.image.tags, sorted(r.image.tags), r.image.id))
    if sort == "created":
        return sorted(rows, key=lambda r: (_created(r.image.created), r.image.id), reverse=True)
    if sort == "disk":
        return sorted(rows, key=lambda r: (-r.disk_usage, r.image.id))
    return sorted(rows, key=lambda r: (-r.size, r.image.id))


def _containers(report: Report, vals: dict[str, list[str]], sort: str) -> list[ContainerRow]:
    rows = list(report.containers)
    if "status" in vals:
        rows = [r for r in rows if r.container.state in vals["status"]]
    if "label" in vals:
        rows = [r for r in rows if _label_ok(r.container.labels, vals["label"])]
    if "name" in vals:
        rows = [r for r in rows if any(re.search(p, r.container.name) for p in vals["name"])]
    for key in ("before", "since"):
        for v in vals.get(key, []):
            ref = _created(_container_named(report, v).container.created)
            if key == "before":
                rows = [r for r in rows if _created(r.container.created) < ref]
            else:
                rows = [r for r in rows if _created(r.container.created) > ref]
    if sort == "name":
        return sorted(rows, key=lambda r: (r.container.name, r.container.id))
    if sort == "created":
        return sorted(
            rows, key=lambda r: (_created(r.container.created), r.container.id), reverse=True
        )
    if sort == "disk":
        return sorted(rows, key=lambda r: (-r.disk_usage, r.container.id))
    return sorted(rows, key=lambda r: (-(r.size_rw or 0), r.container.id))


def _volumes(report: Report, vals: dict[str, list[str]], sort: str) -> list[VolumeRow]:
    rows = list(report.volumes)
    if "dangling" in vals:
        want = {_BOOL[v.lower()] for v in vals["dangling"]}
        rows = [r for r in rows if (r.links == 0) in want]
    if "label" in vals:
        rows = [r for r in rows if _label_ok(r.volume.labels, vals["label"])]
    if "name" in vals:
        rows = [r for r in rows if any(re.search(p, r.volume.name) for p in vals["name"])]
    if "driver" in vals:
        rows = [r for r in rows if r.volume.driver in vals["driver"]]
    if sort in ("name", "created"):  # volumes keep no creation time here: by name
        return sorted(rows, key=lambda r: r.volume.name)
    if sort == "disk":
        return sorted(rows, key=lambda r: (-r.disk_usage, r.volume.name))
    return sorted(rows, key=lambda r: (-(r.size or 0), r.volume.name))


__all__ = ["KEYS", "SORTS", "STATUSES", "Selection", "View", "parse", "select"]
