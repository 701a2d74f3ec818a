"""Table data for every view, built from a Report: pure functions, no widgets.

Each builder returns a :class:`TableData`: column specs plus rows whose cells are
:class:`inspector.tui.safe.Inert` text, with a sort value per column and a
lower-cased search text. Rows are returned in a deterministic order (sorted by their key);
the widget sorts them for display.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from inspector.analysis.efficiency import ImageEfficiency
from inspector.analysis.results import (
    ContainerRow,
    Finding,
    ImageRow,
    LayerRow,
    Report,
    Severity,
    VolumeRow,
)
from inspector.measure.browse import Entry as BrowseEntry
from inspector.model import BuildCacheRecord, Skipped
from inspector.report.text import short_cache_id
from inspector.textsafe import clean
from inspector.tui.safe import Inert, clip, line, rel, short, size, stamp, t

SortValue = int | str


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its key, header label, and whether it holds numbers (right-aligned)."""

    key: str
    label: str
    numeric: bool = False
    width: int | None = None
    """Text longer than this is cut with an ellipsis (None: no limit)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One row: a unique key, the cells, a sort value per cell, its search text, its object.

    The cells' Inert text is built on first use (:attr:`cells`): a table draws only the rows
    in view, and sorting, filtering and column widths need only :attr:`texts`. On a
    5,000-layer host building all 30,000 cells up front was half of the Layers tab's time.
    """

    key: str
    texts: tuple[str, ...]
    """Each cell's text as shown (escaped, cut to its column's width)."""
    values: tuple[SortValue, ...]
    haystack: str
    item: object = None
    """What the row shows (an ImageRow, a Finding, an ImageLayer, …): messages carry it, so
    nobody parses a key back into the thing it names."""
    given: tuple[str | Inert, ...] = field(default=(), repr=False, compare=False)
    """The cells as given to :func:`make_row`, turned into :attr:`cells` when first asked."""
    columns: tuple[Column, ...] = field(default=(), repr=False, compare=False)
    _cells: tuple[Inert, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def cells(self) -> tuple[Inert, ...]:
        """The cells as Inert text (strings escaped and cut, numbers right-aligned)."""
        cells = self._cells
        if cells is None:
            cells = tuple(_cell(s, c) for s, c in zip(self.given, self.columns, strict=True))
            object.__setattr__(self, "_cells", cells)  # a cache: the row stays immutable
        return cells

    def matches(self, needle: str) -> bool:
        """Case-insensitive substring match on every cell and the full IDs."""
        return needle.lower() in self.haystack


def _cell(shown: str | Inert, col: Column) -> Inert:
    text = shown if isinstance(shown, Inert) else t(shown, width=col.width)
    if col.numeric:
        text.justify = "right"
    return text


@dataclass(frozen=True, slots=True)
class TableData:
    """What a ReportTable shows."""

    name: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    sort_column: int = 0
    """Column sorted by at first."""
    sort_reverse: bool = False


@dataclass(frozen=True, slots=True)
class EfficiencyView:
    """dive's numbers per image as far as the app's efficiency worker got (a snapshot)."""

    results: Mapping[str, ImageEfficiency | Skipped] = field(default_factory=dict)
    """Image ID → its numbers, or why they could not be computed."""
    running: bool = False
    done: int = 0
    total: int = 0
    error: str | None = None
    """Why the worker stopped (None: it did not fail)."""

    def of(self, iid: str) -> ImageEfficiency | Skipped | None:
        """The result for one image (None: not computed yet, or not at all)."""
        return self.results.get(iid)


Cell = tuple[str | Inert, SortValue]
"""A cell's display (a str, escaped and cut here; or ready Inert text) and its sort value."""

SEVERITY_STYLE = {
    Severity.ERROR: "bold red",
    Severity.WARNING: "yellow",
    Severity.INFO: "cyan",
}
SEVERITY_RANK = {Severity.ERROR: 2, Severity.WARNING: 1, Severity.INFO: 0}


def make_row(
    key: str, columns: Sequence[Column], cells: Sequence[Cell], extra: str = "", item: object = None
) -> Row:
    """Build a Row: escape and clip the display strings, collect the search text.

    A string cell's text is ``clip(clean(s), width)``, what ``t(s, width=width).plain``
    holds (tests/test_tui_lazy.py): its Inert text is built only when drawn.
    """
    given: list[str | Inert] = []
    texts: list[str] = []
    values: list[SortValue] = []
    for col, (shown, value) in zip(columns, cells, strict=True):
        given.append(shown)
        texts.append(shown.plain if isinstance(shown, Inert) else clip(clean(shown), col.width))
        values.append(value)
    haystack = "\n".join([clean(key), clean(extra), *texts]).lower()
    return Row(key, tuple(texts), tuple(values), haystack, item, tuple(given), tuple(columns))


class Index:
    """Lookups by ID over one Report, and short human names for objects."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.root = report.inventory.root.path
        self.images: dict[str, ImageRow] = {r.image.id: r for r in report.images}
        self.layers: dict[str, LayerRow] = {r.layer.chain_id: r for r in report.layers}
        self.containers: dict[str, ContainerRow] = {r.container.id: r for r in report.containers}
        self.volumes: dict[str, VolumeRow] = {r.volume.name: r for r in report.volumes}
        self.build_cache: dict[str, BuildCacheRecord] = {
            r.id: r for r in report.inventory.buildkit.records
        }
        self.findings: dict[str, Finding] = {
            finding_key(i): f for i, f in enumerate(report.findings)
        }
        self.efficiency: EfficiencyView | None = None
        """dive's numbers as far as computed (None: not computed in this app)."""

    def image_name(self, iid: str) -> str:
        """First tag, else `<none>@<short id>` (raw: escape before display)."""
        row = self.images.get(iid)
        if row is not None and row.image.tags:
            return row.image.tags[0]
        return f"<none>@{short(iid)}"

    def image_names(self, ids: Iterable[str]) -> list[str]:
        """Names of images, tagged ones first, each group A to Z."""
        return sorted((self.image_name(i) for i in ids), key=lambda n: (n.startswith("<"), n))

    def container_name(self, cid: str) -> str:
        """The container's name, else its short ID (raw: escape before display)."""
        row = self.containers.get(cid)
        return row.container.name if row is not None and row.container.name else short(cid)

    def rel(self, path: str | None) -> str:
        """A path relative to the data root."""
        return rel(path, self.root)


def finding_key(i: int) -> str:
    """Row key of the i-th finding (keeps the report's order as a tie-breaker)."""
    return f"finding-{i:05d}"


def _tags(row: ImageRow) -> str:
    if row.image.tags:
        return ", ".join(row.image.tags)
    if row.intermediate:
        return "<none> (intermediate)"
    return "<none> (dangling)" if row.dangling else "<none>"


IMAGE_COLUMNS = (
    Column("tags", "REPOSITORY:TAG", width=32),
    Column("id", "IMAGE ID"),
    Column("created", "CREATED"),
    Column("size", "SIZE", numeric=True),
    Column("shared", "SHARED", numeric=True),
    Column("unique", "UNIQUE", numeric=True),
    Column("containers", "CTRS", numeric=True),
    Column("wasted", "WASTED", numeric=True),
    Column("efficiency", "EFFICIENCY", numeric=True),
)
"""`docker system df -v`'s image columns (the created day only; a dangling image says so in
its tags), then dive's wasted bytes and efficiency score, filled as they are computed."""

#: Sort values of efficiency cells without numbers (below every number).
_PENDING, _NONE = -1, -2


def percent(score: float) -> str:
    """dive's efficiency as a percentage, cut (not rounded) to 2 decimals: 100 % is exact."""
    if score >= 1:
        return "100 %"
    return f"{math.floor(score * 10_000) / 100:.2f} %"


def efficiency_cells(ix: Index, iid: str) -> tuple[Cell, Cell]:
    """The WASTED and EFFICIENCY cells of an image: numbers, … while computing, n/a, -."""
    view = ix.efficiency
    got = view.of(iid) if view is not None else None
    if isinstance(got, ImageEfficiency):
        score = got.efficiency_score
        return (size(got.wasted_bytes), got.wasted_bytes), (percent(score), round(score * 1e6))
    if isinstance(got, Skipped):
        return (t("n/a", "dim"), _NONE), (t("n/a", "dim"), _NONE)
    if view is not None and view.running:
        return (t("…", "dim"), _PENDING), (t("…", "dim"), _PENDING)
    return ("-", _NONE), ("-", _NONE)


def images_table(ix: Index) -> TableData:
    """Images view: like `docker system df -v` (intermediate images too: the view hides them
    unless asked, as `docker images` does), with dive's numbers."""
    rows = []
    for r in sorted(ix.report.images, key=lambda r: r.image.id):
        tags = _tags(r)
        wasted, score = efficiency_cells(ix, r.image.id)
        rows.append(
            make_row(
                r.image.id,
                IMAGE_COLUMNS,
                [
                    (tags, tags.lower()),
                    (short(r.image.id), r.image.id),
                    (stamp(r.image.created), r.image.created or ""),
                    (size(r.size), r.size),
                    (size(r.shared_size), r.shared_size),
                    (size(r.unique_size), r.unique_size),
                    (str(len(r.containers)), len(r.containers)),
                    wasted,
                    score,
                ],
                " ".join(r.image.digests),
                item=r,
            )
        )
    return TableData("images", IMAGE_COLUMNS, tuple(rows), sort_column=3, sort_reverse=True)


LAYER_COLUMNS = (
    Column("chain", "CHAIN ID"),
    Column("diff_dir", "DIFF DIR", width=30),
    Column("link", "LINK"),
    Column("size", "SIZE", numeric=True),
    Column("disk", "ON DISK", numeric=True),
    Column("users", "USED BY", width=28),
)


def layer_users(ix: Index, row: LayerRow) -> str:
    """`n img, m ctr` for a layer; `BuildKit` for one only BuildKit's cache holds."""
    if row.buildkit_only:
        return "BuildKit"
    parts = [f"{len(row.images)} img"]
    if row.containers:
        parts.append(f"{len(row.containers)} ctr")
    return ", ".join(parts)


#: The containerd image store's layers are snapshots: their ``fs`` dir and snapshot ID.
SNAPSHOT_COLUMNS = (
    Column("chain", "CHAIN ID"),
    Column("diff_dir", "FS DIR", width=30),
    Column("link", "SNAPSHOT"),
    Column("size", "USAGE", numeric=True),
    Column("disk", "ON DISK", numeric=True),
    Column("users", "USED BY", width=28),
)


def layers_table(ix: Index) -> TableData:
    """Layers view: every layerdb layer with its storage dir (containerd: every snapshot of an
    image layer, with its ``fs`` dir and snapshot ID)."""
    ctrd = ix.report.inventory.containerd is not None
    columns = SNAPSHOT_COLUMNS if ctrd else LAYER_COLUMNS
    rows = []
    for r in sorted(ix.report.layers, key=lambda r: r.layer.chain_id):
        link = r.layer.cache_id if ctrd else (r.link or "")
        diff = ix.rel(r.diff_dir) if r.diff_dir else ""
        shown: str | Inert = diff
        if not r.dir_exists:
            shown = t(f"{diff} (missing)" if diff else "(missing)", "red", width=30)
        users = len(r.images) + len(r.containers)
        rows.append(
            make_row(
                r.layer.chain_id,
                columns,
                [
                    (short(r.layer.chain_id), r.layer.chain_id),
                    (shown, diff),
                    (link, link),
                    (size(r.size), r.size),
                    (size(r.disk_usage), r.disk_usage),
                    (layer_users(ix, r), users),
                ],
                " ".join(
                    [r.layer.diff_id, r.layer.cache_id]
                    + [ix.image_name(i) for i in r.images]
                    + [ix.container_name(c) for c in r.containers]
                ),
                item=r,
            )
        )
    return TableData("layers", columns, tuple(rows), sort_column=3, sort_reverse=True)


CONTAINER_COLUMNS = (
    Column("name", "NAME", width=24),
    Column("id", "CONTAINER ID"),
    Column("state", "STATE"),
    Column("image", "IMAGE", width=24),
    Column("size_rw", "SIZE RW", numeric=True),
    Column("logs", "LOGS", numeric=True),
    Column("volumes", "VOLUMES", width=24),
)

STATE_STYLE = {"running": "green", "paused": "yellow", "restarting": "yellow", "dead": "red"}


def containers_table(ix: Index) -> TableData:
    """Containers view: writable layer and log sizes."""
    rows = []
    for r in sorted(ix.report.containers, key=lambda r: r.container.id):
        c = r.container
        image = c.image_ref or ix.image_name(c.image_id)
        if not r.image_present:
            image = f"{image} (missing)"
        vols = ", ".join(r.volumes)
        rows.append(
            make_row(
                c.id,
                CONTAINER_COLUMNS,
                [
                    (c.name, c.name.lower()),
                    (short(c.id), c.id),
                    (t(c.state, STATE_STYLE.get(c.state, "")), c.state),
                    (image, image.lower()),
                    (size(r.size_rw), r.size_rw if r.size_rw is not None else -1),
                    (size(r.log_size), r.log_size),
                    (vols, vols.lower()),
                ],
                c.image_id,
                item=r,
            )
        )
    return TableData("containers", CONTAINER_COLUMNS, tuple(rows), sort_column=4, sort_reverse=True)


VOLUME_COLUMNS = (
    Column("name", "VOLUME NAME", width=30),
    Column("anonymous", "ANON"),
    Column("driver", "DRIVER", width=12),
    Column("size", "SIZE", numeric=True),
    Column("links", "LINKS", numeric=True),
    Column("containers", "CONTAINERS", width=30),
)


def volumes_table(ix: Index) -> TableData:
    """Volumes view: size and who mounts each volume."""
    rows = []
    for r in sorted(ix.report.volumes, key=lambda r: r.volume.name):
        v = r.volume
        users = ", ".join(ix.container_name(c) for c in r.containers)
        rows.append(
            make_row(
                v.name,
                VOLUME_COLUMNS,
                [
                    (v.name, v.name.lower()),
                    ("yes" if v.anonymous else "", int(v.anonymous)),
                    (v.driver, v.driver),
                    (size(r.size), r.size if r.size is not None else -1),
                    (str(r.links), r.links),
                    (users, users.lower()),
                ],
                item=r,
            )
        )
    return TableData("volumes", VOLUME_COLUMNS, tuple(rows), sort_column=3, sort_reverse=True)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

BUILD_CACHE_COLUMNS = (
    Column("id", "CACHE ID"),
    Column("type", "CACHE TYPE", width=16),
    Column("size", "SIZE", numeric=True),
    Column("shared", "SHARED"),
    Column("usage", "USAGE", numeric=True),
    Column("last_used", "LAST USED"),
    Column("description", "DESCRIPTION", width=60),
)
"""`docker system df -v`'s columns, narrowed so the description shows at 120 columns: the
creation time is in the detail pane, and a record in use gets the CLI's ``*`` after its ID
(its IN USE column is false offline anyway)."""


def instant(when: str | None) -> int:
    """An RFC 3339 time as microseconds since the epoch, for sorting (-1: none or invalid).

    The strings cannot be sorted as text: Go-style fractions drop trailing zeros, so
    ``…:52.8Z`` would sort after ``…:52.82Z``.
    """
    if not when:
        return -1
    try:
        moment = datetime.fromisoformat(when)
    except ValueError:
        return -1
    if moment.tzinfo is None:
        return -1
    return (moment - _EPOCH) // timedelta(microseconds=1)  # exact: no float on the way


def build_cache_table(ix: Index) -> TableData:
    """Build cache view: the records `docker system df -v` lists, largest first."""
    rows = []
    for r in sorted(ix.report.inventory.buildkit.records, key=lambda r: r.id):
        rows.append(
            make_row(
                r.id,
                BUILD_CACHE_COLUMNS,
                [
                    (short_cache_id(r.id) + ("*" if r.in_use else ""), r.id),
                    (r.record_type, r.record_type),
                    (size(r.size), r.size if r.size is not None else -1),
                    ("yes" if r.shared else "", int(r.shared)),
                    (str(r.usage_count), r.usage_count),
                    (stamp(r.last_used), instant(r.last_used)),
                    (r.description, r.description.lower()),
                ],
                " ".join(r.parents),
                item=r,
            )
        )
    return TableData(
        "build cache", BUILD_CACHE_COLUMNS, tuple(rows), sort_column=2, sort_reverse=True
    )


FINDING_COLUMNS = (
    Column("severity", "SEVERITY"),
    Column("kind", "KIND"),
    Column("bytes", "BYTES", numeric=True),
    Column("path", "PATH", width=60),
)


def finding_cells(ix: Index, f: Finding) -> list[Cell]:
    """Cells of one finding row."""
    sev = f.severity.value + ("" if f.confidence == "certain" else f" ({f.confidence})")
    return [
        (t(sev, SEVERITY_STYLE.get(f.severity, "")), SEVERITY_RANK.get(f.severity, 0)),
        (f.kind.value, f.kind.value),
        (size(f.bytes if f.bytes_known else None), f.bytes),
        (ix.rel(f.path), f.path),
    ]


def findings_table(ix: Index) -> TableData:
    """Findings view: severity, kind, bytes and the path, largest first."""
    rows = [
        make_row(
            finding_key(i), FINDING_COLUMNS, finding_cells(ix, f), f.detail + " " + f.remedy, f
        )
        for i, f in enumerate(ix.report.findings)
    ]
    return TableData("findings", FINDING_COLUMNS, tuple(rows), sort_column=2, sort_reverse=True)


IMAGE_LAYER_COLUMNS = (
    Column("n", "#", numeric=True),
    Column("diff", "DIFF ID"),
    Column("chain", "CHAIN ID"),
    Column("diff_dir", "DIFF DIR", width=18),
    Column("size", "SIZE", numeric=True),
    Column("created_by", "CREATED BY", width=32),
    Column("shared", "SHARED WITH", width=20),
)


def history_for_layers(row: ImageRow) -> list[str | None]:
    """The `created_by` of each layer: history entries that made a layer, in order.

    An entry without `created_by` (e.g. `docker import`) gives its comment instead.
    """
    made = [h.created_by or h.comment for h in row.image.history if not h.empty_layer]
    out: list[str | None] = list(made[: len(row.chain)])
    out += [None] * (len(row.chain) - len(out))
    return out


def shared_with(ix: Index, iid: str, chain_id: str) -> list[str]:
    """Other images (by name) and containers (ctr:name) that use a layer."""
    lr = ix.layers.get(chain_id)
    if lr is None:
        return []
    # Tagged images first, then untagged ones (<none>@id), then containers.
    images = ix.image_names(i for i in lr.images if i != iid)
    ctrs = sorted("ctr:" + ix.container_name(c) for c in lr.containers)
    return images + ctrs


@dataclass(frozen=True, slots=True)
class ImageLayer:
    """The n-th layer (0 = base) of an image: what a row of the image's layer table shows."""

    n: int
    chain_id: str


def image_layers_table(ix: Index, iid: str) -> TableData:
    """An image's layers, base first, with the history line that created each."""
    row = ix.images[iid]
    created = history_for_layers(row)
    rows = []
    for n, (chain_id, diff_id) in enumerate(zip(row.chain, row.image.diff_ids, strict=False)):
        lr = ix.layers.get(chain_id)
        if lr is None:
            diff_dir: str | Inert = t("(missing layer)", "red")
            dd_sort = ""
            lsize = -1
        else:
            dd_sort = ix.rel(lr.diff_dir)
            diff_dir = dd_sort
            lsize = lr.size
        others = shared_with(ix, iid, chain_id)
        line = created[n] or ""
        rows.append(
            make_row(
                f"{n:04d}:{chain_id}",
                IMAGE_LAYER_COLUMNS,
                [
                    (str(n + 1), n),
                    (short(diff_id), diff_id),
                    (short(chain_id), chain_id),
                    (diff_dir, dd_sort),
                    (size(lsize) if lsize >= 0 else "-", lsize),
                    (line, line.lower()),
                    (", ".join(others), len(others)),
                ],
                " ".join([diff_id, chain_id, line, *others]),
                item=ImageLayer(n, chain_id),
            )
        )
    return TableData("image layers", IMAGE_LAYER_COLUMNS, tuple(rows), sort_column=0)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A report with its index; each tab's table data is built when the tab is first shown.

    On a 5,000-layer host building every table up front (and filling every widget) kept the
    first screen waiting for seconds; the Overview needs none of them.
    """

    index: Index
    tables: dict[str, TableData] = field(default_factory=dict)
    """Tables built so far, by tab name."""

    @property
    def report(self) -> Report:
        return self.index.report

    def table(self, name: str) -> TableData:
        """The table data of tab `name`, built on first use."""
        data = self.tables.get(name)
        if data is None:
            data = self.tables[name] = BUILDERS[name](self.index)
        return data


#: Tab name → builder of its table.
BUILDERS = {
    "images": images_table,
    "layers": layers_table,
    "containers": containers_table,
    "volumes": volumes_table,
    "findings": findings_table,
    "buildcache": build_cache_table,
}


def prepare(report: Report) -> Prepared:
    """Everything the main screen needs to show a report at once (tables come on demand)."""
    return Prepared(Index(report))


# --------------------------------------------------------------------------- file browser

MARK_STYLE = {"A": "bold green", "M": "bold yellow", "D": "bold red", "O": "bold magenta"}
MARK_MEANING = {
    "A": "added by this layer",
    "M": "modified: a layer below held this path",
    "D": "removed: a whiteout deletes this path of the layers below",
    "O": "opaque dir: hides what the layers below held in it",
}
SHARE_WIDTH = 10


def _browse_columns(has_disk: bool, marks: bool) -> tuple[Column, ...]:
    cols = [Column("mark", "CHG")] if marks else []
    cols.append(Column("size", "SIZE", numeric=True))
    if has_disk:
        cols.append(Column("disk", "ON DISK", numeric=True))
    cols += [
        Column("share", "SHARE"),
        Column("items", "ITEMS", numeric=True),
        Column("name", "NAME", width=60),
    ]
    return tuple(cols)


def share_bar(value: int, total: int) -> Inert:
    """`value`'s share of `total`: a percentage and a bar, like ncdu's."""
    pct = value * 100 / total if total > 0 else 0.0
    filled = min(SHARE_WIDTH, round(SHARE_WIDTH * pct / 100))
    if value > 0:
        filled = max(filled, 1)
    return line(f"{pct:5.1f} % ", ("█" * filled, "green"), ("░" * (SHARE_WIDTH - filled), "grey35"))


def _entry_name(e: BrowseEntry) -> Inert:
    if e.kind in ("more", "pending"):
        return t(e.name, "dim italic")
    shown = t(e.name + ("/" if e.kind == "d" else ""), "bold" if e.kind == "d" else "", width=60)
    if e.kind == "l":
        shown.append(" →", "dim")
    if e.note and e.kind not in ("h", "w"):
        shown.append(f"  ({e.note})", "dim")
    return shown


def _entry_size(e: BrowseEntry) -> Inert | str:
    if e.kind == "w":
        if e.removed_bytes:
            return t(f"−{size(e.removed_bytes)}", "red")
        return t("-", "dim")
    if e.kind == "pending":
        return ""
    text = size(e.size)
    return t(text + "…", "yellow") if not e.complete else text


def browse_table(
    entries: Sequence[BrowseEntry], total: int, *, has_disk: bool, marks: bool
) -> TableData:
    """One dir of the file browser: its entries, largest first (by the tree's apparent size).

    `total`: the dir's size, for the SHARE column. Whiteout rows show what they remove (in
    red, negative: those bytes stay in the layers below) and sort as 0 bytes.
    """
    columns = _browse_columns(has_disk, marks)
    rows: list[Row] = []
    seen: set[str] = set()
    for e in entries:
        key = "\0" + e.kind if e.node is None else e.name
        while key in seen:  # a tar may name one path twice: keys must stay unique
            key += "\0"
        seen.add(key)
        is_dir = e.kind in ("d", "more")
        cells: list[Cell] = []
        if marks:
            cells.append((t(e.mark, MARK_STYLE.get(e.mark, "")), e.mark))
        cells.append((_entry_size(e), e.size))
        if has_disk:
            cells.append(("" if e.kind == "pending" else size(e.disk), e.disk))
        cells += [
            ("" if e.kind == "pending" else share_bar(e.size, total), e.size),
            (str(e.items) if is_dir else "", e.items if is_dir else -1),
            (_entry_name(e), e.name.lower() if e.node is not None else "\uffff" + e.name),
        ]
        rows.append(make_row(key, columns, cells, e.note, item=e))
    sort = 1 if marks else 0
    return TableData("entries", columns, tuple(rows), sort_column=sort, sort_reverse=True)
