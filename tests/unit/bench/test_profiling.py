"""CPU per private tx by step and process: stages of collapsed py-spy stacks grouped into the
issue's steps, times each process's measured CPU per tx."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.profiling import (
    STAGE_RULES,
    STEP_OF_STAGE,
    STEPS,
    cpu_by_step,
    cpu_by_step_markdown,
    cpu_by_step_text,
    stage_shares,
    summarize,
)

LOOP = "thread (1): node1-loop;Thread.run (threading.py:982);Node._loop (engine/chain/node.py:193)"
HTTP = "thread (2): MainThread;run (asyncio/runners.py:118)"

# 10 samples on node1: 4 RLP-ish (rlp 2, trie 1, keccak 1), 3 EVM, 1 JSON via orjson's caller,
# 1 stdlib json under uvicorn, 1 HTTP framework.
NODE1 = f"""\
{LOOP};decode (rlp/codec.py:304) 2
{LOOP};HexaryTrie.set (trie/hexary.py:355) 1
{LOOP};keccak (eth_hash/main.py:12) 1
{LOOP};VM.apply_transaction (eth/vm/base.py:184);add (eth/vm/logic/arithmetic.py:20) 3
{HTTP};RpcApp.handle (engine/rpc/app.py:120);_dumps (engine/rpc/app.py:66) 1
{HTTP};Response.render (starlette/responses.py:50);dumps (json/__init__.py:231) 1
{HTTP};H11Protocol.data_received (uvicorn/protocols/http/h11_impl.py:200) 1
"""
# 4 samples on node1's manager: 1 SQL, 1 envelope crypto, 2 HTTP client.
MANAGER = f"""\
{HTTP};store (tessera_like/store/sql.py:40) 1
{HTTP};seal (tessera_like/crypto/box.py:30) 1
{HTTP};Client.send (httpx/_client.py:900) 2
"""


@pytest.fixture
def profiles(tmp_path: Path) -> dict[str, dict]:
    out = {}
    for name, text in (("node1", NODE1), ("node1-manager", MANAGER)):
        path = tmp_path / f"private-{name}.txt"
        path.write_text(text)
        out[name] = summarize(path)
    return out


def test_every_stage_belongs_to_a_step() -> None:
    assert {stage for stage, _ in STAGE_RULES} == set(STEP_OF_STAGE)
    assert set(STEP_OF_STAGE.values()) <= set(STEPS)


def test_stages_of_a_collapsed_file(profiles: dict[str, dict]) -> None:
    counts = profiles["node1"]["stage_samples"]
    assert profiles["node1"]["samples"] == 10
    assert counts["RLP encode/decode"] == 2
    assert counts["EVM interpreter"] == 3
    assert counts["JSON encode/decode (json, orjson, FastAPI encoders)"] == 2  # orjson's caller + stdlib json
    assert counts["HTTP server + event loop (uvicorn/h11/starlette/anyio)"] == 1


def test_cpu_by_step_splits_each_process_cpu_by_its_shares(profiles: dict[str, dict]) -> None:
    cpu = {"node1-manager": 2.0, "node1": 5.0, "node2": 3.0}  # node2: no profile
    table = cpu_by_step(profiles, cpu)
    ms = table["ms"]
    assert table["processes"] == ["node1", "node1-manager"]  # nodes first
    assert table["missing"] == ["node2"]
    assert ms["RLP / tries / hashing"]["node1"] == pytest.approx(5.0 * 4 / 10)
    assert ms["EVM interpreter"]["node1"] == pytest.approx(5.0 * 3 / 10)
    assert ms["JSON"]["node1"] == pytest.approx(5.0 * 2 / 10)
    assert ms["HTTP framework"]["node1"] == pytest.approx(5.0 * 1 / 10)
    assert ms["SQL"]["node1-manager"] == pytest.approx(2.0 / 4)
    assert ms["crypto"]["node1-manager"] == pytest.approx(2.0 / 4)
    assert ms["HTTP client"]["node1-manager"] == pytest.approx(2.0 * 2 / 4)
    assert ms["signatures"] == {"node1": 0.0, "node1-manager": 0.0}
    # every process's cells add up to its measured CPU, the steps' totals to the whole
    for process in table["processes"]:
        assert sum(ms[step][process] for step in STEPS) == pytest.approx(cpu[process])
    assert table["total"] == pytest.approx(7.0)
    assert sum(table["step_total"].values()) == pytest.approx(7.0)


def test_an_older_summary_uses_its_rounded_percentages() -> None:
    shares = stage_shares({"stages_pct": [["RLP encode/decode", 60.0], ["keccak", 30.0], ["other", 9.9]]})
    assert sum(shares.values()) == pytest.approx(1.0)
    table = cpu_by_step({"node3": {"stages_pct": [["RLP encode/decode", 75.0], ["other", 25.0]]}}, {"node3": 2.0})
    assert table["ms"]["RLP / tries / hashing"]["node3"] == pytest.approx(1.5)
    assert table["ms"]["other"]["node3"] == pytest.approx(0.5)


def test_a_failed_profile_is_missing_not_zero() -> None:
    table = cpu_by_step({"node1": {"error": "py-spy not installed"}}, {"node1": 5.0})
    assert table["processes"] == [] and table["missing"] == ["node1"] and table["total"] == 0


def test_rendered_tables(profiles: dict[str, dict]) -> None:
    table = cpu_by_step(profiles, {"node1": 5.0, "node1-manager": 2.0, "node4": 1.0})
    text = cpu_by_step_text(table)
    assert "node1-mgr" in text and "total (measured, /proc)" in text and "no profile for: node4" in text
    assert "7.00" in text.splitlines()[-2]
    md = cpu_by_step_markdown(table).splitlines()
    assert md[0] == "| step | node1 | node1-mgr | total |"
    assert md[2] == "| EVM interpreter | 1.50 | 0.00 | 1.50 |"
