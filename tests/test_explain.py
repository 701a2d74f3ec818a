"""``explain`` on the session's private dockerd: every kind of input, checked against the API.

Each query (a tag, an ID or prefix, a chain ID, a diff ID, a cache ID, a short link, a
container or volume name, a build-cache ID, and paths anywhere under the root) must land on
the object the Engine API names for it: images and containers by ``inspect``'s
``GraphDriver.Data`` dirs, sizes by ``inspect``/``/system/df``. What removing an unused
object frees is Docker's own number for it (the dangling image's unique size, the volume's
size, the container's SizeRw); the replay itself is checked against real prunes in
tests/test_prune_preview.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from inspector import pipeline
from inspector.analysis.explain import Ambiguous, Explanation, NotFound, explain, resolve
from inspector.analysis.results import Report
from inspector.cli import main

pytestmark = pytest.mark.dockerd


@pytest.fixture(scope="module")
def live(dockerd: Any, scenario: dict[str, Any]) -> dict[str, Any]:
    """The offline report of the session root, and the API's view of it."""
    api = dockerd.api
    df = api.df()  # first: BuildKit records a cache record's size when df first asks for it
    report = pipeline.run(str(dockerd.data_root))
    return {
        "report": report,
        "df": df,
        "root": Path(dockerd.data_root),
        "app2": api.inspect_image(scenario["images"]["app:2"]),
        "app1": api.inspect_image(scenario["images"]["app:1"]),
        "web": dockerd.inspect_container_sized(scenario["containers"]["web"]),
        "job": dockerd.inspect_container_sized(scenario["containers"]["job"]),
    }


def ask(report: Report, query: str) -> Explanation:
    """As the CLI asks: a path is lstat'ed beneath the root first."""
    return explain(report, query, pipeline._probe(report, query))


def _top_layer_dir(inspect: dict[str, Any]) -> Path:
    return Path(inspect["GraphDriver"]["Data"]["UpperDir"]).parent


def _chain(diff_ids: list[str]) -> str:
    import hashlib

    chain = diff_ids[0]
    for d in diff_ids[1:]:
        chain = "sha256:" + hashlib.sha256(f"{chain} {d}".encode()).hexdigest()
    return chain


def test_image_by_tag_id_and_prefix(live: dict[str, Any], scenario: dict[str, Any]) -> None:
    report: Report = live["report"]
    iid = scenario["images"]["app:2"]
    for q in ("app:2", "docker.io/library/app:2", iid, iid.removeprefix("sha256:"), iid[7:19]):
        e = ask(report, q)
        assert (e.kind, e.key) == ("image", iid), q
    e = ask(report, "app:2")
    assert e.docker_size == live["app2"]["Size"]
    users = {c["Id"] for c in live["df"]["Containers"] if c["ImageID"] == iid}
    assert set(e.containers) == users and users
    assert e.category == "image_layers"


def test_layer_by_chain_diff_cache_id_short_link_and_paths(
    live: dict[str, Any], scenario: dict[str, Any]
) -> None:
    report: Report = live["report"]
    app2 = live["app2"]
    diff_ids = app2["RootFS"]["Layers"]
    chain = _chain(diff_ids)
    top = _top_layer_dir(app2)  # overlay2/<cache-id>, from the API
    link = (top / "link").read_text().strip()
    root: Path = live["root"]
    queries = [
        chain,
        chain[7:20],
        diff_ids[-1],
        top.name,
        top.name[:14],
        link,
        str(top),
        str(top / "diff"),
        str(root / "overlay2" / "l" / link),
        str(root / "image" / "overlay2" / "layerdb" / "sha256" / chain.removeprefix("sha256:")),
    ]
    for q in queries:
        e = ask(report, q)
        assert (e.kind, e.key) == ("layer", chain), q
    e = ask(report, chain)
    # The top layer's size: what app:2 adds to app:1 (its only extra layer).
    assert e.docker_size == app2["Size"] - live["app1"]["Size"] > 0
    assert dict(e.facts)["dir"] == str(top)
    assert scenario["images"]["app:2"] in e.images
    assert scenario["containers"]["web"] in e.containers
    assert e.category == "image_layers"
    # A file of the layer: the file's own numbers, and the layer that holds it.
    f = top / "diff" / "app" / "VERSION"
    e = ask(report, str(f))
    assert (e.kind, e.key) == ("layer", chain)
    assert e.probe is not None and e.probe.type == "file"
    assert e.probe.size == os.lstat(f).st_size and "diff dir" in e.within


def test_container_by_name_id_and_paths(live: dict[str, Any], scenario: dict[str, Any]) -> None:
    report: Report = live["report"]
    cid = scenario["containers"]["web"]
    web = live["web"]
    upper = Path(web["GraphDriver"]["Data"]["UpperDir"])
    root: Path = live["root"]
    for q in (
        "web",
        "/web",
        cid,
        cid[:10],
        str(upper),
        str(upper.parent),
        str(upper.parent) + "-init",
        str(root / "containers" / cid),
        web["LogPath"],
        str(root / "image" / "overlay2" / "layerdb" / "mounts" / cid),
    ):
        e = ask(report, q)
        assert (e.kind, e.key) == ("container", cid), q
    e = ask(report, "web")
    assert e.docker_size == web["SizeRw"] > 0
    assert e.category == "container_layers"
    e = ask(report, web["LogPath"])
    assert e.within == "one of its log files" and e.category == "logs"
    # Removing a stopped container frees its SizeRw, as Docker counts it.
    job = ask(report, "job")
    assert job.freeing is not None
    assert job.freeing.containers == (scenario["containers"]["job"],)
    assert job.freeing.reported == live["job"]["SizeRw"]


def test_volume_by_name_and_path(live: dict[str, Any]) -> None:
    report: Report = live["report"]
    df = {v["Name"]: v for v in live["df"]["Volumes"]}
    root: Path = live["root"]
    for q in ("appdata", str(root / "volumes" / "appdata" / "_data" / "blob.bin")):
        e = ask(report, q)
        assert (e.kind, e.key) == ("volume", "appdata"), q
    e = ask(report, "unused")
    assert e.docker_size == df["unused"]["UsageData"]["Size"] > 0
    assert e.freeing is not None and e.freeing.volumes == ("unused",)
    assert e.freeing.reported == df["unused"]["UsageData"]["Size"]


def test_dangling_image_frees_its_unique_size(
    live: dict[str, Any], scenario: dict[str, Any]
) -> None:
    iid = scenario["images"]["<dangling>"]
    api = next(i for i in live["df"]["Images"] if i["Id"] == iid)
    e = ask(live["report"], iid[7:19])
    assert e.freeing is not None and e.freeing.images == (iid,)
    assert e.freeing.reported == api["Size"] - api["SharedSize"] > 0
    assert [f.kind.value for f in e.findings] == ["dangling_image"]


def test_build_cache_record_and_buildkit_only_layer(
    live: dict[str, Any], scenario: dict[str, Any]
) -> None:
    report: Report = live["report"]
    rec = next(b for b in live["df"]["BuildCache"] if "mkdir -p /bk" in b["Description"])
    e = ask(report, rec["ID"])
    assert (e.kind, e.key) == ("build_cache", rec["ID"])
    assert e.docker_size == rec["Size"]
    chain = scenario["buildkit_only_layers"]["bkgone:1"]
    e = ask(report, chain)
    assert (e.kind, e.key) == ("layer", chain)
    assert e.buildkit and not e.images and e.category == "build_cache"
    assert e.freeing is not None and chain in e.freeing.layers
    assert any(c.startswith("docker builder prune") for c in e.freeing.commands)


def test_areas_and_the_root(live: dict[str, Any]) -> None:
    report: Report = live["report"]
    root: Path = live["root"]
    e = ask(report, str(root))
    assert e.kind == "root" and e.disk == report.totals.disk_total
    e = ask(report, str(root / "network"))
    assert (e.kind, e.area, e.category) == ("area", "network", "other")
    e = ask(report, str(root / "overlay2"))
    assert e.kind == "area" and e.category is None  # it holds several categories
    cats = {label.removeprefix("category "): v for label, v in e.facts if label.startswith("cat")}
    assert {"image_layers", "container_layers"} <= set(cats)


def test_ambiguous_prefix_lists_candidates(
    live: dict[str, Any], scenario: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    report: Report = live["report"]
    # An image whose first hex digit some other object's ID shares (IDs are random: with
    # dozens of IDs on the root, one of the images has such a neighbour).
    hexid = next(
        h
        for h in sorted({i.removeprefix("sha256:") for i in scenario["images"].values()})
        if len(resolve(report, h[:1])) > 1
    )
    n = next(n for n in range(1, 64) if len(resolve(report, hexid[:n])) == 1)
    assert n > 1, "the guard needs a prefix that is ambiguous"
    cands = resolve(report, hexid[: n - 1])
    assert len(cands) >= 2 and any(c.key == "sha256:" + hexid for c in cands)
    with pytest.raises(Ambiguous):
        ask(report, hexid[: n - 1])
    rc = main(["explain", "--root", str(live["root"]), hexid[: n - 1]])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "is ambiguous" in err and hexid[:12] in err


@pytest.mark.parametrize("query", ["no-such-thing", "/etc/passwd", "{root}/no/such/file"])
def test_unknown_is_one_line_exit_2(
    live: dict[str, Any], query: str, capsys: pytest.CaptureFixture[str]
) -> None:
    q = query.format(root=live["root"])
    with pytest.raises(NotFound):
        ask(live["report"], q)
    rc = main(["explain", "--root", str(live["root"]), q])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("docker-inspector: error:")


def test_cli_text_and_json(
    live: dict[str, Any], scenario: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(live["root"])
    assert main(["explain", "--root", root, "web", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["kind"], doc["id"]) == ("container", scenario["containers"]["web"])
    assert doc["docker_size"] == live["web"]["SizeRw"]
    assert doc["removal"]["commands"] == ["docker container rm -f web"]
    assert main(["explain", "--root", root, "app:2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("app:2\n  image app:2 ")
    assert "removing it (with what uses it):" in text and "docker image rm app:2" in text
