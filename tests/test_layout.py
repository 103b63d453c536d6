"""The library's layout: no import circle among `analysis` modules, and no module that only
re-exports names from others (each name has one home, and importers name it)."""

from __future__ import annotations

import ast

from analysis import paths

LIBRARY = paths.ROOT / "analysis"


def module_name(file) -> str:
    rel = file.relative_to(paths.ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


MODULES = {module_name(f): f for f in sorted(LIBRARY.rglob("*.py"))}


def imports(name: str) -> set[str]:
    """The library modules `name` imports, anywhere in it (a function's own import counts:
    a circle through a deferred import is still a circle)."""
    file = MODULES[name]
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    # A package's __init__ runs on any import of its modules, but ours only hold docstrings.
    return {m for m in found if m in MODULES and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycles_finds_a_circle_and_only_circles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_library_imports_one_that_imports_it_back():
    graph = {name: imports(name) for name in MODULES}
    assert graph["analysis.study.findings"], "the import graph is empty: the parser is wrong"
    assert cycles(graph) == []


def only_reexports(tree: ast.Module) -> bool:
    """A module whose body, docstring and `from __future__` aside, is imports (and __all__)."""
    body = [
        s
        for s in tree.body
        if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        and not (isinstance(s, ast.ImportFrom) and s.module == "__future__")
    ]
    names = [t.id for s in body if isinstance(s, ast.Assign) for t in s.targets if hasattr(t, "id")]
    return bool(body) and all(
        isinstance(s, ast.Import | ast.ImportFrom) or names == ["__all__"] for s in body
    )


def reexported(name: str, tree: ast.Module) -> set[str]:
    """Names a module imports from the library at its top level and never uses itself."""
    imported = {
        a.asname or a.name
        for s in tree.body
        if isinstance(s, ast.ImportFrom) and (s.module or "").startswith("analysis")
        for a in s.names
    }
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {
        n.value.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
    }
    return imported - used


def test_the_checks_see_a_shim():
    shim = ast.parse('"""Old home."""\nfrom analysis.data.index import load_index  # noqa: F401\n')
    assert only_reexports(shim)
    assert reexported("x", shim) == {"load_index"}
    assert not only_reexports(ast.parse("import numpy as np\n\nX = np.ones(1)\n"))


def test_no_module_only_reexports_names_from_others():
    shims = [n for n, f in MODULES.items() if only_reexports(ast.parse(f.read_text()))]
    assert shims == []


def read_by_notebooks(sources: list[str]) -> dict[str, set[str]]:
    """{module: names} a notebook reads as `alias.NAME` of a library module it imports. A
    notebook's code is part of every run's fingerprint, so the name it reads stays where it
    reads it even when the definition moves (moving it retrains nothing; editing the notebook
    would retrain every run of it)."""
    found: dict[str, set[str]] = {}
    for source in sources:
        tree = ast.parse(source)
        aliases = {
            a.asname or a.name: f"{s.module}.{a.name}"
            for s in ast.walk(tree)
            if isinstance(s, ast.ImportFrom) and (s.module or "").startswith("analysis")
            for a in s.names
        }
        for n in ast.walk(tree):
            is_read = isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
            if is_read and (module := aliases.get(n.value.id)) in MODULES:
                found.setdefault(module, set()).add(n.attr)
    return found


def notebook_sources() -> list[str]:
    import json

    out = []
    for nb in sorted((LIBRARY / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        code = [c["source"] for c in cells if c["cell_type"] == "code"]
        # the cells' own lines, magics and shell escapes left out
        text = "\n".join("".join(c) if isinstance(c, list) else c for c in code)
        out.append(
            "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith(("%", "!")))
        )
    return out


def test_what_a_notebook_reads_is_found_by_its_alias():
    src = "from analysis.models import networks as models\nx = models.DESIGN['cnn']\n"
    assert read_by_notebooks([src]) == {"analysis.models.networks": {"DESIGN"}}
    assert read_by_notebooks(["import os\nos.path.join('a')\n"]) == {}


def test_no_module_imports_a_library_name_just_to_pass_it_on():
    """Except a name a notebook reads from that module (see `read_by_notebooks`)."""
    kept = read_by_notebooks(notebook_sources())
    passed_on = {
        n: sorted(names - kept.get(n, set()))
        for n, f in MODULES.items()
        if (names := reexported(n, ast.parse(f.read_text()))) - kept.get(n, set())
    }
    assert passed_on == {}
