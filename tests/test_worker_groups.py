"""`make test`'s split between pytest-xdist workers (tests/helpers/worker_groups.py), run on a
small project of its own: each parameter of a shared session fixture, and each module, is set up
once, on one worker, while both workers get work."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CONFTEST = '''
import os
import pytest
from tests.helpers import worker_groups

def pytest_configure(config):
    worker_groups.configure(config)

def pytest_collection_modifyitems(config, items):
    worker_groups.record(config, items)

def _setup(what):
    with open(os.environ["SETUPS_FILE"], "a") as log:
        log.write(f"{what} {os.environ.get('PYTEST_XDIST_WORKER', 'main')}\\n")

@pytest.fixture(scope="session", params=["local", "etcd"])
def net(request):
    _setup(f"net-{request.param}")
    return request.param

@pytest.fixture(scope="module")
def module_network(request):
    _setup(request.module.__name__)
'''

SHARING = '''
import time
import pytest

@pytest.mark.parametrize("n", range({count}))
def test_on_the_shared_network(net, n):
    time.sleep(0.02)
'''

MODULE = '''
import time
import pytest

@pytest.mark.parametrize("n", range(6))
def test_on_the_module_network(module_network, n):
    time.sleep(0.02)
'''


def test_shared_networks_and_modules_start_once_on_one_worker_each(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_a_shares.py").write_text(SHARING.format(count=5))
    (tmp_path / "test_b_shares.py").write_text(SHARING.format(count=3))
    for name in ("test_c_module.py", "test_d_module.py", "test_e_module.py"):
        (tmp_path / name).write_text(MODULE)
    setups = tmp_path / "setups.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "SETUPS_FILE": str(setups)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v",
                          "-p", "no:cacheprovider"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "34 passed" in run.stdout

    workers_of: dict[str, set[str]] = defaultdict(set)
    for worker, test in re.findall(r"\[(gw\d)\] \[\s*\d+%\] PASSED (\S+)", run.stdout):
        module, rest = test.split("::", 1)
        workers_of["net-etcd" if "etcd" in rest else "net-local" if "local" in rest else module].add(worker)
    assert len(workers_of) == 5, dict(workers_of)
    assert all(len(workers) == 1 for workers in workers_of.values()), dict(workers_of)
    assert set().union(*workers_of.values()) == {"gw0", "gw1"}  # both workers got work

    started = setups.read_text().split()[::2]
    assert sorted(started) == ["net-etcd", "net-local", "test_c_module", "test_d_module", "test_e_module"]
