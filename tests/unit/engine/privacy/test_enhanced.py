"""Enhanced privacy on the private side alone: the sender's simulation and each party's checks.

Real py-evm chains on in-memory databases; the manager client holds what a party's manager
would return, including the affected contract transactions it verified for this party.
"""

from __future__ import annotations

import pytest
from eth._utils.address import generate_contract_address

from engine.errors import PrivateTransactionRejected
from engine.privacy.enhanced import MSG_FLAG_MISMATCH, MSG_METADATA_NOT_FOUND
from engine.types import Address, PayloadHash, PrivacyFlag, PrivateArgs, PtmPublicKey, TxRequest
from tests.unit.engine.chain.kit import ACCOUNTS

from .kit import RECORDER_INIT, DictManagerClient, PrivateChain, marker, public_receipt, word

A = ACCOUNTS[0]
KEY_B = PtmPublicKey("AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=")
PP, PSV = PrivacyFlag.PARTY_PROTECTION, PrivacyFlag.PRIVATE_STATE_VALIDATION


@pytest.fixture
def party() -> PrivateChain:
    return PrivateChain(DictManagerClient())


def nonce_of(chain: PrivateChain) -> int:
    return chain.chain.get_vm().state.get_nonce(A.address)


def deploy(chain: PrivateChain, flag: PrivacyFlag) -> tuple[Address, PayloadHash]:
    nonce = nonce_of(chain)
    exec_hash = b""
    if flag == PSV:
        exec_hash = simulate(chain, None, RECORDER_INIT, flag).exec_hash
    key = chain.manager.give(RECORDER_INIT, flag, exec_hash=exec_hash)
    built = chain.build([marker(A.private_key, nonce, key)])
    assert not built.rejected
    return Address(generate_contract_address(A.address, nonce)), key


def simulate(chain: PrivateChain, to: Address | None, data: bytes, flag: PrivacyFlag):  # noqa: ANN201
    request = TxRequest(sender=Address(A.address), to=to, gas=300_000, data=data,
                        private=PrivateArgs(private_for=(KEY_B,), privacy_flag=flag))
    head = chain.head
    return chain.private.simulate_send(request, head, chain.chain.get_vm(head).state, 300_000, nonce_of(chain))


def call(chain: PrivateChain, contract: Address, key: PayloadHash) -> int:
    """Mine a marker for `key` to `contract`; the party's private receipt status."""
    built = chain.build([marker(A.private_key, nonce_of(chain), key, to=contract)])
    receipt = chain.private.private_receipt(public_receipt(chain, built.block, 0))
    assert receipt is not None
    return receipt.status


def stored(chain: PrivateChain, contract: Address) -> int:
    head = chain.head
    state = chain.private.state_for(contract, head, chain.chain.get_vm(head).state)
    assert state is not None
    return int(state.get_storage(contract, 0))


def test_the_sender_names_the_creation_of_every_flagged_contract_it_touches(party):
    deploy(party, PrivacyFlag.STANDARD_PRIVATE)
    assert not party.private.holds_flagged_contracts()  # standard sends need no simulation yet
    contract, creation = deploy(party, PP)
    assert party.private.holds_flagged_contracts()
    assert simulate(party, contract, word(5), PP).affected_contract_transactions == (creation,)
    with pytest.raises(PrivateTransactionRejected, match=MSG_FLAG_MISMATCH):
        simulate(party, contract, word(5), PrivacyFlag.STANDARD_PRIVATE)
    standard, _ = deploy(party, PrivacyFlag.STANDARD_PRIVATE)
    assert simulate(party, standard, word(5), PrivacyFlag.STANDARD_PRIVATE).affected_contract_transactions == ()
    with pytest.raises(PrivateTransactionRejected, match=MSG_METADATA_NOT_FOUND):
        simulate(party, standard, word(5), PP)


def test_party_protection_runs_only_with_the_verified_creation(party):
    contract, creation = deploy(party, PP)
    assert call(party, contract, party.manager.give(word(9), PP)) == 0  # no ACOTH: not shown to be a party
    assert stored(party, contract) == 0
    assert call(party, contract, party.manager.give(word(9), PP, acoths=(creation,))) == 1
    assert stored(party, contract) == 9
    # A standard private payload on a protected contract is a no-op, ACOTH or not.
    assert call(party, contract, party.manager.give(word(3), acoths=(creation,))) == 0
    assert stored(party, contract) == 9


def test_private_state_validation_applies_only_the_senders_result(party):
    contract, creation = deploy(party, PSV)
    enhanced = simulate(party, contract, word(11), PSV)
    assert enhanced.affected_contract_transactions == (creation,) and len(enhanced.exec_hash) == 32
    root_before = party.private.private_root(party.head)

    for exec_hash in (b"", b"\x01" * 32):  # none, or a result nobody reaches
        key = party.manager.give(word(11), PSV, acoths=(creation,), exec_hash=exec_hash)
        assert call(party, contract, key) == 0
        assert stored(party, contract) == 0
        assert party.private.private_root(party.head) == root_before

    key = party.manager.give(word(11), PSV, acoths=(creation,), exec_hash=enhanced.exec_hash)
    assert call(party, contract, key) == 1
    assert stored(party, contract) == 11
    assert party.private.private_root(party.head) != root_before


def test_a_psv_creation_must_reach_the_simulated_state(party):
    nonce = nonce_of(party)
    right = simulate(party, None, RECORDER_INIT, PSV).exec_hash
    wrong = party.manager.give(RECORDER_INIT, PSV, exec_hash=b"\x02" * 32)
    party.build([marker(A.private_key, nonce, wrong)])
    failed_at = Address(generate_contract_address(A.address, nonce))
    assert party.private.contract_metadata(failed_at) is None
    head = party.head
    assert party.private.state_for(failed_at, head, party.chain.get_vm(head).state) is None
    # The simulation ran with the nonce the next creation gets, so its hash is that creation's.
    right_now = simulate(party, None, RECORDER_INIT, PSV).exec_hash
    assert right_now != right  # another nonce, another address
    ok = party.manager.give(RECORDER_INIT, PSV, exec_hash=right_now)
    party.build([marker(A.private_key, nonce_of(party), ok)])
    created = Address(generate_contract_address(A.address, nonce + 1))
    assert party.private.contract_metadata(created)["privacyFlag"] == int(PSV)
