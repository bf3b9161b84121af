"""The package's layers are one-way: every import (function-local ones too) points down.

Each module belongs to one layer (:data:`LAYERS`, lowest first). A module may import its
own layer or any layer of a lower rank, never a higher one nor another layer of the same
rank; and no two modules may import each other, directly or through others. Imports under
``if TYPE_CHECKING:`` run only for the type checker: they must still point down, but they
do not make a cycle.
"""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xcomlab"

#: (layer, rank, module prefixes), lowest rank first. Layers of equal rank are independent.
LAYERS: list[tuple[str, int, tuple[str, ...]]] = [
    # errors, the frame contract, Airflow's tables, the retention policy, shared figures
    ("base", 0, ("xcomlab.errors", "xcomlab.constants", "xcomlab.policy", "xcomlab.randomness", "xcomlab.schema",
                 "xcomlab.airflow_tables", "xcomlab.audit_records", "xcomlab.units")),
    # the reference backend: imported inside every Airflow task, needs nothing but the base
    ("backend", 1, ("xcomlab.backend",)),
    ("ingest", 1, ("xcomlab.ingest",)),
    # synthetic deployments written as real exports
    ("synth", 1, ("xcomlab.synth",)),
    # matplotlib drawings of tables and duck-typed results, so results can offer .plot()
    ("plots", 1, ("xcomlab.plots",)),
    ("models", 2, ("xcomlab.models",)),
    # summaries of an export (grouped tables that merge), built from frames or streamed files
    ("summary", 2, ("xcomlab.summary",)),
    # every analysis reads a frame or a summary
    ("analysis", 3, ("xcomlab.analysis",)),
    ("simulate", 4, ("xcomlab.simulate",)),
    ("recommend", 5, ("xcomlab.recommend",)),
    # shells and tools over the public API, and the package's own lazy front door
    ("shells", 6, ("xcomlab.report", "xcomlab.report_actions", "xcomlab.report_markdown", "xcomlab.widgets", "xcomlab.cli", "xcomlab.console", "xcomlab.__main__",
                   "xcomlab.teach", "xcomlab.measure", "xcomlab.disk_validation", "xcomlab")),
]


@dataclass(frozen=True)
class Import:
    """One import of an xcomlab module by another."""

    source: str
    target: str
    path: str
    line: int
    type_only: bool

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def _imports(name: str, path: Path, modules: dict[str, Path], root: Path = PACKAGE.parent) -> list[Import]:
    """Every xcomlab import in ``path``, at any depth, resolved to the module it loads."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    rel = str(path.relative_to(root))
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.body:
                    visit_one(sub, True)
                for sub in child.orelse:
                    visit_one(sub, type_only)
            else:
                visit_one(child, type_only)

    def visit_one(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "xcomlab":
                    found.append(Import(name, alias.name, rel, node.lineno, type_only))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "xcomlab":
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    target = sub if sub in modules else module
                    found.append(Import(name, target, rel, node.lineno, type_only))
        visit(node, type_only)

    visit(tree, False)
    return found


def _layer(module: str) -> tuple[str, int] | None:
    best: tuple[int, str, int] | None = None
    for layer, rank, prefixes in LAYERS:
        for prefix in prefixes:
            # the bare package name places the package's own __init__ only
            inside = module == prefix or (prefix != "xcomlab" and module.startswith(prefix + "."))
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), layer, rank)
    return None if best is None else (best[1], best[2])


MODULES = _modules()
IMPORTS = [imp for name, path in MODULES.items() for imp in _imports(name, path, MODULES)]


def test_the_scan_sees_the_package() -> None:
    """The walk finds the modules and their imports (function-local ones included)."""
    assert {"xcomlab.errors", "xcomlab.backend.store", "xcomlab.analysis.profile"} <= set(MODULES)
    assert any(i.source == "xcomlab.analysis.profile" and i.target == "xcomlab.plots" for i in IMPORTS)
    assert any(i.type_only for i in IMPORTS)


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in MODULES if _layer(m) is None)
    assert not unplaced, f"modules in no layer (add them to LAYERS in {__file__}): {unplaced}"


def test_no_upward_or_sideways_import() -> None:
    bad = []
    for imp in IMPORTS:
        src, dst = _layer(imp.source), _layer(imp.target)
        if src is None or dst is None or src[0] == dst[0]:
            continue
        if dst[1] >= src[1]:
            way = "upward" if dst[1] > src[1] else "sideways"
            bad.append(f"{imp.where()}: {imp.source} ({src[0]}, rank {src[1]}) imports {imp.target} "
                       f"({dst[0]}, rank {dst[1]}): {way}")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a closed path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := dfs(node)):
            return found
    return None


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for imp in IMPORTS:
        if imp.type_only or imp.source == imp.target:
            continue
        graph.setdefault(imp.source, set()).add(imp.target)
        where.setdefault((imp.source, imp.target), imp.where())
    cycle = _cycle(graph)
    if cycle:
        steps = [f"{a} -> {b} ({where[a, b]})" for a, b in itertools.pairwise(cycle)]
        pytest.fail("import cycle:\n" + "\n".join(steps))


def test_the_checks_catch_what_they_claim(tmp_path: Path) -> None:
    """An upward import and a two-module cycle, written to disk, are both reported."""
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    up = tmp_path / "xcomlab" / "schema.py"
    up.parent.mkdir()
    up.write_text("def f():\n    from xcomlab.recommend import recommend\n")
    found = _imports("xcomlab.schema", up, {"xcomlab.schema": up, "xcomlab.recommend": up}, tmp_path)
    assert [(i.target, i.line) for i in found] == [("xcomlab.recommend", 2)]
    src, dst = _layer(found[0].source), _layer(found[0].target)
    assert src is not None and dst is not None and dst[1] > src[1]
    assert _layer("xcomlab.not_placed_yet") is None
