"""The package's shape (see ARCHITECTURE.md): no import cycles inside ``rfm_helpers`` and
small modules in the report layer.

Imports are read with :mod:`ast`, including the ones inside functions (a cycle hidden in a
lazy import is still two modules that need each other: a third one is missing).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rfm_helpers"
#: "About 500 lines is a signal to split" (ARCHITECTURE.md).
MAX_LINES = 500


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports (anywhere in the file)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # "from pkg import sub" imports the submodule when there is one
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # "import rfm_helpers.report.i18n" -> that module
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    mods = _modules(root)
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_in_the_package():
    found = cycles(import_graph())
    assert found == [], "modules that import each other (directly or in a ring): " + \
        "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_check_sees_lazy_and_relative_imports(tmp_path):
    """The check itself: a ring through a function-level relative import is found."""
    pkg = tmp_path / "rfm_helpers"
    (pkg / "report").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "report" / "__init__.py").write_text("")
    (pkg / "runner.py").write_text("from .report import index\n")
    (pkg / "report" / "index.py").write_text("def f():\n    from ..runner import x\n")
    (pkg / "base.py").write_text("import rfm_helpers.report.index as i\n")
    graph = import_graph(pkg)
    assert graph["rfm_helpers.base"] == {"rfm_helpers.report.index"}
    assert cycles(graph) == [["rfm_helpers.report.index", "rfm_helpers.runner"]]


@pytest.mark.parametrize("path", sorted((PACKAGE / "report").rglob("*.py")), ids=lambda p: p.name)
def test_report_modules_stay_small(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)} has {n} lines (> {MAX_LINES}): split it"


def test_base_modules_do_not_reach_into_the_report_runner():
    """params/paths/redaction are the base: they may ask the i18n core which languages
    exist, but never import the orchestration, pages or the pipeline."""
    graph = import_graph()
    for base in ("rfm_helpers.paths", "rfm_helpers.redaction", "rfm_helpers.params"):
        bad = {m for m in graph[base] if m.startswith("rfm_helpers.report.") and m != "rfm_helpers.report.i18n"
               or m == "rfm_helpers.pipeline"}
        assert bad == set(), f"{base} imports {sorted(bad)}"
    assert graph["rfm_helpers.paths"] == set() and graph["rfm_helpers.redaction"] == set()
