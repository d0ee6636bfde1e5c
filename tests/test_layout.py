"""Tests of the package's shape: one public name per function, layers that import downward,
private Keras API in one adapter, and one import style in the lessons."""

import ast
import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path

import freezelab as fl

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "freezelab"
LOWER = ("core", "speed", "vis", "sources", "finetune")
TOP = ("widgets", "plotting")


def modules():
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="freezelab."):
        yield importlib.import_module(info.name)


def notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def freezelab_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("freezelab")}


def test_no_two_public_functions_or_classes_share_a_name():
    owners: dict[str, set[str]] = {}
    for module in modules():
        for name, value in vars(module).items():
            defined_here = getattr(value, "__module__", None) == module.__name__
            if (
                not name.startswith("_")
                and defined_here
                and inspect.isfunction(value) | inspect.isclass(value)
            ):
                owners.setdefault(name, set()).add(module.__name__)
    shared = {name: where for name, where in owners.items() if len(where) > 1}
    assert shared == {}


def test_every_export_is_used_by_a_lesson_or_the_readme():
    lessons = [*(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "apps").glob("*.ipynb")]
    texts = [notebook_code(p) for p in lessons]
    texts += [json.dumps(json.loads(p.read_text())) for p in lessons]
    texts.append((ROOT / "README.md").read_text())
    corpus = "\n".join(texts)
    unused = [name for name in fl.__all__ if not re.search(rf"\bfl\.{name}\b", corpus)]
    assert unused == []
    for name in fl.__all__:
        assert getattr(fl, name) is not None


def test_lessons_import_freezelab_one_way():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code = notebook_code(path)
        imports = re.findall(r"^[ \t]*(?:from freezelab\S*|import freezelab\S*.*)$", code, re.M)
        imports = [line.split("#")[0].strip() for line in imports]
        assert imports == ["import freezelab as fl"], path.name


def test_lower_layers_never_import_widgets_or_plotting():
    for part in LOWER:
        for path in (PACKAGE / part).glob("*.py"):
            above = {m for m in freezelab_imports(path) if m.split(".")[1:2] in ([t] for t in TOP)}
            assert above == set(), path


def test_private_keras_api_is_used_only_in_the_adapter():
    private = re.compile(
        r"\._flatten_layers|\._trainable_variables|_compiled_trainable_state|\._compile_config"
    )
    users = [
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*.py")
        if private.search(path.read_text())
    ]
    assert users == ["freezelab/core/keras_adapter.py"]


def test_tests_mirror_the_package_one_module_each():
    missing = []
    for path in PACKAGE.rglob("*.py"):
        if path.name.startswith("_"):
            continue
        folder = path.parent.relative_to(PACKAGE)
        expected = ROOT / "tests" / folder / f"test_{path.name}"
        if not expected.exists():
            missing.append(expected.relative_to(ROOT).as_posix())
    assert missing == []


def import_graph() -> dict[str, set[str]]:
    """Module -> the freezelab modules it imports (at the top or inside functions)."""
    paths = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        paths[".".join(parts)] = path
    graph = {}
    for name, path in paths.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.update([node.module, *(f"{node.module}.{a.name}" for a in node.names)])
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in paths and m != name and m != "freezelab"}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan's SCC)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_the_circle_finder_finds_a_circle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_circles(graph) == [["a", "b", "c"]]
    assert import_circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others():
    assert import_circles(import_graph()) == []
