"""The prune preview against the real prunes: what each command removes and frees, exactly.

A small root is built once on a private dockerd (tests/prunelab.py), which is then stopped.
For every prune command a short-lived dockerd is started on a fresh copy of that root; the
preview is taken offline on it (while it runs, as an operator would), then the real command
is run and the daemon's own answer is compared with the preview:

- the bytes: the API's ``SpaceReclaimed`` (what ``Total reclaimed space`` prints), exactly;
  ``docker system prune`` through the 20.10 CLI itself, its printed total;
- the objects that disappeared: containers, images, references, volumes, build-cache
  records (``/system/df``), layerdb layers, and the directories under ``overlay2/``,
  ``containers/`` and ``volumes/`` (exactly the preview's);
- the bytes on disk: the preview's ``disk`` equals ``du`` (tests/refwalk.py) of the
  directories that went, measured before the command.

Docker >= 23's ``volume prune`` (anonymous only) is what a 1.42 daemon does on the wire: it
adds the filter ``label=com.docker.volume.anonymous`` (moby v23.0.0
``volume/service/convert.go`` ``withPrune``); the 20.10 daemon is sent that filter.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dockerlab import DockerLabError, PrivateDockerd
from prunelab import ANON_LABEL, build_prune_scenario, daemon_on_copy
from refwalk import measure

from inspector import pipeline
from inspector.analysis.dockerdf import human_size
from inspector.analysis.prune import NEW_VOLUMES, OLD_VOLUMES, PruneCommand, preview
from inspector.cli import main

pytestmark = pytest.mark.dockerd


@pytest.fixture(scope="module")
def prune_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the stopped scenario root, a scratch dir for the copies)."""
    if os.geteuid() != 0:
        pytest.fail("the prune tests start private dockerds: run them as root", pytrace=False)
    base = tmp_path_factory.mktemp("prune")
    lab = PrivateDockerd(base / "src")
    try:
        lab.start()
        build_prune_scenario(lab)
    except DockerLabError as e:
        pytest.fail(f"building the prune scenario failed:\n{e}\n{lab.log_tail()}")
    finally:
        lab.stop()
        lab.release_leftover_mounts()
    yield base / "src" / "root", base


def state(lab: PrivateDockerd, cache: set[str]) -> dict[str, set[str]]:
    """What the daemon holds: objects by the API, layers and directories on disk."""
    root = lab.data_root
    images = lab.api.images(all=True)
    refs = {
        r
        for i in images
        for r in (i.get("RepoTags") or []) + (i.get("RepoDigests") or [])
        if not r.startswith("<none>")
    }
    layerdb = root / "image" / "overlay2" / "layerdb" / "sha256"
    return {
        "images": {i["Id"] for i in images},
        "refs": refs,
        "containers": {c["Id"] for c in lab.api.containers(all=True)},
        "volumes": {v["Name"] for v in lab.api.volumes().get("Volumes") or []},
        "build_cache": cache,
        "layers": {"sha256:" + n for n in os.listdir(layerdb) if len(n) == 64},
        "dirs": {
            str(p)
            for area in ("overlay2", "containers", "volumes")
            for p in (root / area).iterdir()
            if p.is_dir() and not p.is_symlink() and p.name != "l"
        },
    }


def _build_prune(lab: PrivateDockerd, everything: bool) -> int:
    api = lab.api
    params = {"all": "1"} if everything else {}
    res: dict[str, Any] = api._result(api._post(api._url("/build/prune"), params=params), True)
    return int(res["SpaceReclaimed"])


def _system_new(lab: PrivateDockerd) -> int:
    """`docker system prune -a --volumes` as a Docker >= 23 client and daemon run it."""
    api = lab.api
    total = int(api.prune_containers()["SpaceReclaimed"] or 0)
    total += int(api.prune_volumes(filters={"label": ANON_LABEL})["SpaceReclaimed"] or 0)
    total += int(api.prune_images(filters={"dangling": False})["SpaceReclaimed"] or 0)
    return total + _build_prune(lab, True)


def _system_cli(lab: PrivateDockerd) -> str:
    out = lab.cli("system", "prune", "-a", "--volumes", "-f")
    m = re.search(r"^Total reclaimed space: (\S+)$", out, re.M)
    assert m, out
    return m.group(1)


Run = Callable[[PrivateDockerd], "int | str"]

#: (command, semantics it is checked under, how to run it for real).
CASES: list[tuple[str, str | None, Run]] = [
    ("docker container prune", None, lambda lab: lab.api.prune_containers()["SpaceReclaimed"]),
    (
        "docker image prune",
        None,
        lambda lab: lab.api.prune_images(filters={"dangling": True})["SpaceReclaimed"],
    ),
    (
        "docker image prune -a",
        None,
        lambda lab: lab.api.prune_images(filters={"dangling": False})["SpaceReclaimed"],
    ),
    (
        "docker volume prune",
        NEW_VOLUMES,
        lambda lab: lab.api.prune_volumes(filters={"label": ANON_LABEL})["SpaceReclaimed"],
    ),
    ("docker volume prune -a", None, lambda lab: lab.api.prune_volumes()["SpaceReclaimed"]),
    ("docker builder prune", None, lambda lab: _build_prune(lab, False)),
    ("docker builder prune -a", None, lambda lab: _build_prune(lab, True)),
    ("docker system prune -a --volumes", NEW_VOLUMES, _system_new),
    ("docker system prune -a --volumes", OLD_VOLUMES, _system_cli),
]


def _pick(commands: tuple[PruneCommand, ...], command: str, semantics: str | None) -> PruneCommand:
    found = [
        c
        for c in commands
        if c.command == command and (semantics is None or c.semantics == semantics)
    ]
    assert len(found) == 1, (command, semantics, [c.command for c in commands])
    return found[0]


#: Cases run this many at a time: each waits mostly on its own dockerd starting, restarting
#: its runner container and stopping (~3.5 s, 10 cases), not on the CPU.
PARALLEL_CASES = 3


def _one_case(src: Path, base: Path, command: str, semantics: str | None, run: Run) -> Outcome:
    name = re.sub(r"[^a-z0-9]+", "-", f"{command} {semantics or ''}".lower()).strip("-")
    with daemon_on_copy(src, base / name) as lab:
        report = pipeline.run(str(lab.data_root))
        want = _pick(preview(report).commands, command, semantics)
        cache_before = {r.id for r in report.inventory.buildkit.records}
        before = state(lab, cache_before)
        du = {p: measure(p).disk for p in before["dirs"]}
        got = run(lab)
        cache_after = {b["ID"] for b in lab.api.df().get("BuildCache") or []}
        after = state(lab, cache_after)
    return want, got, before, after, du


Outcome = tuple[PruneCommand, "int | str", dict[str, set[str]], dict[str, set[str]], dict[str, int]]


@pytest.fixture(scope="module")
def outcomes(prune_root: tuple[Path, Path]) -> dict[int, Outcome | BaseException]:
    """Every case run against its own short-lived daemon, a few at a time."""
    src, base = prune_root
    with concurrent.futures.ThreadPoolExecutor(PARALLEL_CASES) as pool:
        futures = {i: pool.submit(_one_case, src, base, *case) for i, case in enumerate(CASES)}
    done: dict[int, Outcome | BaseException] = {}
    for i, f in futures.items():
        err = f.exception()
        done[i] = err if err is not None else f.result()
    return done


@pytest.mark.parametrize(("case", "command", "semantics"), [
    (i, c[0], c[1]) for i, c in enumerate(CASES)
], ids=[
    f"{c[0].removeprefix('docker ')}{' (>=23)' if c[1] == NEW_VOLUMES else ''}" for c in CASES
])  # fmt: skip
def test_preview_equals_the_real_prune(
    outcomes: dict[int, Outcome | BaseException], case: int, command: str, semantics: str | None
) -> None:
    result = outcomes[case]
    if isinstance(result, BaseException):
        raise result
    want, got, before, after, du = result
    assert want.supported and want.reported_known
    # Guard: every command has something to remove on this root.
    assert want.dirs, command
    if isinstance(got, str):
        assert human_size(want.reported) == got, (want.reported, got)
    else:
        assert want.reported == got, (command, want.reported, got)
    gone = {k: before[k] - after[k] for k in before}
    assert {k: v for k, v in after.items() if v - before[k]} == {}, "something new appeared"
    assert gone["containers"] == set(want.containers)
    assert gone["images"] == set(want.images)
    assert gone["refs"] == set(want.untagged)
    assert gone["volumes"] == set(want.volumes)
    assert gone["build_cache"] == set(want.build_cache)
    assert gone["layers"] == set(want.layers)
    assert gone["dirs"] == set(want.dirs)
    assert want.disk == sum(du[p] for p in gone["dirs"])


def test_prune_command_text_and_json(
    prune_root: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The `prune` face: every command in the text and JSON, the same numbers as the preview."""
    src, _ = prune_root
    report = pipeline.run(str(src))
    commands = preview(report).commands
    assert main(["prune", "--root", str(src), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(c["command"], c["semantics"]) for c in doc["commands"]] == [
        (c.command, c.semantics) for c in commands
    ]
    for c, d in zip(commands, doc["commands"], strict=True):
        assert d["reported"] == c.reported
        assert d["disk_usage"] == c.disk
        assert [x["id"] for x in d["containers"]] == list(c.containers)
        assert d["volumes"] == list(c.volumes)
    assert main(["prune", "--root", str(src)]) == 0
    text = capsys.readouterr().out
    assert "Nothing was removed" in text
    lines = text.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("COMMAND "))
    for c, row in zip(commands, lines[head + 1 : head + 1 + len(commands)], strict=True):
        assert row.startswith(c.command + " ")
        assert human_size(c.reported) in row.split()
