"""`privnet explorer` in a real headless Chromium (Debian's chromium + chromedriver, driven by selenium).

On the 4-node network, node1 deploys SimpleStorage privately for node2, the explorer starts (as the
CLI, a process of its own), the page opens, then node1 sends a private `set(value)`: the page shows
it live. node1 and node2 (parties) show the decoded call; node3 and node4 (non-parties) show only
the 64-byte payload hash, and not the function or the value.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devnet.explorer.render import dom_id
from devnet.solc import Artifact, compile_paths, write_artifacts
from tests.helpers.network import E2ENetwork, calldata, running_network, send_private
from tests.helpers.privacy import deploy_storage, random_value
from tests.helpers.servers import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_S = 60
SCREENSHOT_MAX_BYTES = 300 * 1024
HASH_64 = re.compile(r"0x[0-9a-f]{128}")


def _require_chromium() -> None:
    """Skip where Debian's chromium, its driver or selenium is missing; fail instead when
    PRIVNET_REQUIRE_CHROMIUM=1 (CI installs them)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if not missing:
        return
    message = f"missing {', '.join(missing)} (Debian: apt-get install chromium chromium-driver)"
    if os.environ.get("PRIVNET_REQUIRE_CHROMIUM") == "1":
        pytest.fail(message + "; PRIVNET_REQUIRE_CHROMIUM=1 forbids skipping")
    pytest.skip(message)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ENetwork]:
    _require_chromium()
    with running_network(tmp_path_factory.mktemp("explorer-network"), "local") as network:
        yield network


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test contracts as `privnet compile` writes them: what the explorer decodes with."""
    out = tmp_path_factory.mktemp("artifacts")
    write_artifacts(compile_paths([REPO / "solidity" / "test"], base=REPO), out)
    return out


@pytest.fixture(scope="module")
def explorer(net: E2ENetwork, artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """`privnet explorer --dir DIR --port P --artifacts DIR` as its own process; (URL, pid)."""
    port = free_port()
    log = tmp_path_factory.mktemp("explorer") / "explorer.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "devnet.cli", "explorer", "--dir", str(net.directory),
                                 "--port", str(port), "--artifacts", str(artifacts)],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                if httpx.get(url + "health", timeout=5).json()["contracts"] > 0:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            assert proc.poll() is None, f"explorer exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"explorer did not answer: {log.read_text()}"
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            # uvicorn shuts down, then re-raises the SIGTERM it caught: a prompt exit, not a crash.
            assert proc.wait(timeout=15) in (0, -signal.SIGTERM), log.read_text()
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Headless Chromium through the system chromedriver; selenium-manager never downloads anything."""
    _require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,860", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "1")  # and both paths given: selenium-manager has nothing to fetch
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _cells(driver: object, tx_hash: str) -> dict[str, str]:
    """Column (node name, or "public") → the text of its cell in the row of `tx_hash`; {} until the row is
    there. Read in one script run: live updates replace rows, so element handles would go stale."""
    found = driver.execute_script(  # type: ignore[attr-defined]
        "const row = document.getElementById(arguments[0]);"
        "return row ? Array.from(row.cells).map(td => [td.dataset.node || 'public', td.innerText]) : [];",
        dom_id("tx", tx_hash))
    return {str(k): str(v) for k, v in found}


def _wait_row(driver: object, tx_hash: str, nodes: list[str]) -> dict[str, str]:
    """Wait until every node's cell in the row of `tx_hash` has its view (no longer "not imported yet")."""
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d: object) -> dict[str, str] | bool:
        cells = _cells(d, tx_hash)
        done = set(cells) == {"public", *nodes} and all("not imported yet" not in t and "no receipt" not in t
                                                for t in cells.values())
        return cells if done else False

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(ready)  # type: ignore[no-any-return]


def _assert_hash_only(cell: str, payload_hash: str, secrets: list[str]) -> None:
    assert HASH_64.fullmatch(payload_hash), payload_hash
    assert payload_hash in cell
    assert cell.replace(payload_hash, "").split() == ["not", "a", "party"], cell
    for secret in secrets:
        assert secret not in cell


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_parties_see_the_decoded_call_non_parties_only_the_hash(net: E2ENetwork, explorer: tuple[str, int],
                                                                browser: object,
                                                                contract: Callable[[str], Artifact]) -> None:
    url, pid = explorer
    a, b, c, d = net.nodes
    names = [n.name for n in net.nodes]
    deployed = deploy_storage(net, contract("SimpleStorage").bytecode, a, [b])  # before the page opens: history
    browser.get(url)  # type: ignore[attr-defined]

    initial = str(deployed.storage[0])
    deploy_cells = _wait_row(browser, deployed.tx_hash, names)
    deploy_hash = a.rpc("eth_getTransactionByHash", deployed.tx_hash)["input"]
    for party in (a, b):
        assert "new SimpleStorage" in deploy_cells[party.name] and f"initial={initial}" in deploy_cells[party.name]
        assert deployed.contract.lower() in deploy_cells[party.name].lower()
    for outsider in (c, d):
        _assert_hash_only(deploy_cells[outsider.name], deploy_hash, ["SimpleStorage", initial])

    value = random_value()  # after the page opened: it must arrive live
    tx_hash = send_private(a, calldata("set(uint256)", value), [b.key], to=deployed.contract)
    net.wait_receipts(tx_hash)
    payload_hash = a.rpc("eth_getTransactionByHash", tx_hash)["input"]
    cells = _wait_row(browser, tx_hash, names)
    for party in (a, b):
        cell = cells[party.name]
        assert "SimpleStorage.set" in cell and f"newValue={value}" in cell, cell
        assert "private receipt: success" in cell and f"newValue={value}" in cell.split("ValueChanged", 1)[1]
        assert f"value={value}" in cell.split("storage root", 1)[1]  # the getter, read at that block
    for outsider in (c, d):
        _assert_hash_only(cells[outsider.name], payload_hash, ["set", str(value), hex(value)[2:]])
    public = cells["public"]
    assert "private" in public and str(value) not in public and hex(value)[2:] not in public

    shot = browser.get_screenshot_as_png()  # type: ignore[attr-defined]
    if os.environ.get("PRIVNET_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs" / "explorer.png").write_bytes(shot)
    assert shot.startswith(b"\x89PNG") and len(shot) < SCREENSHOT_MAX_BYTES, len(shot)

    # At rest the explorer waits on the nodes' newHeads and the page's stream: no polling loop.
    before, started = _cpu_seconds(pid), time.monotonic()
    time.sleep(4)
    cores = (_cpu_seconds(pid) - before) / (time.monotonic() - started)
    assert cores < 0.05, f"idle explorer used {cores:.3f} cores"
