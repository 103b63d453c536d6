"""What a name means in the analysis library: each module parsed (its definitions, the
statements that bind nothing, its imports of the library), names resolved to the definitions
they reach through imports, re-exports and module attributes, a function's own variables told
from the module's names, and each definition normalized for hashing (docstrings and the
library's imports dropped, every reference written as the definition's own name). The code
print (runner.codeprint) walks what a notebook reaches with it.
"""

from __future__ import annotations

import ast
import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

DYNAMIC = {"globals", "vars", "locals", "eval", "exec", "__import__", "import_module"}
PREAMBLE = "<module statements>"
WHOLE = "<whole module>"
NOTEBOOK = "<notebook>"


def digest(nodes: list[ast.AST]) -> str:
    text = "\n".join(ast.dump(n) for n in nodes if n is not None)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Module:
    """One parsed module of the library (or a notebook's code, as a module of its own)."""

    name: str
    package: str  # where its relative imports start
    body: list[ast.stmt]
    defs: dict[str, list[ast.stmt]] = field(default_factory=dict)
    preamble: list[ast.stmt] = field(default_factory=list)
    aliases: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # -> (module, name)
    stars: list[str] = field(default_factory=list)


def _bound(stmt: ast.stmt) -> set[str]:
    """The module-level names a statement binds or mutates (x = ..., x[k] = ..., def x)."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return set()
    names = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
            targets = [node.target]
        for t in targets:
            while isinstance(t, ast.Subscript | ast.Attribute | ast.Starred):
                t = t.value
            for n in ast.walk(t):
                if isinstance(n, ast.Name):
                    names.add(n.id)
    return names


def strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _own_names(fn) -> set[str]:
    """The names a function binds in its own scope (arguments, assignments, nested defs),
    `global` ones aside."""
    a = fn.args
    names = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if x}
    declared: set[str] = set()
    todo = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Global | ast.Nonlocal):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            todo += node.decorator_list
            continue
        if isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        if isinstance(node, _FUNCTIONS + _COMPREHENSIONS):
            continue
        todo += list(ast.iter_child_nodes(node))
    return names - declared


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node


def local_names(tree: ast.AST) -> set[int]:
    """The Name nodes (by id) that read or write a function's or comprehension's own
    variable: a parameter called `figures` is not the module `figures`."""
    out: set[int] = set()

    def visit(node, scope: frozenset) -> None:
        if isinstance(node, _FUNCTIONS):
            outer = [*getattr(node, "decorator_list", []), *node.args.defaults]
            for child in outer + [d for d in node.args.kw_defaults if d]:
                visit(child, scope)
            inner = scope | _own_names(node)
            for child in node.body if isinstance(node.body, list) else [node.body]:
                visit(child, inner)
            return
        if isinstance(node, _COMPREHENSIONS):
            targets = {
                n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
            }
            scope = scope | targets
        if isinstance(node, ast.Name) and node.id in scope:
            out.add(id(node))
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    visit(tree, frozenset())
    return out


class Library:
    """The modules of one package under `root` (root/analysis/...), parsed on demand.
    `sources` overrides a module's text by dotted name (tests mutate code this way)."""

    def __init__(self, root: Path, package: str = "analysis", sources: dict | None = None):
        self.root, self.package = Path(root), package
        self.sources = dict(sources or {})
        self._modules: dict[str, Module | None] = {}
        self._cache: dict[tuple[str, str], tuple] = {}  # (module, key) -> (digest, refs, whole)

    def variant(self, sources: dict[str, str]) -> Library:
        """This library with some modules' text replaced, reusing what was parsed and hashed
        of the others. For edits that bind the same names (a literal changed): the other
        modules' references into the edited ones are kept as they were resolved."""
        new = Library(self.root, self.package, {**self.sources, **sources})
        new._modules = {k: v for k, v in self._modules.items() if k not in sources}
        new._cache = {k: v for k, v in self._cache.items() if k[0] not in sources}
        return new

    def printed(self, mod: Module, key: str, stmts: list[ast.stmt]) -> tuple:
        """(digest, definitions referenced, modules to cover whole) of some statements."""
        if mod.name != NOTEBOOK and (mod.name, key) in self._cache:
            return self._cache[mod.name, key]
        out = []
        for s in stmts:
            s = copy.deepcopy(s)
            out.append(_Normalize(self, mod, local_names(s)).visit(s))
        refs, whole = _references(self, mod, stmts)
        result = (digest(out), refs, whole)
        if mod.name != NOTEBOOK:
            self._cache[mod.name, key] = result
        return result

    def file(self, name: str) -> Path | None:
        rel = Path(*name.split("."))
        for f in (self.root / rel.with_suffix(".py"), self.root / rel / "__init__.py"):
            if f.is_file():
                return f
        return None

    def is_module(self, name: str) -> bool:
        return name in self.sources or self.file(name) is not None

    def in_library(self, name: str) -> bool:
        return name == self.package or name.startswith(self.package + ".")

    def module(self, name: str) -> Module | None:
        if name not in self._modules:
            text = self.sources.get(name)
            if text is None and (f := self.file(name)) is not None:
                text = f.read_text()
            is_pkg = (f := self.file(name)) is not None and f.name == "__init__.py"
            package = name if is_pkg else name.rpartition(".")[0]
            self._modules[name] = None if text is None else self.parse(name, package, text)
        return self._modules[name]

    def parse(self, name: str, package: str, text: str) -> Module:
        tree = strip_docstrings(ast.parse(text))
        mod = Module(name, package, tree.body)
        for node in ast.walk(tree):  # imports anywhere: a function's own import counts too
            if isinstance(node, ast.Import):
                for a in node.names:
                    if self.in_library(a.name):
                        if a.asname:
                            mod.aliases[a.asname] = (a.name, None)
                        else:
                            mod.aliases[a.name.split(".")[0]] = (a.name.split(".")[0], None)
            elif isinstance(node, ast.ImportFrom):
                base = self.absolute(node, package)
                if base is None or not self.in_library(base):
                    continue
                for a in node.names:
                    if a.name == "*":
                        mod.stars.append(base)
                    elif self.is_module(f"{base}.{a.name}"):
                        mod.aliases[a.asname or a.name] = (f"{base}.{a.name}", None)
                    else:
                        mod.aliases[a.asname or a.name] = (base, a.name)
        for stmt in tree.body:
            if self.library_import(stmt, package):
                continue
            names = _bound(stmt)
            if isinstance(stmt, ast.Import | ast.ImportFrom):  # a third-party import
                names = {(a.asname or a.name).split(".")[0] for a in stmt.names}
            for n in names:
                mod.defs.setdefault(n, []).append(stmt)
            compound = not isinstance(
                stmt,
                ast.FunctionDef
                | ast.AsyncFunctionDef
                | ast.ClassDef
                | ast.Assign
                | ast.AnnAssign
                | ast.AugAssign
                | ast.Import
                | ast.ImportFrom,
            )
            if not names or compound:
                mod.preamble.append(stmt)
        return mod

    def absolute(self, node: ast.ImportFrom, package: str) -> str | None:
        if not node.level:
            return node.module
        parts = package.split(".")
        if node.level - 1 > len(parts):
            return None
        base = ".".join(parts[: len(parts) - (node.level - 1)])
        return f"{base}.{node.module}" if node.module else base

    def library_import(self, stmt: ast.stmt, package: str) -> bool:
        if isinstance(stmt, ast.Import):
            return all(self.in_library(a.name) for a in stmt.names)
        if isinstance(stmt, ast.ImportFrom):
            base = self.absolute(stmt, package)
            return base is not None and self.in_library(base)
        return False

    def external(self, found) -> bool:
        """A module-level name bound by a third-party import (`np`, `dataclass`)."""
        mod = self.module(found[1])
        stmts = mod.defs.get(found[2], []) if mod else []
        return bool(stmts) and all(isinstance(s, ast.Import | ast.ImportFrom) for s in stmts)

    # Resolution: a name in a module -> ("def", module, name) or ("module", module, None).
    def lookup(self, module: str, name: str, seen: frozenset = frozenset()):
        """What `name` means at the top level of library module `module`, following
        re-exports to the definition itself."""
        if (module, name) in seen:
            return None
        seen = seen | {(module, name)}
        mod = self.module(module)
        if mod is not None and name in mod.defs:
            return ("def", module, name)
        if mod is not None and name in mod.aliases:
            target, attr = mod.aliases[name]
            return ("module", target, None) if attr is None else self.lookup(target, attr, seen)
        if self.is_module(f"{module}.{name}"):
            return ("module", f"{module}.{name}", None)
        if mod is not None:
            for star in mod.stars:
                if (found := self.lookup(star, name, seen)) is not None:
                    return found
        return None

    def resolve(self, mod: Module, node: ast.expr):
        """What a Name or an attribute chain of one means inside `mod`."""
        if isinstance(node, ast.Name):
            if node.id in mod.defs:
                return ("def", mod.name, node.id)
            if node.id in mod.aliases:
                target, attr = mod.aliases[node.id]
                return ("module", target, None) if attr is None else self.lookup(target, attr)
            return None
        if isinstance(node, ast.Attribute):
            base = self.resolve(mod, node.value)
            if base is not None and base[0] == "module":
                return self.lookup(base[1], node.attr)
        return None


class _Normalize(ast.NodeTransformer):
    """A definition as it computes: library imports dropped, every reference to a library
    definition written as the definition's own name, whatever module or alias it came by."""

    def __init__(self, lib: Library, mod: Module, local: set[int]):
        self.lib, self.mod, self.local = lib, mod, local

    def _name(self, node):
        found = self.lib.resolve(self.mod, node)
        if found is not None and found[0] == "def":
            return ast.Name(id=found[2], ctx=ast.Load())
        if found is not None and found[0] == "module":
            return ast.Name(id="<module>", ctx=ast.Load())
        return None

    def visit_Attribute(self, node):
        if id(_root(node)) in self.local:
            return self.generic_visit(node)
        return self._name(node) or self.generic_visit(node)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and id(node) not in self.local:
            return self._name(node) or node
        return node

    def visit_Import(self, node):
        return None if self.lib.library_import(node, self.mod.package) else node

    visit_ImportFrom = visit_Import


def _references(lib: Library, mod: Module, nodes: list[ast.AST]):
    """(what each reference resolves to, modules to cover whole) for some statements."""
    refs, whole = set(), set()
    for top in nodes:
        skip = local_names(top)
        for node in ast.walk(top):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Attribute | ast.Name) and id(_root(node)) not in skip:
                found = lib.resolve(mod, node)
                if found is not None:
                    refs.add(found)
                    if isinstance(node, ast.Attribute) and found[0] == "def":
                        skip.update(id(n) for n in ast.walk(node.value))
            if isinstance(node, ast.Call):
                func = node.func
                fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if fname in DYNAMIC:
                    whole.add(mod.name)
                elif fname == "getattr" and node.args:
                    target = lib.resolve(mod, node.args[0])
                    attr = node.args[1] if len(node.args) > 1 else None
                    named = isinstance(attr, ast.Constant) and isinstance(attr.value, str)
                    if target is not None and target[0] == "module":
                        if named and (hit := lib.lookup(target[1], attr.value)):
                            refs.add(hit)
                        else:
                            whole.add(target[1])
                    elif not named:
                        whole.add(mod.name)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                for d in node.decorator_list:
                    for n in ast.walk(d):
                        found = lib.resolve(mod, n) if isinstance(n, ast.expr) else None
                        if found is not None and found[0] == "def" and not lib.external(found):
                            whole.add(mod.name)  # a library decorator may register it anywhere
    # A module used as a value (passed on, stored) may be read by any name: cover it whole.
    modules_used = {r[1] for r in refs if r[0] == "module"}
    whole |= {m for m in modules_used if _used_as_value(lib, mod, nodes, m)}
    return {r for r in refs if r[0] == "def"}, whole


def _used_as_value(lib: Library, mod: Module, nodes, module: str) -> bool:
    parents = {}
    for top in nodes:
        for node in ast.walk(top):
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
    for top in nodes:
        local = local_names(top)
        for node in ast.walk(top):
            if not isinstance(node, ast.Name | ast.Attribute) or id(_root(node)) in local:
                continue
            found = lib.resolve(mod, node)
            if found != ("module", module, None):
                continue
            parent = parents.get(id(node))
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                return True
    return False
