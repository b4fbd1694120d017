"""The CLI's `logs`, `status --json` and progress display, on a network directory that is written but
not started (the commands on a running network: tests/e2e/test_example_project.py)."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from devnet.cli import main as privnet
from devnet.logs import follow, last_lines
from devnet.network import DISCOVERY_STEP, NetworkError, init_network, log_path, start_steps
from devnet.progress import steps, working


@pytest.fixture
def stopped(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path / "net"
    return directory, init_network(directory, nodes=2, insecure_p2p=True, dev_keys=True)


def test_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    lines = [f"line {i} " + "x" * (i % 7) * 900 for i in range(300)]  # several 64 KiB chunks
    log.write_text("\n".join(lines) + "\n")
    assert last_lines(log, 3) == (lines[-3:], log.stat().st_size)
    assert last_lines(log, 120)[0] == lines[-120:]
    assert last_lines(log, 1000)[0] == lines
    assert last_lines(log, 0)[0] == []
    log.write_text("first\nunfinished")
    assert last_lines(log, 1)[0] == ["unfinished"]


def test_follow_emits_whole_lines_and_starts_over_after_truncation(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("old\n")
    seen: list[str] = []
    done = threading.Event()
    thread = threading.Thread(target=follow, args=(log, log.stat().st_size, seen.append, done.is_set))
    thread.start()
    try:
        with log.open("a") as f:
            f.write("one\ntw")
            f.flush()
            wait_for(lambda: seen == ["one"])
            f.write("o\n")
        wait_for(lambda: seen == ["one", "two"])
        log.write_text("new\n")  # replaced by a shorter file: read from its start
        wait_for(lambda: seen == ["one", "two", "new"])
    finally:
        done.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_logs_command(stopped: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    directory, _ = stopped
    assert log_path(directory, "node2") == directory / "logs" / "node2.log"
    assert log_path(directory, "node2-manager") == directory / "logs" / "node2-manager.log"
    with pytest.raises(NetworkError, match="no process 'node7'.*node1-manager, node2-manager, node1, node2"):
        log_path(directory, "node7")

    assert privnet(["logs", "node1", "--dir", str(directory)]) == 1
    assert "node1 has no log yet" in capsys.readouterr().err
    log_path(directory, "node1").parent.mkdir(parents=True, exist_ok=True)
    log_path(directory, "node1").write_text("".join(f"entry {i}\n" for i in range(80)))
    assert privnet(["logs", "node1", "--dir", str(directory)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"entry {i}" for i in range(30, 80)]  # 50 by default
    assert privnet(["logs", "node1", "-n", "2", "--dir", str(directory)]) == 0
    assert capsys.readouterr().out == "entry 78\nentry 79\n"


def test_status_json_of_a_stopped_network(stopped: tuple[Path, dict[str, Any]],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    directory, spec = stopped
    assert privnet(["status", "--json", "--dir", str(directory)]) == 1  # not ok: the same exit code as the table
    status = json.loads(capsys.readouterr().out)
    assert status["ok"] is False and status["chain_id"] == spec["chain_id"] and status["ordering"] == "local"
    assert [(n["name"], n["node"], n["manager"], n["head"]) for n in status["nodes"]] == [
        ("node1", "down", "down", None), ("node2", "down", "down", None)]


def test_start_steps(stopped: tuple[Path, dict[str, Any]]) -> None:
    _, spec = stopped
    assert start_steps(spec) == ["node1-manager", "node2-manager", "node1", "node2", DISCOVERY_STEP]


def test_progress_on_a_terminal_and_silence_elsewhere() -> None:
    terminal = io.StringIO()
    with steps("starting 2 nodes", ["node1", "node2"], Console(file=terminal, force_terminal=True, width=100)) as done:
        done("node1")
        done("node2")
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())  # without colours and cursor moves
    assert "✓ node1" in shown and "✓ node2" in shown and "2/2" in shown

    piped = io.StringIO()
    with steps("starting 2 nodes", ["node1"], Console(file=piped, force_terminal=False)) as done:
        done("node1")
    with working("stopping", Console(file=piped, force_terminal=False)):
        pass
    assert piped.getvalue() == ""
