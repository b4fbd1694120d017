"""The encoded-payload codec: round trips, strict decoding, per-recipient copies."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera_like.errors import InvalidPayload
from tessera_like.payload import (
    BOX_SIZE,
    CODEC_VERSION,
    EncodedPayload,
    RawPayload,
    decode,
    decode_raw,
    encode,
    encode_raw,
    payload_hash,
)
from tessera_like.types import PayloadHash, PrivacyMode, PublicKey

keys32 = st.binary(min_size=32, max_size=32).map(PublicKey)
hashes64 = st.binary(min_size=64, max_size=64).map(PayloadHash)
nonces = st.binary(min_size=12, max_size=12)


@st.composite
def payloads(draw: st.DrawFn) -> EncodedPayload:
    keys = draw(st.lists(keys32, min_size=1, max_size=6, unique=True))
    n_boxes = draw(st.integers(1, len(keys)))
    return EncodedPayload(
        sender_key=draw(keys32),
        cipher_text=draw(st.binary(min_size=16, max_size=300)),
        cipher_text_nonce=draw(nonces),
        recipient_boxes=tuple(draw(st.lists(st.binary(min_size=BOX_SIZE, max_size=BOX_SIZE),
                                            min_size=n_boxes, max_size=n_boxes))),
        recipient_nonce=draw(nonces),
        recipient_keys=tuple(keys),
        privacy_mode=draw(st.sampled_from(PrivacyMode)),
        affected_contract_transactions=tuple(
            draw(st.dictionaries(hashes64, st.binary(min_size=64, max_size=64), max_size=3)).items()),
        exec_hash=draw(st.binary(max_size=64)),
        mandatory_recipients=tuple(draw(st.lists(keys32, max_size=3))),
        privacy_group_id=draw(st.none() | st.binary(min_size=1, max_size=32)),
    )


@settings(max_examples=150, deadline=None)
@given(payloads())
def test_encode_decode_round_trip(payload: EncodedPayload) -> None:
    encoded = encode(payload)
    assert encoded[0] == CODEC_VERSION
    decoded = decode(encoded)
    assert decoded == payload
    assert encode(decoded) == encoded
    assert decoded.hash == payload_hash(payload.cipher_text)


@settings(max_examples=100, deadline=None)
@given(payloads(), st.data())
def test_truncated_or_extended_encodings_are_refused(payload: EncodedPayload, data: st.DataObject) -> None:
    encoded = encode(payload)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(InvalidPayload):
        decode(encoded[:cut])
    with pytest.raises(InvalidPayload, match="trailing"):
        decode(encoded + b"\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_decoder(data: bytes) -> None:
    try:
        payload = decode(data)
    except InvalidPayload:
        return
    assert encode(payload) == data


def _sample(mode: PrivacyMode = PrivacyMode.STANDARD_PRIVATE) -> EncodedPayload:
    return EncodedPayload(
        sender_key=PublicKey(b"s" * 32),
        cipher_text=b"c" * 40,
        cipher_text_nonce=b"n" * 12,
        recipient_boxes=(b"1" * 48, b"2" * 48, b"3" * 48),
        recipient_nonce=b"r" * 12,
        recipient_keys=(PublicKey(b"A" * 32), PublicKey(b"B" * 32), PublicKey(b"C" * 32)),
        privacy_mode=mode,
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: bytes([2]) + b[1:], "version"),
        (lambda b: b[:1] + struct.pack(">Q", 31) + b[9:], "senderKey"),
        (lambda b: b[:1] + struct.pack(">Q", 2**62) + b[9:], "exceeds"),
    ],
)
def test_decoder_names_the_defect(mutate: object, message: str) -> None:
    encoded = encode(_sample())
    with pytest.raises(InvalidPayload, match=message):
        decode(mutate(encoded))  # type: ignore[operator]


def test_unknown_privacy_mode_is_refused() -> None:
    payload = _sample()
    object.__setattr__(payload, "privacy_mode", 7)  # what a buggy or hostile peer could send
    with pytest.raises(InvalidPayload, match="privacy mode 7"):
        decode(encode(payload))


def test_for_recipients_keeps_only_their_boxes() -> None:
    payload = _sample()
    copy = payload.for_recipients(frozenset({PublicKey(b"B" * 32)}))
    assert copy.recipient_keys == (PublicKey(b"B" * 32),)
    assert copy.recipient_boxes == (b"2" * 48,)
    assert decode(encode(copy)) == copy


def test_private_state_validation_copy_keeps_every_recipient_key() -> None:
    payload = _sample(PrivacyMode.PRIVATE_STATE_VALIDATION)
    copy = payload.for_recipients(frozenset({PublicKey(b"C" * 32)}))
    assert copy.recipient_boxes == (b"3" * 48,)
    assert copy.recipient_keys[0] == PublicKey(b"C" * 32)
    assert set(copy.recipient_keys) == set(payload.recipient_keys)
    assert copy.box_for(PublicKey(b"A" * 32)) is None
    assert decode(encode(copy)) == copy


def test_merging_recipient_copies_restores_the_sender_row() -> None:
    payload = _sample()
    b_copy = payload.for_recipients(frozenset({PublicKey(b"B" * 32)}))
    c_copy = payload.for_recipients(frozenset({PublicKey(b"C" * 32)}))
    merged = b_copy.merged_with(c_copy)
    assert dict(zip(merged.recipient_keys, merged.recipient_boxes, strict=True)) == {
        PublicKey(b"B" * 32): b"2" * 48, PublicKey(b"C" * 32): b"3" * 48}
    assert merged.same_transaction(payload)


def test_raw_payload_round_trip_and_hash() -> None:
    raw = RawPayload(PublicKey(b"s" * 32), b"x" * 20, b"n" * 12, b"b" * 48, b"m" * 12)
    assert decode_raw(encode_raw(raw)) == raw
    assert raw.hash == payload_hash(b"x" * 20)
    with pytest.raises(InvalidPayload):
        decode_raw(encode_raw(raw)[:-1])
