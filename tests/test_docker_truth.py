"""The offline numbers must equal the Engine API's, exactly, on a real private dockerd."""

from __future__ import annotations

from typing import Any

import pytest

from inspector import pipeline
from inspector.analysis.results import Report

pytestmark = pytest.mark.dockerd


def offline(root: Any) -> Report:
    """Read and analyse a data root, as the CLI does."""
    return pipeline.run(str(root))


def capture_truth(lab: Any) -> dict[str, Any]:
    """Everything the tests compare with, from the Engine API of `lab`."""
    api = lab.api
    df = api.df()
    images = {i["Id"]: api.inspect_image(i["Id"]) for i in df["Images"]}
    containers = {c["Id"]: api.inspect_container(c["Id"]) for c in df["Containers"]}
    return {"df": df, "images": images, "containers": containers}


def assert_matches_api(report: Report, truth: dict[str, Any], *, live: bool = True) -> None:
    """Compare every number Docker reports with the offline report."""
    df = truth["df"]
    images = {r.image.id: r for r in report.images}
    listed = {r.image.id for r in report.images if not r.intermediate}
    assert listed == {i["Id"] for i in df["Images"]}
    for api_img in df["Images"]:
        row = images[api_img["Id"]]
        assert row.size == api_img["Size"], api_img["RepoTags"]
        assert row.shared_size == api_img["SharedSize"], api_img["RepoTags"]
        assert row.unique_size == api_img["Size"] - api_img["SharedSize"]
        assert len(row.containers) == api_img["Containers"], api_img["RepoTags"]
        assert sorted(row.image.tags) == sorted(
            t for t in (api_img["RepoTags"] or []) if t != "<none>:<none>"
        )
        assert row.dangling == (not row.image.tags and not row.children)
    assert report.totals.docker_images_size == df["LayersSize"]

    containers = {r.container.id: r for r in report.containers}
    assert set(containers) == {c["Id"] for c in df["Containers"]}
    for api_c in df["Containers"]:
        row = containers[api_c["Id"]]
        assert row.size_rw == api_c.get("SizeRw", 0), api_c["Names"]
        assert row.virtual_size == api_c["SizeRootFs"], api_c["Names"]
        if live:
            assert row.container.state == api_c["State"], api_c["Names"]

    volumes = {r.volume.name: r for r in report.volumes}
    df_vols = {v["Name"]: v for v in df["Volumes"] or []}
    assert {r.volume.name for r in report.volumes if r.in_docker_df} == set(df_vols)
    for name, api_v in df_vols.items():
        assert volumes[name].size == api_v["UsageData"]["Size"], name
        assert volumes[name].links == api_v["UsageData"]["RefCount"], name
        assert volumes[name].volume.driver == api_v["Driver"]

    records = {r.id: r for r in report.inventory.buildkit.records}
    api_cache = {b["ID"]: b for b in df.get("BuildCache") or []}
    assert set(records) == set(api_cache)
    for bid, api_b in api_cache.items():
        assert records[bid].size == api_b["Size"], bid
        assert records[bid].shared == api_b["Shared"], bid
    assert report.totals.docker_build_cache_size == sum(b["Size"] for b in api_cache.values())


def assert_dirs_match_graphdriver(report: Report, truth: dict[str, Any]) -> None:
    """Image layer dirs and container upper dirs equal GraphDriver.Data, in order."""
    images = {r.image.id: r for r in report.images}
    layers = {r.layer.chain_id: r for r in report.layers}
    for iid, ins in truth["images"].items():
        data = ins["GraphDriver"]["Data"]
        row = images[iid]
        dirs = [layers[ch].diff_dir for ch in row.chain]
        assert data["UpperDir"] == dirs[-1]
        lower = data.get("LowerDir")
        assert (lower.split(":") if lower else []) == list(reversed(dirs[:-1]))
    containers = {r.container.id: r for r in report.containers}
    for cid, ins in truth["containers"].items():
        data = ins["GraphDriver"]["Data"]
        row = containers[cid]
        assert row.rw_dir == data["UpperDir"]
        image_dirs = [layers[ch].diff_dir for ch in images[ins["Image"]].chain]
        assert data["LowerDir"].split(":") == [row.init_dir, *reversed(image_dirs)]


@pytest.fixture(scope="session")
def live_truth(dockerd: Any, scenario: dict[str, Any]) -> dict[str, Any]:
    """The Engine API's view while the daemon runs (captured once)."""
    return capture_truth(dockerd)


def test_scenario_is_rich_enough(live_truth: dict[str, Any]) -> None:
    """Guard: the scenario really has what the comparisons below rely on."""
    df = live_truth["df"]
    assert any(i["SharedSize"] > 0 for i in df["Images"])
    assert any(i["RepoTags"] in (None, [], ["<none>:<none>"]) for i in df["Images"])
    states = {c["State"] for c in df["Containers"]}
    assert {"running", "exited", "created"} <= states
    assert any(c.get("SizeRw", 0) > 0 for c in df["Containers"] if c["State"] == "created")
    assert any(v["UsageData"]["RefCount"] == 0 for v in df["Volumes"])
    assert any(v["UsageData"]["RefCount"] > 0 and v["UsageData"]["Size"] > 0 for v in df["Volumes"])
    assert any(b["Shared"] for b in df["BuildCache"]) and any(
        not b["Shared"] for b in df["BuildCache"]
    )


def test_live_root_matches_engine_api(dockerd: Any, live_truth: dict[str, Any]) -> None:
    report = offline(dockerd.data_root)
    assert_matches_api(report, live_truth)


def test_layer_dirs_match_graphdriver_data(dockerd: Any, live_truth: dict[str, Any]) -> None:
    report = offline(dockerd.data_root)
    assert_dirs_match_graphdriver(report, live_truth)


def test_layer_map_is_consistent(dockerd: Any, live_truth: dict[str, Any]) -> None:
    """Every layer's dir exists, its link resolves via l/, and lower lists its parents."""
    report = offline(dockerd.data_root)
    inv = report.inventory
    by_chain = {r.layer.chain_id: r for r in report.layers}
    for row in report.layers:
        assert row.dir_exists, row.layer.chain_id
        d = inv.storage_dirs[row.layer.cache_id]
        if d.link is not None:
            assert inv.short_links[d.link].target_dir == row.layer.cache_id
        parents = []
        p = row.layer.parent
        while p:
            parents.append(by_chain[p].link)
            p = by_chain[p].layer.parent
        assert [x.removeprefix("l/") for x in row.lower] == parents


def test_clean_live_root_has_no_integrity_findings(
    dockerd: Any, live_truth: dict[str, Any]
) -> None:
    report = offline(dockerd.data_root)
    bad = {
        "orphan_dir",
        "missing_diff_dir",
        "broken_link",
        "leftover_removing_dir",
        "container_without_config",
        "dangling_layer",
        "incomplete_layer",
        "unreadable",
    }
    assert [f for f in report.findings if f.kind.value in bad] == []


def test_expected_findings_on_live_root(dockerd: Any, scenario: dict[str, Any]) -> None:
    report = offline(dockerd.data_root)
    kinds = {(f.kind.value, f.object_id) for f in report.findings}
    assert ("unused_volume", "unused") in kinds
    assert ("dangling_image", scenario["images"]["<dangling>"]) in kinds


@pytest.mark.after_daemon_stop
def test_stopped_root_matches_engine_api(dockerd: Any, live_truth: dict[str, Any]) -> None:
    """After the daemon stops, the offline view still equals what the API said while live."""
    dockerd.stop()
    assert not dockerd.running
    report = offline(dockerd.data_root)
    assert_matches_api(report, live_truth, live=False)
    assert_dirs_match_graphdriver(report, live_truth)
    assert not [f for f in report.findings if f.kind.value in ("orphan_dir", "missing_diff_dir")]
