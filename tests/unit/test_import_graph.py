"""The import graph: no cycle among the layer's or the tool's modules, and the layer never imports the tool.

Every import counts, those inside functions and under TYPE_CHECKING included: a cycle that only a lazy
import keeps from failing is still two modules that cannot be understood, or moved, apart."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = {
    "lambda_auth": ROOT / "layers" / "auth" / "lambda_auth",
    "lambda_auth_cli": ROOT / "cli" / "lambda_auth_cli",
}


def module_name(package: str, folder: Path, path: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(name: str, path: Path, is_package: bool) -> set[str]:
    """The modules `name` (at `path`) imports, resolved to absolute names."""
    base = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            anchor = base
            for _ in range(node.level - 1):
                anchor = anchor.rpartition(".")[0]
            module = f"{anchor}.{node.module}" if node.level and node.module else anchor if node.level else node.module
            assert module, f"{path}: an import without a module"
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}  # `from . import x` imports module x
    return found


def graph() -> dict[str, set[str]]:
    modules: dict[str, tuple[Path, bool]] = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            modules[module_name(package, folder, path)] = (path, path.name == "__init__.py")
    return {
        name: {target for target in imported(name, path, is_package) if target in modules and target != name}
        for name, (path, is_package) in modules.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_the_graph_sees_relative_lazy_and_type_checking_imports() -> None:
    edges = graph()
    assert "lambda_auth_cli.local_aws" in edges["lambda_auth_cli.outbox"]  # from . import local_aws
    assert "lambda_auth_cli.devtools" in edges["lambda_auth_cli.server"]  # under TYPE_CHECKING
    assert "lambda_auth.store.layout" in edges["lambda_auth.store.users"]  # from . import layout, in store/
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_of_the_layer_or_the_tool_is_in_an_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_layer_never_imports_the_tool() -> None:
    edges = graph()
    assert not {
        (name, target)
        for name, targets in edges.items()
        if name.startswith("lambda_auth.")
        for target in targets
        if target.startswith("lambda_auth_cli")
    }
