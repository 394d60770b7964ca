"""The package's folders show the flow: each layer imports only from itself and the layers to its right.

``cli -> jobs -> serve -> io -> adherence -> plan -> protocol -> errors`` (README, "How the code is laid
out"). Every module under dosing/ is read with :mod:`ast`; module-level and function-level imports count
(a lazy import is still a dependency), imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "dosing"
LAYERS = ("cli", "jobs", "serve", "io", "adherence", "plan", "protocol", "errors")
TOP = {"dosing": "cli", "dosing.__main__": "cli", "dosing.cli": "cli", "dosing.errors": "errors"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    if module in TOP:
        return TOP[module]
    return module.split(".")[1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, source: str, known: set[str], *, is_package: bool | None = None) -> set[str]:
    """The dosing modules that ``module`` imports at run time (relative imports resolved; a module is
    a package when its file is ``__init__.py``)."""
    if is_package is None:
        is_package = module in known and module_is_package(module, known)
    package = module if is_package else module.rsplit(".", 1)[0]
    found: set[str] = set()
    tree = ast.parse(source)
    skip_type_checking = _type_checking_is_typings(tree)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and skip_type_checking and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "dosing")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] == "dosing":
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in known else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in known} - {module}


def _type_checking_is_typings(tree: ast.Module) -> bool:
    """``if TYPE_CHECKING:`` blocks are skipped only when the name is typing's and nothing rebinds it."""
    nodes = list(ast.walk(tree))
    imported = any(
        (isinstance(node, ast.ImportFrom) and node.module == "typing")
        or (isinstance(node, ast.Import) and any(a.name == "typing" for a in node.names))
        for node in nodes
    )
    rebound = any(isinstance(n, ast.Name) and n.id == "TYPE_CHECKING" and isinstance(n.ctx, ast.Store) for n in nodes)
    return imported and not rebound


DYNAMIC = {"import_module", "__import__", "exec", "eval"}


def dynamic_imports(source: str) -> list[str]:
    """Calls that import by a string, which the import walk cannot see: not allowed in the package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in DYNAMIC:
                found.append(f"line {node.lineno}: {name}()")
    return found


def module_is_package(module: str, known: set[str]) -> bool:
    return any(other.startswith(module + ".") for other in known)


def package_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in ROOT.rglob("*.py")}
    known = set(paths)
    return {
        name: imports_of(name, path.read_text(encoding="utf-8"), known, is_package=path.name == "__init__.py")
        for name, path in paths.items()
    }


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    rank = {name: LAYERS.index(name) for name in LAYERS}
    return sorted(
        f"{module} ({layer(module)}) imports {target} ({layer(target)})"
        for module, targets in graph.items()
        for target in targets
        if rank[layer(target)] < rank[layer(module)]
    )


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle found by a depth-first search (one path per back edge)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    graph = package_graph()
    assert len(graph) >= 57
    assert {layer(module) for module in graph} <= set(LAYERS)


def test_imports_go_only_to_the_right() -> None:
    assert wrong_way(package_graph()) == []


def test_no_import_circles() -> None:
    assert circles(package_graph()) == []


def test_the_checks_catch_a_planted_wrong_way_import_and_circle() -> None:
    known = {"dosing.plan.expand", "dosing.protocol.model", "dosing.jobs.generate", "dosing.errors"}
    planted = imports_of(
        "dosing.protocol.model",
        "from typing import TYPE_CHECKING\n"
        "from ..errors import ProtocolError\n"
        "if TYPE_CHECKING:\n    from ..jobs.generate import generate\n"
        "def f():\n    from ..plan.expand import expand\n",
        known,
    )
    assert planted == {"dosing.errors", "dosing.plan.expand"}  # the lazy import counts, TYPE_CHECKING does not
    graph = {"dosing.protocol.model": planted, "dosing.plan.expand": {"dosing.protocol.model"}, "dosing.errors": set()}
    assert wrong_way(graph) == ["dosing.protocol.model (protocol) imports dosing.plan.expand (plan)"]
    assert circles(graph) == [["dosing.plan.expand", "dosing.protocol.model", "dosing.plan.expand"]]


def test_no_module_imports_by_a_string() -> None:
    found = {
        module_name(path): dynamic_imports(path.read_text(encoding="utf-8"))
        for path in ROOT.rglob("*.py")
        if dynamic_imports(path.read_text(encoding="utf-8"))
    }
    assert found == {}


def test_the_walk_is_not_fooled_by_a_local_type_checking_a_lonely_package_or_a_string_import() -> None:
    known = {"dosing.protocol.sub", "dosing.protocol.model", "dosing.jobs.generate"}
    own_flag = "TYPE_CHECKING = True\nif TYPE_CHECKING:\n    from ..jobs.generate import generate\n"
    assert imports_of("dosing.protocol.model", own_flag, known) == {"dosing.jobs.generate"}
    upward = "from ...jobs.generate import generate\nfrom .. import model\n"
    assert imports_of("dosing.protocol.sub", upward, known, is_package=True) == {
        "dosing.jobs.generate",
        "dosing.protocol.model",
    }
    assert dynamic_imports("import importlib\nimportlib.import_module('dosing.jobs.generate')\n") == [
        "line 2: import_module()"
    ]
    assert dynamic_imports("__import__('dosing.jobs')") == ["line 1: __import__()"]


def test_the_readme_links_the_code_layout() -> None:
    """docs/code-layout.md is the one map of the package (the README links it), and it names every
    folder of the package."""
    readme = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    assert "(docs/code-layout.md)" in readme
    docs = (ROOT.parent / "docs" / "code-layout.md").read_text(encoding="utf-8")
    for folder in sorted(p.parent.name for p in ROOT.glob("*/__init__.py")):
        assert f"{folder}/" in docs, folder
