"""The private side on its own: real py-evm chains on in-memory databases, a manager client in a dict.

Every "a party sees it" check is paired with "a non-party does not".
"""

from __future__ import annotations

import pytest
from eth._utils.address import generate_contract_address

from engine.chain.noprivacy import NoPrivateState
from engine.errors import PrivacyManagerUnavailable, TransactionRejected
from engine.types import Address, PrivacyFlag, PrivateArgs, PtmPublicKey, TxRequest
from tests.unit.engine.chain.kit import ACCOUNTS

from .kit import RECORDER_INIT, DictManagerClient, PrivateChain, marker, public_receipt, word

A = ACCOUNTS[0]
KEY_B = PtmPublicKey("AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=")


@pytest.fixture
def party() -> PrivateChain:
    return PrivateChain(DictManagerClient())


@pytest.fixture
def outsider() -> PrivateChain:
    return PrivateChain(DictManagerClient())


def deploy(chain: PrivateChain, flag: PrivacyFlag = PrivacyFlag.STANDARD_PRIVATE,
           mandatory: tuple[PtmPublicKey, ...] = ()) -> tuple[Address, bytes]:
    nonce = chain.chain.get_vm().state.get_nonce(A.address)
    key = chain.manager.give(RECORDER_INIT, flag, mandatory)
    built = chain.build([marker(A.private_key, nonce, key)])
    assert not built.rejected
    return Address(generate_contract_address(A.address, nonce)), built.block


def test_a_party_runs_the_payload_and_a_non_party_only_moves_the_nonce(party, outsider):
    contract, _ = deploy(party)
    outsider.import_block(party.chain.get_canonical_block_by_number(1))
    key = party.manager.give(word(42))
    built = party.build([marker(A.private_key, 1, key, to=contract)])
    imported = outsider.import_block(built.block)
    assert imported.header.state_root == built.block.header.state_root  # one public state

    head = party.head
    private = party.private.state_for(contract, head, party.chain.get_vm(head).state)
    assert private is not None and private.get_storage(contract, 0) == 42
    public_receipt = _public_receipt(party, built.block, 0)
    receipt = party.private.private_receipt(public_receipt)
    assert receipt is not None and receipt.status == 1 and receipt.is_private
    assert [log.data for log in receipt.logs] == [word(42)]

    other_head = outsider.head
    assert outsider.private.state_for(contract, other_head, outsider.chain.get_vm(other_head).state) is None
    assert outsider.private.private_receipt(_public_receipt(outsider, imported, 0)) is None
    assert outsider.private.contract_metadata(contract) is None
    assert outsider.chain.get_vm(other_head).state.get_nonce(A.address) == 2  # the public side moved


def test_creation_records_the_contract_privacy_metadata(party):
    contract, block = deploy(party, PrivacyFlag.MANDATORY_RECIPIENTS, (KEY_B,))
    meta = party.private.contract_metadata(contract)
    assert meta == {"creationTxHash": "0x" + bytes(block.transactions[0].data).hex(),
                    "privacyFlag": int(PrivacyFlag.MANDATORY_RECIPIENTS), "mandatoryFor": [KEY_B]}


def test_a_call_with_another_privacy_flag_changes_nothing(party):
    contract, _ = deploy(party, PrivacyFlag.PARTY_PROTECTION)
    key = party.manager.give(word(7), PrivacyFlag.STANDARD_PRIVATE)
    built = party.build([marker(A.private_key, 1, key, to=contract)])
    receipt = party.private.private_receipt(_public_receipt(party, built.block, 0))
    assert receipt is not None and receipt.status == 0 and receipt.logs == ()
    head = party.head
    state = party.private.state_for(contract, head, party.chain.get_vm(head).state)
    assert state is not None and state.get_storage(contract, 0) == 0


def test_run_call_reads_the_private_contract_and_commits_nothing(party, outsider):
    contract, block = deploy(party)
    outsider.import_block(block)
    request = TxRequest(sender=Address(A.address), to=contract, data=word(9))
    head = party.head
    with party.chain.get_vm(head).in_costless_state() as public:
        computation = party.private.run_call(request, head, public, 1_000_000)
    assert computation is not None and not computation.is_error
    assert [bytes(d) for _, _, d in computation.get_log_entries()] == [word(9)]
    state = party.private.state_for(contract, head, party.chain.get_vm(head).state)
    assert state is not None and state.get_storage(contract, 0) == 0  # reverted after the call
    other = outsider.head
    with outsider.chain.get_vm(other).in_costless_state() as public:
        assert outsider.private.run_call(request, other, public, 1_000_000) is None  # run publicly instead


def test_run_call_refuses_value_and_too_little_gas(party):
    contract, _ = deploy(party)
    head = party.head
    with party.chain.get_vm(head).in_costless_state() as public:
        with pytest.raises(TransactionRejected, match="ether value is not supported"):
            party.private.run_call(TxRequest(to=contract, value=1), head, public, 100_000)
        private = TxRequest(to=contract, data=word(1), private=PrivateArgs(private_for=(KEY_B,)))
        with pytest.raises(TransactionRejected, match="intrinsic gas too low"):
            party.private.run_call(private, head, public, 22_000)


def test_a_manager_that_is_down_fails_the_block_and_nothing_is_written(party):
    contract, _ = deploy(party)
    key = party.manager.give(word(5))
    tx = marker(A.private_key, 1, key, to=contract)
    root_before = party.private.private_root(party.head)
    party.manager.down = True
    with pytest.raises(PrivacyManagerUnavailable):
        party.private.prefetch([tx])
    party.private.abort_block()
    party.manager.down = False
    built = party.build([tx])  # the manager is back: the same marker now runs
    assert party.private.private_root(party.head) != root_before
    assert party.private.private_receipt(_public_receipt(party, built.block, 0)).status == 1


def test_an_aborted_block_leaves_no_private_trace(party):
    contract, _ = deploy(party)
    key = party.manager.give(word(3))
    parent = party.head
    party.private.begin_block(parent)
    from engine.chain.builder import build_block
    from tests.unit.engine.chain.kit import COINBASE

    built = build_block(party.chain, parent, [marker(A.private_key, 1, key, to=contract)], parent.timestamp,
                        COINBASE)
    party.private.abort_block()
    assert party.private.private_receipt(_public_receipt(party, built.block, 0)) is None
    state = party.private.state_for(contract, parent, party.chain.get_vm(parent).state)
    assert state is not None and state.get_storage(contract, 0) == 0


def test_prefetch_asks_once_per_block_and_execution_uses_it(party):
    contract, _ = deploy(party)
    keys = [party.manager.give(word(i)) for i in range(1, 4)]
    txs = [marker(A.private_key, 1 + i, k, to=contract) for i, k in enumerate(keys)]
    calls_before = party.manager.receive_calls
    party.build(txs)
    assert party.manager.receive_calls == calls_before  # one receive_many, no per-key GET
    head = party.head
    state = party.private.state_for(contract, head, party.chain.get_vm(head).state)
    assert state is not None and state.get_storage(contract, 0) == 3


def test_a_node_without_a_manager_refuses_markers_and_sees_nothing_private(party):
    contract, block = deploy(party)
    none = NoPrivateState()
    with pytest.raises(TransactionRejected, match="need a privacy manager"):
        none.validate_marker(block.transactions[0])
    head = party.head
    assert none.state_for(contract, head, party.chain.get_vm(head).state) is None
    assert none.private_receipt(_public_receipt(party, block, 0)) is None
    assert none.contract_metadata(contract) is None


_public_receipt = public_receipt
