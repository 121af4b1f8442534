"""The package tree is the architecture (docs/architecture.md, "Layout"): each floor imports
only the floors below it, nothing imports cli/, click only in cli/, torch only inside the
functions that need it, edge/ and the non-torch runtimes never reach training/, no cycles.

Checked by parsing every module's imports (ast), the ones inside functions too: a lazy
import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "irisonnx"

# Lowest first. A module belongs to the longest prefix listed; each may import its own floor
# and the floors below. compare.stats (the one comparator) is pure numpy and imports nothing
# from irisonnx, so every floor may use it (training's verify does): it sits on the base floor.
FLOORS: list[tuple[str, ...]] = [
    ("irisonnx.errors", "irisonnx.storage", "irisonnx.config", "irisonnx.guard", "irisonnx.runlock", "irisonnx.extras", "irisonnx.ortlog", "irisonnx.assets", "irisonnx.compare.stats"),
    ("irisonnx.data",),
    ("irisonnx.modelfile",),
    ("irisonnx.training",),
    ("irisonnx.browser",),
    ("irisonnx.runtimes",),
    ("irisonnx.compare",),
    ("irisonnx.export", "irisonnx.bench"),
    ("irisonnx.report",),
    ("irisonnx.edge",),
    ("irisonnx.serve",),
    ("irisonnx.pipeline",),
    ("irisonnx.api",),
    ("irisonnx.cli", "irisonnx.__main__"),
]
# the run folder's format (reading config.json and the manifest; torch only inside Run.model())
# is what "run folder or model file" resolves through: edge and every runtime may read it.
RUN_FOLDER = "irisonnx.training.run"
TEMPLATE = PACKAGE / "edge" / "template" / "predict.py"  # a data file copied into bundles


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if p != TEMPLATE and "grpc_predict_v2_pb2" not in p.name}


def imports(path: Path, *, top_level_only: bool = False) -> list[tuple[str, int]]:
    """(dotted module, line) for every import; ``from irisonnx import x`` counts as irisonnx.x
    when x is a module. Imports under ``if TYPE_CHECKING:`` are left out (not run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    known = modules()
    out: list[tuple[str, int]] = []

    def visit(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inner = depth + isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if top_level_only and inner:
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                for a in child.names:
                    full = f"{child.module}.{a.name}"
                    out.append((full if full in known else child.module, child.lineno))
            visit(child, inner)

    visit(tree, 0)
    return out


def floor_of(name: str) -> int | None:
    best: tuple[int, int] | None = None
    for i, prefixes in enumerate(FLOORS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return None if best is None else best[0]


def test_every_module_has_a_floor() -> None:
    assert [m for m in modules() if m != "irisonnx" and floor_of(m) is None] == []


def test_no_import_reaches_a_higher_floor() -> None:
    bad = []
    for name, path in modules().items():
        mine = floor_of(name)
        for dep, line in imports(path):
            if not dep.startswith("irisonnx.") or mine is None:
                continue
            theirs = floor_of(dep)
            if theirs is not None and theirs > mine:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} (floor {mine}) imports {dep} (floor {theirs})")
    assert bad == []


def test_nothing_imports_cli_and_click_stays_in_cli() -> None:
    bad = []
    for name, path in modules().items():
        if name.startswith("irisonnx.cli") or name == "irisonnx.__main__":
            continue
        for dep, line in imports(path):
            if dep.startswith("irisonnx.cli") or dep.split(".")[0] == "click":
                bad.append(f"{name}:{line}: {dep}")
    assert bad == []


# torch's nn.Module subclasses need torch at import; nothing imports them at module level.
TORCH_MODULES = {"irisonnx.training.model"}


def test_torch_only_inside_functions() -> None:
    bad = [
        f"{name}:{line}: {dep}"
        for name, path in modules().items()
        if name not in TORCH_MODULES
        for dep, line in imports(path, top_level_only=True)
        if dep.split(".")[0] == "torch" or dep in TORCH_MODULES
    ]
    assert bad == []


# Runtimes that run the torch module (or convert it: litert's litert-torch route) read the
# user's --module through training.module.
TORCH_RUNTIMES = {"irisonnx.runtimes.torch_eager", "irisonnx.runtimes.litert"}


@pytest.mark.parametrize("prefix", ["irisonnx.edge", "irisonnx.runtimes"])
def test_edge_and_non_torch_runtimes_never_reach_training(prefix: str) -> None:
    bad = []
    for name, path in modules().items():
        if not name.startswith(prefix) or name in TORCH_RUNTIMES:
            continue
        bad += [f"{name}:{line}: {dep}" for dep, line in imports(path) if dep.startswith("irisonnx.training") and dep != RUN_FOLDER]
    assert bad == []


def test_the_comparator_is_a_leaf() -> None:
    assert [d for d, _ in imports(PACKAGE / "compare" / "stats.py") if d.startswith("irisonnx")] == []


def test_no_import_cycles_at_module_level() -> None:
    known = modules()
    graph = {n: {d for d, _ in imports(p, top_level_only=True) if d in known and d != n} for n, p in known.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(n: str, stack: list[str]) -> None:
        state[n] = 1
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d] if d in stack else [n, d])
            elif d not in state:
                walk(d, stack + [d])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            walk(n, [n])
    assert cycles == []


def test_a_violation_is_caught(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("import os\nfrom irisonnx.edge.build import build_edge\n\ndef f():\n    import torch\n")
    assert ("irisonnx.edge.build", 2) in imports(src)
    assert [d for d, _ in imports(src, top_level_only=True)] == ["os", "irisonnx.edge.build"]
    assert floor_of("irisonnx.edge.build") > floor_of("irisonnx.runtimes.base") > floor_of("irisonnx.data.golden")
