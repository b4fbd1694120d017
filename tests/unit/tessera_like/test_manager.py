"""TransactionManager semantics (Tessera's), with real keys, stores and encryption."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from tessera_like.crypto.keys import encode_key
from tessera_like.errors import (
    DuplicatePayload,
    InvalidPayload,
    InvalidRequest,
    KeyNotFound,
    PayloadTooLarge,
    PeerUnavailable,
    PrivacyViolation,
    TransactionNotFound,
    UnknownRecipient,
)
from tessera_like.manager import TransactionManager
from tessera_like.payload import decode, encode
from tessera_like.sealing import build_payload
from tessera_like.types import PayloadHash, PrivacyMetadata, PrivacyMode, PublicKey

Network = Callable[..., list[TransactionManager]]


def key(manager: TransactionManager, index: int = 0) -> PublicKey:
    return manager.keys.public_keys()[index]


def test_recipients_read_outsider_gets_nothing(network_of: Network) -> None:
    a, b, c, d = network_of(4)
    tx = a.send(b"trade", None, [key(b), key(c)])
    assert len(tx) == 64
    for manager in (a, b, c):
        assert manager.receive(tx).payload == b"trade"
    assert b.receive(tx, key(b)).sender_key == key(a)
    with pytest.raises(TransactionNotFound):
        d.receive(tx)
    assert d.store.get(tx) is None and d.store.count() == 0
    assert a.is_sender(tx) and not b.is_sender(tx)
    assert set(a.participants(tx)) == {key(a), key(b), key(c)}
    assert b.participants(tx) == (key(b),)


def test_each_recipient_stores_only_its_own_box(network_of: Network) -> None:
    a, b, c = network_of(3)
    tx = a.send(b"x", None, [key(b), key(c)])
    stored_b = decode(b.store.get(tx) or b"")
    assert stored_b.recipient_keys == (key(b),) and len(stored_b.recipient_boxes) == 1
    assert len(decode(a.store.get(tx) or b"").recipient_boxes) == 3


def test_send_without_recipients_is_for_the_sender_alone(network_of: Network) -> None:
    a, b = network_of(2)
    tx = a.send(b"mine", None, [])
    assert a.receive(tx).payload == b"mine"
    assert b.store.count() == 0


def test_recipients_on_the_same_manager_share_the_sender_row(network_of: Network) -> None:
    (a,) = network_of(1, keys_per_manager=2)
    tx = a.send(b"internal", key(a, 0), [key(a, 1)])
    assert a.store.count() == 1
    assert a.receive(tx, key(a, 1)).payload == b"internal"
    assert a.receive(tx).managed_parties == (key(a, 0), key(a, 1))


def test_always_send_to_joins_every_transaction(network_of: Network) -> None:
    (auditor,) = network_of(1)
    a, b = network_of(2, always_send_to=[key(auditor)])
    tx = a.send(b"reported", None, [key(b)])
    assert auditor.receive(tx).payload == b"reported"


def test_unknown_recipient_names_the_key_after_one_discovery_round(network_of: Network) -> None:
    (a,) = network_of(1)
    stranger = PublicKey(b"\x01" * 32)
    with pytest.raises(UnknownRecipient, match=encode_key(stranger).replace("+", r"\+")):
        a.send(b"x", None, [stranger])
    assert a.network.refreshes == 1  # type: ignore[union-attr]
    assert a.store.count() == 0


def test_a_down_recipient_fails_the_send_and_nothing_is_stored(network_of: Network) -> None:
    a, b, c = network_of(3)
    a.network.refresh()  # type: ignore[union-attr]
    a.network.down.add(c.url)  # type: ignore[union-attr,attr-defined]
    with pytest.raises(PeerUnavailable, match=c.url):  # type: ignore[attr-defined]
        a.send(b"x", None, [key(b), key(c)])
    assert a.store.count() == 0 and c.store.count() == 0


def test_unknown_sender_key_and_payload_limit(network_of: Network) -> None:
    (a,) = network_of(1, max_payload_bytes=100)
    with pytest.raises(KeyNotFound, match="sender key"):
        a.send(b"x", PublicKey(b"\x02" * 32), [])
    with pytest.raises(PayloadTooLarge, match="101 bytes exceeds the limit of 100"):
        a.send(b"x" * 101, None, [])


def test_store_raw_then_send_signed_keeps_the_key(network_of: Network) -> None:
    a, b, c = network_of(3)
    raw_key = a.store_raw(b"signed tx payload", None)
    assert a.store.get(raw_key) is None and a.store.get_raw(raw_key) is not None
    assert a.receive(raw_key, raw=True).payload == b"signed tx payload"
    with pytest.raises(TransactionNotFound):
        b.receive(raw_key)
    sent = a.send_signed(raw_key, [key(b)])
    assert sent == raw_key
    assert b.receive(raw_key).payload == b"signed tx payload"
    assert a.receive(raw_key).payload == b"signed tx payload"
    with pytest.raises(TransactionNotFound):
        c.receive(raw_key)
    with pytest.raises(TransactionNotFound, match="storeraw"):
        a.send_signed(PayloadHash(b"\x00" * 64), [key(b)])


def test_push_is_refused_unless_a_held_key_is_recipient_or_sender(network_of: Network) -> None:
    a, b, c = network_of(3)
    tx = a.send(b"x", None, [key(b)])
    for_b = b.store.get(tx)
    assert for_b is not None
    with pytest.raises(PrivacyViolation, match="no box for a key of this manager"):
        c.push(for_b)
    with pytest.raises(DuplicatePayload, match="already stored"):
        b.push(for_b)
    corrupted = bytearray(for_b)
    corrupted[60] ^= 1  # inside the ciphertext
    with pytest.raises(InvalidPayload):
        b.push(bytes(corrupted))
    with pytest.raises(InvalidPayload):
        b.push(b"\x01garbage")


def test_resend_all_recovers_a_recipient(network_of: Network) -> None:
    a, b = network_of(2)
    txs = [a.send(f"p{i}".encode(), None, [key(b)]) for i in range(40)]
    mine = a.send(b"not for b", None, [])
    for tx in txs:
        b.store.delete(tx)
    assert a.resend_all(key(b)) == 40
    assert [b.receive(tx).payload for tx in txs] == [f"p{i}".encode() for i in range(40)]
    assert b.store.get(mine) is None
    assert a.resend_all(key(b)) == 40  # already there: delivered again, no error


def test_sender_recovery_gathers_boxes_back(network_of: Network) -> None:
    a, b, c = network_of(3)
    tx = a.send(b"sent by a", None, [key(b), key(c)])
    a.store.delete(tx)
    b.resend_all(key(a))
    assert a.receive(tx).payload == b"sent by a"
    assert a.participants(tx) == (key(b),)
    c.resend_all(key(a))
    assert set(a.participants(tx)) == {key(b), key(c)}
    assert a.is_sender(tx)


def test_recover_asks_every_peer(network_of: Network) -> None:
    a, b, c = network_of(3)
    sent = a.send(b"from a", None, [key(b)])
    received = b.send(b"to a", None, [key(a), key(c)])
    a.store.delete(sent)
    a.store.delete(received)
    assert a.recover() == {b.url: "ok", c.url: "ok"}  # type: ignore[attr-defined]
    assert a.receive(sent).payload == b"from a"
    assert a.receive(received).payload == b"to a"


def test_resend_individual(network_of: Network) -> None:
    a, b, c = network_of(3)
    tx = a.send(b"x", None, [key(b)])
    copy = decode(a.resend_individual(key(b), tx))
    assert copy.recipient_keys == (key(b),)
    with pytest.raises(TransactionNotFound, match="not a party"):
        a.resend_individual(key(c), tx)


def test_delete(network_of: Network) -> None:
    a, b = network_of(2)
    tx = a.send(b"x", None, [key(b)])
    a.delete(tx)
    with pytest.raises(TransactionNotFound):
        a.receive(tx)
    with pytest.raises(TransactionNotFound):
        a.delete(tx)
    assert b.receive(tx).payload == b"x"


def test_mandatory_recipients_rules(network_of: Network) -> None:
    a, b, c = network_of(3)
    mr = PrivacyMode.MANDATORY_RECIPIENTS
    with pytest.raises(InvalidRequest, match="missing mandatory recipients"):
        a.send(b"x", None, [key(b)], PrivacyMetadata(mr))
    with pytest.raises(PrivacyViolation, match="One or more mandatory recipients not included in the participant"):
        a.send(b"x", None, [key(b)], PrivacyMetadata(mr, mandatory_recipients=(key(c),)))
    with pytest.raises(InvalidRequest, match="only applicable for privacy flag 2"):
        a.send(b"x", None, [key(b)], PrivacyMetadata(mandatory_recipients=(key(b),)))
    tx = a.send(b"x", None, [key(b)], PrivacyMetadata(mr, mandatory_recipients=(key(b),)))
    assert b.mandatory_recipients(tx) == (key(b),)
    assert b.receive(tx).privacy_mode is mr
    plain = a.send(b"y", None, [key(b)])
    with pytest.raises(InvalidRequest, match="not a mandatory-recipients"):
        a.mandatory_recipients(plain)
    # A later transaction must name the contract's mandatory recipients again (Tessera's rule).
    with pytest.raises(PrivacyViolation, match="Privacy metadata mismatched with Affected Txn"):
        a.send(b"z", None, [key(c)], PrivacyMetadata(mr, affected_contract_transactions=(tx,),
                                                      mandatory_recipients=(key(c),)))
    later = a.send(b"z", None, [key(b), key(c)], PrivacyMetadata(mr, affected_contract_transactions=(tx,),
                                                                  mandatory_recipients=(key(b),)))
    assert c.receive(later).payload == b"z"


def test_affected_contract_transactions_are_verified_per_party(network_of: Network) -> None:
    a, b, c = network_of(3)
    pp = PrivacyMode.PARTY_PROTECTION
    creation = a.send(b"create", None, [key(b)], PrivacyMetadata(pp))
    call = a.send(b"call", None, [key(b), key(c)],
                  PrivacyMetadata(pp, affected_contract_transactions=(creation,), exec_hash=b"E" * 32))
    assert a.receive(call).affected_contract_transactions == (creation,)
    assert b.receive(call).affected_contract_transactions == (creation,)
    assert b.receive(call).exec_hash == b"E" * 32
    # C is not a party to the creation: the entry is not reported to C's node.
    assert c.receive(call).affected_contract_transactions == ()
    with pytest.raises(PrivacyViolation, match="Privacy metadata mismatched with Affected Txn"):
        a.send(b"x", None, [key(b)], PrivacyMetadata(affected_contract_transactions=(creation,)))
    with pytest.raises(PrivacyViolation, match="Unable to find affectedContractTransaction"):
        c.send(b"x", None, [key(a)], PrivacyMetadata(pp, affected_contract_transactions=(creation,)))


def test_private_state_validation_needs_the_same_parties(network_of: Network) -> None:
    a, b, c = network_of(3)
    psv = PrivacyMode.PRIVATE_STATE_VALIDATION
    creation = a.send(b"create", None, [key(b)], PrivacyMetadata(psv))
    assert set(b.participants(creation)) == {key(a), key(b)}  # PSV copies list every party
    with pytest.raises(PrivacyViolation, match="Recipients mismatched for Affected Txn"):
        a.send(b"x", None, [key(b), key(c)], PrivacyMetadata(psv, affected_contract_transactions=(creation,)))
    ok = b.send(b"y", None, [key(a)], PrivacyMetadata(psv, affected_contract_transactions=(creation,)))
    assert a.receive(ok).affected_contract_transactions == (creation,)


def test_push_refuses_a_forged_security_hash_under_psv(network_of: Network) -> None:
    """A sender that is not a party to the affected transaction cannot compute its security
    hash; a well-formed payload carrying a made-up one is refused (PSV) or not reported."""
    a, b, c = network_of(3)
    psv, pp = PrivacyMode.PRIVATE_STATE_VALIDATION, PrivacyMode.PARTY_PROTECTION
    creation = a.send(b"create", None, [key(b)], PrivacyMetadata(psv))
    c_pair = c.keys.require(key(c))
    for mode, forged_hash in ((psv, b"\x00" * 64), (pp, b"\x01" * 64)):
        forged = build_payload(c.encryptor, c.encryptor.seal(b"call"), c_pair, [key(c), key(b)],
                               privacy_mode=mode, affected_contract_transactions=((creation, forged_hash),))
        copy = encode(forged.for_recipients(frozenset({key(b)})))
        if mode is psv:
            with pytest.raises(PrivacyViolation, match="Invalid security hashes identified for PSC TX"):
                b.push(copy)
            assert b.store.get(forged.hash) is None
        else:
            with pytest.raises(PrivacyViolation, match="Privacy metadata mismatched"):
                b.push(copy)  # PP payload naming a PSV contract: flag mismatch
    pp_creation = a.send(b"create", None, [key(b)], PrivacyMetadata(pp))
    forged = build_payload(c.encryptor, c.encryptor.seal(b"call"), c_pair, [key(c), key(b)],
                           privacy_mode=pp, affected_contract_transactions=((pp_creation, b"\x02" * 64),))
    assert b.push(encode(forged.for_recipients(frozenset({key(b)})))) == forged.hash
    assert b.receive(forged.hash).affected_contract_transactions == ()


def test_metadata_changed_in_transit_is_refused(network_of: Network) -> None:
    a, b = network_of(2)
    tx = a.send(b"call", None, [key(b)], PrivacyMetadata(PrivacyMode.PARTY_PROTECTION))
    b.store.delete(tx)
    copy = decode(a.resend_individual(key(b), tx))
    with pytest.raises(InvalidPayload, match="corrupted"):
        b.push(encode(replace(copy, privacy_mode=PrivacyMode.STANDARD_PRIVATE)))
    assert b.push(encode(copy)) == tx
