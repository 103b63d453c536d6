"""The code print (runner.codeprint): what a run's fingerprint sees of the code, both ways.

Each rule is a check function taking the print to judge, so the same checks are shown to fail
on deliberately wrong prints (one keyed by module, one blind to literals)."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import textwrap
from functools import cache
from pathlib import Path

import pytest

from analysis import paths
from runner import codeprint, state

NOTEBOOK = """
from analysis import a
from analysis.a import BUILDERS
model = BUILDERS["small"](3)
a.train(model)
"""

A = '''
"""Module a."""
from analysis.b import helper

RATE = 0.5
BUILDERS = {"small": lambda n: build_small(n)}


def build_small(n):
    """Docstring."""
    return [n] * 2  # a comment


def train(model):
    return helper(model) * RATE


def unused():
    return 41
'''

B = """
def helper(x):
    return len(x) + 1


def other():
    return 7
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        f = root / "analysis" / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(textwrap.dedent(text))
    (root / "analysis" / "__init__.py").touch()
    return root


def right(root: Path, notebook: str) -> str:
    return codeprint.code_print(codeprint.Library(root), notebook).value


def keyed_by_module(root: Path, notebook: str) -> str:
    """Wrong: the definitions' module names count (a move would retrain)."""
    manifest = codeprint.code_print(codeprint.Library(root), notebook).manifest
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def blind_to_literals(root: Path, notebook: str) -> str:
    """Wrong: numbers do not count (a changed constant would not retrain)."""
    sources = {}
    for f in (root / "analysis").rglob("*.py"):
        name = ".".join(f.relative_to(root).with_suffix("").parts)
        sources[name] = re.sub(r"\b\d+(\.\d+)?\b", "0", f.read_text())
    return codeprint.code_print(codeprint.Library(root, sources=sources), notebook).value


def check_cosmetic_changes(tmp_path: Path, fp) -> None:
    base = fp(write(tmp_path / "base", {"a.py": A, "b.py": B}), NOTEBOOK)
    cosmetic = A.replace('"""Docstring."""', '"""Another docstring."""').replace(
        "# a comment", "# other words"
    )
    cosmetic = cosmetic.replace("return [n] * 2", "return (\n        [n]\n        * 2\n    )")
    assert fp(write(tmp_path / "cosmetic", {"a.py": cosmetic, "b.py": B}), NOTEBOOK) == base
    unreached = A.replace("return 41", "return 42")
    assert fp(write(tmp_path / "unreached", {"a.py": unreached, "b.py": B}), NOTEBOOK) == base
    other = B.replace("return 7", "return 8")
    assert fp(write(tmp_path / "other", {"a.py": A, "b.py": other}), NOTEBOOK) == base


def check_moves_and_renames(tmp_path: Path, fp) -> None:
    base = fp(write(tmp_path / "base", {"a.py": A, "b.py": B}), NOTEBOOK)
    # helper moves from b to a new module c; a imports it from there
    moved_a = A.replace("from analysis.b import helper", "from analysis.c import helper")
    moved = {"a.py": moved_a, "b.py": "def other():\n    return 7\n", "c.py": B}
    assert fp(write(tmp_path / "moved", moved), NOTEBOOK) == base
    # module a renamed to training (the notebook imports it under its new name)
    notebook = NOTEBOOK.replace("from analysis import a", "from analysis import training as a")
    notebook = notebook.replace("from analysis.a import", "from analysis.training import")
    renamed = {"training.py": A, "b.py": B}
    assert fp(write(tmp_path / "renamed", renamed), notebook) == base


def check_literals_seen(tmp_path: Path, fp) -> None:
    base = fp(write(tmp_path / "base", {"a.py": A, "b.py": B}), NOTEBOOK)
    for old, new in [("RATE = 0.5", "RATE = 0.25"), ("[n] * 2", "[n] * 3")]:
        changed = {"a.py": A.replace(old, new), "b.py": B}
        assert fp(write(tmp_path / new.replace(" ", ""), changed), NOTEBOOK) != base, new
    operator = {"a.py": A, "b.py": B.replace("len(x) + 1", "len(x) - 1")}
    assert fp(write(tmp_path / "operator", operator), NOTEBOOK) != base


def test_docstrings_comments_formatting_and_unreached_code_do_not_count(tmp_path):
    check_cosmetic_changes(tmp_path, right)


def test_moving_a_function_or_renaming_a_module_does_not_count(tmp_path):
    check_moves_and_renames(tmp_path, right)


def test_a_literal_or_operator_in_reached_code_counts(tmp_path):
    check_literals_seen(tmp_path, right)


def test_the_checks_fail_on_wrong_prints(tmp_path):
    with pytest.raises(AssertionError):
        check_moves_and_renames(tmp_path / "m", keyed_by_module)
    with pytest.raises(AssertionError):
        check_literals_seen(tmp_path / "l", blind_to_literals)


def test_a_function_reached_through_a_dict_is_covered(tmp_path):
    """BUILDERS["small"] is a lookup: build_small is still part of the print."""
    base = right(write(tmp_path / "a", {"a.py": A, "b.py": B}), NOTEBOOK)
    changed = A.replace("[n] * 2", "[n] * 5")
    assert right(write(tmp_path / "b", {"a.py": changed, "b.py": B}), NOTEBOOK) != base


GETATTR = """
from analysis import b


def train(model, name):
    return getattr(b, name)(model)
"""


def test_getattr_with_a_computed_name_covers_the_whole_module(tmp_path):
    notebook = "from analysis import a\na.train([1], 'helper')\n"
    base = right(write(tmp_path / "x", {"a.py": GETATTR, "b.py": B}), notebook)
    other = B.replace("return 7", "return 8")  # `other` is named nowhere, yet reachable
    assert right(write(tmp_path / "y", {"a.py": GETATTR, "b.py": other}), notebook) != base
    manifest = codeprint.code_print(codeprint.Library(tmp_path / "y"), notebook).manifest
    assert f"analysis.b:{codeprint.WHOLE}" in manifest


DECORATED = """
from analysis.b import register


@register
def build(n):
    return n


def unrelated():
    return 1
"""


def test_a_library_decorator_covers_the_whole_module(tmp_path):
    b = "REGISTRY = {}\n\ndef register(f):\n    REGISTRY[f.__name__] = f\n    return f\n"
    notebook = "from analysis import a\na.build(2)\n"
    base = right(write(tmp_path / "x", {"a.py": DECORATED, "b.py": b}), notebook)
    changed = DECORATED.replace("return 1", "return 2")
    assert right(write(tmp_path / "y", {"a.py": changed, "b.py": b}), notebook) != base


def test_a_parameter_named_like_a_module_is_not_the_module(tmp_path):
    """`def draw(figures): figures.x` reads a parameter: module `figures` is not reached."""
    a = "def draw(b):\n    return b.other()\n"
    notebook = "from analysis import a\na.draw(None)\n"
    base = right(
        write(tmp_path / "x", {"a.py": "from analysis import b\n" + a, "b.py": B}), notebook
    )
    changed = B.replace("return 7", "return 8")
    files = {"a.py": "from analysis import b\n" + a, "b.py": changed}
    assert right(write(tmp_path / "y", files), notebook) == base


def test_changes_name_the_definitions_one_line_each():
    old = {"analysis.a.f": "1", "analysis.a.g": "2", "analysis.b.h": "3"}
    new = {"analysis.c.f": "1", "analysis.a.g": "9", "analysis.b.k": "4"}
    assert codeprint.changes(old, new) == [
        "code: analysis.a.g changed",
        "code: analysis.b.h is no longer reached",
        "code: analysis.b.k is new to this run",
    ]


# The real library: a sweep over every numeric literal of the modules the training runs, on
# each run's training print (its fingerprint's code: state.prints).
NOTEBOOK_FILES = {nb.stem: nb for nb in paths.NOTEBOOKS_DIR.glob("*.ipynb")}
NOTEBOOKS = {stem: state.notebook_source(nb) for stem, nb in NOTEBOOK_FILES.items()}
SWEPT = ["analysis.training.train", "analysis.models.networks", "analysis.training.experiment"]


@cache
def real_library() -> codeprint.Library:
    return codeprint.Library(paths.ROOT)  # parsed and hashed once: each sweep edits one module


@cache
def splits() -> dict[str, bool]:
    """Whether each notebook's print splits (its figures are redrawn from its record): an edit
    to the training code does not change that, so the sweep walks the training part alone."""
    lib = real_library()
    return {
        stem: state.REDRAW in codeprint.code_print(lib, src).manifest
        for stem, src in NOTEBOOKS.items()
    }


def training_print(lib: codeprint.Library, stem: str) -> codeprint.Print:
    exclude = codeprint.is_presentation if splits()[stem] else None
    return codeprint.code_print(lib, NOTEBOOKS[stem], exclude)


@cache
def real_prints() -> dict[str, codeprint.Print]:
    out = {stem: training_print(real_library(), stem) for stem in NOTEBOOKS}
    for stem, nb in NOTEBOOK_FILES.items():  # the fingerprint's own rule gives the same
        assert state.prints(nb, real_library())[0] == out[stem], stem
    return out


def literals(module: str):
    """(line, col, end col, enclosing top-level statement) of each int or float literal."""
    tree = ast.parse((paths.ROOT / (module.replace(".", "/") + ".py")).read_text())
    for stmt in tree.body:
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Constant)
                and type(node.value) in (int, float)
                and node.lineno == node.end_lineno
            ):
                yield node.lineno, node.col_offset, node.end_col_offset, stmt


def keys_of(module: str, stmt: ast.stmt) -> set[str]:
    """The manifest keys under which a top-level statement is printed."""
    mod = real_library().module(module)
    keys = {f"{module}:{codeprint.WHOLE}"}
    keys |= {
        f"{module}.{name}"
        for name, stmts in mod.defs.items()
        if any(s.lineno == stmt.lineno for s in stmts)
    }
    if any(s.lineno == stmt.lineno for s in mod.preamble):
        keys.add(f"{module}:{codeprint.PREAMBLE}")
    return keys


@pytest.mark.parametrize("module", SWEPT)
def test_every_literal_of_the_training_code_stales_exactly_the_runs_that_reach_it(module):
    text = (paths.ROOT / (module.replace(".", "/") + ".py")).read_text()
    lines = text.splitlines(keepends=True)
    before = real_prints()
    base = real_library()
    reached_by_some = 0
    found = list(literals(module))
    assert len(found) >= 5
    for line, col, end, stmt in found:
        src = list(lines)
        old = src[line - 1][col:end]
        src[line - 1] = src[line - 1][:col] + f"({old} + 1)" + src[line - 1][end:]
        lib = base.variant({module: "".join(src)})
        changed = {
            stem for stem in NOTEBOOKS if training_print(lib, stem).value != before[stem].value
        }
        keys = keys_of(module, stmt)
        expected = {stem for stem, p in before.items() if keys & set(p.manifest)}
        assert changed == expected, f"{module}:{line} {old!r}"
        reached_by_some += bool(expected)
    assert reached_by_some, f"no literal of {module} is reached by any run"


def test_the_training_rules_are_reached_by_the_model_runs():
    """An anchor the sweep cannot give itself: what the model notebook really runs."""
    manifest = real_prints()["model"].manifest
    for name in [
        "analysis.training.train.fit",
        "analysis.training.train.PLATEAU_GAIN",
        "analysis.training.train.class_weights",
        "analysis.models.networks.build_cnn",
        "analysis.models.networks.build_baseline",
        "analysis.training.experiment.train_seeds",
    ]:
        assert name in manifest, name
    assert not any(k.startswith("analysis.study") for k in manifest)
