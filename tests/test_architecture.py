"""The layout's rules, checked on the source: which package may speak SQL, no import cycles between modules, and
imports that point down the layers.

Layers, lowest first: domain (the model, resolution, runtime plans, catalogs; no SQL, no Flask) and host_os (what
differs on Windows) <- storage (the only package that speaks SQL) <- service (the chain of sources, the write path)
<- chat and the web layer (web, api, dashboard) <- cli and the app factory. A layer may import its own package and
the layers LAYERS_BELOW lists. For the layer rules an import inside `if TYPE_CHECKING:` counts too: it does not run,
but it is still a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "registry"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _typing_only(tree: ast.Module) -> set[int]:
    """ids of the nodes inside `if TYPE_CHECKING:` blocks: imports for annotations, never run."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def imported_modules(name: str, path: Path, *, typing_too: bool = False) -> set[str]:
    """Every module `name` imports when it runs, anywhere in the file (a function-level import counts too);
    with `typing_too`, also the imports made for annotations only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing_only = set() if typing_too else _typing_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from registry.storage import backups` imports the module registry.storage.backups.
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return found


def test_only_the_storage_package_imports_sqlite3() -> None:
    offenders = [
        name
        for name, path in MODULES.items()
        if not name.startswith("registry.storage.") and "sqlite3" in imported_modules(name, path)
    ]
    assert offenders == []


def test_no_import_cycles_between_our_modules() -> None:
    graph = {
        name: {m for m in imported_modules(name, path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }
    # Importing a package's submodule runs the package's __init__ first; that is Python's packaging, not a cycle
    # of ours, so a module's edges to its own parent packages are left out.
    for name, edges in graph.items():
        graph[name] = {m for m in edges if not name.startswith(m + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


# layer -> the other layers it may import. `registry` is the top package (the app factory), `config` the settings.
# `host_os` (registry/host_os.py, what differs on Windows) imports nothing of ours and every layer above the domain
# may use it; the domain has no OS-specific behaviour.
_LAYERS_BELOW: dict[str, set[str]] = {
    "domain": set(),
    "host_os": set(),
    "config": {"domain"},
    "storage": {"domain"},
    "service": {"domain", "storage"},
    "chat": {"domain", "service"},
    "web": {"chat", "domain", "service", "storage"},
    "api": {"web", "chat", "domain", "service", "storage", "config"},
    "dashboard": {"web", "chat", "domain", "service", "storage", "config"},
    "cli": {"registry", "web", "chat", "domain", "service", "storage", "config"},
    "registry": {"api", "dashboard", "web", "chat", "domain", "service", "storage", "config"},
    "__main__": {"cli"},
}
LAYERS_BELOW = {
    layer: below | ({"host_os"} if layer not in ("domain", "host_os", "config", "__main__") else set())
    for layer, below in _LAYERS_BELOW.items()
}
WEB_LAYERS = ("web", "api", "dashboard")
# What the web layer may use of storage: the package itself, the store interface, backups (snapshots, restore,
# listing), the source kinds and the database target. The SQLite store, its file helpers and row inspection stay
# inside.
STORAGE_PUBLIC = ("registry.storage.interface", "registry.storage.backups", "registry.storage.sources",
                  "registry.storage.sqlite_db")


def public_storage(module: str) -> bool:
    return module == "registry.storage" or module.startswith(STORAGE_PUBLIC)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def our_imports() -> dict[str, set[str]]:
    """module -> the package's modules it imports, annotation-only imports included."""
    return {
        name: {m for m in imported_modules(name, path, typing_too=True) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def test_every_module_has_a_layer() -> None:
    assert {layer_of(name) for name in MODULES} <= set(LAYERS_BELOW)


def test_imports_point_down_the_layers() -> None:
    wrong = [
        f"{module} -> {target}"
        for module, targets in our_imports().items()
        for target in sorted(targets)
        if layer_of(target) != layer_of(module) and layer_of(target) not in LAYERS_BELOW[layer_of(module)]
    ]
    assert wrong == []


def test_the_domain_imports_nothing_of_ours_outside_it() -> None:
    outside = [
        f"{module} -> {target}"
        for module, targets in our_imports().items()
        if layer_of(module) == "domain"
        for target in sorted(targets)
        if layer_of(target) != "domain"
    ]
    assert outside == []


def test_the_web_layer_uses_only_the_public_side_of_storage() -> None:
    private = [
        f"{module} -> {target}"
        for module, targets in our_imports().items()
        if layer_of(module) in WEB_LAYERS
        for target in sorted(targets)
        if layer_of(target) == "storage" and not public_storage(target)
    ]
    assert private == []


def test_the_dashboard_does_not_import_the_api() -> None:
    wrong = [f"{m} -> {t}" for m, ts in our_imports().items() if layer_of(m) == "dashboard" for t in ts
             if layer_of(t) == "api"]
    assert wrong == []
