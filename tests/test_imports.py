"""Imports flow one way: the import graph of hms_kit (and kernels/), read with ast.

- the runtime (everything but ``hms_kit.tools``, ``hms_kit.publish`` and ``hms_kit.cli``)
  never imports the measurement tools; the CLI may, inside its commands;
- what the kernels run (``hms_kit.runtime`` and all it imports, ``kernels/*.py``) never
  reaches ``hms_kit.publish``, ``hms_kit.tools``, ``hms_kit.cli`` or the ``kaggle`` client;
- only ``hms_kit/publish/client.py`` imports ``kaggle``;
- no two modules import each other, directly or round a longer circle (imports inside
  functions and under ``TYPE_CHECKING`` count: a circle there is still two owners).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "hms_kit"
KAGGLE_CLIENT_MODULE = "hms_kit.publish.client"
APART = ("hms_kit.tools", "hms_kit.publish", "hms_kit.cli")


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, name: str) -> set[str]:
    """Every dotted name ``path`` imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``),
    relative imports resolved against the module ``name``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def import_graph(root: Path = REPO) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(graph, external)``: per module of hms_kit (and ``kernels.<script>``), the hms_kit
    modules it imports, and the top-level names of everything it imports."""
    files = {_module_name(p, root): p for p in sorted((root / "hms_kit").rglob("*.py"))}
    files.update({f"kernels.{p.stem}": p for p in sorted((root / "kernels").glob("*.py"))})
    graph, external = {}, {}
    for name, path in files.items():
        names = _imported(path, name)
        graph[name] = {n for n in names if n in files and n != name}
        external[name] = {n.split(".")[0] for n in names}
    return graph, external


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def reachable(graph: Mapping[str, Iterable[str]], start: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(graph.get(v, ()))
    return seen


def _inside(name: str, packages: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_checks_see_a_circle_and_a_reach() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert reachable(graph, ["d"]) == {"a", "b", "c", "d"}
    assert "kernels.train" in import_graph()[0]  # the scripts are in the graph


def test_no_import_circle() -> None:
    graph, _ = import_graph()
    assert cycles(graph) == []


def test_only_the_client_imports_kaggle() -> None:
    _, external = import_graph()
    importers = sorted(name for name, names in external.items() if "kaggle" in names)
    assert importers == [KAGGLE_CLIENT_MODULE]


def test_the_runtime_never_imports_the_tools() -> None:
    graph, _ = import_graph()
    offenders = {
        name: sorted(n for n in deps if _inside(n, ["hms_kit.tools"]))
        for name, deps in graph.items()
        if not _inside(name, APART)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_what_the_kernels_run_reaches_no_publisher_tool_or_client() -> None:
    graph, external = import_graph()
    runtime = [n for n in graph if _inside(n, ["hms_kit.runtime", "kernels"])]
    assert "hms_kit.runtime.train" in runtime and "hms_kit.runtime.infer" in runtime
    reached = reachable(graph, runtime)
    apart = ["hms_kit.publish", "hms_kit.tools", "hms_kit.cli"]
    assert sorted(n for n in reached if _inside(n, apart)) == []
    assert sorted(n for n in reached if "kaggle" in external[n]) == []


def test_reading_a_config_does_not_import_torch() -> None:
    """publish checks every pushed config; at 2 s of torch import per call, `make
    push-kernel KERNEL=all` spent 3 of its 4 seconds importing a library it never used."""
    import subprocess
    import sys

    code = (
        "import sys; from hms_kit.config import load_config; "
        "[load_config(n) for n in ('kaggle-eeg1d', 'kaggle-spec2d', 'kaggle-timm2d')]; "
        "print(sorted(m for m in ('torch', 'timm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
