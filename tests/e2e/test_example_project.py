"""The pytest plugin and the example project (examples/private-trade), each run as a user runs them:
`python -m pytest` in a process of its own, the plugin loaded by its entry point.

- the example on a network the plugin starts for the session (and stops at the end);
- a project file exercising isolation, its opt-out marker and the privacy assertions (each also
  failing where it must), attached with `--privnet-dir` to a network started by
  `privnet up --detach` (the same network serves the CLI's `status --json` and `logs`).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devnet.network import stop_network
from tests.helpers.network import WAIT_S, privnet

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "private-trade"
RUN_TIMEOUT_S = 600


def run_pytest(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "privnet", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def outcome(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 4-node network started from the shell (`privnet up --detach`), stopped after the module."""
    directory = tmp_path_factory.mktemp("up")
    started = privnet(directory, "up", "--detach")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "\x1b[" not in started.stdout + started.stderr  # no progress drawn when not on a terminal
        yield directory
    finally:
        stop_network(directory)


def test_the_example_passes_on_a_network_the_plugin_starts(tmp_path_factory: pytest.TempPathFactory) -> None:
    basetemp = tmp_path_factory.mktemp("bt")
    done = run_pytest(str(EXAMPLE), f"--basetemp={basetemp}")
    assert done.returncode == 0, outcome(done)
    assert "4 passed" in done.stdout, outcome(done)
    started = basetemp / "privnet0"  # the session's network directory (tmp_path_factory.mktemp("privnet"))
    assert (started / "network.json").exists(), sorted(p.name for p in basetemp.iterdir())
    assert not (started / "pids.json").exists()  # stopped at the end of the session: nothing left running


def test_status_json_and_logs(running: Path) -> None:
    done = privnet(running, "status", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    status = json.loads(done.stdout)
    assert status["ok"] is True and status["ordering"] == "local"
    assert [(n["name"], n["node"], n["manager"]) for n in status["nodes"]] == [
        (f"node{i}", "up", "up") for i in range(1, 5)]

    log = running / "logs" / "node2-manager.log"
    before = len(log.read_text().splitlines())
    tail = privnet(running, "logs", "node2-manager", "-n", "3")
    assert tail.returncode == 0, tail.stderr
    written = log.read_text().splitlines()
    # the last three lines when it ran: the manager may append more meanwhile (its partyinfo rounds)
    assert before > 3 and any(tail.stdout.splitlines() == written[end - 3:end]
                              for end in range(before, len(written) + 1)), (tail.stdout, written[before - 3:])

    unknown = privnet(running, "logs", "node9")
    assert unknown.returncode == 1 and "no process 'node9'" in unknown.stderr and "node1-manager" in unknown.stderr

    follower = subprocess.Popen([sys.executable, "-m", "devnet.cli", "logs", "node1", "-f", "-n", "0", "--dir",
                                 str(running)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        size = (running / "logs" / "node1.log").stat().st_size
        assert follower.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(follower.stdout.readline()), daemon=True).start()
        # A dev node logs each snapshot it takes. The follower may still be starting when the
        # first one is logged (it then waits for the next line), so ask until a line comes through.
        node1 = status["nodes"][0]["rpc_url"]
        deadline = time.monotonic() + WAIT_S
        line = ""
        while not line:
            assert time.monotonic() < deadline, "privnet logs -f showed no new line"
            snapshot = httpx.post(node1, json={"jsonrpc": "2.0", "id": 1, "method": "evm_snapshot", "params": []},
                                  timeout=WAIT_S).json()
            assert "result" in snapshot, snapshot
            try:
                line = lines.get(timeout=2)
            except queue.Empty:
                continue
        assert line.rstrip("\n") in (running / "logs" / "node1.log").read_text()[size:]
    finally:
        follower.terminate()
        follower.wait(timeout=WAIT_S)


ISOLATION_TESTS = '''
"""Isolation and the privacy assertions, seen from a project's tests."""
import pytest

EXAMPLE_CONTRACTS = {contracts!r}
SEEN = {{}}


@pytest.fixture(scope="module")
def artifact(privnet):
    return privnet.compile(EXAMPLE_CONTRACTS)["TradeConfirmation"]


def deploy(privnet, artifact, parties):
    sender, others = parties[0], parties[1:]
    return privnet.deploy_private(artifact, sender.account.address, others[0].account.address,
                                  sender=sender, private_for=others)


def test_deploy_and_assert(privnet, artifact):
    n1, n2, n3, n4 = privnet.nodes
    contract = deploy(privnet, artifact, [n1, n3])
    SEEN["isolated"] = contract.address
    SEEN["creation"] = n1.w3.privnet.contract_privacy_metadata(contract.address)["creationTxHash"]
    proposal = contract.functions.propose(b"T" * 32, "XS1234567890", 10, 100).transact(
        {{"from": n1.account.address, "privateFor": [n3.ptm_public_key]}})
    privnet.wait_for_receipts(proposal)
    privnet.assert_visible_only_to(contract.address, [n1, n3])
    privnet.assert_private_states_equal(contract.address)

    with pytest.raises(AssertionError) as wrong:
        privnet.assert_visible_only_to(contract.address, [n1, n2])
    message = str(wrong.value)
    assert "node2 (a party) has no code" in message and "node3 (not a party) sees code" in message
    assert "node2 (a party) cannot read the creation payload" in message
    assert "node3 (not a party) reads the creation payload" in message
    assert "node3 (not a party) holds storage" in message
    named = [line.split()[0] for line in message.splitlines()[1:]]
    assert set(named) == {{"node2", "node3", "the"}}  # node1 and node4 are as they should be; "the parties' roots"
    with pytest.raises(AssertionError, match=r"private states of .* differ across \\['node1', 'node2'\\]"):
        privnet.assert_private_states_equal(contract.address, nodes=[n1, n2])


def test_a_failed_deployment_is_an_error(privnet, artifact):
    from devnet.pytest_network import PrivnetTestError

    n1, n2, n3, n4 = privnet.nodes
    with pytest.raises(PrivnetTestError, match="constructor reverted"):  # buyer == seller is refused
        privnet.deploy_private(artifact, n1.account.address, n1.account.address, sender=n1, private_for=[n2])


def test_the_earlier_tests_left_nothing(privnet):
    n1, n2, n3, n4 = privnet.nodes
    for node in privnet.nodes:
        assert node.w3.eth.get_code(SEEN["isolated"]) == b"", node
        assert node.w3.privnet.get_quorum_payload(SEEN["creation"]) == b"", node  # the managers' stores too


@pytest.mark.privnet_no_isolation
def test_not_isolated(privnet, artifact):
    n1, n2, n3, n4 = privnet.nodes
    SEEN["kept"] = deploy(privnet, artifact, [n2, n4]).address


def test_the_unisolated_test_left_its_contract(privnet):
    n1, n2, n3, n4 = privnet.nodes
    privnet.assert_visible_only_to(SEEN["kept"], [n2, n4])
'''


def test_isolation_opt_out_and_assertions(running: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_isolation.py").write_text(ISOLATION_TESTS.format(contracts=str(EXAMPLE / "contracts")))
    done = run_pytest("-q", f"--privnet-dir={running}", str(project), cwd=project)
    assert done.returncode == 0, outcome(done)
    assert "5 passed" in done.stdout, outcome(done)

