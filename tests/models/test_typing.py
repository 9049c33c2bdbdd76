"""Every function of the model and layer packages (the model extension surface) annotates each
parameter (but self / cls) and its return value (but __init__); checked on the source with ast."""
from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("models", "layers")


def unannotated(source: str, filename: str = "<string>") -> list[str]:
    """'file:line function: what' for every missing annotation of the functions in `source`
    (nested functions and methods included; lambdas have no annotations to give), by line."""
    problems = []
    functions = [n for n in ast.walk(ast.parse(source, filename))
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for node in sorted(functions, key=lambda n: n.lineno):
        args = node.args
        positional = args.posonlyargs + args.args
        params = [*positional, *([args.vararg] if args.vararg else []), *args.kwonlyargs,
                  *([args.kwarg] if args.kwarg else [])]
        where = f"{filename}:{node.lineno} {node.name}"
        for arg in params:
            if positional and arg is positional[0] and arg.arg in ("self", "cls"):
                continue
            if arg.annotation is None:
                problems.append(f"{where}: parameter {arg.arg!r}")
        if node.returns is None and node.name != "__init__":
            problems.append(f"{where}: return value")
    return problems


def package_files(package: str) -> list[str]:
    folder = os.path.join(REPO, "easy_rec", package)
    return sorted(os.path.join(root, name) for root, _, names in os.walk(folder)
                  for name in names if name.endswith(".py") and not name.endswith("_pb2.py"))


def test_unannotated_flags_each_missing_annotation():
    source = (
        "def f(a, b: int, *args, c=1, **kwargs):\n"
        "    def inner(x: int):\n"
        "        return x\n"
        "    return inner\n"
        "class C:\n"
        "    def __init__(self, d):\n"
        "        pass\n"
        "    @classmethod\n"
        "    def make(cls, e: int) -> None:\n"
        "        pass\n"
        "    async def run(self, f: int) -> int:\n"
        "        return f\n"
        "def g(self) -> None:\n"
        "    pass\n"
        "def h(x: int, cls) -> None:\n"
        "    pass\n"
        "def k(*, y) -> None:\n"
        "    pass\n")
    assert unannotated(source, "fake.py") == [
        "fake.py:1 f: parameter 'a'",
        "fake.py:1 f: parameter 'args'",
        "fake.py:1 f: parameter 'c'",
        "fake.py:1 f: parameter 'kwargs'",
        "fake.py:1 f: return value",
        "fake.py:2 inner: return value",
        "fake.py:6 __init__: parameter 'd'",
        "fake.py:15 h: parameter 'cls'",
        "fake.py:17 k: parameter 'y'",
    ]


def test_unannotated_passes_a_typed_function():
    assert unannotated("def f(self, a: int, *, b: str = '') -> None:\n    pass\n") == []


@pytest.mark.parametrize("package", PACKAGES)
def test_package_functions_are_annotated(package):
    files = package_files(package)
    assert files, f"no modules found in easy_rec/{package}"
    problems = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            problems += unannotated(f.read(), os.path.relpath(path, REPO))
    assert not problems, "unannotated:\n" + "\n".join(problems)
