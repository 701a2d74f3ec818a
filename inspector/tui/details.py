"""Detail panes: key/value sections for one object, as Rich renderables (pure functions).

Keys and values are data (label keys, mount destinations, paths): :func:`render_sections`
turns every string into :class:`inspector.tui.safe.Inert` text, keys as well as values, so
no string from the data root is ever sent to the terminal raw or parsed as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich.console import Group
from rich.table import Table

from inspector.analysis.efficiency import ImageEfficiency
from inspector.analysis.results import Finding
from inspector.model import Skipped
from inspector.report.text import short_cache_id
from inspector.tui.rows import (
    SEVERITY_STYLE,
    Index,
    history_for_layers,
    percent,
    shared_with,
)
from inspector.tui.safe import Inert, line, short, size, stamp, t

Key = str | Inert
Value = str | Inert | None
Section = tuple[str, Sequence[tuple[Key, Value]]]


def render_sections(sections: Iterable[Section]) -> Group:
    """Sections as titled two-column grids (empty values are left out)."""
    parts: list[Inert | Table] = []
    for title, items in sections:
        shown = [(k, v) for k, v in items if v is not None and (not isinstance(v, str) or v)]
        if not shown:
            continue
        if parts:
            parts.append(line())
        parts.append(line(title, style="bold underline"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in shown:
            grid.add_row(_inert(key), _inert(value))
        parts.append(grid)
    return Group(*parts)


def _inert(s: str | Inert | None) -> Inert:
    return s if isinstance(s, Inert) else t(s)


def _join(items: Iterable[str]) -> str:
    return ", ".join(items)


def _mapping(m: Mapping[str, str]) -> list[tuple[Key, Value]]:
    return [(k, v) for k, v in sorted(m.items())]


def image_sections(ix: Index, iid: str) -> list[Section]:
    """What is known about one image (its layers have their own table)."""
    r = ix.images[iid]
    img = r.image
    kind = "dangling" if r.dangling else ("intermediate" if r.intermediate else "")
    return [
        (
            "Image",
            [
                ("Tags", _join(img.tags) or "<none>"),
                ("ID", img.id),
                ("Digests", _join(img.digests)),
                ("Created", stamp(img.created)),
                ("Platform", "/".join(x for x in (img.os, img.architecture) if x)),
                ("Kind", kind),
                (
                    "Size",
                    f"{size(r.size)} (shared {size(r.shared_size)}, unique {size(r.unique_size)},"
                    f" freed by removing it {size(r.reclaimable)}, on disk {size(r.disk_usage)})",
                ),
                ("Efficiency", efficiency_line(ix, iid)),
                ("Containers", _join(ix.container_name(c) for c in r.containers)),
                ("Parent", ix.image_name(img.parent) if img.parent else None),
                ("Children", _join(ix.image_names(r.children))),
                ("Missing layers", _join(short(x) for x in r.missing_layers)),
                ("ID verified", None if img.id_verified else t("no: config digest differs", "red")),
                ("Config", ix.rel(img.config_path)),
            ],
        ),
        ("Labels", _mapping(img.labels)),
        # After the labels: the list can be long; the Image section has the summary line.
        *efficiency_sections(ix, iid),
    ]


#: Inefficient files listed on an image's page (the largest; `efficiency IMAGE` lists all).
SHOWN_INEFFICIENT = 50


def efficiency_line(ix: Index, iid: str) -> Value:
    """dive's score and wasted bytes in one line (the inefficient files follow below)."""
    view = ix.efficiency
    got = view.of(iid) if view is not None else None
    if isinstance(got, ImageEfficiency):
        n = got.inefficient_total
        files = f", {n} inefficient file{'s' if n != 1 else ''} (below)" if n else ""
        return f"{percent(got.efficiency_score)} (dive), {size(got.wasted_bytes)} wasted{files}"
    if view is not None and view.running and got is None:
        return t("being computed…", "yellow")
    return None


def efficiency_sections(ix: Index, iid: str) -> list[Section]:
    """dive's numbers for one image and its inefficient files, as far as computed."""
    view = ix.efficiency
    if view is None:
        return []
    got = view.of(iid)
    if isinstance(got, Skipped):
        return [("Efficiency (dive)", [("Not computed", got.reason)])]
    if not isinstance(got, ImageEfficiency):
        if view.running:
            return [("Efficiency (dive)", [("Score", t("being computed…", "yellow"))])]
        return [("Efficiency (dive)", [("Not computed", view.error or "no result")])]
    user = got.user_wasted_percent
    rows: list[tuple[Key, Value]] = [
        ("Score", f"{percent(got.efficiency_score)}  ({got.efficiency_score!r})"),
        ("Wasted", f"{size(got.wasted_bytes)} ({got.wasted_bytes} bytes)"),
        (
            "User wasted",
            f"{user * 100:.4f} % of the {size(got.user_size)} above the base layer"
            if user is not None
            else "n/a (no layer above the base)",
        ),
        ("Size (tar)", f"{size(got.size)} ({got.size} bytes, as docker save writes it)"),
    ]
    files: list[tuple[Key, Value]] = [
        (f.path, f"{f.count} layers, {size(f.bytes)}")
        for f in got.inefficient_files[:SHOWN_INEFFICIENT]
    ]
    more = got.inefficient_total - len(files)
    if more > 0:
        files.append(("…", f"{more} more: docker-inspector efficiency {short(iid)} lists them all"))
    title = f"Inefficient files ({got.inefficient_total}: in 2 layers or more, largest first)"
    return [
        ("Efficiency (dive)", rows),
        (title, files or [("", "none")]),
    ]


def layer_changes_line(ix: Index, iid: str, chain_id: str) -> str | None:
    """What a layer does to the files below it (from the efficiency numbers), if known."""
    view = ix.efficiency
    got = view.of(iid) if view is not None else None
    if not isinstance(got, ImageEfficiency):
        return None
    for c in got.layers:
        if c.chain_id == chain_id:
            return (
                f"{c.added} added ({size(c.added_bytes)}), {c.modified} modified "
                f"({size(c.modified_bytes)}), {c.removed} removed ({size(c.removed_bytes)})"
                + ("" if c.source == "tar-split" else f"  [{c.source}]")
            )
    return None


def image_layer_sections(ix: Index, iid: str, n: int) -> list[Section]:
    """The n-th layer (0 = base) of an image, in full."""
    r = ix.images[iid]
    chain_id = r.chain[n]
    created = history_for_layers(r)[n]
    lr = ix.layers.get(chain_id)
    return [
        (
            f"Layer {n + 1} of {len(r.chain)}",
            [
                ("Created by", created or "(no history entry)"),
                ("Diff ID", r.image.diff_ids[n] if n < len(r.image.diff_ids) else None),
                ("Chain ID", chain_id),
                ("Diff dir", ix.rel(lr.diff_dir) if lr else t("missing from layerdb", "red")),
                ("Size", size(lr.size) if lr else None),
                ("Shared with", _join(shared_with(ix, iid, chain_id)) or "no other image"),
                ("Changes", layer_changes_line(ix, iid, chain_id)),
            ],
        )
    ]


def layer_sections(ix: Index, chain_id: str) -> list[Section]:
    """One layer: IDs, dirs, its overlay2 lower chain, and who uses it."""
    r = ix.layers[chain_id]
    layer = r.layer
    inv = ix.report.inventory
    lower: list[tuple[Key, Value]] = []
    by_cache = {lr.layer.cache_id: lr for lr in ix.report.layers}
    for i, entry in enumerate(r.lower):
        name = entry.removeprefix("l/")
        link = inv.short_links.get(name)
        target = link.target_dir if link is not None else None
        if target is None:
            value: Value = t(f"{entry}  (broken: no such link)", "red")
        else:
            owner = by_cache.get(target)
            what = f"layer {short(owner.layer.chain_id)}" if owner else "no layer"
            value = f"{entry} → {target[:12]}…  ({what})"
        lower.append((f"lower {i + 1}", value))
    dir_state = None if r.dir_exists else t("the storage dir does not exist", "red")
    measured = size(r.measured_size) if r.measured_size is not None else None
    chain_title = "Lower chain (nearest parent first)"
    id_label = "Cache ID"
    if inv.containerd is not None:
        # A snapshot: its parents are snapshots (keys), not overlay2 short links.
        chain_title, id_label = "Parent snapshots (nearest first)", "Snapshot ID"
        snaps = inv.containerd.snapshots
        cur = snaps[chain_id].parent if chain_id in snaps else None
        while cur and len(lower) < 128:
            p = snaps.get(cur)
            what = f"{p.kind}, dir {p.snapshot_id}" if p is not None else "missing"
            lower.append((f"parent {len(lower) + 1}", f"{cur}  ({what})"))
            cur = p.parent if p is not None else None
    return [
        (
            "Layer",
            [
                ("Chain ID", layer.chain_id),
                ("Diff ID", layer.diff_id),
                ("Parent", layer.parent),
                (id_label, layer.cache_id),
                ("Diff dir", ix.rel(r.diff_dir)),
                ("Storage dir", ix.rel(r.storage_dir)),
                ("Problem", dir_state),
                ("Link", r.link),
                ("Size", size(r.size)),
                ("Measured", measured),
                ("On disk", size(r.disk_usage)),
                ("Metadata", ix.rel(layer.metadata_dir)),
                ("tar-split", None if layer.has_tar_split else t("missing", "yellow")),
            ],
        ),
        (chain_title, lower or [("lower", "none: a base layer")]),
        (
            "Used by",
            [
                ("Images", _join(ix.image_names(r.images)) or "none"),
                ("Containers", _join(ix.container_name(c) for c in r.containers)),
                (
                    "BuildKit",
                    "only its build cache holds this layer (docker builder prune frees it)"
                    if r.buildkit_only
                    else None,
                ),
            ],
        ),
    ]


def container_sections(ix: Index, cid: str) -> list[Section]:
    """One container: state, dirs, logs and mounts."""
    r = ix.containers[cid]
    c = r.container
    image = c.image_ref or ix.image_name(c.image_id)
    mounts: list[tuple[Key, Value]] = []
    for m in c.mounts:
        src = m.name if m.type == "volume" else ix.rel(m.source)
        mode = "rw" if m.rw else "ro"
        mounts.append((m.destination, f"{m.type} {src} ({mode})"))
    logs: list[tuple[Key, Value]] = [
        ("File", f"{ix.rel(lf.path)}  ({size(lf.size)})") for lf in c.logs
    ]
    return [
        (
            "Container",
            [
                ("Name", c.name),
                ("ID", c.id),
                ("State", t(c.state)),
                ("PID", str(c.running_pid) if c.running_pid else None),
                ("Exit code", str(c.exit_code) if c.state == "exited" else None),
                ("Image", image),
                ("Image ID", c.image_id),
                ("Image present", None if r.image_present else t("no", "red")),
                ("Created", stamp(c.created)),
                ("Size RW", size(r.size_rw)),
                ("Virtual size", size(r.virtual_size)),
                ("On disk", size(r.disk_usage)),
            ],
        ),
        (
            "Dirs",
            [
                ("Config dir", ix.rel(c.dir)),
                ("Writable layer", ix.rel(r.rw_dir)),
                ("Init layer", ix.rel(r.init_dir)),
            ],
        ),
        (
            "Logs",
            [
                ("Driver", c.log_driver),
                ("Options", _join(f"{k}={v}" for k, v in sorted(c.log_opts.items()))),
                ("Total", f"{size(r.log_size)} (on disk {size(r.log_disk)})"),
                *logs,
            ],
        ),
        ("Mounts", mounts or [("mounts", "none")]),
        ("Labels", _mapping(c.labels)),
    ]


def volume_sections(ix: Index, name: str) -> list[Section]:
    """One volume."""
    r = ix.volumes[name]
    v = r.volume
    return [
        (
            "Volume",
            [
                ("Name", v.name),
                ("Kind", "anonymous" if v.anonymous else "named"),
                ("Driver", v.driver),
                ("Path", ix.rel(v.path)),
                ("Size", size(r.size)),
                ("On disk", size(r.disk_usage)),
                ("Links", str(r.links)),
                ("Containers", _join(ix.container_name(c) for c in r.containers) or "none"),
                ("In docker df", "yes" if r.in_docker_df else "no (not a plain local volume)"),
                ("Mounted", r.mounted),
                ("Directory", None if v.has_dir else t("missing", "yellow")),
                ("Metadata", None if v.in_metadata else t("not in metadata.db", "yellow")),
            ],
        ),
        ("Options", _mapping(v.options)),
        ("Labels", _mapping(v.labels)),
    ]


def finding_sections(ix: Index, f: Finding) -> list[Section]:
    """One finding: what, the evidence and the remedy."""
    return [
        (
            "Finding",
            [
                ("Kind", f.kind.value),
                ("Severity", t(f.severity.value, SEVERITY_STYLE.get(f.severity, ""))),
                ("Confidence", f.confidence),
                ("Path", ix.rel(f.path)),
                (
                    "Bytes",
                    f"{size(f.bytes)} (on disk {size(f.disk_usage)})"
                    if f.bytes_known
                    else "unknown (not measured)",
                ),
                ("Reclaimable", "yes" if f.reclaimable else "no"),
                ("Object", f.object_id),
                ("Count", f"{f.count} findings grouped into this one" if f.count > 1 else None),
            ],
        ),
        ("Evidence", [("", f.detail)]),
        ("Largest of the group", [("", ix.rel(p)) for p in f.examples]),
        ("Remedy (never run by this tool)", [("", f.remedy)]),
    ]


def build_cache_sections(ix: Index, record_id: str) -> list[Section]:
    """One BuildKit cache record: the fields of its `docker system df -v` line, in full."""
    r = ix.build_cache[record_id]
    shared = "yes: an image uses its layer; pruning the cache does not free it"
    parents: list[tuple[Key, Value]] = [
        (
            f"parent {i + 1}" if len(r.parents) > 1 else "parent",
            f"{p}  ({ix.build_cache[p].description or ix.build_cache[p].record_type})"
            if p in ix.build_cache
            else p,
        )
        for i, p in enumerate(r.parents)
    ]
    return [
        (
            "Build cache record",
            [
                ("ID", r.id),
                ("Cache ID", short_cache_id(r.id)),
                ("Type", r.record_type),
                ("Size", size(r.size)),
                ("Shared", shared if r.shared else "no"),
                ("In use", t("yes: a build holds it", "yellow") if r.in_use else "no"),
                # Full times: a build makes many records within the same minute.
                ("Created", r.created),
                ("Last used", r.last_used or "never"),
                ("Usage count", str(r.usage_count)),
                ("Snapshot", r.snapshot if r.snapshot != r.id else None),
            ],
        ),
        ("Description", [("", r.description or "(none)")]),
        ("Parents", parents or [("parent", "none")]),
    ]
