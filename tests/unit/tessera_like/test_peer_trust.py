"""P2P trust rules in process: key binding, the bounded peer list, who may push and be resent.

Each attack is paired with the legitimate path it must not break. The HTTP hop is a fake
client that answers party info as the manager at the contacted URL would (a process
boundary); everything else is real.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from tessera_like.crypto.envelope import X25519Encryptor
from tessera_like.crypto.keys import InMemoryKeyStore
from tessera_like.errors import PeerNotAllowed, PeerUnavailable, UnknownRecipient
from tessera_like.identity import PeerIdentity, uri_sans
from tessera_like.manager import TransactionManager
from tessera_like.partyinfo import MAX_PEERS, MAX_UNVERIFIED_PEERS, Challenge, PartyInfo, PartyView
from tessera_like.payload import EncodedPayload, encode
from tessera_like.peers import PeerNetwork
from tessera_like.sealing import box_aad
from tessera_like.store.sql import SqlPayloadStore
from tessera_like.types import KeyPair, PublicKey

ME, NODE2, NODE3, RELAY = ("http://127.0.0.1:9001", "http://127.0.0.2:9002", "http://127.0.0.3:9003",
                           "http://127.0.0.9:9009")


class FakeClient:
    """Answers `POST /partyinfo` as the network in `networks` at the contacted URL would;
    `relays` maps a URL to the one whose answer it passes on."""

    timeout = 1.0

    def __init__(self) -> None:
        self.networks: dict[str, PeerNetwork] = {}
        self.relays: dict[str, str] = {}
        self.server_urls: dict[str, frozenset[str]] = {}
        self.contacted: list[str] = []
        self.pushed: list[str] = []
        self.resends: list[str] = []

    def post_partyinfo(self, url: str, request: PartyView) -> tuple[PartyView, frozenset[str] | None]:
        self.contacted.append(url)
        target = self.relays.get(url, url)
        if target not in self.networks:
            raise PeerUnavailable(f"peer {url} is unavailable: cannot connect", url)
        return self.networks[target].answer_partyinfo(request), self.server_urls.get(url)

    def push(self, url: str, encoded: bytes) -> None:
        self.pushed.append(url)

    def resend_all(self, url: str, key: PublicKey) -> None:
        self.resends.append(url)

    def close(self) -> None:
        pass


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def network(client: FakeClient) -> Iterator[Any]:
    made: list[PeerNetwork] = []

    def make(url: str, peers: tuple[str, ...] = (), allow_list: list[str] | None = None) -> PeerNetwork:
        net = PeerNetwork(PartyInfo(url, InMemoryKeyStore([KeyPair.generate()]), peers, allow_list),
                          client)  # type: ignore[arg-type]
        client.networks[url] = net
        made.append(net)
        return net

    yield make
    for net in made:
        net._pool.shutdown(wait=True)


def own_key(net: PeerNetwork) -> PublicKey:
    return net.party.keys.default_key()


def at(url: str, certified: bool = False) -> PeerIdentity:
    """The caller of a request made by the manager at `url`."""
    if certified:
        return PeerIdentity.of([url], url.split("//")[1].split(":")[0], certified=True)
    return PeerIdentity.of(address=url.split("//")[1].split(":")[0])


# -- rule 1: binding --------------------------------------------------------------------


def test_a_relayed_answer_binds_nothing_and_keeps_the_verified_binding(network: Any, client: FakeClient) -> None:
    me, node2 = network(ME, (NODE2,)), network(NODE2)
    me.gossip_round()
    assert me.lookup(own_key(node2)) == NODE2
    client.relays[RELAY] = NODE2  # RELAY passes our challenge to node2 and node2's proofs back
    me.party.add_peer(RELAY)
    me.gossip_round()
    assert me.lookup(own_key(node2)) == NODE2
    assert RELAY not in me.party.peer_urls()  # proved nothing at its own URL: evicted
    me.party._key_urls.clear()
    me.verify_peer(RELAY)
    assert me.lookup(own_key(node2)) is None  # not even when it is the first claim heard


def test_a_key_moves_only_on_a_proof_verified_at_the_new_url(network: Any, client: FakeClient) -> None:
    me, node2 = network(ME, (NODE2,)), network(NODE2)
    me.gossip_round()
    moved = network(NODE3)
    moved.party.keys = node2.party.keys  # node2's manager now answers at NODE3, with its keys,
    del client.networks[NODE2]  # and no longer at NODE2 (else both URLs prove the key at once)
    me.party.add_peer(NODE3)
    me.gossip_round()
    assert me.lookup(own_key(node2)) == NODE3


def test_over_tls_a_server_certified_for_another_url_binds_nothing(network: Any, client: FakeClient) -> None:
    me, node2 = network(ME, (NODE2,)), network(NODE2)
    client.server_urls[NODE2] = frozenset({NODE3})
    me.gossip_round()
    assert me.lookup(own_key(node2)) is None
    client.server_urls[NODE2] = frozenset({NODE2})
    me.verify_peer(NODE2)
    assert me.lookup(own_key(node2)) == NODE2


# -- rule 3: the bounded peer list ------------------------------------------------------


def test_a_flood_is_bounded_and_evicted_and_a_newcomer_still_gets_in(network: Any, client: FakeClient) -> None:
    me, node2 = network(ME, (NODE3,)), network(NODE2)
    junk = tuple(f"http://10.9.{i // 250}.{i % 250}:1" for i in range(1100))
    me.answer_partyinfo(PartyView(RELAY, peers=junk), at(RELAY))
    assert len(me.party.peer_urls()) == MAX_UNVERIFIED_PEERS + 1  # + the configured NODE3
    me.answer_partyinfo(PartyView(NODE2), at(NODE2))  # node2 introduces itself, from its own address
    assert NODE2 in me.party.peer_urls() and len(me.party.peer_urls()) == MAX_UNVERIFIED_PEERS + 1
    me.answer_partyinfo(PartyView(RELAY, peers=junk), at(RELAY))
    assert NODE2 in me.party.peer_urls()  # a third party's hints cannot push it out
    me.gossip_round()
    assert sorted(me.party.peer_urls()) == [NODE2, NODE3]  # configured NODE3 stays although down
    assert me.peer_urls() == [NODE2]
    assert len(client.contacted) <= MAX_UNVERIFIED_PEERS + 2
    assert me.lookup(own_key(node2)) == NODE2


def test_unreachable_unverified_peers_make_room_first() -> None:
    party = PartyInfo(ME, InMemoryKeyStore([KeyPair.generate()]))
    for i in range(MAX_UNVERIFIED_PEERS):
        assert party.add_peer(f"http://10.0.0.{i}:1")
    assert not party.add_peer("http://10.0.1.1:1")
    party.mark_down("http://10.0.0.5:1")
    assert party.add_peer("http://10.0.1.1:1")
    assert "http://10.0.0.5:1" not in party.peer_urls()
    for i in range(MAX_PEERS):  # verified peers never count against the unverified share
        party.set_key_url(PublicKey(os.urandom(32)), f"http://10.1.{i // 250}.{i % 250}:1")
    assert len(party.peer_urls()) <= MAX_PEERS


def test_gossiped_urls_get_party_info_only(network: Any, client: FakeClient) -> None:
    me = network(ME)
    me.party.add_peer(NODE2)
    with pytest.raises(UnknownRecipient, match="has not proven a key"):
        me.push_all([(NODE2, b"x")])
    with pytest.raises(UnknownRecipient, match="has not proven a key"):
        me.request_resend_all(NODE2, own_key(me))
    assert me.peer_urls() == [] and client.pushed == [] and client.resends == []


def test_with_the_allow_list_unlisted_urls_are_never_added_nor_contacted(network: Any, client: FakeClient) -> None:
    me = network(ME, (NODE2,), allow_list=[NODE2])
    me.answer_partyinfo(PartyView(NODE2, peers=(NODE3, RELAY)), at(NODE2))
    assert me.party.peer_urls() == [NODE2]
    me.verify_peer(NODE3)
    assert NODE3 not in client.contacted
    assert me.admits(at(NODE2)) and me.admits(at(ME)) and not me.admits(at(NODE3))
    assert me.admits(at(NODE2, certified=True)) and not me.admits(at(NODE3, certified=True))


# -- rule 2: who may push ------------------------------------------------------------------


def forged_as_sender(victim: PublicKey, forger: KeyPair) -> bytes:
    """A payload that opens as if `victim` had sent it to `forger` (X25519 DH is symmetric)."""
    encryptor = X25519Encryptor()
    sealed = encryptor.seal(b"forged")
    skeleton = EncodedPayload(victim, sealed.cipher_text, sealed.nonce, (), encryptor.new_nonce(), (forger.public,))
    box = encryptor.wrap(sealed.content_key, forger, victim, forger.public, skeleton.recipient_nonce,
                         box_aad(skeleton.hash, skeleton))
    return encode(replace(skeleton, recipient_boxes=(box,)))


@pytest.fixture
def manager(network: Any, tmp_path: Any) -> Iterator[TransactionManager]:
    net = network(ME, (NODE2,))
    store = SqlPayloadStore(f"sqlite:///{tmp_path / 'me.db'}")
    yield TransactionManager(net.party.keys, store, X25519Encryptor(), net)
    store.close()


def test_own_key_as_sender_is_refused_unless_from_this_manager_or_an_asked_resend(
        manager: TransactionManager, network: Any) -> None:
    forged = forged_as_sender(manager.keys.default_key(), KeyPair.generate())
    for caller in (at(NODE2), at(NODE2, certified=True)):
        with pytest.raises(PeerNotAllowed, match="neither this manager nor a peer it asked to resend"):
            manager.push(forged, caller)
    assert manager.store.count() == 0
    assert manager.push(forged, at(ME, certified=True))  # from this manager itself
    net: PeerNetwork = manager.network  # type: ignore[assignment]
    again = forged_as_sender(manager.keys.default_key(), KeyPair.generate())
    net._awaiting[(NODE2, manager.keys.default_key())] += 1  # as while request_resend_all waits
    assert manager.push(again, at(NODE2, certified=True))


def test_an_outstanding_resend_is_tracked_while_the_request_runs(network: Any, client: FakeClient) -> None:
    me, node2 = network(ME, (NODE2,)), network(NODE2)
    me.gossip_round()
    seen: list[bool] = []

    def resend_all(url: str, key: PublicKey) -> None:
        seen.append(me._awaits_resend(at(NODE2), key))
        me.authorize_push(key, at(NODE2))

    client.resend_all = resend_all  # type: ignore[method-assign]
    me.request_resend_all(NODE2, own_key(me))
    assert seen == [True]
    with pytest.raises(PeerNotAllowed):  # the request returned: no longer outstanding
        me.authorize_push(own_key(me), at(NODE2))
    me._awaiting[(NODE2, own_key(me))] += 1
    with pytest.raises(PeerNotAllowed):  # node2 was asked, not node3
        me.authorize_push(own_key(me), at(NODE3))
    me.authorize_push(own_key(node2), at(NODE2, certified=True))  # node2's own payloads: as usual


def test_authenticated_pushes_need_the_sender_key_bound_to_the_caller(network: Any, client: FakeClient) -> None:
    me, node2, node3 = network(ME, (NODE2, NODE3)), network(NODE2), network(NODE3)
    me.gossip_round()
    me.authorize_push(own_key(node2), at(NODE2, certified=True))
    with pytest.raises(PeerNotAllowed, match="is not a key the caller"):
        me.authorize_push(own_key(node2), at(NODE3, certified=True))
    me.authorize_push(own_key(node2), at(NODE3))  # open P2P API (no certificate, no allow-list)
    me.party._key_urls.clear()
    client.contacted.clear()
    me.authorize_push(own_key(node3), at(NODE3, certified=True))  # unknown: node3 verified once, then ok
    assert client.contacted == [NODE3]
    with pytest.raises(PeerNotAllowed):
        me.authorize_push(PublicKey(os.urandom(32)), at(NODE3, certified=True))
    assert client.contacted == [NODE3]  # no second exchange so soon


def test_resend_individual_goes_only_to_the_verified_owner(manager: TransactionManager, network: Any,
                                                           client: FakeClient) -> None:
    node2 = network(NODE2)
    node2_key = own_key(node2)
    net: PeerNetwork = manager.network  # type: ignore[assignment]
    net.gossip_round()
    with pytest.raises(PeerNotAllowed, match="not the verified owner"):
        net.authorize_resend(node2_key, at(NODE3))
    net.authorize_resend(node2_key, at(NODE2))
    net.authorize_resend(node2_key, at(NODE2, certified=True))
    with pytest.raises(UnknownRecipient, match="not found"):
        net.authorize_resend(PublicKey(os.urandom(32)), at(NODE2))
    with pytest.raises(PeerNotAllowed):  # checked before the store: the hash's existence stays hidden
        manager.resend_individual(node2_key, os.urandom(64), at(NODE3))  # type: ignore[arg-type]


# -- identity ---------------------------------------------------------------------------


def test_identity_matches_certificate_uris_or_else_the_address() -> None:
    certified = PeerIdentity.of(["https://127.0.0.2:9002/"], "127.0.0.9", certified=True)
    assert certified.is_at("https://127.0.0.2:9002") and not certified.is_at("https://127.0.0.9:9002")
    by_address = PeerIdentity.of(address="::ffff:127.0.0.2")
    assert by_address.is_at("http://127.0.0.2:1") and not by_address.is_at("http://127.0.0.3:1")
    assert PeerIdentity.of(address="127.0.0.1").is_at("http://localhost:1")
    assert not PeerIdentity().is_at("http://127.0.0.1:1")
    cert = {"subjectAltName": (("IP Address", "127.0.0.2"), ("URI", "https://127.0.0.2:9002"))}
    assert uri_sans(cert) == ["https://127.0.0.2:9002"] and uri_sans({}) == [] and uri_sans(None) == []


def test_a_challenge_answer_still_proves_our_keys(network: Any) -> None:
    me = network(ME)
    answer = me.answer_partyinfo(PartyView(NODE2, challenge=Challenge(os.urandom(32), KeyPair.generate().public)))
    assert all(claim.proof is not None for claim in answer.keys if claim.url == ME)
