"""TransactionManager.encrypt_payload / decrypt_payload (Tessera's EncodedPayloadManager) and
resend ALL with nothing to resend, with real keys, stores and encryption."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from tessera_like.errors import (
    InvalidPayload,
    KeyNotFound,
    PayloadTooLarge,
    PrivacyViolation,
    TransactionNotFound,
    UnknownRecipient,
)
from tessera_like.manager import TransactionManager
from tessera_like.payload import encode
from tessera_like.sealing import encrypt
from tessera_like.types import PayloadHash, PrivacyMetadata, PrivacyMode, PublicKey

Network = Callable[..., list[TransactionManager]]
STRANGER = PublicKey(b"\x0b" * 32)


def key(manager: TransactionManager) -> PublicKey:
    return manager.keys.public_keys()[0]


def test_encrypt_payload_stores_and_pushes_nothing_and_each_party_decrypts(network_of: Network) -> None:
    a, b, c = network_of(3)
    encoded = a.encrypt_payload(b"off the books", None, [key(b)], PrivacyMetadata(exec_hash=b"\x05" * 32))
    assert a.store.count() == b.store.count() == c.store.count() == 0
    assert set(encoded.recipient_keys) == {key(a), key(b)}
    assert encoded.recipient_keys[0] == key(a)  # the sender first, as /send
    for manager in (a, b):
        received = manager.decrypt_payload(encoded)
        assert received.payload == b"off the books" and received.exec_hash == b"\x05" * 32
        assert received.managed_parties == (key(manager),)
    with pytest.raises(TransactionNotFound):
        c.decrypt_payload(encoded)
    assert a.store.count() == b.store.count() == c.store.count() == 0


def test_encrypt_payload_does_not_need_the_recipients_known_but_keeps_send_checks(network_of: Network) -> None:
    (a,) = network_of(1, max_payload_bytes=100)
    assert STRANGER in a.encrypt_payload(b"x", None, [STRANGER]).recipient_keys  # no peer needed: nothing pushed
    with pytest.raises(KeyNotFound):
        a.encrypt_payload(b"x", STRANGER, [])
    with pytest.raises(PayloadTooLarge):
        a.encrypt_payload(b"x" * 101, None, [])
    with pytest.raises(PrivacyViolation):
        a.encrypt_payload(b"x", None, [], PrivacyMetadata(privacy_mode=PrivacyMode.PARTY_PROTECTION,
                                                          affected_contract_transactions=(PayloadHash(b"\x07" * 64),)))


def test_decrypt_payload_refuses_tampered_metadata_and_malformed_payloads(network_of: Network) -> None:
    a, b = network_of(2)
    encoded = a.encrypt_payload(b"bound", None, [key(b)])
    for tampered in (replace(encoded, privacy_mode=PrivacyMode.PARTY_PROTECTION),
                     replace(encoded, exec_hash=b"\x01"),
                     replace(encoded, cipher_text=encoded.cipher_text[:-1] + b"\x00"),
                     replace(encoded, recipient_boxes=()),
                     replace(encoded, recipient_keys=(key(b), key(b)))):
        with pytest.raises(InvalidPayload):
            b.decrypt_payload(tampered)


def test_resend_all_with_nothing_for_the_key_pushes_nothing_even_without_an_owner(network_of: Network) -> None:
    a, b = network_of(2)
    a.send(b"for b", None, [key(b)])
    assert a.resend_all(STRANGER) == 0  # no payload: no owner lookup, no error (Tessera)
    assert a.resend_all(key(b)) == 1
    orphan = encrypt(a.encryptor, b"for a key nobody owns", a.keys.require(key(a)), [STRANGER])
    a.store.put(orphan.hash, encode(orphan))
    with pytest.raises(UnknownRecipient):
        a.resend_all(STRANGER)


def test_resend_all_without_peers_is_zero_for_a_key_with_no_payloads(network_of: Network) -> None:
    (a,) = network_of(1)
    a.network = None
    assert a.resend_all(STRANGER) == 0
