"""Dependencies between the packages of easy_rec point one way: down this list.

A module may import its own package and the packages of lower levels, never a package of its
own level or of a higher one. The config package is a leaf: it imports the protos only. Every
package (and every top-level module) must be placed here, so a new one cannot go unnoticed.
Imports inside functions count as well: a lazy import is still a dependency.
"""
from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "easy_rec")

# Lowest first. Packages on one level must not import each other.
LEVELS: list[tuple[str, ...]] = [
    ("protos",),                 # generated from protos/*.proto
    ("config", "utils"),         # the config language (a leaf); generic file helpers
    ("tables",),                 # tables on disk: paths, headers, cells, conversion, outputs
    ("layers", "metrics"),       # keyword-argument layers; metric computations
    ("features", "input"),       # feature transforms; readers that make batches
    ("store",),                  # online feature / embedding store (below export and serving)
    ("models",),                 # the model zoo
    ("export",),                 # SavedModel export
    ("serving",),                # serving SavedModels: batch prediction, scoring service
    ("training",),               # the training loop, evaluation, optimization
    ("distribute",),             # multi-process training
    ("pipeline",),               # every config check together
    ("cli",),                    # command-line plumbing
    ("hpo", "tools"),            # tools around the pipeline
    ("train", "eval", "predict", "serve", "__init__"),  # entry points (+ __main__, ENTRY_MODULES)
]
LEAF_IMPORTS = {"config": {"protos"}}
# Entry points that live inside a package (run as `python -m <module>`), besides every __main__.
ENTRY_MODULES = ("easy_rec.distribute.launch",)
LEVEL_OF = {name: i for i, names in enumerate(LEVELS) for name in names}
ENTRY_LEVEL = len(LEVELS) - 1


def unit_of(module: str) -> str:
    """What a module counts as: its package, a top-level module's own name, or for an entry
    point inside a package (its ``__main__``, or one of ENTRY_MODULES) ``<package>.<module>``."""
    parts = module.split(".")
    if parts[-1] == "__main__":
        return f"{parts[1]}.__main__"
    if module in ENTRY_MODULES:
        return module.removeprefix("easy_rec.")
    return parts[1] if len(parts) > 1 else "__init__"


def level_of(unit: str) -> int | None:
    """Index in LEVELS (every __main__ and ENTRY_MODULES are entry points), None for an
    unplaced unit."""
    if unit.endswith(".__main__") or f"easy_rec.{unit}" in ENTRY_MODULES:
        return ENTRY_LEVEL
    return LEVEL_OF.get(unit)


def modules() -> dict[str, str]:
    """Dotted module name -> file path, for every .py file of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py") and not name.endswith("_pb2.py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path[:-3], REPO).replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def imported_modules(module: str, path: str) -> set[str]:
    """easy_rec modules that `module` imports anywhere in its file (relative ones resolved)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "easy_rec" or n.startswith("easy_rec.")}


def package_edges() -> dict[str, set[str]]:
    """Unit (package or entry module) -> the other units it imports."""
    edges: dict[str, set[str]] = {}
    for module, path in modules().items():
        source = unit_of(module)
        for target_module in imported_modules(module, path):
            target = unit_of(target_module) if target_module != "easy_rec" else "__init__"
            if target not in (source, "__init__"):
                edges.setdefault(source, set()).add(target)
    return edges


def documented_edges() -> dict[str, set[str]]:
    """The dependency list between the DEPENDENCIES markers of docs/architecture.md."""
    with open(os.path.join(REPO, "docs", "architecture.md"), encoding="utf-8") as f:
        text = f.read()
    block = text.split("<!-- DEPENDENCIES -->")[1].split("<!-- /DEPENDENCIES -->")[0]
    edges = {}
    for line in block.strip().strip("`").strip().splitlines():
        source, _, targets = line.partition("->")
        edges[source.strip()] = {t.strip() for t in targets.split(",") if t.strip()}
    return edges


def dependency_block(edges: dict[str, set[str]]) -> str:
    """The lines of the documented list for `edges`, lowest level first."""
    def key(unit: str) -> tuple[int, str]:
        return level_of(unit), unit

    return "\n".join(f"{unit} -> {', '.join(sorted(edges[unit], key=key))}"
                     for unit in sorted(edges, key=key))


def violations() -> list[str]:
    """One line per import that goes sideways or up."""
    found = []
    for module, path in sorted(modules().items()):
        source = unit_of(module)
        for target_module in sorted(imported_modules(module, path)):
            target = unit_of(target_module) if target_module != "easy_rec" else "__init__"
            if target in (source, "__init__") or target.endswith(".__main__"):
                continue
            allowed = LEAF_IMPORTS.get(source)
            if allowed is not None and target not in allowed:
                found.append(f"{module} imports {target_module}: {source} may import only "
                             f"{', '.join(sorted(allowed))}")
            elif level_of(target) is not None and level_of(target) >= level_of(source):
                found.append(f"{module} imports {target_module}: {target} is not below "
                             f"{source}")
    return found


def test_every_package_has_a_level():
    units = {unit_of(m) for m in modules()}
    assert sorted(u for u in units if level_of(u) is None) == [], "place new packages in LEVELS"


def test_imports_point_down_only():
    assert violations() == []


def test_architecture_doc_lists_exactly_the_dependencies_of_the_code():
    actual = package_edges()
    assert documented_edges() == actual, (
        "docs/architecture.md is out of date; the block between the DEPENDENCIES markers "
        "should read:\n" + dependency_block(actual))


@pytest.mark.parametrize("source, target, allowed", [
    ("easy_rec.models.deepfm", "easy_rec.layers.core", True),
    ("easy_rec.layers.core", "easy_rec.models.base", False),
    ("easy_rec.features.base", "easy_rec.input.reader", False),   # same level
    ("easy_rec.config.loader", "easy_rec.utils.files", False),    # config is a leaf
    ("easy_rec.config.loader", "easy_rec.protos.pipeline_pb2", True),
    ("easy_rec.export.__main__", "easy_rec.cli", True),           # entry points sit on top
    ("easy_rec.distribute.launch", "easy_rec.cli", True),
    ("easy_rec.distribute.supervisor", "easy_rec.cli", False),
])
def test_the_rule_itself(source, target, allowed, tmp_path, monkeypatch):
    """The check catches an upward import written into a module (and allows a downward one)."""
    path = tmp_path / "probe.py"
    path.write_text(f"import {target}\n")
    monkeypatch.setattr(__import__(__name__), "modules", lambda: {source: str(path)})
    assert (violations() == []) == allowed
