"""The privacy service above a real node (SQLite, local ordering) with a manager client in a dict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.chain.marker import sign_private_marker
from engine.chain.node import Node, open_database
from engine.config import NodeSettings
from engine.errors import PrivateTransactionRejected, TransactionRejected
from engine.privacy.disabled import NoPrivateTransactions
from engine.privacy.private_state import PrivateStateManager
from engine.privacy.service import PrivateTransactionService
from engine.types import Address, PrivacyFlag, PrivateArgs, PtmPublicKey, TxRequest
from tests.unit.engine.chain.kit import sign_raw

from .kit import RECORDER_INIT, DictManagerClient, WiredNode, word

KEY_B = PtmPublicKey("AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=")


class Wired(WiredNode):
    @property
    def sender(self) -> Address:
        return Address(self.node.dev_accounts[0][0])

    def private(self, data: bytes, to: bytes | None = None, flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
                value: int = 0) -> TxRequest:
        return TxRequest(sender=self.sender, to=Address(to) if to else None, data=data, value=value,
                         private=PrivateArgs(private_for=(KEY_B,), privacy_flag=flag))


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[Wired]:
    """The composition root's wiring (engine/server.py), with the manager client in a dict."""
    settings = NodeSettings(data_dir=tmp_path, chain_id=1337)
    manager = DictManagerClient()
    database = open_database(settings)
    private = PrivateStateManager(manager, database.atomic)
    node = Node.open(settings, private=private, database=database)
    service = PrivateTransactionService(node, node.unlocked, private, manager, settings.max_tx_bytes)
    node.start()
    try:
        yield Wired(node, service, manager)
    finally:
        node.stop()


def test_a_private_send_distributes_then_submits_a_marker_the_node_executes(wired):
    tx_hash = wired.service.send_transaction(wired.private(RECORDER_INIT, flag=PrivacyFlag.PARTY_PROTECTION))
    receipt = wired.receipt(tx_hash)
    assert receipt.is_private and receipt.status == 1 and receipt.contract_address is not None
    marker = wired.node.get_transaction(tx_hash)
    assert marker is not None and marker.is_private and len(marker.data) == 64
    assert bytes(marker.data) in wired.manager.payloads  # the chain holds only the manager's hash
    assert RECORDER_INIT not in marker.data
    contract = receipt.contract_address
    assert wired.service.get_contract_privacy_metadata(contract)["privacyFlag"] == 1
    assert wired.service.get_quorum_payload(marker.data) == RECORDER_INIT

    call = wired.service.send_transaction(wired.private(word(11), to=contract, flag=PrivacyFlag.PARTY_PROTECTION))
    assert wired.receipt(call).status == 1
    assert wired.node.get_storage_at(contract, 0, "latest") == word(11)


def test_refusals_send_nothing_to_the_manager(wired):
    deployed = wired.receipt(wired.service.send_transaction(wired.private(RECORDER_INIT,
                                                                          flag=PrivacyFlag.PARTY_PROTECTION)))
    sent_before = dict(wired.manager.payloads)
    with pytest.raises(PrivateTransactionRejected, match="ether value is not supported"):
        wired.service.send_transaction(wired.private(word(1), to=deployed.contract_address, value=1))
    with pytest.raises(PrivateTransactionRejected, match="sent privacy flag doesn't match"):
        wired.service.send_transaction(wired.private(word(1), to=deployed.contract_address,
                                                     flag=PrivacyFlag.MANDATORY_RECIPIENTS))
    with pytest.raises(PrivateTransactionRejected, match="contract not found"):
        wired.service.send_transaction(wired.private(word(1), to=b"\x33" * 20, flag=PrivacyFlag.PARTY_PROTECTION))
    with pytest.raises(TransactionRejected, match="unknown account"):
        wired.service.send_transaction(TxRequest(sender=Address(b"\x44" * 20), data=b"\x01",
                                                 private=PrivateArgs(private_for=(KEY_B,))))
    assert wired.manager.payloads == sent_before


def test_a_raw_private_transaction_must_be_a_marker(wired):
    _, key = wired.node.dev_accounts[1]
    with pytest.raises(PrivateTransactionRejected, match="transaction is not private"):
        wired.service.send_raw_private_transaction(sign_raw(key, 0), (KEY_B,), PrivacyFlag.STANDARD_PRIVATE, ())
    stored = wired.manager.store_raw(RECORDER_INIT, None)
    raw = sign_private_marker(key, 0, 300_000, None, stored)
    tx_hash = wired.service.send_raw_private_transaction(raw, (KEY_B,), PrivacyFlag.STANDARD_PRIVATE, ())
    assert wired.receipt(tx_hash).contract_address is not None


def test_without_a_manager_private_sends_are_refused_and_reads_are_empty(wired):
    none = NoPrivateTransactions()
    with pytest.raises(TransactionRejected, match="need a privacy manager"):
        none.send_transaction(wired.private(RECORDER_INIT))
    assert none.get_quorum_payload(b"\x01" * 64) is None
    assert none.get_contract_privacy_metadata(Address(b"\x01" * 20)) is None
