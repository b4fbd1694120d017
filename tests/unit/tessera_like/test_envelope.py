"""Envelope encryption: round trips for 1..10 recipients and 0 B..1 MiB, and tampering."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera_like.crypto.envelope import X25519Encryptor
from tessera_like.crypto.keys import InMemoryKeyStore
from tessera_like.errors import DecryptionFailed, InvalidPayload
from tessera_like.payload import EncodedPayload, decode, encode, payload_hash
from tessera_like.sealing import decrypt, encrypt, open_raw, seal_raw, verify_openable
from tessera_like.types import KeyPair, PayloadHash, PrivacyMode, PublicKey

POOL = [KeyPair.generate() for _ in range(12)]
SENDER, OUTSIDER, RECIPIENTS = POOL[0], POOL[1], POOL[2:]


def flip(data: bytes, bit: int = 0) -> bytes:
    index = (bit // 8) % len(data)
    return data[:index] + bytes([data[index] ^ (1 << (bit % 8))]) + data[index + 1:]


def outcome(encryptor: X25519Encryptor, payload: EncodedPayload, pair: KeyPair) -> bytes | None:
    """The plaintext `pair` gets, or None when it gets nothing (not a party or refused)."""
    try:
        return decrypt(encryptor, payload, pair)
    except DecryptionFailed:
        return None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_recipients=st.integers(1, 10),
       size=st.one_of(st.integers(0, 64), st.integers(0, 4096), st.integers(0, 1 << 20)),
       seed=st.integers(0, 2**32))
def test_every_recipient_and_the_sender_read_the_payload(n_recipients: int, size: int, seed: int) -> None:
    plaintext = random.Random(seed).randbytes(size)
    sender_side, receiver_side = X25519Encryptor(), X25519Encryptor()
    recipients = RECIPIENTS[:n_recipients]
    payload = encrypt(sender_side, plaintext, SENDER, [r.public for r in recipients])
    wire = decode(encode(payload))
    assert wire.hash == payload_hash(wire.cipher_text) and len(wire.hash) == 64
    assert len(wire.recipient_boxes) == n_recipients + 1  # the sender boxes for itself too
    for recipient in recipients:
        copy = decode(encode(wire.for_recipients(frozenset({recipient.public}))))
        assert copy.recipient_keys == (recipient.public,)
        assert decrypt(receiver_side, copy, recipient) == plaintext
    assert decrypt(sender_side, wire, SENDER) == plaintext
    assert decrypt(receiver_side, wire, OUTSIDER) is None


@pytest.mark.parametrize(("n_recipients", "size"), [(1, 0), (10, 0), (10, 1 << 20), (1, 1 << 20)])
def test_size_and_fan_out_edges(n_recipients: int, size: int) -> None:
    plaintext = random.Random(size).randbytes(size)
    encryptor = X25519Encryptor()
    payload = decode(encode(encrypt(encryptor, plaintext, SENDER, [r.public for r in RECIPIENTS[:n_recipients]])))
    for pair in (SENDER, *RECIPIENTS[:n_recipients]):
        assert decrypt(encryptor, payload, pair) == plaintext


def test_sender_opens_a_recipient_copy_with_the_recipients_public_key() -> None:
    encryptor = X25519Encryptor()
    payload = encrypt(encryptor, b"trade 42", SENDER, [RECIPIENTS[0].public])
    recipient_copy = payload.for_recipients(frozenset({RECIPIENTS[0].public}))
    # A fresh encryptor: nothing cached, the sender derives the wrap key from its own side.
    assert decrypt(X25519Encryptor(), recipient_copy, SENDER) == b"trade 42"


def test_fresh_content_key_and_nonces_per_payload() -> None:
    encryptor = X25519Encryptor()
    a = encrypt(encryptor, b"same", SENDER, [RECIPIENTS[0].public])
    b = encrypt(encryptor, b"same", SENDER, [RECIPIENTS[0].public])
    assert a.cipher_text != b.cipher_text
    assert a.cipher_text_nonce != b.cipher_text_nonce
    assert a.recipient_nonce != b.recipient_nonce
    assert a.recipient_boxes[1] != b.recipient_boxes[1]


def _enhanced_payload(encryptor: X25519Encryptor) -> EncodedPayload:
    return encrypt(
        encryptor, b"settle 100 XYZ", SENDER, [r.public for r in RECIPIENTS[:3]],
        privacy_mode=PrivacyMode.MANDATORY_RECIPIENTS,
        affected_contract_transactions=((PayloadHash(b"h" * 64), b"s" * 64),),
        exec_hash=b"e" * 32,
        mandatory_recipients=(RECIPIENTS[0].public,),
        privacy_group_id=b"group-1",
    )


TAMPERS = {
    "cipher_text": lambda p: replace(p, cipher_text=flip(p.cipher_text, 5)),
    "cipher_text_tag": lambda p: replace(p, cipher_text=flip(p.cipher_text, len(p.cipher_text) * 8 - 1)),
    "cipher_text_nonce": lambda p: replace(p, cipher_text_nonce=flip(p.cipher_text_nonce, 9)),
    "recipient_nonce": lambda p: replace(p, recipient_nonce=flip(p.recipient_nonce, 3)),
    "sender_key": lambda p: replace(p, sender_key=PublicKey(flip(p.sender_key, 17))),
    "privacy_mode": lambda p: replace(p, privacy_mode=PrivacyMode.PARTY_PROTECTION),
    "affected_contract_transactions": lambda p: replace(
        p, affected_contract_transactions=((PayloadHash(flip(b"h" * 64, 2)), b"s" * 64),)),
    "security_hash": lambda p: replace(p, affected_contract_transactions=((PayloadHash(b"h" * 64),
                                                                          flip(b"s" * 64, 2)),)),
    "exec_hash": lambda p: replace(p, exec_hash=flip(p.exec_hash, 1)),
    "mandatory_recipients": lambda p: replace(
        p, mandatory_recipients=(PublicKey(flip(p.mandatory_recipients[0], 4)),)),
    "privacy_group_id": lambda p: replace(p, privacy_group_id=flip(b"group-1", 0)),
    "privacy_group_id_removed": lambda p: replace(p, privacy_group_id=None),
}


@pytest.mark.parametrize("field", sorted(TAMPERS))
def test_tampering_any_shared_field_fails_for_every_party(field: str) -> None:
    encryptor = X25519Encryptor()
    payload = _enhanced_payload(encryptor)
    tampered = decode(encode(TAMPERS[field](payload)))
    for pair in [SENDER, *RECIPIENTS[:3]]:
        copy = tampered if pair is SENDER else tampered.for_recipients(frozenset({pair.public}))
        with pytest.raises(DecryptionFailed, match="tampered or corrupted"):
            decrypt(encryptor, copy, pair)


@pytest.mark.parametrize("index", [0, 1, 2, 3])
@pytest.mark.parametrize("part", ["box", "key"])
def test_tampering_a_box_or_its_key_fails_for_that_recipient(index: int, part: str) -> None:
    encryptor = X25519Encryptor()
    payload = _enhanced_payload(encryptor)
    owner = [SENDER, *RECIPIENTS[:3]][index]
    assert payload.recipient_keys[index] == owner.public
    if part == "box":
        boxes = list(payload.recipient_boxes)
        boxes[index] = flip(boxes[index], 77)
        tampered = replace(payload, recipient_boxes=tuple(boxes))
    else:
        keys = list(payload.recipient_keys)
        keys[index] = PublicKey(flip(keys[index], 200))
        tampered = replace(payload, recipient_keys=tuple(keys))
    tampered = decode(encode(tampered))
    recipient_view = tampered.for_recipients(frozenset({owner.public})) if owner is not SENDER else None
    if recipient_view is not None:
        assert outcome(encryptor, recipient_view, owner) is None
    # The sender reading through that box fails too, never yields other bytes.
    only_that_box = replace(tampered, recipient_keys=(tampered.recipient_keys[index],),
                            recipient_boxes=(tampered.recipient_boxes[index],))
    with pytest.raises(DecryptionFailed):
        decrypt(encryptor, only_that_box, SENDER)


@settings(max_examples=200, deadline=None)
@given(bit=st.integers(min_value=8, max_value=10**6))
def test_no_single_bit_flip_yields_other_data(bit: int) -> None:
    encryptor = X25519Encryptor()
    payload = encrypt(encryptor, b"position: 1,000,000 ISIN XS0000000001", SENDER,
                      [r.public for r in RECIPIENTS[:2]], privacy_mode=PrivacyMode.PARTY_PROTECTION,
                      exec_hash=b"x" * 32)
    encoded = encode(payload)
    try:
        tampered = decode(flip(encoded, bit % (len(encoded) * 8)))
    except InvalidPayload:
        return
    for pair in (SENDER, *RECIPIENTS[:2], OUTSIDER):
        assert outcome(encryptor, tampered, pair) in (None, b"position: 1,000,000 ISIN XS0000000001")


def test_invalid_sender_point_is_a_clear_error() -> None:
    encryptor = X25519Encryptor()
    payload = encrypt(encryptor, b"x", SENDER, [RECIPIENTS[0].public])
    low_order = replace(payload, sender_key=PublicKey(bytes(32)))
    with pytest.raises(DecryptionFailed, match="invalid public key"):
        decrypt(encryptor, low_order.for_recipients(frozenset({RECIPIENTS[0].public})), RECIPIENTS[0])


def test_verify_openable_accepts_good_and_names_corruption() -> None:
    encryptor = X25519Encryptor()
    payload = encrypt(encryptor, b"abc", SENDER, [RECIPIENTS[0].public, RECIPIENTS[1].public])
    recipient_keys = InMemoryKeyStore([RECIPIENTS[0]])
    copy = payload.for_recipients(frozenset({RECIPIENTS[0].public}))
    assert len(verify_openable(encryptor, copy, recipient_keys)) == 32
    # The sender's manager checks every box of a copy it gets back.
    assert len(verify_openable(encryptor, copy, InMemoryKeyStore([SENDER]))) == 32
    bad = replace(copy, cipher_text=flip(copy.cipher_text))
    with pytest.raises(InvalidPayload, match="corrupted payload"):
        verify_openable(encryptor, bad, recipient_keys)
    with pytest.raises(InvalidPayload, match="no box"):
        verify_openable(encryptor, copy, InMemoryKeyStore([OUTSIDER]))


def test_raw_payload_opens_only_for_its_sender() -> None:
    encryptor = X25519Encryptor()
    raw, content_key = seal_raw(encryptor, b"raw payload", SENDER)
    assert open_raw(encryptor, raw, SENDER) == content_key
    assert encryptor.open(content_key, raw.cipher_text_nonce, raw.cipher_text) == b"raw payload"
    with pytest.raises(DecryptionFailed):
        open_raw(encryptor, replace(raw, sender_box=flip(raw.sender_box)), SENDER)
    with pytest.raises(DecryptionFailed):
        open_raw(encryptor, replace(raw, cipher_text=flip(raw.cipher_text)), SENDER)
