"""The human summary: `docker system df -v` in spirit, plus categories, top consumers, findings."""

from __future__ import annotations

from datetime import UTC, datetime

import humanize

from inspector import __version__
from inspector.analysis import dockerdf, filters
from inspector.analysis.results import Report
from inspector.ids import short
from inspector.model import BuildCacheRecord
from inspector.report import containerd_text, trees_text
from inspector.textsafe import clean

_NEVER = datetime.min.replace(tzinfo=UTC)


def size(n: int | None) -> str:
    """Decimal units like Docker's own output; '-' for unknown."""
    if n is None:
        return "-"
    return str(humanize.naturalsize(n, format="%.1f"))


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=True)]

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers)] + [line(r) for r in rows]


def short_cache_id(record_id: str) -> str:
    """The CACHE ID `docker system df -v` prints: stringid.TruncateID (after a ':', 12 chars)."""
    return record_id.partition(":")[2][:12] if ":" in record_id else record_id[:12]


def _instant(when: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(when) if when else None
    except ValueError:
        return None


def _cache_order(r: BuildCacheRecord) -> tuple[bool, datetime, str]:
    """docker/cli's buildCacheSort: never used first, then least recently used, then by ID,
    so the rows come in the order `docker system df -v` prints them."""
    when = _instant(r.last_used)
    return (when is not None, when or _NEVER, r.id)


def render(report: Report, top: int = 10, view: filters.View | None = None) -> str:
    """The whole text report; `view`: ``--filter`` and ``--sort`` of its object tables."""
    sel = filters.select(report, view or filters.View())
    inv = report.inventory
    info = inv.root
    out: list[str] = []
    store = info.image_store.value
    out.append(
        f"docker-inspector {__version__}: {clean(info.path)} "
        f"(driver {info.storage_driver or 'none'}, {store} image store)"
    )
    for note in info.notes:
        out.append(f"NOTE: {clean(note)}")
    out += trees_text.lines(report)
    if not report.measured:
        out.append("NOTE: sizes were not measured (--no-sizes): recorded layer sizes only")
    t = report.totals
    out.append("")
    out.append("Disk usage by category")
    if report.measured:
        cats = sorted(t.categories, key=lambda c: -c.disk)
        biggest = max((c.disk for c in cats), default=0) or 1
        rows = []
        for cat in cats:
            bar = "#" * max(0, round(20 * cat.disk / biggest))
            rows.append(
                [cat.name, size(cat.disk), size(cat.apparent), bar.ljust(20), cat.description]
            )
        rows.append(["total", size(t.disk_total), "", "", "allocated bytes under the root"])
        out += _table(["CATEGORY", "ON DISK", "APPARENT", "", "WHAT"], rows, {1, 2})
    else:
        # Unknown is not zero: nothing was walked, so no category has a number.
        out.append("unknown: no directory was walked (--no-sizes)")

    out.append("")
    # The CLI's own cells and units (inspector.analysis.dockerdf), so the table reads the same
    # as `docker system df` beside it.
    out.append("Docker's view (docker system df, as the docker CLI computes it)")
    df = dockerdf.docker_df(report)
    rows = [[typ, *dockerdf.cells(row)] for _, typ, row in df.rows()]
    # Logs are found with the containers: unknown when those could not be read.
    logs = "unknown" if df.containers.total is None else dockerdf.human_size(t.log_size)
    rows.append(["Logs (not in docker system df)", "", "", logs, ""])
    out += _table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows, {1, 2, 3, 4})
    listed = [r for r in report.images if not r.intermediate]
    bk = inv.buildkit.records
    if view is not None and view.filters:
        out.append("")
        shown = ", ".join(f"{k}={clean(v)}" for k, v in view.filters)
        out.append(f"Filtered with {shown}; sorted by {view.sort}")
        out += sel.notes

    if report.images and sel.images is not None:
        out.append("")
        matched = f"; {len(sel.images)} match the filters" if view and view.filters else ""
        out.append(
            f"Images ({len(listed)} listed by docker images, "
            f"{len(report.images) - len(listed)} intermediate{matched})"
        )
        rows = []
        for r in sel.images:
            name = ", ".join(clean(x) for x in r.image.tags) or (
                "<none> (dangling)" if r.dangling else "<none>"
            )
            rows.append(
                [
                    name,
                    short(r.image.id),
                    clean(r.image.created or "")[:19],
                    size(r.size),
                    size(r.shared_size),
                    size(r.unique_size),
                    str(len(r.containers)),
                ]
            )
        out += _table(
            ["REPOSITORY:TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED", "UNIQUE", "CONTAINERS"],
            rows,
            {3, 4, 5, 6},
        )
    out += containerd_text.other_store_lines(report)
    if report.containers and sel.containers is not None:
        out.append("")
        out.append("Containers")
        rows = []
        for cr in sel.containers:
            ctr = cr.container
            rows.append(
                [
                    clean(ctr.name),
                    ctr.id[:12],
                    ctr.state,
                    clean(ctr.image_ref)[:30],
                    size(cr.size_rw),
                    size(cr.log_size),
                    str(len(cr.volumes)),
                ]
            )
        out += _table(
            ["NAME", "CONTAINER ID", "STATE", "IMAGE", "SIZE RW", "LOGS", "VOLUMES"],
            rows,
            {4, 5, 6},
        )
    if report.volumes and sel.volumes is not None:
        out.append("")
        out.append("Volumes")
        rows = []
        for vr in sel.volumes:
            v = vr.volume
            name = clean(v.name)
            rows.append(
                [
                    name if len(name) <= 40 else name[:37] + "...",
                    "anonymous" if v.anonymous else "named",
                    clean(v.driver),
                    str(vr.links),
                    size(vr.size) if vr.mounted is None else clean(vr.mounted),
                ]
            )
        out += _table(["VOLUME NAME", "KIND", "DRIVER", "LINKS", "SIZE"], rows, {3, 4})
    if bk:
        out.append("")
        # BuildKit computes a record's size when first asked: until then it is unknown.
        known = all(r.size is not None for r in bk)
        total = f"{size(sum(r.size or 0 for r in bk))} in all" if known else "sizes unknown"
        out.append(f"Build cache ({len(bk)} records, {total}, least recently used first)")
        rows = []
        for rec in sorted(bk, key=_cache_order):
            # Descriptions are written from Dockerfiles (and IDs are bbolt keys): escaped.
            desc = clean(rec.description)
            rows.append(
                [
                    clean(short_cache_id(rec.id)) + ("*" if rec.in_use else ""),
                    clean(rec.record_type),
                    size(rec.size),
                    clean(rec.created or "")[:19],
                    clean(rec.last_used or "")[:19],
                    str(rec.usage_count),
                    "true" if rec.in_use else "false",
                    "true" if rec.shared else "false",
                    desc if len(desc) <= 60 else desc[:57] + "...",
                ]
            )
        out += _table(
            [
                "CACHE ID",
                "CACHE TYPE",
                "SIZE",
                "CREATED",
                "LAST USED",
                "USAGE",
                "IN USE",
                "SHARED",
                "DESCRIPTION",
            ],
            rows,
            {2, 5},
        )

    consumers: list[tuple[int, str, str]] = []
    for lr in report.layers:
        if lr.storage_dir:
            consumers.append((lr.disk_usage, "layer " + short(lr.layer.chain_id), lr.storage_dir))
    for cr in report.containers:
        if cr.rw_dir:
            consumers.append((cr.disk_usage, f"container {cr.container.name}", cr.rw_dir))
        if cr.log_disk:
            consumers.append((cr.log_disk, f"logs of {cr.container.name}", cr.container.dir))
    for vr in report.volumes:
        consumers.append((vr.disk_usage, f"volume {vr.volume.name}", vr.volume.path))
    consumers.sort(key=lambda x: (-x[0], x[2]))
    if report.measured and consumers:
        out.append("")
        out.append(f"Largest consumers (top {min(top, len(consumers))}, on disk)")
        rows = [[size(b), clean(what), clean(path)] for b, what, path in consumers[:top]]
        out += _table(["ON DISK", "WHAT", "PATH"], rows, {0})

    out.append("")
    if not report.findings:
        out.append("Findings: none")
    else:
        total = f"{size(t.reclaimable)} reclaimable"
        unsized = sum(1 for f in report.findings if f.reclaimable and not f.bytes_known)
        if unsized:
            total = f"at least {total}: {unsized} of unknown size"
        out.append(f"Findings ({len(report.findings)}, {total}), largest first")
        for f in report.findings:
            conf = "" if f.confidence == "certain" else f", {f.confidence}"
            amount = size(f.bytes) if f.bytes_known else "size unknown"
            out.append(f"- [{f.severity.value}{conf}] {f.kind.value}: {amount}  {clean(f.path)}")
            out.append(f"    {clean(f.detail)}")
            out.append(f"    remedy: {clean(f.remedy)}")
    return "\n".join(out) + "\n"
