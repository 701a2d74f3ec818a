"""Unknown is not zero, usage errors come before the work, the audit keeps state only when
growth is asked for, a hostile state file is ignored, and names with bytes that are not UTF-8
have one unambiguous spelling in JSON (issue 15).

On copies of the committed sample root (a real dockerd's), in-process through the CLI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from dockerlab import REPO_ROOT, copy_tree
from hypothesis import given
from hypothesis import strategies as st

from inspector import audit, pipeline
from inspector.cli import main
from inspector.report import json_report

SAMPLE = REPO_ROOT / "sample_data" / "root"


def one_error_line(err: str, *words: str) -> None:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("docker-inspector: error: "), err
    for w in words:
        assert w in lines[0], err


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    dst = tmp_path / "root"
    copy_tree(SAMPLE, dst)
    return dst


# ------------------------------------------------------------------ unknown is not zero


def test_no_sizes_text_says_unknown_not_zero(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = cli(capsys, "report", "--root", str(root), "--no-sizes")
    assert rc == 0, err
    cats = out.split("Disk usage by category\n", 1)[1].split("\n\n", 1)[0]
    assert cats == "unknown: no directory was walked (--no-sizes)"
    view = out.split("Docker's view", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = {ln.split("  ")[0]: ln.split() for ln in view[2:]}
    for typ in ("Containers", "Local Volumes"):
        assert rows[typ][-2:] == ["unknown", "unknown"], view
    # Recorded sizes are known without walks: the image row has numbers.
    assert "unknown" not in rows["Images"] and rows["Images"][-1].endswith("%)")
    unused = next(ln for ln in out.splitlines() if "unused_volume" in ln)
    assert "size unknown" in unused and "0 Bytes" not in unused
    assert "1 of unknown size" in next(ln for ln in out.splitlines() if ln.startswith("Findings"))


def test_no_sizes_json_is_null_where_unknown(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = cli(capsys, "report", "--root", str(root), "--no-sizes", "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, json_report.schema())
    df = doc["docker_df"]
    for kind in ("containers", "volumes"):
        assert df[kind]["size"] is None and df[kind]["reclaimable"] is None, df
        assert isinstance(df[kind]["total"], int) and df[kind]["total"] > 0
    assert isinstance(df["images"]["size"], int) and df["images"]["size"] > 0
    t = doc["totals"]
    assert t["containers_size"] is None and t["volumes_size"] is None and t["disk_usage"] is None
    assert all(c["disk_usage"] is None for c in t["categories"].values())
    unused = next(f for f in doc["findings"] if f["kind"] == "unused_volume")
    assert unused["bytes"] is None and unused["disk_usage"] is None
    # Measured, the same fields have numbers.
    rc, out, err = cli(capsys, "report", "--root", str(root), "--format", "json")
    doc = json.loads(out)
    assert doc["docker_df"]["volumes"]["size"] == doc["totals"]["volumes_size"] > 0
    unused = next(f for f in doc["findings"] if f["kind"] == "unused_volume")
    assert unused["bytes"] == 24


# ------------------------------------------------------------------ usage errors, early


@pytest.mark.parametrize(
    ("value", "words"),
    [("-1", ["--top -1", "at least 1"]), ("0", ["--top 0", "at least 1"]), ("x", ["--top x"])],
)
def test_top_is_validated(
    root: Path, capsys: pytest.CaptureFixture[str], value: str, words: list[str]
) -> None:
    rc, out, err = cli(capsys, "report", "--root", str(root), f"--top={value}")
    assert rc == 2 and out == ""
    one_error_line(err, *words)


def test_output_in_missing_dir_fails_before_the_work(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_scan(*_: Any, **__: Any) -> Any:
        raise AssertionError("the scan ran before the usage error")

    monkeypatch.setattr(pipeline, "run", no_scan)
    rc, out, err = cli(capsys, "report", "--root", str(root), "-o", "/nonexistent/dir/r.json")
    assert rc == 2 and out == ""
    one_error_line(err, "/nonexistent/dir", "does not exist")


# ------------------------------------------------------------------ audit state


def test_audit_keeps_no_state_unless_growth_is_asked(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state_home = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state_home))
    rc, out, err = cli(capsys, "audit", "--root", str(root), "--verbose")
    assert rc == 0, err
    assert not state_home.exists(), "a state dir was created without --max-growth"
    assert "growth: skipped" in out
    growth_line = next(ln for ln in out.splitlines() if "max_growth" in ln)
    assert "skipped" in growth_line
    rc, out, err = cli(capsys, "audit", "--root", str(root), "--json")
    doc = json.loads(out)
    assert doc["growth"] is None and doc["growth_tracked"] is False
    # Asked for: the state is kept in the XDG state dir, and growth is tracked.
    rc, out, err = cli(capsys, "audit", "--root", str(root), "--max-growth", "1G", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["growth_tracked"] is True
    key = audit.root_key(str(root))
    assert (state_home / "docker-inspector" / f"{key}.json").is_file()


def test_audit_without_growth_runs_where_no_state_dir_can_be_made(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user without a writable home (here: a home under a regular file) still gets an audit."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker / "state"))
    rc, out, err = cli(capsys, "audit", "--root", str(root), "--max-root-size", "1T")
    assert (rc, out, err) == (0, "", "")
    # With growth asked for, the real reason is the one error line.
    rc, out, err = cli(capsys, "audit", "--root", str(root), "--max-growth", "1G")
    assert rc == 2 and out == ""
    one_error_line(err, "state dir", "not a directory")


@pytest.mark.parametrize(
    "content",
    [b"[" * 200_000, b"{" + b'"a":{' * 100_000, b"\xff\xfe", b'{"version": 1}', b"[]"],
    ids=["nested-lists", "nested-objects", "not-utf8", "missing-keys", "wrong-type"],
)
def test_hostile_state_file_is_ignored_with_a_warning(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    path = state / f"{audit.root_key(str(root))}.json"
    path.write_bytes(content)
    rc, out, err = cli(capsys, "audit", "--root", str(root), "--state-dir", str(state), "--json")
    assert rc == 0, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("docker-inspector: warning: ignoring state"), err
    assert json.loads(out)["growth"] is None
    # The file was replaced by this run's state: the next run has growth again.
    rc, out, err = cli(capsys, "audit", "--root", str(root), "--state-dir", str(state), "--json")
    assert rc == 0 and err == "" and json.loads(out)["growth"] is not None


# ------------------------------------------------------------------ names that are not UTF-8


@given(st.binary(max_size=40))
def test_json_names_decode_to_their_exact_bytes(raw: bytes) -> None:
    text = json_report.dumps(json_report.json_safe({"name": os.fsdecode(raw)}))
    written = json.loads(text)["name"]
    assert json_report.name_bytes(written) == raw


_TRICKY = st.text(
    alphabet=st.sampled_from(
        [
            *["\\", '"', "\n", "\t", "\x1b", "\x7f", "\u0085", "\u202e"],
            *["a", "u", "x", "0", "/", "\udc80", "\udcff", "\ud800", "é", "\U0001d11e"],
        ]
    ),
    max_size=12,
)
_DOCS = st.recursive(
    _TRICKY | st.integers(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TRICKY, inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(_TRICKY, _DOCS, max_size=5))
def test_the_report_escapes_its_text_as_json_safe_does_every_value(doc: dict[str, Any]) -> None:
    # render() rewrites the JSON text instead of every value (a 5,000-layer report's time).
    assert json_report._dumps_safe(doc) == json_report.dumps(json_report.json_safe(doc))


def test_undecodable_name_and_look_alike_differ_in_json(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dirs named with the byte 0xff, with the four characters \\xff, and with both."""
    home = os.fsencode(root / "overlay2")
    raw = [b"v\xff", b"v\\xff", b"v\\\xff"]
    old = 1_700_000_000  # not a live daemon's work in progress
    for name in raw:
        os.makedirs(os.path.join(home, name, b"diff"))
        os.utime(os.path.join(home, name), (old, old))
    rc, out, err = cli(capsys, "report", "--root", str(root), "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    orphans = [f for f in doc["findings"] if f["kind"] == "orphan_dir"]
    names = {json_report.name_bytes(f["object_id"]): f["object_id"] for f in orphans}
    assert set(names) == set(raw)
    assert len(set(names.values())) == 3, names
    assert names[b"v\xff"] == "v\\xff" and names[b"v\\xff"] == "v\\\\xff"
    assert names[b"v\\\xff"] == "v\\\\\\xff"
    paths = {json_report.name_bytes(f["path"]) for f in orphans}
    assert paths == {os.path.join(home, n) for n in raw}
