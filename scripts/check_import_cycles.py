"""Import cycles between lart_demo modules, from the source (nothing is imported).

Usage: python scripts/check_import_cycles.py [--show-local]

Builds the graph of module-level imports (imports under `if TYPE_CHECKING:` are left out: they never
run) and prints every cycle; exits 1 when there is one. `--show-local` also lists the imports made
inside functions, which the project keeps for heavy or optional dependencies only.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = "lart_demo"
ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, current: str, modules: set[str]) -> set[str]:
    """The package modules an import statement loads (a `from pkg import name` may name a submodule)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = current.split(".")[: len(current.split(".")) - node.level + (current in _PACKAGES)]
            base = ".".join([*anchor, base] if base else anchor)
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    out = set()
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name and name.startswith(PACKAGE):
            out.add(name)
    return out


_PACKAGES: set[str] = set()


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level imports, imports inside functions) per module, package-internal only."""
    files = sorted((ROOT / PACKAGE).rglob("*.py"))
    modules = {module_name(f) for f in files}
    _PACKAGES.update(module_name(f) for f in files if f.name == "__init__.py")
    top: dict[str, set[str]] = {m: set() for m in modules}
    local: dict[str, set[str]] = {m: set() for m in modules}

    for file in files:
        name = module_name(file)
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))

        def visit(node: ast.AST, in_function: bool, name: str = name) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child):
                    continue
                if isinstance(child, ast.Import | ast.ImportFrom):
                    (local if in_function else top)[name] |= _targets(child, name, modules) - {name}
                inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                visit(child, inner)

        visit(tree, False)
    # importing a.b.c runs a/__init__ and a/b/__init__ first
    for name in modules:
        for target in list(top[name]):
            parent = target.rpartition(".")[0]
            while parent and parent != name and parent in modules and not name.startswith(parent + "."):
                top[name].add(parent)
                parent = parent.rpartition(".")[0]
    return top, local


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                components.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return components


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show-local", action="store_true", help="also list imports made inside functions")
    args = parser.parse_args()
    top, local = import_graph()
    cycles = find_cycles(top)
    for cycle in cycles:
        print("import cycle: " + " <-> ".join(cycle))
    if args.show_local:
        for name in sorted(local):
            for target in sorted(local[name]):
                print(f"in-function import: {name} -> {target}")
    n_local = sum(len(v) for v in local.values())
    print(
        f"{len(top)} modules, {sum(len(v) for v in top.values())} module-level imports, {len(cycles)} cycles; "
        f"{n_local} package modules imported inside functions"
    )
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
