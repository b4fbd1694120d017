"""Party info: a key maps to a URL only when the manager there proves it holds the key."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tessera_like.crypto.keys import InMemoryKeyStore
from tessera_like.crypto.proofs import check_ownership_proof, make_ownership_proof
from tessera_like.errors import InvalidRequest
from tessera_like.partyinfo import Challenge, KeyClaim, PartyInfo, PartyView
from tessera_like.peer_client import HttpPeerClient
from tessera_like.peers import PeerNetwork
from tessera_like.types import KeyPair, PublicKey
from tessera_like.wire import PartyInfoDocument, decode_party_info, encode_party_info

A_URL, B_URL = "http://127.0.0.1:9001", "http://127.0.0.1:9002"


def from_wire(document: dict[str, Any]) -> PartyView:
    """A JSON party-info document as the P2P edge and the peer client read it."""
    return decode_party_info(PartyInfoDocument.model_validate(document))


@pytest.fixture
def pair_of_networks() -> Iterator[tuple[PeerNetwork, PeerNetwork]]:
    a = PeerNetwork(PartyInfo(A_URL, InMemoryKeyStore([KeyPair.generate()])), HttpPeerClient())
    b = PeerNetwork(PartyInfo(B_URL + "/", InMemoryKeyStore([KeyPair.generate(), KeyPair.generate()]), [A_URL]),
                    HttpPeerClient())
    yield a, b
    a.stop()
    b.stop()


def test_ownership_proof_binds_key_challenge_and_url() -> None:
    prover, verifier, other = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    challenge = os.urandom(32)
    proof = make_ownership_proof(prover, verifier.public, challenge, B_URL)
    assert check_ownership_proof(verifier, prover.public, challenge, B_URL, proof)
    assert check_ownership_proof(verifier, prover.public, challenge, B_URL + "/", proof)
    assert not check_ownership_proof(verifier, other.public, challenge, B_URL, proof)
    assert not check_ownership_proof(verifier, prover.public, os.urandom(32), B_URL, proof)
    assert not check_ownership_proof(verifier, prover.public, challenge, A_URL, proof)


def test_a_proven_answer_maps_keys_and_an_unproven_one_does_not(
        pair_of_networks: tuple[PeerNetwork, PeerNetwork]) -> None:
    a, b = pair_of_networks
    verifier = a.party.keys.require(a.party.keys.default_key())
    challenge = os.urandom(32)
    request = encode_party_info(a.party.view()) | {"challenge": base64.b64encode(challenge).decode(),
                                                   "challengeKey": verifier.public_b64}
    answer = encode_party_info(b.answer_partyinfo(from_wire(request)))
    assert A_URL in b.party.peer_urls()  # B learned A's URL from the request...
    assert b.party.url_for(verifier.public) is None  # ...but not A's key: A must prove it to B itself
    assert all("proof" in k for k in answer["keys"])
    a._merge_answer(B_URL, from_wire(answer), verifier, challenge)
    for key in b.party.keys.public_keys():
        assert a.party.url_for(key) == B_URL
    stolen = KeyPair.generate()
    forged = {"url": "http://127.0.0.1:9003", "keys": [{"key": stolen.public_b64, "url": "http://127.0.0.1:9003",
                                                       "proof": answer["keys"][0]["proof"]}]}
    a._merge_answer("http://127.0.0.1:9003", from_wire(forged), verifier, challenge)
    assert a.party.url_for(stolen.public) is None


def test_third_party_entries_are_only_urls_to_visit(pair_of_networks: tuple[PeerNetwork, PeerNetwork]) -> None:
    a, _ = pair_of_networks
    verifier = a.party.keys.require(a.party.keys.default_key())
    someone = KeyPair.generate()
    new = a._merge_answer(B_URL, from_wire({"url": B_URL, "keys": [{"key": someone.public_b64,
                                                                    "url": "http://127.0.0.1:9009"}]}),
                          verifier, os.urandom(32))
    assert new == ["http://127.0.0.1:9009"]
    assert a.party.url_for(someone.public) is None


def test_malformed_challenge_is_refused(pair_of_networks: tuple[PeerNetwork, PeerNetwork]) -> None:
    _, b = pair_of_networks
    with pytest.raises(InvalidRequest, match="challengeKey"):
        b.answer_partyinfo(from_wire({"url": A_URL, "challenge": base64.b64encode(b"c" * 32).decode(),
                                      "challengeKey": "AA=="}))
    with pytest.raises(InvalidRequest, match="challenge must be"):
        b.answer_partyinfo(from_wire({"url": A_URL, "challenge": "AA==",
                                      "challengeKey": base64.b64encode(b"k" * 32).decode()}))


def test_allow_list_and_own_keys() -> None:
    keys = InMemoryKeyStore([KeyPair.generate()])
    party = PartyInfo(A_URL, keys, [B_URL], allow_list=[B_URL])
    assert not party.add_peer("http://evil.example:1")
    assert not party.add_peer(A_URL)
    assert not party.add_peer("ftp://x")
    assert party.peer_urls() == [B_URL]
    own = keys.default_key()
    party.set_key_url(own, B_URL)  # a peer claiming our key changes nothing
    assert party.url_for(own) == A_URL
    party.mark_down(B_URL)
    assert party.peers()[0].down
    party.mark_ok(B_URL)
    assert not party.peers()[0].down


def test_a_document_round_trips_through_its_wire_form() -> None:
    key, proof = PublicKey(os.urandom(32)), os.urandom(32)
    view = PartyView(A_URL, (KeyClaim(key, A_URL, proof), KeyClaim(KeyPair.generate().public, B_URL)), (B_URL,),
                     Challenge(os.urandom(16), KeyPair.generate().public))
    assert from_wire(encode_party_info(view)) == view
    assert "challenge" not in encode_party_info(PartyView(A_URL))


def test_malformed_entries_are_left_out_and_the_rest_is_kept() -> None:
    """What a manager says about others is a hint: one bad entry must not void its document."""
    good = KeyPair.generate().public_b64
    view = from_wire({
        "url": B_URL,
        "keys": ["junk", None, {"key": "not base64!", "url": A_URL}, {"key": "AA==", "url": A_URL},
                 {"key": good, "url": 7}, {"key": good, "url": B_URL, "proof": "not base64!"}],
        "peers": [{"url": 7}, "junk", {"url": A_URL}],
    })
    assert view.keys == (KeyClaim(PublicKey(base64.b64decode(good)), B_URL, None),)
    assert view.peers == (A_URL,)
    assert from_wire({"url": B_URL, "keys": None, "peers": None}) == PartyView(B_URL)
