"""The real `docker-inspector tui` in a real terminal, on a data root that tries to attack it.

A copy of ``sample_data/root`` (made by a real dockerd) gets hostile text where a pulled
image or a container puts it: container labels and mount points, the labels of a newly
"pulled" image, volume labels and driver options. The CLI then runs inside tmux (a private
server: its own socket in a temporary directory, no config); ``script`` records every byte
the app writes to its terminal while ``tmux send-keys`` opens the detail pages. No control
sequence from the data root may appear in those bytes (an OSC 52 in a label key once wrote
to the operator's clipboard), the escaped forms must be readable on screen, and
Rich/Textual markup must stay text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from inspector.readers.volumes_db import read_volume_metadata
from inspector.textsafe import clean

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "root"
TMUX = shutil.which("tmux") or "/usr/bin/tmux"
SCRIPT = shutil.which("script") or "/usr/bin/script"
WIDTH, HEIGHT = 160, 70

# -- what a hostile image or container carries ------------------------------------------

OSC52 = "\x1b]52;c;cHduZWQ=\x1b\\"  # "pwned" into the clipboard
TITLE = "\x1b]0;pwned-title\x07"  # window title
LINK = "\x1b]8;;https://evil.example/\x1b\\ln\x1b]8;;\x1b\\"  # a hyperlink
CLEAR = "\x1b[2J"  # clear the screen
C1 = "\x9b31m"  # an 8-bit CSI
CLICK = "[@click=app.quit]x"  # a Textual action, if it were markup
BOLD = "[bold red]"  # a style, if it were markup

#: label key -> value: a unique marker starts each, so it can be found on screen.
LABELS = {
    "hk1" + OSC52: "hv1" + TITLE,
    "hk2" + TITLE: "hv2" + OSC52,
    "hk3" + LINK: "hv3" + CLEAR,
    "hk4" + CLEAR + C1: "hv4" + C1,
    "hk5" + CLICK: "hv5" + BOLD,
    "hk6" + BOLD: "hv6" + CLICK,
}
MOUNT = "/hm1" + OSC52 + CLEAR + C1 + CLICK
"""The destination of a planted bind mount (it is a detail-page key)."""
VOLUME_OPTIONS = {"ho1" + OSC52: "hw1" + LINK, "ho2" + CLICK: "hw2" + TITLE}
IMAGE_TAG = "pwnlab:hostile"

#: Raw sequences that must never reach the terminal (bytes as written to the pty).
FORBIDDEN = [
    b"\x1b]52;",
    b"cHduZWQ=\x1b",
    b"\x1b]0;pwned",
    b"pwned-title\x07",
    b"\x1b]8;;https://evil",
    b"\xc2\x9b",  # U+009B, the C1 CSI, in UTF-8
    b"\x1b[2J",
]


def shown(raw: str) -> str:
    """How the app must show `raw`: every control character as a visible escape."""
    return clean(raw)


# -- planting -----------------------------------------------------------------------------


def plant_containers(root: Path) -> None:
    """Hostile labels and a hostile bind mount in every container (whichever row is first)."""
    for cdir in sorted((root / "containers").iterdir()):
        cfg_path = cdir / "config.v2.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["Config"]["Labels"] = dict(LABELS)
        cfg.setdefault("MountPoints", {})[MOUNT] = {
            "Source": "/srv/hostile",
            "Destination": MOUNT,
            "RW": False,
            "Name": "",
            "Driver": "",
            "Type": "bind",
        }
        cfg_path.write_text(json.dumps(cfg))


def plant_image(root: Path) -> str:
    """A "pulled" image: app:2's config with hostile labels, tagged IMAGE_TAG. Its ID."""
    store = root / "image" / "overlay2"
    content = store / "imagedb" / "content" / "sha256"
    repos_path = store / "repositories.json"
    repos = json.loads(repos_path.read_text())
    base = repos["Repositories"]["app"]["app:2"].removeprefix("sha256:")
    cfg = json.loads((content / base).read_bytes())
    cfg["config"]["Labels"] = dict(LABELS)
    data = json.dumps(cfg).encode()
    hexid = hashlib.sha256(data).hexdigest()  # the image ID is the digest of its config
    (content / hexid).write_bytes(data)
    repos["Repositories"]["pwnlab"] = {IMAGE_TAG: "sha256:" + hexid}
    repos_path.write_text(json.dumps(repos))
    return hexid


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & (2**64 - 1)
    return h


def _leaf(entries: list[tuple[int, bytes, bytes]], pid: int) -> bytes:
    """A bbolt leaf page (header, elements, data); entries are (flags, key, value)."""
    elems = data = b""
    for i, (flags, key, value) in enumerate(entries):
        elems += struct.pack(
            "<IIII", flags, (len(entries) - i) * 16 + len(data), len(key), len(value)
        )
        data += key + value
    return struct.pack("<QHHI", pid, 0x02, len(entries), 0) + elems + data


def plant_volumes(root: Path) -> None:
    """Rewrite volumes/metadata.db (bbolt) with hostile labels and options on every volume.

    The file is rebuilt, not patched: two meta pages, an empty freelist and one root leaf
    holding the `volumes` bucket inline, as bbolt stores a small bucket.
    """
    db = root / "volumes" / "metadata.db"
    metas, skipped = read_volume_metadata(str(db))
    assert metas and not skipped
    docs = [
        (
            0,
            name.encode(),
            json.dumps(
                {"Name": name, "Driver": m.driver, "Labels": LABELS, "Options": VOLUME_OPTIONS}
            ).encode(),
        )
        for name, m in sorted(metas.items())
    ]
    ps = 4096
    bucket = struct.pack("<QQ", 0, 0) + _leaf(docs, 0)
    pages = 4
    buf = bytearray(pages * ps)
    for pid, txid in ((0, 1), (1, 2)):
        body = struct.pack("<IIIIQQQQQ", 0xED0CDAED, 2, ps, 0, 3, 0, 2, pages, txid)
        body += struct.pack("<Q", _fnv1a64(body))
        buf[pid * ps : pid * ps + 16 + len(body)] = struct.pack("<QHHI", pid, 0x04, 0, 0) + body
    buf[2 * ps : 2 * ps + 16] = struct.pack("<QHHI", 2, 0x10, 0, 0)
    leaf = _leaf([(1, b"volumes", bucket)], 3)
    assert len(leaf) <= ps
    buf[3 * ps : 3 * ps + len(leaf)] = leaf
    db.write_bytes(bytes(buf))
    metas2, skipped2 = read_volume_metadata(str(db))
    assert not skipped2 and all(m.labels == LABELS for m in metas2.values())


@pytest.fixture
def hostile_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(SAMPLE, root, symlinks=True)
    plant_containers(root)
    plant_image(root)
    plant_volumes(root)
    plant_files(root)
    return root


#: Names a container writes into a volume (a file name cannot hold "/").
FILE_NAMES = [key.replace("/", "_") for key in LABELS]


def plant_files(root: Path) -> None:
    """Files named like the labels in the `unused` volume (then the largest: listed first),
    and a dir named like markup, for the file browser."""
    data = root / "volumes" / "unused" / "_data"
    for name in FILE_NAMES:
        (data / name).write_bytes(b"x" * 30_000)
    (data / ("hd1" + BOLD)).mkdir()
    (data / ("hd1" + BOLD) / ("hf1" + CLICK)).write_bytes(b"y" * 10)


# -- a private tmux server ----------------------------------------------------------------


class Terminal:
    """A private tmux server (its own socket, no config) running one command in one pane.

    The server runs in the foreground (``-D``) as our child: it is stopped through its own
    process, and it skips daemon(3), which refuses to start when /dev/null is not a
    character device (seen on a shared test machine).
    """

    def __init__(self, sockdir: Path) -> None:
        self.sockdir = sockdir
        self.socket = str(sockdir / "tmux.sock")
        self.server: subprocess.Popen[bytes] | None = None
        self.pane = ""
        self.pids: list[int] = []
        """The pane's process and its children: ended by id if still there at the end."""

    def tmux(self, *args: str, check: bool = True) -> str:
        res = subprocess.run(
            [TMUX, "-S", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if check and res.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {res.stderr.strip()}")
        return res.stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        log = (self.sockdir / "server.log").open("wb")
        # The pane inherits the server's environment: a COLUMNS or LINES in ours (pytest
        # can have them) would override the real size of the terminal for the app.
        server_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        self.server = subprocess.Popen(
            [TMUX, "-D", "-S", self.socket, "-f", "/dev/null"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=server_env | env,
        )
        end = time.monotonic() + 10
        while not os.path.exists(self.socket):
            assert self.server.poll() is None, (self.sockdir / "server.log").read_text()
            assert time.monotonic() < end, "the tmux server did not start"
            time.sleep(0.05)
        # Our size also when tmux falls back to its default (no client is attached to size
        # the window), and a pane that stays after the app exits, for its exit status.
        for option, value in (
            ("default-size", f"{WIDTH}x{HEIGHT}"),
            ("remain-on-exit", "on"),
        ):
            self.tmux("set-option", "-g", option, value)
        size = ("-x", str(WIDTH), "-y", str(HEIGHT))
        self.pane = self.tmux("new-session", "-d", "-P", "-F", "#{pane_id}", *size, command)
        self.pane = self.pane.strip()
        self.pids = [int(self.pane_format("#{pane_pid}"))]

    def pane_format(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", self.pane, fmt).strip()

    def screen(self) -> str:
        """The visible pane as text (escapes in it are literal text)."""
        return self.tmux("capture-pane", "-p", "-J", "-t", self.pane)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.pane, key)
            time.sleep(0.2)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.pane, "-l", text)

    def wait(
        self, cond: Callable[[str], bool], what: str, timeout: float = 10.0, quiet: bool = False
    ) -> str:
        """Poll the screen until `cond` holds; then (or, if `quiet`, at the timeout) return it."""
        end = time.monotonic() + timeout
        while True:
            text = self.screen()
            if cond(text):
                return text
            if time.monotonic() > end:
                if quiet:
                    return text
                raise AssertionError(f"timed out waiting for {what}; screen:\n{text}")
            time.sleep(0.1)

    def dead(self) -> bool:
        return self.pane_format("#{pane_dead}") == "1"

    def stop(self) -> None:
        """Stop our server, then whatever is left of the pane's processes (by their ids)."""
        if self.server is None:
            return
        for pid in list(self.pids):
            with contextlib.suppress(OSError, ValueError):
                kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                self.pids += [int(k) for k in kids]
        self.tmux("kill-server", check=False)
        try:
            self.server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    # Not tmp_path: a socket path must stay short (108 bytes).
    sockdir = Path(tempfile.mkdtemp(prefix="dinsp-tmux-"))
    term = Terminal(sockdir)
    try:
        yield term
    finally:
        term.stop()
        shutil.rmtree(sockdir, ignore_errors=True)


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("docker-inspector")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "inspector"]


# -- the test ------------------------------------------------------------------------------


def test_hostile_root_sends_no_escape_sequences_to_the_terminal(
    hostile_root: Path, terminal: Terminal, tmp_path: Path
) -> None:
    out = tmp_path / "terminal.bytes"
    app = shlex.join([*cli(), "tui", "--root", str(hostile_root)])
    # script(1) records every byte the app writes to its terminal, from the first one on.
    terminal.start(
        shlex.join([SCRIPT, "-q", "-f", "-e", "-c", app, str(out)]),
        {"COLORTERM": "truecolor", "PYTHONPATH": str(REPO)},
    )
    term = terminal
    term.wait(lambda s: " findings " in s and "Measuring" not in s, "the summary line")

    # Drive first, judge later: what leaked to the terminal matters most, and a leaked
    # sequence can garble the screen, so no wait here fails the test on its own. Each key
    # waits for its effect (an Escape read together with the next key would be Alt+key),
    # and is sent again if nothing happened: Textual moves the focus a moment after a tab
    # is shown, so on a busy machine a key can reach the widget that had it before.
    screens: dict[str, str] = {}

    def step(keys: list[str], until: Callable[[str], bool], name: str = "", tries: int = 3) -> None:
        for _ in range(tries):
            term.keys(*keys)
            screen = term.wait(until, " ".join(keys), timeout=5, quiet=True)
            if until(screen):
                break
        if name:
            screens[name] = screen

    def main_screen(s: str) -> bool:
        return "1 Overview" in s

    def all_rows(tab: str, s: str) -> bool:
        """The tab's caption once every row is in, e.g. `Containers  3 of 3  ·  sorted by
        SIZE`, or `Images  7 of 9  ·  …  ·  2 intermediate hidden` (7 + 2 = 9): a wait that
        never matched cost each try its whole timeout."""
        m = re.search(rf"{tab}  (\d+) of (\d+) (?:.*?(\d+) intermediate hidden)?", s)
        return m is not None and int(m[1]) + int(m[3] or 0) == int(m[2])

    step(["4"], lambda s: all_rows("Containers", s))
    step(["Enter"], lambda s: "Container " in s and "Esc: back" in s)
    step([], lambda s: "hk6" in s, "container", tries=1)  # every container is hostile
    step(["Escape"], main_screen)
    step(["2"], lambda s: all_rows("Images", s))
    # Textual moves the focus to the table a moment after the tab is shown: a filter box
    # opened before that would lose the focus, and "pwnlab" would reach the table as keys.
    time.sleep(1.0)
    step(["/"], lambda s: "filter (Enter" in s)
    time.sleep(0.5)  # the box takes the focus a moment after it is shown
    term.type("pwnlab")  # the "pulled" image
    step([], lambda s: "Images  1 of " in s, tries=1)
    # Enter leaves the filter box, Enter opens the image (again if the box read it too).
    term.keys("Enter")
    step(["Enter"], lambda s: f"Image {IMAGE_TAG}" in s)
    step([], lambda s: "hk6" in s, "image", tries=1)
    step(["Escape"], main_screen)
    step(["5"], lambda s: all_rows("Volumes", s))
    step(["Enter"], lambda s: "Volume " in s and "Esc: back" in s)
    step([], lambda s: "ho2" in s and "hk6" in s, "volume", tries=1)  # every volume too
    step(["Escape"], main_screen)
    # The file browser on the largest volume: file names written by a container.
    step(["b"], lambda s: "Browse volume unused" in s and "done" in s)
    step([], lambda s: "hk6" in s and "hd1" in s, "browse", tries=1)
    step(["Escape"], main_screen)
    step(["6"], lambda s: all_rows("Findings", s))
    step(["Enter"], lambda s: "Evidence" in s and "Esc: back" in s, "finding")
    step(["Escape"], main_screen)
    # Click markup was on screen (and clickable) many times: still running.
    running = not term.dead()
    term.keys("q")
    term.wait(lambda s: term.dead(), "the app to quit")
    status = term.pane_format("#{pane_dead_status}")

    raw = out.read_bytes()
    leaked = [seq for seq in FORBIDDEN if seq in raw]
    assert not leaked, f"raw sequences from the data root reached the terminal: {leaked}"
    assert "\x9b" not in raw.decode("utf-8", "replace")
    assert running and status == "0", term.screen()

    # The escaped forms are readable where the raw text would have been.
    for page in ("container", "image", "volume"):
        screen = screens[page]
        for key, value in LABELS.items():
            assert shown(key) in screen and shown(value) in screen, (page, key, screen)
    assert "\\x1b]52;c;cHduZWQ=\\x1b\\\\" in screens["container"]  # e.g. this, literally
    assert "hk5[@click=app.quit]x" in screens["container"]  # markup shown, not acted on
    assert "hk6[bold red]" in screens["container"]
    assert shown(MOUNT) in screens["container"]
    for key, value in VOLUME_OPTIONS.items():
        assert shown(key) in screens["volume"] and shown(value) in screens["volume"]
    for name in FILE_NAMES:
        assert shown(name) in screens["browse"], (name, screens["browse"])
    assert shown("hd1" + BOLD) + "/" in screens["browse"]
    assert f"Image {IMAGE_TAG}" in screens["image"]
    assert "Finding" in screens["finding"]
