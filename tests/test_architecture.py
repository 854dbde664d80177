"""The shape of the house: the import graph of ``nwb_dicpop`` stays drawable.

Checked from the source (no import needed): no module imports an underscore-prefixed name of
another module, the graph of imports between the package's modules has no cycle, each
third-party library is imported by the modules that own it only, and the module map in
``docs/architecture.md`` names every module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "nwb_dicpop"
MAP = Path(__file__).parents[1] / "docs" / "architecture.md"

# third-party library -> the modules (or subpackages, ending in ".") allowed to import it
BOUNDARIES = {
    "brian2": {"nwb_dicpop.simulation."},
    "torch": {"nwb_dicpop.inference.", "nwb_dicpop.testing.network"},
    "neo": {"nwb_dicpop.statistics"},
    "elephant": {"nwb_dicpop.statistics"},
    "pynwb": {"nwb_dicpop.nwb", "nwb_dicpop.io", "nwb_dicpop._units_table", "nwb_dicpop._results_reader",
              "nwb_dicpop._results_writer",
              "nwb_dicpop._remote", "nwb_dicpop.testing.mock"},
    "dask": {"nwb_dicpop.distributed"},
    "pynapple": {"nwb_dicpop._pynapple"},
    "nicegui": {"nwb_dicpop.gui.app"},
}


def _allowed(library: str, module: str) -> bool:
    return any(module == b or (b.endswith(".") and (module + ".").startswith(b)) for b in BOUNDARIES[library])


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> list[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` of every import in module ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                if f"{module}.{alias.name}" in MODULES:
                    found.append((f"{module}.{alias.name}", None, node.lineno))
                else:
                    found.append((module, alias.name, node.lineno))
    return found


def _internal_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for module, _, _ in _imports(name):
            if module in MODULES and module != name:
                edges[name].add(module)
    return edges


def test_no_module_imports_a_private_name_of_another_module():
    offenders = [
        f"{name}:{line} imports {imported} from {module}"
        for name in MODULES
        for module, imported, line in _imports(name)
        if imported and imported.startswith("_") and module in MODULES and module != name
        and not imported.startswith("__")
    ]
    assert not offenders, "\n".join(offenders)


def test_the_import_graph_has_no_cycle():
    edges = _internal_edges()
    # a package's __init__ importing its own submodules is how packages are built: not a cycle
    for name in edges:
        edges[name] = {m for m in edges[name] if not name.startswith(m + ".") and not m.startswith(name + ".")}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


@pytest.mark.parametrize("library", sorted(BOUNDARIES))
def test_each_library_lives_behind_its_boundary_modules(library):
    users = {
        name for name in MODULES for module, _, _ in _imports(name)
        if module == library or module.startswith(library + ".")
    }
    outside = sorted(name for name in users if not _allowed(library, name))
    assert not outside, f"{library} imported outside its boundary: {outside}"


def test_the_module_map_names_every_module():
    text = MAP.read_text(encoding="utf-8")
    public = [name for name in MODULES if not any(part.startswith("_") for part in name.split(".")[1:])]
    missing = [name for name in public if f"`{name.removeprefix('nwb_dicpop.')}`" not in text and name != "nwb_dicpop"]
    assert not missing, f"docs/architecture.md does not describe {missing}"
