"""Layering rules, checked in a fresh interpreter: the core never imports Textual, and only
inspector/daemon.py imports the Docker SDK."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "inspector"
CORE = sorted(
    "inspector."
    + str(p.relative_to(PKG.parent).with_suffix("")).replace("/", ".").removeprefix("inspector.")
    for p in PKG.rglob("*.py")
    if "tui" not in p.parts and p.name != "__main__.py"
)


@pytest.mark.parametrize("module", [m.removesuffix(".__init__") for m in CORE])
def test_core_module_does_not_import_textual(module: str) -> None:
    code = f"import sys, {module}; sys.exit(1 if 'textual' in sys.modules else 0)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, f"{module} imported textual\n{res.stderr}"


def test_report_pipeline_imports_neither_textual_nor_docker() -> None:
    code = (
        "import sys; from inspector.cli import main;"
        "rc = main(['report', '--root', 'sample_data/root', '--format', 'json',"
        " '-o', '/dev/null']);"
        "sys.exit(10 + rc if ('textual' in sys.modules or 'docker' in sys.modules) else rc)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PKG.parent
    )
    assert res.returncode == 0, res.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_daemon_module_imports_the_docker_sdk() -> None:
    users = sorted(
        str(p.relative_to(PKG.parent)) for p in PKG.rglob("*.py") if "docker" in _imports(p)
    )
    assert users in ([], ["inspector/daemon.py"])


def test_no_textual_import_outside_tui() -> None:
    users = sorted(
        str(p.relative_to(PKG.parent))
        for p in PKG.rglob("*.py")
        if "tui" not in p.parts and {"textual", "rich"} & _imports(p)
    )
    assert users == []
