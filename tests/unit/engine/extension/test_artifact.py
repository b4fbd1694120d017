"""The management contract the node embeds is exactly what the pinned solc makes of its source.

Regenerate after editing solidity/extension/ContractExtender.sol:
    .venv/bin/python -m tests.unit.engine.extension.test_artifact
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from eth_utils import keccak

from devnet.solc import Artifact, compile_paths
from engine.extension import artifact, contract

REPO = Path(__file__).resolve().parents[4]
SOURCE = REPO / "solidity" / "extension" / "ContractExtender.sol"
MODULE = REPO / "engine" / "extension" / "artifact.py"


def _compiled() -> Artifact:
    return compile_paths([SOURCE.parent], base=REPO)["ContractExtender"]


def _chunks(hex_text: str, width: int = 100) -> str:
    return "\n".join(f'    "{hex_text[i:i + width]}"' for i in range(0, len(hex_text), width))


def render(compiled: Artifact) -> str:
    source_hash = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    return (
        '"""Generated from solidity/extension/ContractExtender.sol by the pinned solc; do not edit.\n\n'
        "Regenerate: .venv/bin/python -m tests.unit.engine.extension.test_artifact (its test checks it is current).\n"
        '"""\n\n'
        f'COMPILER = "{compiled.compiler}"\n'
        f'SOURCE_SHA256 = "{source_hash}"\n\n'
        f"INIT_CODE = bytes.fromhex(\n{_chunks(compiled.bytecode[2:])}\n)\n\n"
        f"RUNTIME_CODE = bytes.fromhex(\n{_chunks(compiled.deployed_bytecode[2:])}\n)\n"
    )


def test_embedded_code_is_the_compiled_source() -> None:
    compiled = _compiled()
    assert MODULE.read_text() == render(compiled), "engine/extension/artifact.py is stale: regenerate it"
    assert "0x" + artifact.INIT_CODE.hex() == compiled.bytecode
    assert "0x" + artifact.RUNTIME_CODE.hex() == compiled.deployed_bytecode


def test_selectors_and_topics_match_the_abi() -> None:
    abi = _compiled().abi
    functions = {}
    events = {}
    for entry in abi:
        if entry["type"] in ("function", "event"):
            signature = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
            (functions if entry["type"] == "function" else events)[signature] = keccak(text=signature)
    for signature in contract.FUNCTIONS:
        assert signature in functions, signature
    for signature, topic in contract.TOPICS.items():
        assert events[signature] == topic


if __name__ == "__main__":
    MODULE.write_text(render(_compiled()))
    sys.exit(0)
