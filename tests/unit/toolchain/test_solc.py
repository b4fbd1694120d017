"""The pinned solc-js driver: artifacts, cache, readable errors, and `privnet compile`."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from devnet import solc
from devnet.cli import main as privnet

SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Counter {
    uint256 public count;
    function inc() external { count += 1; }
}
"""


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("PRIVNET_SOLC_CACHE", str(path))
    return path


def test_compiles_with_the_pinned_version(cache_dir: Path) -> None:
    artifacts = solc.compile_sources({"Counter.sol": SOURCE})
    counter = artifacts["Counter"]
    assert counter.compiler.startswith(solc.PINNED_VERSION + "+")
    assert counter.bytecode.startswith("0x60") and len(counter.bytecode) > 100
    assert counter.deployed_bytecode.startswith("0x") and len(counter.deployed_bytecode) < len(counter.bytecode)
    assert {item["name"] for item in counter.abi if item["type"] == "function"} == {"count", "inc"}
    assert (Path(solc.SOLIDITY_DIR) / "package.json").read_text().count(f'"solc": "{solc.PINNED_VERSION}"') == 1


def test_artifacts_are_cached_by_source_and_settings(cache_dir: Path) -> None:
    solc.compile_sources({"Counter.sol": SOURCE})
    assert len(list(cache_dir.glob("*.json"))) == 1
    solc.compile_sources({"Counter.sol": SOURCE})
    assert len(list(cache_dir.glob("*.json"))) == 1
    solc.compile_sources({"Counter.sol": SOURCE}, settings={"optimizer": {"enabled": False}})
    solc.compile_sources({"Counter.sol": SOURCE + "\n// changed\n"})
    assert len(list(cache_dir.glob("*.json"))) == 3


def test_concurrent_compiles_of_one_input_run_solc_once(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test session warms the cache on a thread while the first tests compile the same sets:
    the second caller waits for the first's result instead of running solc-js again."""
    runs: list[int] = []
    real_run = solc._run_solc

    def counted(standard_input: dict[str, object]) -> tuple[str, dict[str, object]]:
        runs.append(1)
        return real_run(standard_input)

    monkeypatch.setattr(solc, "_run_solc", counted)
    results: list[solc.Artifact] = []
    threads = [threading.Thread(target=lambda: results.append(solc.compile_sources({"Counter.sol": SOURCE})["Counter"]))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(runs) == 1 and len(results) == 3 and results[0] == results[1] == results[2]


def test_a_cached_artifact_is_the_compilers_output(cache_dir: Path) -> None:
    first = solc.compile_sources({"Counter.sol": SOURCE})["Counter"]
    again = solc.compile_sources({"Counter.sol": SOURCE})["Counter"]
    assert first == again


def test_errors_name_file_line_and_column(cache_dir: Path) -> None:
    broken = "pragma solidity ^0.8.20;\ncontract A {\n    function f() public { uint x = ; }\n}\n"
    with pytest.raises(solc.CompilerError) as info:
        solc.compile_sources({"src/A.sol": broken})
    assert str(info.value).startswith("src/A.sol:3:36: error: Expected primary expression.")
    assert not list(cache_dir.glob("*.json")), "failed compilations are not cached"


def test_type_errors_are_reported_too(cache_dir: Path) -> None:
    bad = "pragma solidity ^0.8.20;\ncontract A { function f() public pure returns (uint) { return true; } }\n"
    with pytest.raises(solc.CompilerError, match=r"A.sol:2:\d+: error: .*bool"):
        solc.compile_sources({"A.sol": bad})


def test_privnet_compile_writes_one_artifact_per_contract(tmp_path: Path, cache_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "contracts"
    src.mkdir()
    (src / "Counter.sol").write_text(SOURCE)
    out = tmp_path / "out"
    assert privnet(["compile", str(src), "--out", str(out)]) == 0
    written = json.loads((out / "Counter.json").read_text())
    assert set(written) >= {"abi", "bytecode", "deployedBytecode", "compiler"}
    assert written["compiler"]["version"].startswith(solc.PINNED_VERSION)
    assert str(out / "Counter.json") in capsys.readouterr().out


def test_privnet_compile_reports_errors_and_fails(tmp_path: Path, cache_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Bad.sol").write_text("pragma solidity ^0.8.20;\ncontract B {\n")
    assert privnet(["compile", str(tmp_path / "Bad.sol"), "--out", str(tmp_path / "out")]) == 1
    assert "Bad.sol:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_no_sources_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(solc.CompilerError, match="no Solidity sources"):
        solc.compile_paths([tmp_path])
