"""The explorer's pure parts: decoding with real solc artifacts, and escaping of everything rendered."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import eth_abi
import pytest
from eth_utils import keccak
from starlette.testclient import TestClient

from devnet.explorer.abi import AbiRegistry, ContractAbi, load_artifacts
from devnet.explorer.app import create_app
from devnet.explorer.render import dom_id, esc, render_cell, render_index, render_tx
from devnet.explorer.state import ExplorerState
from devnet.explorer.views import Block, Cell, PublicTx
from devnet.solc import compile_paths, write_artifacts

REPO = Path(__file__).resolve().parents[3]
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;\'"'


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> AbiRegistry:
    """SimpleStorage and Reader compiled by the pinned solc, written as `privnet compile` writes them,
    plus a file that is not an artifact (skipped)."""
    out = tmp_path_factory.mktemp("artifacts")
    write_artifacts(compile_paths([REPO / "solidity" / "test" / "Storage.sol"], base=REPO), out)
    (out / "cache.json").write_text(json.dumps(["0.8.37", {"contracts": {}}]))
    (out / "broken.json").write_text("{not json")
    return load_artifacts([out])


def _call(signature: str, types: list[str], args: list[object]) -> bytes:
    return keccak(text=signature)[:4] + eth_abi.encode(types, args)


def _tx(kind: str = "private", input_: str = "0x" + "ab" * 64, to: str | None = "0x" + "11" * 20) -> PublicTx:
    return PublicTx("0x" + "cd" * 32, 7, 0, "0x" + "22" * 20, to, input_, 3, kind)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text += data


def _parse(fragment: str) -> _Elements:
    parser = _Elements()
    parser.feed(fragment)
    parser.close()
    return parser


def test_loads_only_artifacts(registry: AbiRegistry) -> None:
    assert sorted(c.name for c in registry.contracts) == ["Reader", "SimpleStorage"]


def test_decodes_a_call_by_selector(registry: AbiRegistry) -> None:
    call = registry.decode_call(_call("set(uint256)", ["uint256"], [2**200 + 5]))
    assert call is not None and (call.contract, call.function) == ("SimpleStorage", "set")
    assert [(a.name, a.type, a.value) for a in call.args] == [("newValue", "uint256", str(2**200 + 5))]
    reader = registry.decode_call(_call("writeValue(address,uint256)", ["address", "uint256"], ["0x" + "ab" * 20, 9]))
    assert reader is not None and reader.function == "writeValue"
    assert reader.args[0].value == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"  # EIP-55


def test_unknown_or_malformed_calls(registry: AbiRegistry) -> None:
    assert registry.decode_call(bytes.fromhex("deadbeef") + bytes(32)) is None
    assert registry.decode_call(b"\x01") is None
    truncated = registry.decode_call(keccak(text="set(uint256)")[:4] + b"\x01")  # known selector, bad args
    assert truncated is not None and truncated.function == "set" and truncated.error and not truncated.args


def test_decodes_a_deployment_by_init_code(registry: AbiRegistry) -> None:
    init = bytes.fromhex(registry.by_name("SimpleStorage").bytecode) + eth_abi.encode(["uint256"], [424242])
    call = registry.decode_deployment(init)
    assert call is not None and call.is_deployment and call.contract == "SimpleStorage"
    assert [(a.name, a.value) for a in call.args] == [("initial", "424242")]
    assert registry.decode_deployment(b"\x60\x80" + bytes(40)) is None


def test_decodes_logs_indexed_and_plain(registry: AbiRegistry) -> None:
    sender = "0x" + "12" * 20
    log = {"address": "0x" + "34" * 20,
           "topics": ["0x" + keccak(text="ValueChanged(address,uint256,uint256)").hex(), "0x" + "00" * 12 + "12" * 20],
           "data": "0x" + eth_abi.encode(["uint256", "uint256"], [1, 2]).hex()}
    decoded = registry.decode_log(log)
    assert decoded.event == "ValueChanged"
    assert [(a.name, a.value) for a in decoded.args] == [
        ("by", "0x1212121212121212121212121212121212121212"), ("oldValue", "1"), ("newValue", "2")]
    assert sender.lower() == decoded.args[0].value.lower()
    unknown = registry.decode_log({"address": log["address"], "topics": ["0x" + "99" * 32], "data": "0x"})
    assert unknown.event is None


def test_escapes_decoded_strings_and_names() -> None:
    """A private payload's string argument, a revert reason and a node name are rendered as text."""
    registry = AbiRegistry()
    registry.add(ContractAbi("Notes", ({"type": "function", "name": "note", "stateMutability": "nonpayable",
                                        "inputs": [{"name": "text", "type": "string"}], "outputs": []},)))
    call = registry.decode_call(_call("note(string)", ["string"], [HOSTILE]))
    assert call is not None and HOSTILE in json.loads(call.args[0].value)
    cell = Cell("party", call=call, status=0, revert_reason=HOSTILE, contract="0x" + "11" * 20)
    node = 'node"1><script>'
    fragment = render_tx(_tx(), [node], {node: cell})
    parsed = _parse(fragment)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    assert ("data-node", node) in parsed.attrs  # the attribute survived whole, quotes and all
    assert HOSTILE in parsed.text  # shown to the reader as the text it is
    assert esc(HOSTILE).count("<") == 0 and esc("'\"") == "&#x27;&quot;"
    assert dom_id("tx", '0xab"<>') == "tx-0xab___"


def test_non_party_cell_is_only_the_hash() -> None:
    payload_hash = "0x" + "ef" * 64
    parsed = _parse(render_cell("node3", _tx(), Cell("non-party", payload_hash=payload_hash)))
    assert parsed.text == "not a party" + payload_hash


def test_page_escapes_node_names_and_forbids_inline_script() -> None:
    app = create_app({"<b>n1</b>": "http://127.0.0.1:1/"}, AbiRegistry(), title="t<i>")
    client = TestClient(app, base_url="http://127.0.0.1:8600")  # no lifespan: nothing is followed
    page = client.get("/")
    assert page.status_code == 200
    assert "&lt;b&gt;n1&lt;/b&gt;" in page.text and "<b>n1" not in page.text and "t&lt;i&gt;" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/explorer.js").status_code == 200
    assert client.get("/health").json()["status"] == "ok"
    rebound = TestClient(app, base_url="http://attacker.example:8600").get("/api/state")
    assert rebound.status_code == 400  # DNS rebinding: a page from another origin cannot read it


def test_render_index_template_substitutes_only_escaped_values() -> None:
    page = render_index("<title>$title</title><tr>$node_headers</tr>", "a&b", ["x'y"])
    assert page == "<title>a&amp;b</title><tr><th data-node=\"x&#x27;y\">x&#x27;y</th></tr>"


def test_the_explorer_loads_nothing_of_the_node_or_the_manager() -> None:
    """It reads nodes as an outside client: importing it (and the CLI's explorer command) pulls in
    no module of engine, tessera_like or postrade, not even indirectly."""
    probe = ("import sys, devnet.explorer, devnet.explorer.app, devnet.explorer.follower; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'engine', 'tessera_like', 'postrade'}))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_state_follows_nodes_and_replaces_reverted_blocks() -> None:
    """The first node to report a block adds its transactions; each node's cell then fills its column;
    a block number seen again with another hash (a dev snapshot reverted) replaces the old block."""
    state = ExplorerState({"node1": "http://127.0.0.1:1/", "node2": "http://127.0.0.1:2/"})
    queue = state.hub.subscribe()
    tx = _tx()
    state.add_block("node1", Block(7, "0x" + "01" * 32, 0, (tx.hash,)), [tx])
    state.set_cell("node1", tx.hash, Cell("non-party", payload_hash=tx.input))
    state.add_block("node2", Block(7, "0x" + "01" * 32, 0, (tx.hash,)), [tx])
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    rows = [e for e in events if e is not None and e.target == "txs"]
    assert rows and rows[-1].id == dom_id("tx", tx.hash) and "not a party" in rows[-1].html
    assert "not imported yet" in rows[-1].html  # node2 has the block but its view is not read yet
    assert [b["hash"] for b in state.as_json()["blocks"]] == ["0x" + "01" * 32]
    state.add_block("node1", Block(7, "0x" + "02" * 32, 0, ()), [])
    assert [b["hash"] for b in state.as_json()["blocks"]] == ["0x" + "02" * 32]
    current = list(state.events())
    assert [e.target for e in current] == ["nodes", "nodes", "blocks", "txs"]
    assert current[2].sse().startswith("event: upsert\ndata: {")
    state.hub.close()
    assert queue.get_nowait() is None  # an open stream is told to end
