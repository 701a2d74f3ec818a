"""The build cache in the JSON and text reports, offline: on a root holding the real BuildKit
databases of tests/data/bbolt (whose ``/system/df`` answer is recorded beside them), and on
hand-built records with hostile descriptions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_docker_truth import offline

from inspector.analysis import analyze
from inspector.model import (
    BuildCacheRecord,
    BuildKitInfo,
    ImageStore,
    Inventory,
    RootInfo,
)
from inspector.readers.buildkit import to_model
from inspector.report import json_report, text
from inspector.report.text import short_cache_id

BBOLT = Path(__file__).parent / "data" / "bbolt"
EXPECTED: dict[str, Any] = json.loads((BBOLT / "buildkit-expected.json").read_text())
DF: dict[str, dict[str, Any]] = {b["ID"]: b for b in EXPECTED["build_cache"]}

HEADER = (
    "CACHE ID",
    "CACHE TYPE",
    "SIZE",
    "CREATED",
    "LAST USED",
    "USAGE",
    "IN USE",
    "SHARED",
    "DESCRIPTION",
)


def buildkit_root(tmp_path: Path) -> Path:
    """A minimal data root holding the real BuildKit databases of tests/data/bbolt."""
    root = tmp_path / "root"
    for d in ("image/overlay2", "overlay2", "containers", "volumes", "buildkit"):
        (root / d).mkdir(parents=True)
    for name in ("snapshots.db", "metadata_v2.db"):
        (root / "buildkit" / name).write_bytes((BBOLT / name).read_bytes())
    return root


def api_ns(value: str) -> tuple[datetime, int]:
    """An API time (UTC, up to nanoseconds) as (seconds, nanoseconds): exact, for ordering."""
    base, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(base).replace(tzinfo=UTC), int((frac or "0").ljust(9, "0"))


def api_micro(value: str) -> datetime:
    """An API time cut to microseconds: what BuildKit's nanoseconds give in Python."""
    whole, ns = api_ns(value)
    return whole.replace(microsecond=ns // 1000)


def section(rendered: str, title: str) -> list[str]:
    """The lines of the text report's table under the line starting with `title`."""
    lines = rendered.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(title))
    out = []
    for ln in lines[start + 1 :]:
        if not ln.strip():
            break
        out.append(ln)
    return out


def hostile_inventory(*records: BuildCacheRecord) -> Inventory:
    return Inventory(
        root=RootInfo("/r", "overlay2", ImageStore.GRAPHDRIVER, True),
        images={},
        layers={},
        rw_layers={},
        storage_dirs={},
        short_links={},
        containers={},
        volumes={},
        buildkit=BuildKitInfo(present=True, records=records),
    )


def test_model_records_carry_every_df_field(tmp_path: Path) -> None:
    info, _ = to_model(str(buildkit_root(tmp_path)), EXPECTED["image_diff_ids"].values())
    records = {r.id: r for r in info.records}
    assert set(records) == set(DF)
    assert any(b["UsageCount"] > 1 for b in DF.values())  # the fixture tells counts apart
    for rid, b in DF.items():
        r = records[rid]
        assert r.usage_count == b["UsageCount"], rid
        assert r.parents == ((b["Parent"],) if b["Parent"] else ()), rid
        assert r.created is not None and r.created.endswith("Z"), rid
        assert datetime.fromisoformat(r.created) == api_micro(b["CreatedAt"]), rid
        assert r.last_used is not None and r.last_used.endswith("Z"), rid
        assert datetime.fromisoformat(r.last_used) == api_micro(b["LastUsedAt"]), rid


def test_json_build_cache_equals_recorded_df(tmp_path: Path) -> None:
    doc = json.loads(json_report.render(offline(buildkit_root(tmp_path))))
    jsonschema.validate(doc, json_report.schema())
    got = doc["build_cache"]
    assert [r["id"] for r in got] == sorted(DF)  # full IDs, sorted
    for r in got:
        b = DF[r["id"]]
        assert set(r) == {
            "id",
            "type",
            "size",
            "shared",
            "in_use",
            "created",
            "last_used",
            "usage_count",
            "description",
        }
        assert (r["type"], r["size"], r["usage_count"], r["description"]) == (
            b["Type"],
            b["Size"],
            b["UsageCount"],
            b["Description"],
        )
        assert r["in_use"] is False
        assert r["shared"] is False  # no image in this root; SHARED is checked live
        assert datetime.fromisoformat(r["created"]) == api_micro(b["CreatedAt"])
        assert datetime.fromisoformat(r["last_used"]) == api_micro(b["LastUsedAt"])
    # Schema: a wrong type in a record fails validation.
    got[0]["usage_count"] = "3"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json_report.schema())


def test_text_section_lists_records_like_docker_system_df(tmp_path: Path) -> None:
    rendered = text.render(offline(buildkit_root(tmp_path)))
    lines = rendered.splitlines()
    # After the Docker's-view table (this root has no volumes), before the findings.
    title = next(i for i, ln in enumerate(lines) if ln.startswith("Build cache ("))
    assert title < next(i for i, ln in enumerate(lines) if ln.startswith("Findings"))
    assert lines[title].startswith(f"Build cache ({len(DF)} records, ")
    table = section(rendered, "Build cache (")
    assert table[0].split() == " ".join(HEADER).split()
    rows = table[1:]
    assert len(rows) == len(DF)
    # docker/cli's order: least recently used first, then by ID (nanoseconds decide here).
    cli_order = sorted(DF, key=lambda i: (api_ns(DF[i]["LastUsedAt"]), i))
    assert [row.split()[0] for row in rows] == [short_cache_id(i) for i in cli_order]
    for row, rid in zip(rows, cli_order, strict=True):
        b = DF[rid]
        cells = row.split()
        assert cells[1] == b["Type"]
        assert f" {b['UsageCount']}  false   false " in row  # USAGE, IN USE, SHARED
        assert b["CreatedAt"][:19] in row and b["LastUsedAt"][:19] in row
        desc = b["Description"]
        assert (desc if len(desc) <= 60 else desc[:57] + "...").rstrip() in row


def test_text_section_only_when_there_are_records() -> None:
    rendered = text.render(analyze(hostile_inventory()))
    assert "Build cache (" not in rendered and "CACHE ID" not in rendered


ESC = "a\x1b[31mb\nc"
OSC52 = "\x1b]52;c;cHduZWQ=\x1b\\"


def test_hostile_descriptions_are_escaped_in_text_and_json() -> None:
    rid = "k" * 25
    record = BuildCacheRecord(
        rid,
        rid,
        5,
        record_type="regular\x9b2J",
        description=f"{ESC} {OSC52} \u202eevil",
        in_use=True,
        created="2026-01-02T03:04:05Z",
        usage_count=1,
    )
    report = analyze(hostile_inventory(record))
    rendered = text.render(report)
    assert "\x1b" not in rendered and "\x9b" not in rendered and "\u202e" not in rendered
    row = section(rendered, "Build cache (")[1]
    assert row.startswith("kkkkkkkkkkkk*  regular\\x9b2J")  # the CLI's in-use mark
    assert "a\\x1b[31mb\\x0ac \\x1b]52;c;cHduZWQ=" in row
    out = json_report.render(report)
    assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out
    got = json.loads(out)["build_cache"]
    # JSON strings double a backslash of the data (so \xNN always means a raw byte).
    desc = json_report.name_bytes(got[0]["description"])
    assert desc == record.description.encode() and got[0]["in_use"] is True
    assert got[0]["last_used"] is None
