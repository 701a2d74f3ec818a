"""Layering rules, checked in a fresh interpreter: the core never imports Textual, and only
inspector/daemon.py imports the Docker SDK. And, on the source: the TUI hands Textual only
inert text (inspector/tui/safe.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "inspector"
CORE = sorted(
    "inspector."
    + str(p.relative_to(PKG.parent).with_suffix("")).replace("/", ".").removeprefix("inspector.")
    for p in PKG.rglob("*.py")
    if "tui" not in p.parts and p.name != "__main__.py"
)


MODULES = [m.removesuffix(".__init__") for m in CORE]


@pytest.fixture(scope="module")
def fresh_imports() -> dict[str, subprocess.CompletedProcess[str]]:
    """Each core module imported alone in a fresh interpreter, four at a time (~90 starts)."""

    def one(module: str) -> subprocess.CompletedProcess[str]:
        code = f"import sys, {module}; sys.exit(1 if 'textual' in sys.modules else 0)"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    with ThreadPoolExecutor(4) as pool:
        return dict(zip(MODULES, pool.map(one, MODULES), strict=True))


@pytest.mark.parametrize("module", MODULES)
def test_core_module_does_not_import_textual(
    module: str, fresh_imports: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    res = fresh_imports[module]
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


# -- no import circles through the faces ----------------------------------------------------
#
# audit once imported cli (for warn and ExitCode) while cli imported audit, and the
# Prometheus presenter imported audit for its result type. Lazy imports hid both circles
# from Python; they are checked here on the source (every import, lazy ones included) and
# in a fresh interpreter. lint-imports (pyproject.toml) holds the layers as a whole.

#: Modules that must be in no import cycle, and each one's submodules.
CIRCLE_FREE = ("inspector.cli", "inspector.diagnostics", "inspector.audit", "inspector.report")


def _module_names() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in PKG.rglob("*.py")
    }


def _import_graph() -> dict[str, set[str]]:
    """Module → the inspector modules its source imports anywhere (function bodies too)."""
    modules = _module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:  # `from inspector import audit` imports a module
                    sub = f"{node.module}.{a.name}"
                    targets.add(sub if sub in modules else node.module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_faces_and_presenters_are_in_no_import_cycle() -> None:
    graph = _import_graph()
    cli_importers = sorted(m for m, targets in graph.items() if "inspector.cli" in targets)
    assert cli_importers == ["inspector.__main__"]
    bad = [
        c
        for c in _cycles(graph)
        if any(m == top or m.startswith(top + ".") for m in c for top in CIRCLE_FREE)
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("inspector.audit", ["inspector.cli"]),
        ("inspector.report.prometheus", ["inspector.audit", "inspector.cli"]),
        ("inspector.cli", []),
    ],
)
def test_face_imports_first_in_a_fresh_interpreter(module: str, absent: list[str]) -> None:
    # Imported first, a module in a circle meets a half-initialised partner (ImportError).
    loaded = f"' '.join(m for m in {absent!r} if m in sys.modules)"
    code = f"import sys, {module}; sys.exit({loaded} or None)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, f"{module} imported {res.stderr}"


# -- the TUI hands Textual only inert text ------------------------------------------------
#
# Strings from the data root are hostile (a label key once wrote to the operator's clipboard
# through OSC 52). inspector/tui/safe.py is the one way text reaches the screen: its Inert
# type escapes control characters in every constructor and is never parsed as markup. The
# rules below keep every other module on that path, so a `Text(key)` or a `Static(name)` or an
# f-string handed to `update` fails here before it can reach a terminal.

TUI = PKG / "tui"
SAFE = TUI / "safe.py"

#: (file, function) left out for now: someone else is changing these; check them (remove the
#: entry) once that change is in. "*" is the whole file.
PENDING = {}

#: Widgets and Rich renderables that show what they are given (positional arguments and
#: SINK_KEYWORDS).
SINK_CALLS = {
    "Button",
    "Checkbox",
    "Collapsible",
    "Digits",
    "FilterInput",
    "Group",
    "Input",
    "Label",
    "Link",
    "Markdown",
    "Option",
    "Panel",
    "Pretty",
    "RadioButton",
    "Rule",
    "Static",
    "Tab",
    "TabPane",
    "Table",
}
#: Methods that show what they are given (positional arguments and SINK_KEYWORDS).
SINK_METHODS = {
    "add_column",
    "add_columns",
    "add_option",
    "add_row",
    "add_rows",
    "notify",
    "update",
    "update_cell",
    "update_cell_at",
    "write",
    "write_line",
}
SINK_KEYWORDS = {
    "caption",
    "content",
    "footer",
    "header",
    "label",
    "message",
    "placeholder",
    "prompt",
    "renderable",
    "subtitle",
    "title",
    "tooltip",
    "value",
}
#: Attributes that Textual shows when assigned.
SINK_ATTRIBUTES = {
    "border_subtitle",
    "border_title",
    "placeholder",
    "renderable",
    "sub_title",
    "title",
    "tooltip",
    "value",
}
#: Types whose values are inert: Inert text, and Rich containers whose every argument and
#: row is itself checked as a sink here.
SAFE_TYPES = {"Inert", "Group", "Table"}
WRAPPERS = {"list", "tuple", "Sequence", "Iterable", "Iterator", "Optional", "None"}
FORBIDDEN_MODULES = {"rich.text", "rich.markup", "textual.content", "textual.markup"}


def _annotation_names(node: ast.expr | None) -> set[str] | None:
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        node = ast.parse(node.value, mode="eval").body
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr)
        elif isinstance(sub, ast.Constant) and sub.value not in (None, Ellipsis):
            return {"<literal>"}
    return names


def _safe_annotation(node: ast.expr | None) -> bool:
    names = _annotation_names(node)
    if not names:
        return False
    return names <= SAFE_TYPES | WRAPPERS and bool(names & SAFE_TYPES)


class TuiTypes:
    """What the TUI's own annotations promise (mypy holds the code to them)."""

    def __init__(self, trees: list[ast.Module]) -> None:
        returns: dict[str, list[bool]] = {}
        attributes: dict[str, list[bool]] = {}
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    returns.setdefault(node.name, []).append(_safe_annotation(node.returns))
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Attribute):
                    safe = _safe_annotation(node.annotation)  # self.x: T = ...
                    attributes.setdefault(node.target.attr, []).append(safe)
                elif isinstance(node, ast.ClassDef):
                    for field in node.body:  # dataclass fields and class attributes
                        if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name):
                            safe = _safe_annotation(field.annotation)
                            attributes.setdefault(field.target.id, []).append(safe)
        #: Functions (by name) that return inert values: every definition says so.
        self.producers = {n for n, safe in returns.items() if all(safe)} | {"Group", "Table"}
        #: Attributes (by name) that hold inert values: every declaration says so.
        self.attributes = {n for n, safe in attributes.items() if all(safe)}


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


class InertChecker(ast.NodeVisitor):
    """Violations of the rules in one module of inspector/tui/."""

    def __init__(self, path: str, types: TuiTypes) -> None:
        self.path = path
        self.types = types
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.problems: list[str] = []

    # -- what counts as inert ----------------------------------------------------------

    def _bindings(self, name: str) -> tuple[list[ast.expr], bool] | None:
        """Values bound to `name` in the enclosing function; True when annotated as inert.

        None when it is bound in a way that cannot be checked (a loop, `+=`, ...).
        """
        if not self.functions:
            return None
        fn = self.functions[-1]
        args = fn.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            if arg.arg == name:
                return [], _safe_annotation(arg.annotation)
        values: list[ast.expr] = []
        for node in ast.walk(fn):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.target.id == name:
                    if _safe_annotation(node.annotation):
                        return [], True
                    return None
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        values.append(node.value)
                    elif isinstance(target, ast.Tuple | ast.List) and any(
                        isinstance(t, ast.Name) and t.id == name for t in ast.walk(target)
                    ):
                        return None  # unpacked: no single value to judge
            elif isinstance(node, ast.NamedExpr) and node.target.id == name:
                values.append(node.value)
            elif isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor | ast.With):
                targets = [node.target] if not isinstance(node, ast.With) else []
                targets += [i.optional_vars for i in getattr(node, "items", []) if i.optional_vars]
                if any(
                    isinstance(t, ast.Name) and t.id == name for x in targets for t in ast.walk(x)
                ):
                    return None
        return (values, False) if values else None

    def inert(self, node: ast.expr, seen: frozenset[str] = frozenset()) -> bool:
        if isinstance(node, ast.Constant):
            return node.value is None or isinstance(node.value, str)  # our own literal
        if isinstance(node, ast.IfExp):
            return self.inert(node.body, seen) and self.inert(node.orelse, seen)
        if isinstance(node, ast.BoolOp):
            return all(self.inert(v, seen) for v in node.values)
        if isinstance(node, ast.Starred):
            return self.inert(node.value, seen)
        if isinstance(node, ast.Call):
            return _call_name(node) in self.types.producers
        if isinstance(node, ast.Attribute):
            return node.attr in self.types.attributes
        if isinstance(node, ast.Name) and node.id not in seen:
            bound = self._bindings(node.id)
            if bound is None:
                return False
            values, annotated = bound
            return annotated or (
                bool(values) and all(self.inert(v, seen | {node.id}) for v in values)
            )
        return False  # f-strings, concatenation, subscripts, comprehensions, ...

    def escaped_plain(self, node: ast.expr) -> bool:
        """A literal, or the escaped string of inert text (for APIs that take only str)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return True
        if isinstance(node, ast.IfExp):
            return self.escaped_plain(node.body) and self.escaped_plain(node.orelse)
        return isinstance(node, ast.Attribute) and node.attr == "plain" and self.inert(node.value)

    # -- the rules ---------------------------------------------------------------------

    def report(self, node: ast.AST, what: str) -> None:
        fn = self.functions[-1].name if self.functions else "<module>"
        if (self.path, fn) in PENDING or (self.path, "*") in PENDING:
            return
        self.problems.append(f"{self.path}:{getattr(node, 'lineno', 0)} ({fn}): {what}")

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name in FORBIDDEN_MODULES:
                self.report(node, f"imports {alias.name}: build text with inspector.tui.safe")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module in FORBIDDEN_MODULES:
            self.report(node, f"imports {node.module}: build text with inspector.tui.safe")

    def visit_Return(self, node: ast.Return) -> None:
        fn = self.functions[-1] if self.functions else None
        is_render = fn is not None and fn.name == "render"
        if is_render and node.value is not None and not self.inert(node.value):
            self.report(node, "render() returns something that is not inert")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            shown = isinstance(target, ast.Attribute) and target.attr in SINK_ATTRIBUTES
            if shown and not self.inert(node.value):
                self.report(node, f".{ast.unparse(target)} is set to something that is not inert")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node)
        func = node.func
        base = func.value if isinstance(func, ast.Attribute) else None
        if name in ("Text", "Inert") or (
            isinstance(base, ast.Name) and base.id in ("Text", "Inert")
        ):
            self.report(node, "builds text directly: use inspector.tui.safe.t() or line()")
        if name in ("from_markup", "from_ansi"):
            self.report(node, f"parses text with {name}()")
        for kw in node.keywords:
            if kw.arg == "markup" and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is False
            ):
                self.report(node, "markup= must be False")
        if name == "notify" and isinstance(func, ast.Attribute):
            self._check_notify(node)
        elif (name in SINK_CALLS and isinstance(func, ast.Name)) or (
            name in SINK_METHODS and isinstance(func, ast.Attribute)
        ):
            shown = [*node.args, *(kw.value for kw in node.keywords if kw.arg in SINK_KEYWORDS)]
            for arg in shown:
                # Input takes only a str: escaped text (`<inert>.plain`) is what it may show.
                if not self.inert(arg) and not (name == "Input" and self.escaped_plain(arg)):
                    self.report(arg, f"{name}() is given {ast.unparse(arg)!r}, which is not inert")
        self.generic_visit(node)

    def _check_notify(self, node: ast.Call) -> None:
        # notify() takes only str: the message must be a literal or `<inert>.plain` (escaped),
        # and markup=False keeps the brackets in it literal.
        if not any(
            kw.arg == "markup" and isinstance(kw.value, ast.Constant) and kw.value.value is False
            for kw in node.keywords
        ):
            self.report(node, "notify() without markup=False")
        shown = [*node.args, *(kw.value for kw in node.keywords if kw.arg in SINK_KEYWORDS)]
        for arg in shown:
            if not self.escaped_plain(arg):
                self.report(arg, f"notify() is given {ast.unparse(arg)!r}: use t(...).plain")


def _tui_sources() -> dict[str, str]:
    return {
        str(p.relative_to(PKG.parent)): p.read_text()
        for p in sorted(TUI.rglob("*.py"))
        if p != SAFE
    }


def inert_violations(sources: dict[str, str]) -> list[str]:
    trees = {path: ast.parse(src) for path, src in sources.items()}
    known = [ast.parse(src) for src in [*_tui_sources().values(), SAFE.read_text()]]
    types = TuiTypes([*known, *trees.values()])
    problems: list[str] = []
    for path, tree in trees.items():
        checker = InertChecker(path, types)
        checker.visit(tree)
        problems += checker.problems
    return problems


def test_tui_shows_data_only_as_inert_text() -> None:
    problems = inert_violations(_tui_sources())
    assert problems == [], "\n".join(problems)


BAD = {
    "text_import": "from rich.text import Text\n",
    "text_of_a_key": "def f(grid, key: str, v: str) -> None:\n    grid.add_row(Text(key), t(v))\n",
    "assemble": "def f(name: str) -> None:\n    Static(Text.assemble('x', name))\n",
    "raw_str_to_static": "def f(name: str) -> None:\n    yield Static(name)\n",
    "f_string_to_update": "def f(pane, name: str) -> None:\n    pane.update(f'Volume {name}')\n",
    "concatenation": "def f(pane, name: str) -> None:\n    pane.update('Volume ' + name)\n",
    "raw_cell": "def f(table, name: str) -> None:\n    table.add_row(t('x'), name)\n",
    "unannotated_list": "def f(names) -> None:\n    parts = []\n    Group(*parts)\n",
    "loop_variable": "def f(table, ns) -> None:\n    for n in ns:\n        table.add_row(n)\n",
    "notify_raw": "def f(self, m: str) -> None:\n    self.notify(m, markup=False)\n",
    "notify_markup": "def f(self, m: str) -> None:\n    self.notify(t(m).plain)\n",
    "title": "def f(self, name: str) -> None:\n    self.title = name\n",
    "direct_inert": "def f(name: str) -> None:\n    Static(Inert(name))\n",
    "markup_on": "def f(self) -> None:\n    self.notify('x', markup=True)\n",
    "parse_markup": "def f(name: str) -> None:\n    Static(Inert.from_markup(name))\n",
    "str_header": "def f(table, name: str) -> None:\n    table.add_column(name)\n",
    "render": "class W:\n    def render(self) -> str:\n        return self.name\n",
}

GOOD = """
def f(self, pane, table, name: str, text: Inert) -> None:
    pane.update(t(name))
    pane.update(line(("Volume ", "bold"), name))
    pane.update(text)
    label = line(name, style="bold")
    table.add_column(label, width=3)
    table.add_row("literal", t(name), render_sections([]) if name else line())
    self.notify(t(name).plain, title="Loading failed" if name else "Export failed", markup=False)
    parts: list[Inert | Table] = []
    Group(*parts)
"""


@pytest.mark.parametrize("name", list(BAD))
def test_inert_guard_catches(name: str) -> None:
    assert inert_violations({"inspector/tui/x.py": BAD[name]}), BAD[name]


def test_inert_guard_accepts_the_safe_forms() -> None:
    assert inert_violations({"inspector/tui/x.py": GOOD}) == []
