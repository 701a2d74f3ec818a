"""Session fixtures: ONE private dockerd for the whole run, and the shared scenario.

- ``dockerd``: a :class:`dockerlab.PrivateDockerd` started once in a ``tmp_path_factory``
  directory and stopped (by its PID) at the end of the session. If it cannot start, every
  test using it FAILS with the daemon's log; nothing is skipped (not even without root).
- ``scenario``: :func:`scenario.build_sample_scenario` + :func:`scenario.build_extra_scenario`
  run once in that daemon; returns the merged names → IDs dict (see ``tests/scenario.py``).
  If the daemon was still pristine, the sample data is also exported right after the sample
  part (before the extras), with the code of ``scripts/make_sample_data.py``.
- ``sample_snapshot``: the regenerated ``sample_data``-like directory's ``root`` (see
  ``tests/test_sample_data.py``).

Tests marked ``after_daemon_stop`` are moved to the very end of the run; the session daemon
is stopped (after the scenario is built) before the first of them runs, so they see a data
root that no daemon holds. Tests using ``dockerd`` or ``scenario`` get the ``dockerd`` mark.

Tests that create Docker objects should request ``scenario`` before doing so, so that the
sample export is taken from a daemon that holds only the sample scenario.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from containerdlab import (
    SAVED_IMAGES,
    ContainerdLabError,
    CtrScenario,
    PrivateContainerd,
    build_containerd_scenario,
)
from dockerlab import DockerLabError, PrivateDockerd, load_make_sample_data
from scenario import Scenario, build_extra_scenario, build_sample_scenario, merge_scenarios

#: The sample export taken by ``scenario``: its root Path, an error text, or None (the
#: daemon was not pristine when the scenario was built).
SAMPLE_SNAPSHOT = pytest.StashKey[Path | str | None]()

_DOCKER_FIXTURES = {"dockerd", "scenario", "sample_snapshot"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move ``after_daemon_stop`` tests to the end; mark tests using the daemon ``dockerd``."""
    for item in items:
        if _DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.dockerd)
    late = [i for i in items if i.get_closest_marker("after_daemon_stop")]
    if late:
        early = [i for i in items if not i.get_closest_marker("after_daemon_stop")]
        items[:] = early + late


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            f"the dockerd tests need root (euid is {os.geteuid()}): they start a private "
            "/usr/sbin/dockerd. Run them as root (CI does); they are never skipped.",
            pytrace=False,
        )


@contextlib.contextmanager
def _environ(**values: str | None) -> Iterator[None]:
    """Set (None: unset) environment variables for the session, restored after."""
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session", autouse=True)
def _bytecode_for_subprocesses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The interpreters tests start (``python -m inspector``, fresh-import checks) run from
    compiled bytecode, as an installed tool does, kept in this run's temp dir (never in the
    checkout). With PYTHONDONTWRITEBYTECODE set (as on these machines), each of them compiled
    ~120 modules again: ~0.2 s per start, hundreds of starts per run."""
    with _environ(
        PYTHONDONTWRITEBYTECODE=None,
        PYTHONPYCACHEPREFIX=str(tmp_path_factory.mktemp("pycache")),
    ):
        yield


@pytest.fixture(scope="session", autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the size cache and audit state of the whole run out of the real home dir.

    Subprocesses inherit the environment, so CLI runs see the same private dirs.
    """
    base = tmp_path_factory.mktemp("xdg")
    with _environ(XDG_CACHE_HOME=str(base / "cache"), XDG_STATE_HOME=str(base / "state")):
        yield


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDockerd]:
    """The session's private dockerd (started once, stopped by PID at session end)."""
    _require_root()
    lab = PrivateDockerd(tmp_path_factory.mktemp("dockerd"))
    try:
        lab.start()
    except DockerLabError as e:
        lab.release_leftover_mounts()
        pytest.fail(f"could not start the private dockerd:\n{e}", pytrace=False)
    try:
        yield lab
    finally:
        lab.stop()
        lab.release_leftover_mounts()  # only acts if dockerd had to be SIGKILLed


@pytest.fixture(scope="session")
def scenario(
    dockerd: PrivateDockerd,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Scenario:
    """Sample + extra scenario, built once in the session daemon; names → IDs."""
    if not dockerd.running:
        pytest.fail("the session dockerd was stopped before the scenario was built")
    pristine = dockerd.is_pristine()
    try:
        sample = build_sample_scenario(dockerd)
    except DockerLabError as e:
        pytest.fail(f"building the sample scenario failed:\n{e}\n{dockerd.log_tail()}")
    snapshot: Path | str | None = None
    if pristine:
        try:
            root = tmp_path_factory.mktemp("sample") / "root"
            load_make_sample_data().write_sample(dockerd, sample, root)
            snapshot = root
        except Exception:
            # Reported by the sample-data tests only; the rest of the suite goes on.
            snapshot = traceback.format_exc()
    request.config.stash[SAMPLE_SNAPSHOT] = snapshot
    try:
        extra = build_extra_scenario(dockerd)
    except DockerLabError as e:
        pytest.fail(f"building the extra scenario failed:\n{e}\n{dockerd.log_tail()}")
    return merge_scenarios(sample, extra)


@pytest.fixture(scope="session")
def sample_snapshot(
    scenario: Scenario,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """``root`` of a freshly regenerated sample (MANIFEST.json and README.md beside it).

    Normally the export taken by ``scenario`` from the session daemon. If that daemon
    already held other objects when the scenario was built, a second, short-lived daemon
    is started here, used for the sample scenario only, and stopped again: it runs next to
    the session daemon but is independent of it (own data root, exec root and socket).
    """
    value = request.config.stash.get(SAMPLE_SNAPSHOT, None)
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        pytest.fail(f"exporting the sample data failed:\n{value}", pytrace=False)
    base = tmp_path_factory.mktemp("sample-dockerd")
    root = base / "sample" / "root"
    with PrivateDockerd(base / "d") as lab:
        names = build_sample_scenario(lab)
        load_make_sample_data().write_sample(lab, names, root)
    return root


@pytest.fixture(scope="session")
def containerd_scenario(
    dockerd: PrivateDockerd, scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> CtrScenario:
    """A Docker 29 containerd-store data root, built once by a private containerd 1.6.

    The scenario dockerd's images (``docker save``) and images made in Python are imported
    with ``ctr``, containers are made the way Docker 29 makes them, containerd's own numbers
    are recorded (``truth``), then containerd is stopped (by its PID): tests read a root no
    daemon holds, and inject faults into copies of it (see ``tests/containerdlab.py``).
    """
    _require_root()
    base = tmp_path_factory.mktemp("containerd")
    saved = base / "saved.tar"
    try:
        dockerd.cli("save", "-o", str(saved), *SAVED_IMAGES)
    except DockerLabError as e:
        pytest.fail(f"docker save for the containerd scenario failed:\n{e}", pytrace=False)
    data_root = base / "root"
    lab = PrivateContainerd(base / "lab", data_root / "containerd" / "daemon")
    try:
        lab.start()
        return build_containerd_scenario(lab, data_root, saved, base)
    except ContainerdLabError as e:
        pytest.fail(f"the containerd scenario failed:\n{e}\n{lab.log_tail()}", pytrace=False)
    finally:
        lab.stop()


@pytest.fixture(autouse=True)
def _stop_daemon_for_late_tests(request: pytest.FixtureRequest) -> None:
    """Before an ``after_daemon_stop`` test: build the scenario, then stop the daemon."""
    if request.node.get_closest_marker("after_daemon_stop") is None:
        return
    lab: PrivateDockerd = request.getfixturevalue("dockerd")
    request.getfixturevalue("scenario")
    lab.stop()
