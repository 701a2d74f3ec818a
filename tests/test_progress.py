"""The progress bar: on stderr when it is a terminal (a real pty here), silent otherwise,
never on stdout; with the rate and the ETA."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

from inspector.report.progress import ProgressBar

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "root"
ARGS = ["-m", "inspector", "report", "--root", str(SAMPLE), "--full", "--no-cache"]


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(XDG_CACHE_HOME=str(tmp / "cache"), PYTHONPATH=str(REPO), TERM="xterm")
    return env


def _run_on_pty(tmp: Path) -> tuple[bytes, bytes, int]:
    """Run the CLI with stderr on a pty and stdout on a pipe: (stdout, what the pty got, rc)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, *ARGS],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=_env(tmp),
        cwd=REPO,
    )
    os.close(slave)
    assert proc.stdout is not None
    out = bytearray()
    err = bytearray()
    fds = {proc.stdout.fileno(): out, master: err}
    while fds:
        ready, _, _ = select.select(list(fds), [], [], 60)
        assert ready, "the CLI hung"
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the pty's other end is closed
                chunk = b""
            if chunk:
                fds[fd].extend(chunk)
            else:
                del fds[fd]
    os.close(master)
    return bytes(out), bytes(err), proc.wait(timeout=60)


def test_bar_on_a_terminal_with_rate_and_eta(tmp_path: Path) -> None:
    out, err, rc = _run_on_pty(tmp_path)
    assert rc == 0
    text = err.decode()
    states = [s for s in text.split("\r\x1b[K") if s]
    measuring = [s for s in states if s.startswith("measuring [")]
    assert measuring, text
    last = measuring[-1]
    assert re.search(r"100% (\d+)/\1 dirs  [\d,]+ dirs/s  ETA 0:00$", last), last
    assert text.endswith("\r\x1b[K"), "the bar is wiped at the end"
    # stdout carries the report only, the same as without a terminal.
    plain = subprocess.run(
        [sys.executable, *ARGS], capture_output=True, env=_env(tmp_path), cwd=REPO, check=True
    )
    assert out == plain.stdout
    assert b"\x1b" not in out and b"measuring" not in out


def test_silent_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, *ARGS], capture_output=True, env=_env(tmp_path), cwd=REPO, check=True
    )
    assert res.stderr == b""
    assert b"measuring" not in res.stdout and b"\x1b" not in res.stdout


def test_rate_and_eta_arithmetic() -> None:
    bar = ProgressBar(io.StringIO(), width=100)
    first = bar.line("measuring", 10, 110, now=100.0)
    assert "- dirs/s  ETA -:--" in first and "9%" in first
    # 50 dirs in 2 s: 25 dirs/s; 50 left: 2 s.
    line = bar.line("measuring", 60, 110, now=102.0)
    assert line.endswith(" 54% 60/110 dirs  25 dirs/s  ETA 0:02"), line
    slow = bar.line("measuring", 61, 110, now=3702.0)
    assert slow.endswith("0.014 dirs/s  ETA 57:41"), slow  # 51 dirs in 3,602 s; 49 left
    assert bar.line("measuring", 61, 110, now=300_000.0).endswith("ETA 80:02:19")
    assert len(line) <= 99
