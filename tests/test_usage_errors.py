"""Every usage error is ONE `docker-inspector: error: …` line on stderr, nothing on stdout,
exit 2 (README "Exit codes"), before any work: argparse's own errors (unknown option or
command, a bad choice, a missing value or argument) as much as the tool's (issue 15). --help
and --version are unchanged.

In-process through ``inspector.cli.main`` on the committed sample root (nothing here gets as
far as reading it, except `explain`'s no-match); one run through the real entry point.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from dockerlab import REPO_ROOT

from inspector import pipeline
from inspector.cli import main

SAMPLE = str(REPO_ROOT / "sample_data" / "root")
PREFIX = "docker-inspector: error: "

# (argv, words the one line must contain)
CASES: list[tuple[list[str], list[str]]] = [
    # argparse's errors, each naming the subcommand and its --help
    (["report", "--format", "xml"],
     ["report: argument --format: invalid choice: 'xml'", "docker-inspector report --help"]),
    (["report", "--bogus"],
     ["report: unrecognized arguments: --bogus", "docker-inspector report --help"]),
    (["efficiency", "--root", SAMPLE, "--bogus"],
     ["efficiency: unrecognized arguments: --bogus", "docker-inspector efficiency --help"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'", "docker-inspector --help"]),
    (["explain"], ["explain: the following arguments are required: PATH|ID|NAME"]),
    (["report", "--top"], ["report: argument --top: expected one argument"]),
    (["audit", "--max-orphan-bytes"], ["audit: argument --max-orphan-bytes: expected one"]),
    (["--root"], ["argument --root: expected one argument", "(see: docker-inspector --help)"]),
    (["--bogus"], ["unrecognized arguments: --bogus", "(see: docker-inspector --help)"]),
    # the tool's own, before the work
    (["report", "--root", SAMPLE, "--large-log", "abc"], ["--large-log: invalid size 'abc'"]),
    (["report", "--root", SAMPLE, "--large-rw", "1X"], ["--large-rw: invalid size '1X'"]),
    (["audit", "--root", SAMPLE, "--max-orphan-bytes", "12Q"], ["--max-orphan-bytes", "12Q"]),
    (["report", "--root", SAMPLE, "--top", "0"], ["--top 0", "at least 1"]),
    (["report", "--root", SAMPLE, "--sort", "nope"], ["--sort nope"]),
    (["report", "--root", SAMPLE, "--filter", "bogus"], ["--filter bogus", "KEY=VALUE"]),
    (["report", "--root", SAMPLE, "--filter", "x=y"], ["--filter x=y", "unknown key"]),
    (["report", "--root", SAMPLE, "--full", "--no-sizes"], ["--full", "--no-sizes"]),
    (["report", "--root", SAMPLE, "--format", "json", "--sort", "name"], ["--sort"]),
    (["report", "--root", SAMPLE, "-o", "/nonexistent/dir/r.json"], ["does not exist"]),
    (["report", "--root", SAMPLE, "-o", f"{SAMPLE}/r.json"], ["inside the data root"]),
    (["report", "--root", SAMPLE, "--daemon-config", "/nonexistent"], ["--daemon-config"]),
    (["audit", "--root", SAMPLE, "--config", "/nonexistent.toml"], ["/nonexistent.toml"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "words"), CASES, ids=[" ".join(a).replace(SAMPLE, "SAMPLE") for a, _ in CASES]
)
def test_usage_error_is_one_line_exit_2_before_the_work(
    argv: list[str],
    words: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_scan(*_: object, **__: object) -> object:
        raise AssertionError("the scan ran before the usage error")

    monkeypatch.setattr(pipeline, "run", no_scan)
    rc = main(argv)
    out, err = capsys.readouterr()
    assert (rc, out) == (2, ""), err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), err
    for w in words:
        assert w in lines[0], err


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["explain", "--root", SAMPLE, "no-such-object"], "no-such-object: "),
        (["report", "--root", "/nonexistent"], "/nonexistent: no such directory"),
    ],
    ids=["explain-no-match", "missing-root"],
)
def test_errors_found_reading_are_one_line_exit_2(
    argv: list[str], start: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(argv)
    out, err = capsys.readouterr()
    assert (rc, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith(PREFIX + start), err


def test_a_hostile_argument_is_escaped_in_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["report", "--format", "\x1b]0;owned\x07\x1b[2J"])
    out, err = capsys.readouterr()
    assert (rc, out) == (2, "")
    assert "\x1b" not in err and "\x07" not in err and len(err.splitlines()) == 1, repr(err)


@pytest.mark.parametrize("argv", [["--help"], ["report", "--help"], ["audit", "-h"]])
def test_help_is_still_the_whole_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    assert out.startswith("usage: docker-inspector") and "exit codes:" in out


def test_the_entry_point_exits_2_with_one_line() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "inspector", "report", "--format", "xml"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert (res.returncode, res.stdout) == (2, ""), res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(PREFIX), res.stderr
