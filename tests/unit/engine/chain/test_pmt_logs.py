"""A PMT's inner receipt as log queries read it (`PrivateStateAPI.privacy_marker_receipt`): real py-evm
chains on in-memory databases, a party's and a non-party's, whose private side runs PMTs.

GoQuorum derives a stored PMT receipt's logs from the block's transaction at that index, so the
inner transaction's logs carry the PMT's hash, index and block; a non-party has nothing.
"""

from __future__ import annotations

import pytest
from eth._utils.address import generate_contract_address
from eth.abc import SignedTransactionAPI

from engine.chain.noprivacy import NoPrivateState
from engine.chain.pmt import PRIVACY_PRECOMPILE_ADDRESS, encode_inner_transaction, privacy_marker_gas
from engine.privacy.pmt_state import PrivacyMarkerPrivateState
from engine.privacy.private_state import PrivateStateManager
from tests.unit.engine.privacy.kit import RECORDER_INIT, DictManagerClient, PrivateChain, marker, public_receipt, word

from .kit import ACCOUNTS, sign

A, B = ACCOUNTS[0], ACCOUNTS[1]


def pmt_chain() -> PrivateChain:
    return PrivateChain(DictManagerClient(), lambda client, db: PrivacyMarkerPrivateState(client, db, 0))


def held_by(chains: list[PrivateChain], payload: bytes) -> bytes:
    """`payload` in the managers of `chains` (its parties); its 64-byte hash."""
    key = bytes(chains[0].manager.give(payload))
    for other in chains[1:]:
        other.manager.payloads[key] = chains[0].manager.payloads[key]
    return key


def pmt_of(parties: list[PrivateChain], inner: SignedTransactionAPI) -> SignedTransactionAPI:
    data = held_by(parties, encode_inner_transaction(inner))
    return sign(A.private_key, inner.nonce, to=PRIVACY_PRECOMPILE_ADDRESS, data=data, gas=privacy_marker_gas(data))


def nonce_of(chain: PrivateChain, address: bytes) -> int:
    return int(chain.chain.get_vm(chain.head).state.get_nonce(address))


@pytest.fixture
def chains() -> tuple[PrivateChain, PrivateChain, PrivateChain]:
    """A and B are parties, C is not; the recorder contract is deployed A → B through a PMT."""
    a, b, c = pmt_chain(), pmt_chain(), pmt_chain()
    deploy = marker(A.private_key, 0, held_by([a, b], RECORDER_INIT))
    built = a.build([pmt_of([a, b], deploy)])
    assert not built.rejected
    for other in (b, c):
        other.import_block(built.block)
    return a, b, c


def test_a_party_reads_the_inner_logs_at_the_pmt_and_a_non_party_reads_nothing(chains):
    a, b, c = chains
    contract = generate_contract_address(A.address, 0)
    call = marker(A.private_key, 1, held_by([a, b], word(7)), to=contract)
    pmt = pmt_of([a, b], call)
    transfer = sign(B.private_key, nonce_of(a, B.address), to=b"\x22" * 20)  # a public transaction after it
    built = a.build([pmt, transfer])
    assert not built.rejected
    for other in (b, c):
        other.import_block(built.block)

    for party in (a, b):
        public, plain = public_receipt(party, built.block, 0), public_receipt(party, built.block, 1)
        assert public.is_privacy_marker and public.logs == () and not plain.is_privacy_marker
        receipt = party.private.privacy_marker_receipt(public)
        assert receipt is not None and receipt.status == 1 and receipt.is_private and not receipt.is_privacy_marker
        assert receipt.transaction_hash == pmt.hash and (receipt.sender, receipt.to) == (A.address, contract)
        assert [(g.address, g.data, g.transaction_hash, g.transaction_index, g.block_hash, g.block_number)
                for g in receipt.logs] == [(contract, word(7), pmt.hash, 0, built.block.hash, 2)]
        assert party.private.privacy_marker_receipt(plain) is None  # not a PMT

    public = public_receipt(c, built.block, 0)
    assert public.is_privacy_marker and c.private.privacy_marker_receipt(public) is None


def test_an_inner_transaction_that_did_not_run_has_no_receipt_nor_logs(chains):
    a, b, _ = chains
    contract = generate_contract_address(A.address, 0)
    forged = marker(B.private_key, 1, held_by([a, b], word(9)), to=contract)  # B's account inside A's PMT
    built = a.build([pmt_of([a, b], forged)])
    b.import_block(built.block)
    for party in (a, b):
        public = public_receipt(party, built.block, 0)
        assert public.is_privacy_marker and party.private.inner_transaction(public.transaction_hash) is not None
        assert party.private.privacy_marker_receipt(public) is None


def test_nodes_without_privacy_marker_transactions_have_no_inner_receipts(chains):
    a, _, _ = chains
    public = public_receipt(a, a.chain.get_canonical_block_by_number(1), 0)
    assert public.is_privacy_marker
    assert NoPrivateState().privacy_marker_receipt(public) is None
    assert PrivateStateManager(a.manager, a.db).privacy_marker_receipt(public) is None
