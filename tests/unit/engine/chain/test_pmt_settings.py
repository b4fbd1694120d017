"""Switching privacy marker transactions on: the genesis' `privacyPrecompileBlock`, the node's
`privacy.privacy_marker` (GoQuorum's --privacymarker.enable), `privnet up --privacy-marker`, and the
privacy service creating PMTs on a real node (SQLite, local ordering) with a manager client in a dict."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devnet.network import NetworkError, init_network
from engine.chain.genesis import GenesisSpec, derive_dev_accounts, dev_genesis
from engine.chain.node import Node, open_database
from engine.chain.pmt import PRIVACY_PRECOMPILE_ADDRESS, privacy_marker_gas
from engine.config import NodeSettings, load_settings
from engine.errors import EngineError
from engine.privacy.pmt import MSG_NEEDS_PRECOMPILE, PrivacyMarkers
from engine.privacy.pmt_state import PrivacyMarkerPrivateState
from engine.privacy.service import PrivateTransactionService
from engine.types import Address, Hash32, LogFilter, PrivateArgs, PtmPublicKey, TxRequest
from tests.unit.engine.privacy.kit import RECORDER_INIT, DictManagerClient, WiredNode, word

KEY_B = PtmPublicKey("AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=")
ACCOUNTS = derive_dev_accounts("pmt-settings", 2)


def test_genesis_carries_privacy_precompile_block_as_goquorum_writes_it():
    spec = dev_genesis(1337, 30_000_000, ACCOUNTS)
    assert "privacyPrecompileBlock" not in spec.to_json()  # default: off, and old files unchanged
    on = GenesisSpec(**{**spec.__dict__, "privacy_precompile_block": 0})
    assert on.to_json()["privacyPrecompileBlock"] == 0
    assert GenesisSpec.from_json(on.to_json()) == on
    assert GenesisSpec.from_json({**spec.to_json(), "privacyPrecompileBlock": "0x10"}).privacy_precompile_block == 16
    for bad in (-1, "ten", True, 1.5):
        with pytest.raises(ValueError, match="privacyPrecompileBlock must be a block number"):
            GenesisSpec.from_json({**spec.to_json(), "privacyPrecompileBlock": bad})


def test_the_node_switch_is_off_by_default_and_read_from_node_toml(tmp_path: Path):
    assert NodeSettings().privacy.privacy_marker is False
    config = tmp_path / "node.toml"
    config.write_text('[privacy]\nenabled = true\nq2t_url = "http://127.0.0.1:9"\nprivacy_marker = true\n')
    assert load_settings(config).privacy.privacy_marker is True


def test_privnet_up_privacy_marker_sets_genesis_and_every_node_and_is_kept(tmp_path: Path):
    spec = init_network(tmp_path, nodes=2, insecure_p2p=True, dev_keys=True, privacy_marker=True)
    assert spec["privacy_marker"] is True
    assert json.loads((tmp_path / "genesis.json").read_text())["privacyPrecompileBlock"] == 0
    for node in spec["nodes"]:
        assert tomllib.loads(Path(node["node_config"]).read_text())["privacy"]["privacy_marker"] is True
    assert init_network(tmp_path) == spec
    with pytest.raises(NetworkError, match="with privacy marker transactions; use that or a new --dir"):
        init_network(tmp_path, privacy_marker=False)


def test_a_default_network_has_no_precompile_and_refuses_the_flag_later(tmp_path: Path):
    spec = init_network(tmp_path, nodes=1, insecure_p2p=True, dev_keys=True)
    assert "privacy_marker" not in spec
    assert "privacyPrecompileBlock" not in json.loads((tmp_path / "genesis.json").read_text())
    assert "privacy_marker" not in tomllib.loads(Path(spec["nodes"][0]["node_config"]).read_text())["privacy"]
    with pytest.raises(NetworkError, match="without privacy marker transactions"):
        init_network(tmp_path, privacy_marker=True)


# -- the privacy service creating PMTs on a real node ----------------------------------------------

def _settings(tmp_path: Path, precompile_block: int | None) -> NodeSettings:
    genesis = GenesisSpec(**{**dev_genesis(1337, 30_000_000, ACCOUNTS).__dict__,
                             "privacy_precompile_block": precompile_block})
    genesis.write(tmp_path / "genesis.json")
    (tmp_path / "accounts.json").write_text(json.dumps(["0x" + a.private_key.hex() for a in ACCOUNTS]))
    return NodeSettings(data_dir=tmp_path, chain_id=1337, genesis_file=tmp_path / "genesis.json",
                        unlocked_keys_file=tmp_path / "accounts.json")


class Wired(WiredNode):
    def send(self, data: bytes, to: bytes | None = None) -> bytes:
        return self.service.send_transaction(TxRequest(
            sender=Address(ACCOUNTS[0].address), to=Address(to) if to else None, data=data, gas=300_000,
            private=PrivateArgs(private_for=(KEY_B,))))


@contextmanager
def _wire(tmp_path: Path, precompile_block: int | None, create: bool) -> Iterator[Wired]:
    """engine/server.py's wiring, with the manager client in a dict."""
    settings = _settings(tmp_path, precompile_block)
    manager = DictManagerClient()
    database = open_database(settings)
    private = PrivacyMarkerPrivateState(manager, database.atomic)
    node = Node.open(settings, private=private, database=database)
    private.precompile_block = node.genesis.privacy_precompile_block
    service = PrivateTransactionService(node, node.unlocked, private, manager, settings.max_tx_bytes)
    try:
        service.privacy_markers = PrivacyMarkers(node, node.unlocked, private, manager, create=create)
        node.start()
        yield Wired(node, service, manager)
    finally:
        node.stop()


@pytest.fixture
def pmts(tmp_path: Path) -> Iterator[Wired]:
    with _wire(tmp_path, 0, create=True) as wired:
        yield wired


def test_a_private_send_becomes_a_pmt_whose_inner_transaction_runs(pmts):
    pmt_hash = pmts.send(RECORDER_INIT)
    public = pmts.receipt(pmt_hash)
    assert public.status == 1 and not public.is_private and public.contract_address is None
    pmt = pmts.node.get_transaction(pmt_hash)
    assert pmt.to == PRIVACY_PRECOMPILE_ADDRESS and not pmt.is_private and pmt.chain_id == 1337
    assert pmt.gas == privacy_marker_gas(pmt.data) and pmt.gas_price == 0 and pmt.value == 0 and pmt.nonce == 0
    assert RECORDER_INIT not in pmts.manager.payloads[bytes(pmt.data)].payload  # the JSON, not the payload

    markers = pmts.service.privacy_markers
    inner = markers.private_transaction(pmt_hash)
    assert inner is not None and inner.is_private and inner.nonce == pmt.nonce and inner.hash != pmt_hash
    assert inner.gas == 300_000 and pmts.manager.payloads[bytes(inner.data)].payload == RECORDER_INIT
    receipt = markers.private_receipt(pmt_hash)
    assert receipt.status == 1 and receipt.transaction_hash == pmt_hash and receipt.contract_address is not None
    contract = receipt.contract_address

    call = pmts.send(word(5), to=contract)
    pmts.receipt(call)
    assert pmts.node.get_storage_at(contract, 0, "latest") == word(5)
    assert [log.data for log in markers.private_receipt(call).logs] == [word(5)]


def test_without_the_node_switch_a_pmt_network_still_takes_private_markers(tmp_path: Path):
    with _wire(tmp_path, 0, create=False) as wired:
        tx_hash = wired.send(RECORDER_INIT)
        assert wired.receipt(tx_hash).is_private and wired.node.get_transaction(tx_hash).is_private
        with pytest.raises(EngineError, match="private transaction not found for this participant"):
            wired.service.privacy_markers.private_receipt(tx_hash)


def test_the_node_switch_waits_for_the_precompile_block(tmp_path: Path):
    with _wire(tmp_path, 50, create=True) as wired:
        tx_hash = wired.send(RECORDER_INIT)  # head #0 < 50: GoQuorum sends a plain private marker
        assert wired.node.get_transaction(tx_hash).is_private


def test_the_node_switch_without_a_precompile_block_is_refused(tmp_path: Path):
    settings = _settings(tmp_path, None)
    database = open_database(settings)
    private = PrivacyMarkerPrivateState(DictManagerClient(), database.atomic)
    node = Node.open(settings, private=private, database=database)
    try:
        with pytest.raises(EngineError, match=MSG_NEEDS_PRECOMPILE):
            PrivacyMarkers(node, node.unlocked, private, private.manager, create=True)
    finally:
        node.stop()


def test_the_nodes_log_queries_include_a_pmts_inner_logs_under_the_pmts_hash(pmts):
    """eth_getLogs, filters and log subscriptions all read `node.get_logs`: a PMT's inner logs are not
    in the public bloom, so the address filter below finds them only because the block is read."""
    created = pmts.send(RECORDER_INIT)
    pmts.receipt(created)  # mined (blocks are produced on the node's thread)
    contract = pmts.service.privacy_markers.private_receipt(created).contract_address
    call = pmts.send(word(5), to=contract)
    public = pmts.receipt(call)
    assert public.is_privacy_marker and public.logs == () and not public.is_private  # eth_getTransactionReceipt
    head = pmts.node.block_number()

    logs = pmts.node.get_logs(LogFilter(from_block=0, to_block=head, addresses=(contract,)))
    assert logs == list(pmts.service.privacy_markers.private_receipt(call).logs)
    assert [(g.data, g.transaction_hash, g.transaction_index, g.block_hash) for g in logs] == [
        (word(5), call, public.transaction_index, public.block_hash)]
    assert pmts.node.get_logs(LogFilter(from_block=0, to_block=head)) == logs
    assert pmts.node.get_logs(LogFilter(from_block=0, to_block=head, addresses=(Address(b"\x01" * 20),))) == []
    assert pmts.node.get_logs(LogFilter(from_block=0, to_block=head, topics=((Hash32(b"\x02" * 32),),))) == []
