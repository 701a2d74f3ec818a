"""The report's ``build_cache`` list equals the Engine API's ``/system/df`` ``BuildCache`` of the
session's private dockerd, record for record, while it runs and after it stopped; and its IDs
are what ``docker system df -v`` (Debian's 20.10 CLI) prints as CACHE ID, cut for display."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import jsonschema
import pytest
from test_docker_truth import offline

from inspector.report import json_report, text
from inspector.report.text import short_cache_id

pytestmark = pytest.mark.dockerd

#: How the report writes times: RFC 3339 in UTC, Go style (fraction without trailing zeros).
REPORT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,5}[1-9])?Z$")
API_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def api_instant(value: str | None) -> datetime | None:
    """An API time (RFC 3339, nanoseconds, any offset) as an aware datetime, cut to the
    microsecond; None for no time (Go's zero time counts as none too)."""
    if not value or value.startswith("0001-01-01"):
        return None
    m = API_TIME.match(value)
    assert m, value
    base, frac, zone = m.groups()
    micro = int((frac or "0").ljust(9, "0")[:6])
    return datetime.fromisoformat(base + zone).replace(microsecond=micro)


def report_instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    assert REPORT_TIME.match(value), value
    return datetime.fromisoformat(value)


def json_build_cache(root: Any) -> list[dict[str, Any]]:
    """The ``build_cache`` list of the JSON report of `root`, as a consumer reads it."""
    doc = json.loads(json_report.render(offline(root)))
    jsonschema.validate(doc, json_report.schema())
    records: list[dict[str, Any]] = doc["build_cache"]
    return records


def assert_build_cache_matches_api(got: list[dict[str, Any]], api: list[dict[str, Any]]) -> None:
    """Same records (full IDs), and per record the same fields, times as instants."""
    assert [r["id"] for r in got] == sorted(r["id"] for r in got), "not sorted by id"
    by_id = {r["id"]: r for r in got}
    assert len(by_id) == len(got)
    want = {b["ID"]: b for b in api}
    assert set(by_id) == set(want)
    for rid, b in want.items():
        r = by_id[rid]
        assert r["type"] == b["Type"], rid
        assert r["size"] == b["Size"], rid
        assert r["shared"] is b["Shared"], rid
        assert r["in_use"] is b["InUse"], rid
        assert r["usage_count"] == b["UsageCount"], rid
        assert r["description"] == b["Description"], rid
        assert report_instant(r["created"]) == api_instant(b["CreatedAt"]), rid
        assert report_instant(r["last_used"]) == api_instant(b.get("LastUsedAt")), rid


def _table_after(lines: list[str], title: str, header: str) -> list[str]:
    """The rows of the table whose title line starts with `title` (up to a blank line)."""
    start = next(i for i, ln in enumerate(lines) if ln.startswith(title))
    head = next(i for i in range(start + 1, len(lines)) if lines[i].strip())
    assert lines[head].startswith(header), lines[head]
    rows = []
    for ln in lines[head + 1 :]:
        if not ln.strip():
            break
        rows.append(ln)
    return rows


@pytest.fixture(scope="session")
def settled_cache(dockerd: Any, scenario: dict[str, Any]) -> dict[str, Any]:
    """``BuildCache`` of ``/system/df`` once it is settled, and ``docker system df -v``.

    The first ``df`` after a build writes to BuildKit's database (it computes the sizes of
    cache mounts and bumps their usage count), so ``df`` is asked until two answers agree;
    the CLI's answer is checked to agree with it as well.
    """

    def records() -> dict[str, dict[str, Any]]:
        # By ID: the daemon lists them in Go map order, which changes from call to call.
        return {b["ID"]: b for b in dockerd.api.df()["BuildCache"] or []}

    previous: dict[str, dict[str, Any]] | None = None
    for _ in range(6):
        current = records()
        if current == previous:
            break
        previous = current
    else:
        pytest.fail("the daemon's build cache did not settle after 6 df calls")
    cli = dockerd.cli("system", "df", "-v")
    assert records() == current, "the build cache changed after the CLI's df"
    return {"api": list(current.values()), "cli": cli}


def test_scenario_build_cache_is_rich_enough(settled_cache: dict[str, Any]) -> None:
    """Guard: wrong fields could not pass the comparisons below unnoticed."""
    api = settled_cache["api"]
    assert len(api) >= 5
    assert any(b["Shared"] for b in api) and any(not b["Shared"] for b in api)
    assert any(b["UsageCount"] > 0 for b in api)
    assert len({b["UsageCount"] for b in api}) >= 2  # a constant would not pass
    assert len({b["Type"] for b in api}) >= 2  # e.g. regular, source.local, exec.cachemount
    assert any(b["Size"] > 0 for b in api) and any(b["Description"] for b in api)
    assert any(api_instant(b.get("LastUsedAt")) for b in api)
    created = [api_instant(b["CreatedAt"]) for b in api]
    assert all(created) and len(set(created)) == len(created)


def test_live_json_build_cache_matches_engine_api(
    dockerd: Any, settled_cache: dict[str, Any]
) -> None:
    assert_build_cache_matches_api(json_build_cache(dockerd.data_root), settled_cache["api"])


def test_cache_ids_are_what_docker_system_df_prints(
    dockerd: Any, settled_cache: dict[str, Any]
) -> None:
    """The CLI's CACHE ID is the report's id cut to 12 characters ('*' if in use); the text
    report's Build cache section lists the same CACHE IDs."""
    got = json_build_cache(dockerd.data_root)
    cli_rows = _table_after(settled_cache["cli"].splitlines(), "Build cache usage:", "CACHE ID")
    cli_ids = sorted(row.split()[0] for row in cli_rows)
    want = sorted(short_cache_id(r["id"]) + ("*" if r["in_use"] else "") for r in got)
    assert cli_ids == want and all(len(i.rstrip("*")) == 12 for i in cli_ids)
    for r in got:
        assert r["id"].startswith(short_cache_id(r["id"]))

    rendered = text.render(offline(dockerd.data_root)).splitlines()
    rows = _table_after(rendered, "Build cache (", "CACHE ID")
    assert sorted(row.split()[0] for row in rows) == cli_ids
    # Least recently used first, like the CLI (when the instants settle the order).
    last_used = [report_instant(r["last_used"]) for r in got]
    if None not in last_used and len(set(last_used)) == len(last_used):
        assert [row.split()[0] for row in rows] == [row.split()[0] for row in cli_rows]


@pytest.mark.after_daemon_stop
def test_stopped_json_build_cache_matches_engine_api(
    dockerd: Any, settled_cache: dict[str, Any]
) -> None:
    """With no daemon holding the root, the records still equal what the API said live."""
    assert not dockerd.running
    assert_build_cache_matches_api(json_build_cache(dockerd.data_root), settled_cache["api"])
