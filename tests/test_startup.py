"""Start-up cost: each command imports only what it uses (issue 14).

Checked in a fresh interpreter: `--version` loads no stage of the pipeline, and `report`
loads neither a face it does not show (audit, TUI) nor a library it does not need
(Textual, Rich, the Docker SDK, prometheus_client, jsonschema).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "root"


def loaded_after(argv: list[str]) -> set[str]:
    """Top-level and inspector.* modules loaded by `docker-inspector ARGV`, in a new process."""
    code = (
        "import json, sys\n"
        "from inspector.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "sys.stdout = sys.__stdout__\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    return set(json.loads(res.stdout.strip().splitlines()[-1]))


def test_version_loads_no_stage() -> None:
    mods = loaded_after(["--version"])
    stages = {
        m
        for m in mods
        if m.startswith(
            (
                "inspector.model",
                "inspector.analysis",
                "inspector.audit",
                "inspector.readers",
                "inspector.measure",
                "inspector.stores",
                "inspector.pipeline",
                "inspector.root",
            )
        )
    }
    assert stages == set(), stages


def test_report_loads_no_other_face_and_no_heavy_library() -> None:
    mods = loaded_after(["report", "--root", str(SAMPLE), "--format", "json", "-o", "/dev/null"])
    assert "inspector.pipeline" in mods  # it did run the report
    unwanted = {"textual", "rich", "docker", "prometheus_client", "jsonschema", "inspector.tui"}
    assert not (unwanted & {m.split(".")[0] for m in mods} | (unwanted & mods)), sorted(
        m for m in mods if m.split(".")[0] in unwanted or m in unwanted
    )
    assert not {m for m in mods if m.startswith("inspector.audit")}
