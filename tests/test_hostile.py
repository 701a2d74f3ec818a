"""Hostile content written by real containers: the tool stays safe and equal to Docker.

A dedicated busybox container (``--network none``) writes, in its writable layer and in a
volume: file names with ANSI escapes, newlines, tabs, Rich markup (``[bold red]``,
``[@click=app.quit]``), invalid UTF-8, a bidi override and an 8-bit CSI; symlinks to
/etc/shadow, to /, to themselves, loops and ``../`` escapes; FIFOs; character and block
device nodes (``mknod``, allowed by Docker's default CAP_MKNOD); a 1 TB sparse file; hard
links (in the writable layer, linking an image-layer file copies it up first: both names
then share one inode in the upper dir, counted once); and, in the volume, one directory with
100,000 entries plus a unix socket (busybox cannot make one, so the host binds it there).
A second container and volume hold a tree nested 4,000 levels deep (8,000 bytes of path,
twice PATH_MAX) under a hostile name:
there Docker's own size walk fails (lstat: file name too long) and ``docker system df``
says -1, which the tool mirrors as an unknown size (null) with an ``unreadable`` finding.
Labels with escapes and markup go on the container, the volume and an image (names and
tags cannot hold them: Docker refuses such names).

Checked: the CLI finishes (no FIFO blocks it) with exit 0 and no traceback; the text report
holds no raw control character; the JSON is valid, holds no raw control or format character
and round-trips the labels and names exactly; the Prometheus file parses; the TUI renders
every tab and detail with the hostile names without running their markup; every size equals
``docker system df``'s. All objects are removed at the end of the module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_docker_df import api_cells

pytestmark = pytest.mark.dockerd

REPO = Path(__file__).resolve().parents[1]
PREFIX = "dinspector-hostile"
LABEL = "[bold red]\x1b[31mred\x1b[0m\nnext line\t[@click=app.quit]\u202e\x9b31m[/]"
#: Label keys may hold anything but whitespace and "=".
KEY = "[bold]\x1b[31mkey[@click]\u202e"

# Names created in each hostile directory, as busybox printf formats (octal escapes).
NAMES = {
    "esc": r"esc\033[31mred\033[0m",
    "newline": r"new\nline",
    "tab": r"tab\there",
    "markup": "[bold red]markup",
    "click": "[@click=app.quit]click",
    "badutf8": r"bad\377byte",
    "bidi": r"bidi\342\200\256txt",
    "c1": r"c1\302\233csi",
}
DEEP_NAME = r"deep\033[31m\n[bold]\377"

HOSTILE_SH = r"""
set -e
B=/bin/busybox
mk() {
  mkdir -p "$1" && cd "$1"
  for n in NAMES; do touch "$(printf "$n")"; done
  d="$(printf 'dir\033]0;title\007')"; mkdir "$d"; echo hello > "$d/$(printf 'f\033[2J')"
  ln -s /etc/shadow shadow; ln -s / rootlink; ln -s self self
  ln -s loopb loopa; ln -s loopa loopb; ln -s ../../../../../../../../etc/passwd up
  mkfifo fifo "$(printf 'fifo\033[1m')"
  $B mknod chr c 1 3; $B mknod blk b 7 0
  truncate -s 1099511627776 sparse1t
  echo twice > pair1; ln pair1 pair2
  cd /
}
mk /h
mk /v
ln /etc/passwd /h/hardpasswd
echo modified >> /etc/group
ln /etc/group /h/hardgroup
mkdir /v/wide
cd /v/wide && $B seq 1 100000 | $B xargs touch
echo done
"""

DEEP_SH = r"""
set -e
B=/bin/busybox
deep() {
  cd "$1"
  p=$($B seq -s/ 1 1000 | $B sed 's/[0-9]*/x/g')
  mkdir -p "d0/$p"; echo bytes > "d0/$p/file"
  for k in 1 2 3; do mkdir -p "d$k/$p"; mv "d$((k-1))" "d$k/$p/"; done
  mv d3 "$(printf 'DEEP')"
  cd /
}
mkdir -p /h
deep /h
deep /v
echo done
"""


def _script() -> str:
    names = " ".join("'" + n.replace("'", "'\\''") + "'" for n in NAMES.values())
    return HOSTILE_SH.replace("NAMES", names)


def _octal(fmt: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(fmt):
        if fmt[i] == "\\" and fmt[i + 1 : i + 4].isdigit():
            out.append(int(fmt[i + 1 : i + 4], 8))
            i += 4
        elif fmt[i] == "\\" and fmt[i + 1] in "nt":
            out.append(10 if fmt[i + 1] == "n" else 9)
            i += 2
        else:
            out += fmt[i].encode()
            i += 1
    return bytes(out)


@pytest.fixture(scope="module")
def hostile(dockerd: Any, scenario: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The hostile containers, volumes and image; removed again after the module."""
    lab = dockerd
    started = time.monotonic()
    made: dict[str, Any] = {"containers": [], "volumes": [], "images": []}

    def cleanup() -> None:
        # One CLI call per kind: docker goes on past an object it cannot remove.
        for cmd, objs in (
            (["rm", "-f", "-v"], made["containers"]),
            (["volume", "rm", "-f"], made["volumes"]),
            (["rmi", "-f"], made["images"]),
        ):
            if objs:
                with contextlib.suppress(Exception):
                    lab.cli(*cmd, *objs)

    try:
        vol, deep_vol = f"{PREFIX}-vol", f"{PREFIX}-deep-vol"
        for v in (vol, deep_vol):
            lab.cli("volume", "create", "--label", f"x={LABEL}", "--label", f"{KEY}=k", v)
            made["volumes"].append(v)
        common = ["--label", f"x={LABEL}", "--label", "[@click=app.quit]=1", "--stop-timeout", "1"]
        cid = lab.create(
            "busybox:base",
            "sh",
            "-c",
            _script(),
            name=PREFIX,
            options=[*common, "-v", f"{vol}:/v", "-v", "/anon[bold red]\x1b[31m"],
        )
        made["containers"].append(cid)
        deep_cid = lab.create(
            "busybox:base",
            "sh",
            "-c",
            DEEP_SH.replace("DEEP", DEEP_NAME),
            name=f"{PREFIX}-deep",
            options=[*common, "-v", f"{deep_vol}:/v"],
        )
        made["containers"].append(deep_cid)
        lab.cli("start", cid, deep_cid)  # both at once; the image is built meanwhile
        image = lab.build(f"{PREFIX}:1", "FROM busybox:base\n", args=["--label", f"x={LABEL}"])
        made["images"].append(image)
        for c in (cid, deep_cid):
            code = lab.wait(c)
            logs = lab.cli("logs", c)
            assert code == 0 and logs.strip().endswith("done"), (code, logs[-2000:])
        # A unix socket in the volume (bound from the host: busybox cannot make one). The
        # path is too long for sun_path, so bind through a short symlink to the directory.
        data = Path(dockerd.data_root) / "volumes" / vol / "_data"
        short = Path(f"/tmp/{PREFIX}-{os.getpid()}")
        short.unlink(missing_ok=True)
        short.symlink_to(data)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.bind(f"{short}/sock\x1b[31m")
        finally:
            short.unlink()
        anon = next(
            m["Name"]
            for m in lab.api.inspect_container(cid)["Mounts"]
            if m["Destination"].startswith("/anon")
        )
        made["volumes"].append(anon)
        made.update(cid=cid, deep_cid=deep_cid, vol=vol, deep_vol=deep_vol, image=image, anon=anon)
        made["build_seconds"] = time.monotonic() - started
        yield made
    finally:
        cleanup()


def run_cli(args: list[str], tmp: Path, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(XDG_CACHE_HOME=str(tmp / "cache"), XDG_STATE_HOME=str(tmp / "state"))
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        env=env,
        timeout=timeout,  # a FIFO that blocked a read would hang here
        check=False,
        cwd=REPO,
    )


def unsafe_chars(text: str, allow: str = "\n") -> list[str]:
    """Characters a terminal may act on (C0/C1 controls, DEL, format and separator chars)."""
    bad = {
        ch
        for ch in text
        if ch not in allow
        and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs")
    }
    return sorted(repr(c) for c in bad)


@pytest.fixture(scope="module")
def outputs(
    hostile: dict[str, Any], dockerd: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The CLI's text and JSON reports and the audit's Prometheus file for the live root."""
    tmp = tmp_path_factory.mktemp("hostile-out")
    root = str(dockerd.data_root)
    started = time.monotonic()
    prom = tmp / "m.prom"
    runs = (
        ["--root", root, "report"],
        ["--root", root, "report", "--format", "json"],
        ["--root", root, "audit", "--json", "--prometheus", str(prom), "--state-dir", str(tmp)],
    )
    # The three at once (each in its own process): the wide dir is walked three times.
    with ThreadPoolExecutor(3) as pool:
        text, js, audit = pool.map(lambda args: run_cli(args, tmp), runs)
    return {
        "text": text,
        "json": js,
        "audit": audit,
        "prom": prom,
        "seconds": time.monotonic() - started,
        "truth": dockerd.api.df(),
        "root": root,
    }


def test_fixture_is_quick_and_really_hostile(hostile: dict[str, Any], dockerd: Any) -> None:
    assert hostile["build_seconds"] < 60
    root = Path(dockerd.data_root)
    data = root / "volumes" / hostile["vol"] / "_data"
    names = set(os.listdir(os.fsencode(data)))
    for fmt in NAMES.values():
        assert _octal(fmt) in names, fmt
    assert len(os.listdir(data / "wide")) == 100_000
    assert os.lstat(data / "sparse1t").st_size == 1 << 40
    assert os.lstat(data / "sparse1t").st_blocks == 0
    assert os.readlink(data / "rootlink") == "/"
    assert any(n.startswith(b"sock") for n in names)
    # In the writable layer: a hard link to an image file made a copy-up sharing its inode.
    upper = Path(dockerd.inspect_container_sized(hostile["cid"])["GraphDriver"]["Data"]["UpperDir"])
    assert os.lstat(upper / "h" / "hardpasswd").st_ino == os.lstat(upper / "etc" / "passwd").st_ino
    assert os.lstat(upper / "etc" / "passwd").st_nlink == 2


def test_cli_finishes_without_traceback(outputs: dict[str, Any]) -> None:
    for what in ("text", "json"):
        res = outputs[what]
        assert res.returncode == 0, res.stderr.decode(errors="replace")
        assert b"Traceback" not in res.stderr
    assert outputs["audit"].returncode in (0, 1), outputs["audit"].stderr
    assert b"Traceback" not in outputs["audit"].stderr
    audit = outputs["audit"].stdout.decode("utf-8")
    assert unsafe_chars(audit) == []
    assert json.loads(audit)["root"] == str(outputs["root"])
    assert outputs["seconds"] < 120


def test_text_report_has_no_raw_control_characters(outputs: dict[str, Any]) -> None:
    raw: bytes = outputs["text"].stdout
    text = raw.decode("utf-8")  # valid UTF-8: invalid bytes in names were escaped
    assert unsafe_chars(text) == []
    assert unsafe_chars(outputs["text"].stderr.decode("utf-8")) == []
    # The deep tree's hostile name is in a finding path, escaped, on one line.
    lines = [ln for ln in text.splitlines() if "unreadable" in ln and "deep" in ln]
    assert lines, text[-3000:]
    assert all("deep\\x1b[31m\\x0a[bold]\\xff" in ln for ln in lines), lines


def test_json_report_is_valid_and_round_trips(
    outputs: dict[str, Any], hostile: dict[str, Any], dockerd: Any
) -> None:
    raw: bytes = outputs["json"].stdout
    text = raw.decode("utf-8")
    assert unsafe_chars(text) == [], "raw control/format characters in the JSON text"
    doc = json.loads(text)
    containers = {c["id"]: c for c in doc["containers"]}
    for cid in (hostile["cid"], hostile["deep_cid"]):
        assert containers[cid]["labels"]["x"] == LABEL
        assert containers[cid]["labels"]["[@click"] == "app.quit]=1"
    dests = {m["destination"] for m in containers[hostile["cid"]]["mounts"]}
    assert "/anon[bold red]\x1b[31m" in dests
    volumes = {v["name"]: v for v in doc["volumes"]}
    assert volumes[hostile["vol"]]["labels"] == {"x": LABEL, KEY: "k"}
    images = {i["id"]: i for i in doc["images"]}
    assert images[hostile["image"]]["labels"]["x"] == LABEL
    # Invalid UTF-8 in a path is written as the text \xNN (JSON cannot hold raw bytes).
    deep = [f for f in doc["findings"] if f["kind"] == "unreadable" and "deep" in f["path"]]
    assert deep
    assert all("deep\x1b[31m\n[bold]\\xff/" in f["path"] for f in deep), [f["path"] for f in deep]


def test_sizes_equal_docker_system_df(outputs: dict[str, Any], hostile: dict[str, Any]) -> None:
    doc = json.loads(outputs["json"].stdout)
    truth = outputs["truth"]
    api_c = {c["Id"]: c for c in truth["Containers"]}
    rows = {c["id"]: c for c in doc["containers"]}
    cid = hostile["cid"]
    # The 1 TB sparse file counts with its apparent size, symlinks by their target's length.
    assert api_c[cid]["SizeRw"] > 1 << 40
    assert rows[cid]["size_rw"] == api_c[cid]["SizeRw"]
    assert rows[cid]["virtual_size"] == api_c[cid]["SizeRootFs"]
    api_v = {v["Name"]: v["UsageData"] for v in truth["Volumes"]}
    vols = {v["name"]: v for v in doc["volumes"]}
    assert api_v[hostile["vol"]]["Size"] > 1 << 40
    for name in (hostile["vol"], hostile["anon"]):
        assert vols[name]["size"] == api_v[name]["Size"], name
        assert vols[name]["links"] == api_v[name]["RefCount"], name
    # Nested deeper than PATH_MAX: Docker cannot measure it (-1); the tool says unknown.
    deep = hostile["deep_cid"]
    assert api_c[deep]["SizeRw"] == -1
    assert rows[deep]["size_rw"] is None and rows[deep]["virtual_size"] is None
    assert api_v[hostile["deep_vol"]]["Size"] == -1
    assert vols[hostile["deep_vol"]]["size"] is None
    bad = [f for f in doc["findings"] if f["kind"] == "unreadable"]
    for where in (rows[deep]["rw_dir"], vols[hostile["deep_vol"]]["path"]):
        assert any(f["path"].startswith(where + "/") and "too long" in f["detail"] for f in bad)
    # Nothing else is unreadable: the links, FIFOs, devices and sockets were all measured.
    assert all("deep" in f["path"] for f in bad), bad
    # docker system df's table: Docker's -1s count as the CLI counts them (a container's is
    # added, a volume's skipped), so the cells are still the CLI's, not unknown.
    want = api_cells(truth)
    assert doc["docker_df"]["containers"] == want["containers"]
    assert doc["docker_df"]["volumes"] == want["volumes"]


def test_prometheus_file_parses(outputs: dict[str, Any], hostile: dict[str, Any]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    text = outputs["prom"].read_text("utf-8")
    assert unsafe_chars(text) == []
    families = list(text_string_to_metric_families(text))
    assert families
    labels = {v for fam in families for s in fam.samples for v in s.labels.values()}
    assert hostile["vol"] in labels or any(PREFIX in v for v in labels)


def screen_text(app: Any) -> str:
    """Everything on the app's screen as plain text (as tests/test_tui.py reads it)."""
    import io

    from rich.console import Console

    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), record=True, color_system=None)
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


def test_tui_shows_hostile_names_without_running_them(
    hostile: dict[str, Any],
    dockerd: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        from inspector.tui.app import make_app
    except ImportError:
        pytest.skip("TUI not available yet")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    app = make_app(root=str(dockerd.data_root))
    app.animation_level = "none"
    quit_called: list[bool] = []
    original_exit = app.exit

    def spy_exit(*args: Any, **kwargs: Any) -> None:
        quit_called.append(True)
        original_exit(*args, **kwargs)

    monkeypatch.setattr(app, "exit", spy_exit)

    async def main() -> None:
        async with app.run_test(size=(160, 50)) as pilot:
            end = time.monotonic() + 90
            while app.report is None or app.measuring:
                assert time.monotonic() < end, "TUI did not finish loading"
                await pilot.pause(0.05)
            for key in ("4", "enter", "escape", "5", "enter", "escape"):
                await pilot.press(key)
            # The finding whose path holds the hostile name, its detail page, and clicks all
            # over it: markup such as [@click=app.quit] must be shown, never made live.
            await pilot.press("6", "slash", *"deep\\x1b", "enter", "enter")
            text = screen_text(app)
            assert "unreadable" in text and "[bold]" in text, text[:3000]
            assert unsafe_chars(text) == [], text[:3000]
            for y in range(2, 46, 6):  # not the footer: its "q Quit" is a real quit
                for x in range(4, 160, 30):
                    await pilot.click(offset=(x, y))
            assert not quit_called, "hostile [@click=app.quit] markup ran"
            assert app.is_running

    asyncio.run(main())


def test_explain_and_prune_escape_hostile_names(
    hostile: dict[str, Any], dockerd: Any, tmp_path: Path
) -> None:
    """`explain` of a hostile file name and of the hostile volume, and the prune preview:
    no raw control character in the text, the JSON round-trips the names."""
    root = str(dockerd.data_root)
    data = Path(root) / "volumes" / hostile["vol"] / "_data"
    hostile_file = os.fsdecode(os.path.join(os.fsencode(data), _octal(NAMES["esc"])))
    cases = (
        ["explain", hostile_file],
        ["explain", hostile["anon"]],
        ["explain", PREFIX],
        ["prune"],
    )
    runs = [(*args, *fmt) for args in cases for fmt in ((), ("--format", "json"))]

    def run(args: tuple[str, ...]) -> subprocess.CompletedProcess[bytes]:
        return run_cli(["--root", root, *args], tmp_path)

    # The runs are independent: the first fills the size cache they share (concurrent
    # saves merge, see inspector/measure/sizecache.py), the rest go two at a time.
    done = {runs[0]: run(runs[0])}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done.update(zip(runs[1:], pool.map(run, runs[1:]), strict=True))
    for args in cases:
        text = done[(*args,)]
        assert text.returncode == 0, text.stderr.decode(errors="replace")
        out = text.stdout.decode("utf-8")
        assert unsafe_chars(out) == [], (args, out[:2000])
        js = done[(*args, "--format", "json")]
        assert js.returncode == 0, js.stderr.decode(errors="replace")
        doc = json.loads(js.stdout.decode("utf-8"))
        assert unsafe_chars(js.stdout.decode("utf-8")) == []
        if args[1:] == [hostile_file]:
            assert doc["kind"] == "volume" and doc["id"] == hostile["vol"]
            assert doc["path"] == hostile_file.replace("\\", "\\\\")
        if args[1:] == [hostile["anon"]]:
            assert doc["kind"] == "volume" and doc["id"] == hostile["anon"]
