"""Privacy marker transactions executed: real py-evm chains on in-memory databases whose private
side is a real `PrivacyMarkerPrivateState`, each with a manager client kept in a dict.

Every "a party runs it" check is paired with "a non-party does not"; every refused inner
transaction is followed by a valid one, to show the chain goes on.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from eth._utils.address import generate_contract_address
from eth.abc import SignedTransactionAPI

from engine.chain.builder import BuiltBlock
from engine.chain.pmt import PRIVACY_PRECOMPILE_ADDRESS, encode_inner_transaction, privacy_marker_gas
from engine.errors import PrivacyManagerUnavailable
from engine.privacy.pmt_state import PrivacyMarkerPrivateState
from engine.types import Address
from tests.unit.engine.privacy.kit import RECORDER_INIT, DictManagerClient, PrivateChain, public_receipt, word
from tests.unit.engine.privacy.kit import marker as inner_marker

from .kit import ACCOUNTS, sign

A, B = ACCOUNTS[0], ACCOUNTS[1]


class PmtChain(PrivateChain):
    """A node's chain whose private side runs PMTs from `precompile_block` on (None: never)."""

    private: PrivacyMarkerPrivateState

    def __init__(self, precompile_block: int | None = 0, manager: DictManagerClient | None = None) -> None:
        super().__init__(manager or DictManagerClient(),
                         lambda client, db: PrivacyMarkerPrivateState(client, db, precompile_block))

    def nonce(self, address: bytes) -> int:
        return int(self.chain.get_vm(self.head).state.get_nonce(address))

    def storage(self, contract: bytes, slot: int = 0) -> int | None:
        head = self.head
        state = self.private.state_for(Address(contract), head, self.chain.get_vm(head).state)
        return None if state is None else int(state.get_storage(contract, slot))


def pmt_for(managers: list[DictManagerClient], inner_payload: bytes, key: bytes, nonce: int) -> SignedTransactionAPI:
    """The PMT carrying `inner_payload`, held by every manager in `managers` (its parties)."""
    pmt_hash = private_payload(managers, inner_payload)
    return sign(key, nonce, to=PRIVACY_PRECOMPILE_ADDRESS, data=pmt_hash, gas=privacy_marker_gas(pmt_hash))


def private_payload(managers: list[DictManagerClient], payload: bytes) -> bytes:
    """A private payload held by the parties' managers; its 64-byte hash."""
    key = managers[0].give(payload)
    for other in managers[1:]:
        other.payloads[bytes(key)] = managers[0].payloads[bytes(key)]
    return bytes(key)


@pytest.fixture
def parties() -> tuple[PmtChain, PmtChain]:
    return PmtChain(), PmtChain()


@pytest.fixture
def outsider() -> PmtChain:
    return PmtChain()


def deploy_via_pmt(sender: PmtChain, others: list[PmtChain]) -> tuple[bytes, SignedTransactionAPI, BuiltBlock]:
    """The recorder contract created through a PMT by A; every chain in `others` imports the block."""
    managers = [sender.manager, *(c.manager for c in others if c.manager is not None)]
    nonce = sender.nonce(A.address)
    inner = inner_marker(A.private_key, nonce, private_payload(managers, RECORDER_INIT))
    pmt = pmt_for(managers, encode_inner_transaction(inner), A.private_key, nonce)
    built = sender.build([pmt])
    assert not built.rejected
    return generate_contract_address(A.address, nonce), inner, built


def test_a_party_runs_the_inner_transaction_and_a_non_party_only_moves_the_nonce(parties, outsider):
    a, b = parties
    contract, inner, built = deploy_via_pmt(a, [b])
    pmt = built.block.transactions[0]
    b.import_block(built.block)
    outsider.import_block(built.block)

    managers = [a.manager, b.manager]
    nonce = a.nonce(A.address)
    call = inner_marker(A.private_key, nonce, private_payload(managers, word(42)), to=contract)
    built2 = a.build([pmt_for(managers, encode_inner_transaction(call), A.private_key, nonce)])
    imported_b = b.import_block(built2.block)
    imported_c = outsider.import_block(built2.block)
    assert imported_b.header.state_root == imported_c.header.state_root == built2.block.header.state_root

    for party in (a, b):
        assert party.storage(contract) == 42
        assert bytes(party.private.inner_transaction(bytes(pmt.hash)).hash) == bytes(inner.hash)
        # the private receipt is keyed by the inner transaction's hash, not the PMT's
        public = public_receipt(party, party.chain.get_canonical_block_by_number(2), 0)
        assert public.status == 1 and public.to == PRIVACY_PRECOMPILE_ADDRESS and not public.is_private
        assert party.private.private_receipt(public) is None
        private = party.private.private_receipt(replace(public, transaction_hash=call.hash))
        assert private is not None and private.status == 1 and [g.data for g in private.logs] == [word(42)]

    assert outsider.storage(contract) is None
    assert outsider.private.inner_transaction(bytes(pmt.hash)) is None
    assert outsider.private.contract_metadata(Address(contract)) is None
    assert outsider.nonce(A.address) == 2  # two PMTs: the public nonce moved twice
    # nothing of the inner transactions is in the outsider's database (the PMT hash only)
    stored = b"".join(k + v for k, v in outsider.db.wrapped_db.kv_store.items())
    for secret in (bytes(call.data), bytes(inner.data), bytes(call.hash), bytes(inner.hash), word(42)):
        assert secret not in stored


def test_without_a_precompile_block_the_address_is_an_ordinary_one():
    a = PmtChain(precompile_block=None)
    contract, inner, built = deploy_via_pmt(a, [])
    pmt = built.block.transactions[0]
    assert built.receipts[0].gas_used == privacy_marker_gas(bytes(pmt.data))  # a plain call, status 1
    assert a.storage(contract) is None
    assert a.private.inner_transaction(bytes(pmt.hash)) is None


def test_before_the_precompile_block_nothing_private_runs_and_from_it_on_it_does():
    a = PmtChain(precompile_block=2)
    early, _, built = deploy_via_pmt(a, [])
    assert a.storage(early) is None and a.private.inner_transaction(bytes(built.block.transactions[0].hash)) is None
    later, _, _ = deploy_via_pmt(a, [])  # block #2
    assert a.head.block_number == 2
    assert a.storage(later) == 0  # the recorder exists privately (None: no private account)


def _refused_then_accepted(a: PmtChain, b: PmtChain, bad_pmt: SignedTransactionAPI) -> None:
    """`bad_pmt` is mined and runs nothing; the next valid PMT runs on both parties."""
    built = a.build([bad_pmt])
    assert not built.rejected and built.receipts[0].state_root == b"\x01"
    b.import_block(built.block)
    contract, _, built2 = deploy_via_pmt(a, [b])
    b.import_block(built2.block)
    for party in (a, b):
        assert party.storage(contract) == 0
        assert party.private.state_for(Address(contract), party.head,
                                       party.chain.get_vm(party.head).state) is not None


def test_an_inner_transaction_signed_by_another_account_does_not_run(parties):
    a, b = parties
    managers = [a.manager, b.manager]
    nonce = a.nonce(A.address)
    forged = inner_marker(B.private_key, nonce, private_payload(managers, RECORDER_INIT))
    bad = pmt_for(managers, encode_inner_transaction(forged), A.private_key, nonce)
    _refused_then_accepted(a, b, bad)
    would_be = generate_contract_address(B.address, nonce)
    for party in (a, b):
        assert party.storage(would_be) is None
        # the party still sees what the PMT carried, as GoQuorum's node does, but no receipt exists
        assert bytes(party.private.inner_transaction(bytes(bad.hash)).hash) == bytes(forged.hash)
        public = public_receipt(party, party.chain.get_canonical_block_by_number(1), 0)
        assert party.private.private_receipt(replace(public, transaction_hash=forged.hash)) is None


def test_an_inner_transaction_with_another_nonce_does_not_run(parties):
    a, b = parties
    managers = [a.manager, b.manager]
    nonce = a.nonce(A.address)
    stale = inner_marker(A.private_key, nonce + 5, private_payload(managers, RECORDER_INIT))
    _refused_then_accepted(a, b, pmt_for(managers, encode_inner_transaction(stale), A.private_key, nonce))
    assert a.storage(generate_contract_address(A.address, nonce + 5)) is None


@pytest.mark.parametrize("payload", [b"garbage, not a transaction", b"{}", b'{"type":"0x0","nonce":"0x0"}'],
                         ids=["bytes", "empty-object", "missing-fields"])
def test_a_payload_that_is_no_transaction_does_not_run_nor_stall_the_chain(parties, payload):
    a, b = parties
    bad = pmt_for([a.manager, b.manager], payload, A.private_key, a.nonce(A.address))
    _refused_then_accepted(a, b, bad)
    assert a.private.inner_transaction(bytes(bad.hash)) is None


def test_a_manager_that_cannot_answer_halts_the_block_and_is_never_read_as_not_a_party():
    a = PmtChain()
    nonce = a.nonce(A.address)
    inner = inner_marker(A.private_key, nonce, private_payload([a.manager], RECORDER_INIT))
    pmt = pmt_for([a.manager], encode_inner_transaction(inner), A.private_key, nonce)
    a.manager.down = True
    with pytest.raises(PrivacyManagerUnavailable):
        a.build([pmt])


def test_only_the_thread_executing_the_block_runs_a_pmt():
    """eth_call and friends run on other threads, on a throwaway state: they never reach the
    block under way (the private side is shared)."""
    a = PmtChain()
    nonce = a.nonce(A.address)
    inner = inner_marker(A.private_key, nonce, private_payload([a.manager], RECORDER_INIT))
    pmt = pmt_for([a.manager], encode_inner_transaction(inner), A.private_key, nonce)
    a.private.prefetch([pmt])
    a.private.begin_block(a.head)
    state = a.chain.get_vm(a.head).state
    other = threading.Thread(target=a.private.execute_privacy_marker, args=(pmt, state))
    other.start()
    other.join()
    assert a.private._markers == {}  # nothing recorded for this block
    a.private.abort_block()
    a.private.execute_privacy_marker(pmt, state)  # outside any block: nothing either
    assert a.private._markers == {}
