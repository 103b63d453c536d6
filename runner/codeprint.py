"""A run's code print: the normalized code of every definition its notebook reaches.

Followed from the notebook's code cells through names, calls and module attributes into
whichever module of the library holds each definition (function, class, module-level name,
and the third-party import a reached definition uses), transitively.

What counts: each reached definition's syntax tree with docstrings dropped (comments and
formatting never reach the tree), under its own name; the module-level statements that bind
nothing (a registration call, an `if` at import time) of every module a run touches; the
notebook's code cells, normalized the same way.
What does not count: which module a definition lives in, what a module is called, how it is
imported (moving a function or renaming a module changes nothing), definitions no run reaches,
and the installed libraries' versions (recorded in each run's metrics.json, not fingerprinted).
Where a reference cannot be followed statically (getattr with a computed name, globals(),
eval, a star import, a decorator from the library), the whole module counts: conservative,
never optimistic.

A run's print comes in two parts (run_prints): the definitions of analysis.figures are
presentation (how results are drawn and formatted), and they, with what only they reach, make
the figures print; everything else reached is the training print, which alone enters the run's
fingerprint. The rules above hold for both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from runner.codescope import NOTEBOOK, PREAMBLE, WHOLE, Library


@dataclass
class Print:
    """What a notebook reaches: `manifest` maps 'module.name' (or a module's statements, or a
    whole module) to its normalized code's digest; `value` hashes it all, module names aside."""

    manifest: dict[str, str]
    value: str


def bare(key: str) -> str:
    """A manifest key's own name: the definition's, or the module statements' marker."""
    return key.rsplit(":", 1)[-1] if ":" in key else key.rsplit(".", 1)[-1]


def value_of(manifest: dict[str, str]) -> str:
    """A print's value from its manifest: each entry's (own name, digest), module names aside.
    Computable from a recorded manifest, as `runner adopt` does."""
    keyed = sorted((bare(k), v) for k, v in manifest.items())
    return hashlib.sha256(json.dumps(keyed).encode()).hexdigest()[:16]


PRESENTATION = "figures"  # the library's sub-package of figures and tables: how results look


def module_of(key: str) -> str:
    return key.rsplit(":", 1)[0] if ":" in key else key.rsplit(".", 1)[0]


def is_presentation(module: str, package: str = "analysis") -> bool:
    """Whether a library module draws or formats results (analysis.figures and below)."""
    home = f"{package}.{PRESENTATION}"
    return module == home or module.startswith(home + ".")


def code_print(lib: Library, notebook_code: str, exclude=None) -> Print:
    """Everything `notebook_code` reaches; with `exclude` (a predicate on module names), the
    definitions of those modules are neither counted nor followed."""
    nb = lib.parse(NOTEBOOK, lib.package, notebook_code)
    manifest: dict[str, str] = {}
    done: set[tuple[str, str]] = set()
    todo: list[tuple[str, str]] = [(NOTEBOOK, NOTEBOOK)]
    wholes: list[str] = []
    while todo or wholes:
        if wholes:
            name = wholes.pop()
            if (name, WHOLE) in done or (mod := lib.module(name)) is None:
                continue
            if exclude is not None and exclude(name):
                continue
            done.add((name, WHOLE))
            value, refs, whole = lib.printed(mod, WHOLE, mod.body)
            manifest[f"{name}:{WHOLE}"] = value
            todo += [(name, d) for d in mod.defs]
        else:
            module, name = todo.pop()
            if (module, name) in done:
                continue
            done.add((module, name))
            if exclude is not None and module != NOTEBOOK and exclude(module):
                continue
            if name == NOTEBOOK:
                value, refs, whole = lib.printed(nb, NOTEBOOK, nb.body)
                manifest[NOTEBOOK] = value
                whole = whole - {NOTEBOOK}  # its own dynamic names: it counts whole anyway
            else:
                if (mod := lib.module(module)) is None:
                    continue
                stmts = mod.preamble if name == PREAMBLE else mod.defs.get(name, [])
                value, refs, whole = lib.printed(mod, name, stmts)
                manifest[f"{module}:{PREAMBLE}" if name == PREAMBLE else f"{module}.{name}"] = value
                if mod.preamble:  # a module that is touched runs its module-level statements
                    todo.append((module, PREAMBLE))
        # The notebook's own names are in its print already.
        todo += [(r[1], r[2]) for r in refs if (r[1], r[2]) not in done and r[1] != NOTEBOOK]
        wholes += [w for w in whole if (w, WHOLE) not in done]

    return Print(dict(sorted(manifest.items())), value_of(manifest))


def run_prints(lib: Library, notebook_code: str, full: Print | None = None) -> tuple[Print, Print]:
    """A run's two prints. The training print: everything its notebook reaches except the
    presentation definitions (analysis.figures: how results are drawn and formatted) and what
    only they reach; the run's fingerprint. The figures print: the rest of what it reaches;
    a change there redraws the run's figures from its record and retrains nothing."""
    training = code_print(lib, notebook_code, lambda m: is_presentation(m, lib.package))
    full = full or code_print(lib, notebook_code)
    figures = {k: v for k, v in full.manifest.items() if k not in training.manifest}
    return training, Print(figures, value_of(figures))


def changes(recorded: dict[str, str], current: dict[str, str], what: str = "code") -> list[str]:
    """What differs between two manifests, one line each; a definition that moved to another
    module is matched by its own name."""

    def by_bare(m):
        out: dict[str, dict[str, str]] = {}
        for k, v in m.items():
            out.setdefault(bare(k), {})[k] = v
        return out

    old, new = by_bare(recorded), by_bare(current)
    lines = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name, {}), new.get(name, {})
        if sorted(a.values()) == sorted(b.values()):
            continue
        for key in sorted(set(a) | set(b)):
            if key not in a:
                lines.append(f"{what}: {key} is new to this run")
            elif key not in b:
                lines.append(f"{what}: {key} is no longer reached")
            elif a[key] != b[key]:
                lines.append(f"{what}: {key} changed")
    return lines
