"""No import cycle anywhere in ``atom/``: the module graph, read from the source with ``ast``, is acyclic.

Every import counts, also the ones inside functions (lazy imports only hide a cycle until the function runs)
and under ``if TYPE_CHECKING:`` (a type hint that needs a cycle is a design cycle). Importing ``a.b.c``
also imports the packages ``a`` and ``a.b`` (their ``__init__``), so those are edges too, except packages
that contain the importing module (Python is already inside them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import atom

ROOT = Path(atom.__file__).resolve().parent


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Absolute names of everything ``tree`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """``module -> modules it imports`` over every ``*.py`` under ``root`` (only edges inside the package)."""
    files = {module_name(path, root): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for name in imported_names(tree, module, path.name == "__init__.py"):
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                prefix = ".".join(parts[:end])
                inside = module == prefix or module.startswith(prefix + ".")
                if prefix in files and not inside:
                    targets.add(prefix)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_atom_has_no_import_cycle():
    graph = import_graph(ROOT)
    assert len(graph) > 50, "the walk found too few modules"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("lazy", [False, True])
def test_an_injected_cycle_is_found(tmp_path, lazy):
    package = tmp_path / "pkg"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "inner" / "__init__.py").write_text("from pkg.inner.a import A\n")
    (package / "inner" / "a.py").write_text("from pkg.b import B\nA = 1\n")
    body = "def f():\n    from .inner import A\n    return A\n" if lazy else "from pkg.inner import A\n"
    (package / "b.py").write_text(body + "B = 2\n")
    cycle = find_cycle(import_graph(package))
    assert cycle is not None and set(cycle) >= {"pkg.inner.a", "pkg.b"}
    (package / "b.py").write_text("B = 2\n")
    assert find_cycle(import_graph(package)) is None

