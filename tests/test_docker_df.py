"""The report's "Docker's view" is `docker system df`, cell for cell, on a real dockerd.

The session root holds BuildKit cache, a running, two exited and a created container, used and
unused volumes, dangling and intermediate images, and a layer only BuildKit's cache holds (its
image removed). Two oracles, both from the private daemon:

- the Debian 20.10 CLI's own output, ``docker system df --format '{{json .}}'`` (one row per
  type): every face (JSON ``docker_df`` formatted, the text report, the TUI overview, ``audit
  -v``) prints exactly its TOTAL, ACTIVE, SIZE and RECLAIMABLE strings;
- the Engine API's ``/system/df``, with the CLI's formulas (docker/cli v20.10.24,
  ``cli/command/formatter/disk_usage.go`` and ``cli/command/system/df.go``): the JSON's bytes
  are these, exactly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console

from inspector import pipeline
from inspector.analysis import dockerdf
from inspector.analysis.results import Report
from inspector.analysis.sizes import storage_path
from inspector.cli import main
from inspector.report import json_report
from inspector.report import text as text_report
from inspector.tui.rows import Index, layer_users
from inspector.tui.widgets.overview import docker_view

pytestmark = pytest.mark.dockerd

TYPES = {"images": "Images", "containers": "Containers", "volumes": "Local Volumes",
         "build_cache": "Build Cache"}  # fmt: skip


def cli_rows(dockerd: Any) -> dict[str, dict[str, str]]:
    """`docker system df --format '{{json .}}'`: TYPE → the CLI's cells."""
    out = dockerd.cli("system", "df", "--format", "{{json .}}")
    rows = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    return {r["Type"]: r for r in rows}


def _active(c: dict[str, Any]) -> bool:
    return any(s in c["State"] for s in ("running", "paused", "restarting"))


def api_cells(df: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The 20.10 CLI's numbers from /system/df (written from its source, independently)."""
    images = df.get("Images") or []
    layers = df["LayersSize"]
    used = sum(
        i["Size"] - i["SharedSize"]
        for i in images
        if i["Containers"] != 0 and i["Size"] != -1 and i["SharedSize"] != -1
    )
    conts = df.get("Containers") or []
    vols = [v for v in df.get("Volumes") or [] if v["UsageData"]["Size"] != -1]
    cache = df.get("BuildCache") or []
    bsz = sum(b["Size"] for b in cache if not b["Shared"])
    return {
        "images": {
            "total": len(images),
            "active": sum(1 for i in images if i["Containers"] > 0),
            "size": layers,
            "reclaimable": layers - used,
        },
        "containers": {
            "total": len(conts),
            "active": sum(1 for c in conts if _active(c)),
            "size": sum(c.get("SizeRw", 0) for c in conts),
            "reclaimable": sum(c.get("SizeRw", 0) for c in conts if not _active(c)),
        },
        "volumes": {
            "total": len(df.get("Volumes") or []),
            "active": sum(1 for v in df.get("Volumes") or [] if v["UsageData"]["RefCount"] > 0),
            "size": sum(v["UsageData"]["Size"] for v in vols),
            "reclaimable": sum(
                v["UsageData"]["Size"] for v in vols if not v["UsageData"]["RefCount"]
            ),
        },
        "build_cache": {
            "total": len(cache),
            "active": sum(1 for b in cache if b["InUse"]),
            "size": bsz,
            "reclaimable": bsz - sum(b["Size"] for b in cache if b["InUse"] and not b["Shared"]),
        },
    }


def cli_cells(row: dict[str, str]) -> list[str]:
    return [row["TotalCount"], row["Active"], row["Size"], row["Reclaimable"]]


@pytest.fixture(scope="module")
def live(dockerd: Any, scenario: dict[str, Any]) -> dict[str, Any]:
    """The CLI's table, the API's /system/df and the offline report, taken together."""
    cli = cli_rows(dockerd)
    df = dockerd.api.df()
    report = pipeline.run(str(dockerd.data_root))
    assert cli_rows(dockerd) == cli, "the daemon changed while the report was made"
    return {"cli": cli, "df": df, "report": report}


def test_scenario_has_what_df_is_about(live: dict[str, Any]) -> None:
    """Guard: every row has something to count, active and not."""
    df = live["df"]
    assert df["BuildCache"] and any(not b["Shared"] for b in df["BuildCache"])
    states = {c["State"] for c in df["Containers"]}
    assert {"running", "exited", "created"} <= states
    assert any(v["UsageData"]["RefCount"] == 0 for v in df["Volumes"])
    assert any(i["Containers"] == 0 for i in df["Images"])
    cells = api_cells(df)
    assert all(cells[k]["reclaimable"] > 0 for k in ("images", "containers", "volumes"))


def test_json_docker_df_is_the_cli_computation_in_bytes(live: dict[str, Any]) -> None:
    doc = json_report.to_dict(live["report"])
    jsonschema.validate(doc, json_report.schema())
    assert doc["docker_df"] == api_cells(live["df"])


def test_cells_are_the_cli_strings(live: dict[str, Any]) -> None:
    df = dockerdf.docker_df(live["report"])
    got = {typ: list(dockerdf.cells(row)) for _, typ, row in df.rows()}
    assert got == {typ: cli_cells(row) for typ, row in live["cli"].items()}


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(title))
    end = lines.index("", start)
    return lines[start + 2 : end]  # after the title and the header


def test_text_report_shows_the_cli_table(live: dict[str, Any]) -> None:
    text = text_report.render(live["report"])
    rows = {}
    for ln in _section(text, "Docker's view"):
        typ, *cells = re.split(r"\s{2,}", ln.strip())
        rows[typ] = cells
    for typ, row in live["cli"].items():
        assert rows[typ] == cli_cells(row), typ
    assert "Logs (not in docker system df)" in rows


def test_tui_overview_shows_the_cli_table(live: dict[str, Any]) -> None:
    console = Console(width=140, record=True, color_system=None)
    console.print(docker_view(live["report"]))
    shown = [" ".join(ln.split()) for ln in console.export_text().splitlines()]
    for typ, row in live["cli"].items():
        assert " ".join([typ, *cli_cells(row)]) in shown, (typ, shown)


def test_audit_verbose_shows_the_cli_table(
    dockerd: Any, live: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["audit", "--root", str(dockerd.data_root), "--verbose"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert cli_rows(dockerd) == live["cli"]
    for typ, row in live["cli"].items():
        total, active, size, reclaim = cli_cells(row)
        want = (
            f"docker system df: {typ}: total {total}, active {active}, size {size}, "
            f"reclaimable {reclaim}"
        )
        assert want in out.splitlines(), (want, out)
    bc = live["cli"]["Build Cache"]["Size"]
    assert f"({bc})" in next(ln for ln in out.splitlines() if "max_build_cache" in ln)


def test_layer_held_only_by_buildkit_is_build_cache(
    live: dict[str, Any], scenario: dict[str, Any]
) -> None:
    report: Report = live["report"]
    chain = scenario["buildkit_only_layers"]["bkgone:1"]
    rows = {r.layer.chain_id: r for r in report.layers}
    row = rows[chain]
    assert row.buildkit_only and not row.images and not row.containers
    assert layer_users(Index(report), row) == "BuildKit"
    assert all(not r.buildkit_only for r in report.layers if r.images or r.containers)
    # The categories: image_layers holds exactly the dirs of layers images or containers use.
    meas = report.measurements
    assert meas is not None
    inv = report.inventory
    cats = {c.name: c for c in report.totals.categories}
    held = {r.layer.cache_id for r in report.layers if r.images or r.containers}
    want = sum(meas.of(storage_path(inv, cid)).apparent for cid in held)
    assert cats["image_layers"].apparent == want
    own = meas.of(storage_path(inv, row.layer.cache_id))
    assert own.apparent > 30000  # the 30,000 zero bytes of its RUN
    assert cats["build_cache"].apparent >= own.apparent
    doc = json_report.to_dict(report)
    assert [la["chain_id"] for la in doc["layers"] if la["buildkit_only"]] == sorted(
        r.layer.chain_id for r in report.layers if r.buildkit_only
    )
