"""One pytest-xdist worker for the tests that share a costly session fixture.

`make test` spreads the suite over the machine's cores (`pytest -n auto`). Each worker builds
its own copy of every session fixture its tests use, so the tests of the smoke profile's run and
site (about a minute and a half of training and building) run on one worker, the tests of the
committed site on one, and every other file on one (its module fixtures built once). The workers
write each test's group to a file the controller's scheduler reads: pytest-xdist's own
`--dist loadgroup` cannot mark test ids under pytest 9.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

# A group per costly session fixture (tests/conftest.py): the fixtures that build it or read it.
SHARED = {
    "smoke": {"smoke", "smoke_site", "use_results"},
    "committed-site": {"committed_site", "fresh_clone"},
}
GROUPS_FILE = "MSL_TEST_GROUPS"  # environment: where the workers write {test id: group}


def group_of(nodeid: str, fixtures: set[str]) -> str:
    """The shared fixture's group a test uses, or else its file."""
    shared = (group for group, names in SHARED.items() if fixtures & names)
    return next(shared, nodeid.split("::")[0])


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        handle, name = tempfile.mkstemp(prefix="msl-test-groups-", suffix=".json")
        os.close(handle)
        os.environ[GROUPS_FILE] = name  # the workers start after this and inherit it


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and os.environ.get(GROUPS_FILE):
        Path(os.environ.pop(GROUPS_FILE)).unlink(missing_ok=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput") and os.environ.get(GROUPS_FILE):
        groups = {item.nodeid: group_of(item.nodeid, set(item.fixturenames)) for item in items}
        # The longest groups first, so that no worker starts one when the others are done.
        first = list(SHARED)

        def rank(item: pytest.Item) -> int:
            group = groups[item.nodeid]
            return first.index(group) if group in first else len(first)

        items.sort(key=rank)
        target = Path(os.environ[GROUPS_FILE])
        part = target.with_name(f"{target.name}.{config.workerinput['workerid']}")
        part.write_text(json.dumps(groups))
        part.replace(target)  # every worker collects the same tests: the last write is as good


class GroupScheduling(LoadScopeScheduling):
    """pytest-xdist's load-by-scope scheduling, a scope being a group of `group_of`, handed out
    in the workers' order of collection (the shared groups first), not by their test counts."""

    def __init__(self, config: pytest.Config, log=None) -> None:
        config.option.loadscopereorder = False
        super().__init__(config, log)

    def _split_scope(self, nodeid: str) -> str:
        if not hasattr(self, "_groups"):
            self._groups = json.loads(Path(os.environ[GROUPS_FILE]).read_text())
        return self._groups.get(nodeid) or nodeid.split("::")[0]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log) -> GroupScheduling:
    return GroupScheduling(config, log)
