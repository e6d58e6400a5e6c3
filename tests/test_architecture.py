"""The package's shape: no import cycles, no function over 80 lines, a first docstring line in every module.

These read the source with ``ast`` (nothing is imported), so they also see imports inside functions: a cycle hidden
behind a lazy import is still a cycle.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "videofocalnet"
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (a package is its ``__init__``)."""
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imported(node: ast.AST, importer: str, modules: dict[str, Path]) -> set[str]:
    """The package's modules an Import/ImportFrom node names (``from pkg import sub`` names ``pkg.sub``)."""
    names: set[str] = set()
    if isinstance(node, ast.Import):
        names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: resolved against the importer's package
            package = importer if modules[importer].name == "__init__.py" else importer.rpartition(".")[0]
            base = importlib.util.resolve_name("." * node.level + base, package)
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            names.add(candidate if candidate in modules else base)
    return {n for n in names if n in modules and n != importer}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(node, name, modules)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
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
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_import_graph_is_read():
    graph = import_graph()
    assert "videofocalnet.engine.evaluate" in graph["videofocalnet.engine.train"]
    assert "videofocalnet.models.focal_modulation" in graph["videofocalnet.models.cpu"]


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_function_longer_than_80_lines():
    lengths = []
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None
                lengths.append(
                    (node.end_lineno - node.lineno + 1, f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
                )
    lengths.sort(reverse=True)
    longest = lengths[0]
    print(f"longest function: {longest[1]} ({longest[0]} lines)")
    too_long = [f"{where} ({n} lines)" for n, where in lengths if n > MAX_FUNCTION_LINES]
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: " + ", ".join(too_long)


def test_every_module_says_what_lives_there():
    missing = [
        str(path.relative_to(SRC))
        for path in _modules().values()
        if not (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").strip()
    ]
    assert not missing, "modules without a first docstring line: " + ", ".join(missing)


# what each layer may import from the package (besides itself); weights.py and atomic.py are shared file utilities
LAYERS = {
    "videofocalnet.models": (),
    "videofocalnet.data": ("videofocalnet.atomic",),
    "videofocalnet.engine": (
        "videofocalnet.atomic",
        "videofocalnet.weights",
        "videofocalnet.download",  # TRAIN.PRETRAINED_PATH may be a URL, an hf-hub: id or a zoo name
        "videofocalnet.zoo",
        "videofocalnet.models",
        "videofocalnet.data",
    ),
}


def test_layers_import_only_downwards():
    wrong = []
    for module, imports in import_graph().items():
        for layer, allowed in LAYERS.items():
            if module == layer or module.startswith(layer + "."):
                for target in imports:
                    ok = target == layer or target.startswith(layer + ".")
                    ok = ok or any(target == a or target.startswith(a + ".") for a in allowed)
                    if not ok:
                        wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering: " + ", ".join(sorted(wrong))
