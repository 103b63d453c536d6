"""The grouping `make test` hands to pytest-xdist (tests/xdist_groups.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests import xdist_groups


def session_fixtures() -> dict[str, set[str]]:
    """conftest.py's session fixtures, each with the fixtures it requests."""
    tree = ast.parse((Path(__file__).parent / "conftest.py").read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                scope = [k.value.value for k in getattr(d, "keywords", []) if k.arg == "scope"]
                if scope == ["session"]:
                    out[node.name] = {a.arg for a in node.args.args}
    return out


def test_a_test_goes_with_the_shared_fixture_it_uses_or_with_its_file():
    assert xdist_groups.group_of("tests/test_e2e.py::test_x", {"smoke_site", "tmp_path"}) == "smoke"
    assert xdist_groups.group_of("tests/test_x.py::test_y[a]", {"committed_site"}) == (
        "committed-site"
    )
    assert xdist_groups.group_of("tests/test_x.py::test_y[a]", {"tmp_path"}) == "tests/test_x.py"


def test_every_session_fixture_built_on_a_shared_one_shares_its_group():
    """A new session fixture built from the smoke run, left out of its group, would run the
    smoke profile again on a second worker."""
    fixtures = session_fixtures()
    grouped = set().union(*xdist_groups.SHARED.values())
    assert grouped <= set(fixtures) | {"use_results"}  # use_results: function scope, reads smoke
    for name, requested in fixtures.items():
        for group, names in xdist_groups.SHARED.items():
            if requested & names:
                assert name in names, f"{name} requests {requested & names}: add it to {group}"
