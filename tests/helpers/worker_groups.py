"""How `make test` splits the suite between its pytest-xdist workers (`-n 2 --dist loadgroup`).

Each test runs on the worker of its group: the costly session fixture it uses (a network of
processes, an EVM world; per parameter for `net`), else its module. So a network starts once
per group, not once per worker, and a module's module-scoped network once.

xdist's own `loadgroup` cannot do this here: it renames each item with an `@group` suffix,
which pytest 9's node ids ignore, so every test became its own unit of work. The workers
instead write each test's group to a file the controller names, and the controller's
scheduler (xdist's scope scheduling) reads it once every worker has collected, before it
hands out any work.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

#: Session fixtures that start something costly.
COSTLY_SESSION_FIXTURES = ("net", "postrade_world", "base_evm")
_FILE_KEY = "privnet_worker_groups_file"


def group_of(item: pytest.Item) -> str:
    """The costly session fixture `item` uses (with its parameter), else its module."""
    info = getattr(item, "_fixtureinfo", None)
    for name in COSTLY_SESSION_FIXTURES:
        definitions = info.name2fixturedefs.get(name) if info is not None else None
        if definitions and definitions[-1].scope == "session":
            callspec = getattr(item, "callspec", None)
            param = callspec.params.get(name) if callspec is not None else None
            return name if param is None else f"{name}-{param}"
    return module_of(item.nodeid)


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class GroupScheduling(LoadScopeScheduling):
    """xdist's scope scheduling, with the scope of a test read from the workers' file."""

    def __init__(self, config: pytest.Config, log: Any, groups_file: Path) -> None:
        super().__init__(config, log)
        self._groups_file = groups_file
        self._groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:  # first asked in schedule(), after every worker collected
            self._groups = json.loads(self._groups_file.read_text())
        return self._groups.get(nodeid) or module_of(nodeid)


class WorkerGroups:
    """The controller's side: names the file for the workers and schedules by it."""

    def __init__(self) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="privnet-groups-"))
        self.groups_file = self._directory / "groups.json"

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_FILE_KEY] = str(self.groups_file)

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
        if config.getoption("dist") != "loadgroup":
            return None
        return GroupScheduling(config, log, self.groups_file)

    def pytest_unconfigure(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)


def configure(config: pytest.Config) -> None:
    """Register the controller's side (a run with xdist workers; not in the workers themselves)."""
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput") \
            and config.getoption("numprocesses", None):
        config.pluginmanager.register(WorkerGroups(), "privnet-worker-groups")


def record(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a worker: write every collected test's group where the controller reads it."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or _FILE_KEY not in workerinput:
        return
    target = Path(workerinput[_FILE_KEY])
    temporary = target.with_name(f"{target.name}.{os.getpid()}")
    temporary.write_text(json.dumps({item.nodeid: group_of(item) for item in items}))
    os.replace(temporary, target)  # the workers write the same groups: either file is whole


__all__ = ["COSTLY_SESSION_FIXTURES", "configure", "group_of", "record"]
