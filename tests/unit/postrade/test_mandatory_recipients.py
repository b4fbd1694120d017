"""`PostTradeNetwork.recipients` / `with_mandatory_recipients` and `Instance.recipients`: who a
private step goes to when the network names mandatory recipients (a regulator). Pure: no node is
contacted (tests/e2e/test_postrade_regulator.py checks what the engine does with them)."""

from __future__ import annotations

import base64

from postrade.clients import BlockBook, BusinessCalendar, Party, PostTradeNetwork

SPEC = {"nodes": [{"name": f"node{i}", "rpc_url": f"http://127.0.0.1:{8545 + i}",
                   "ptm_public_key": base64.b64encode(bytes([i]) * 32).decode(),
                   "accounts": [{"address": "0x" + f"{i:02x}" * 20}, {"address": "0x" + f"{i + 16:02x}" * 20}]}
                  for i in range(1, 7)]}


def net(mandatory: tuple[Party, ...] = ()) -> PostTradeNetwork:
    return PostTradeNetwork(SPEC, artifacts={}, mandatory=mandatory)


BASE = net()
BROKER, MANAGER, TRUSTEE = BASE.party(0, "broker A"), BASE.party(1, "asset manager M"), BASE.party(2, "trustee")
ADMIN = BASE.party(0, "admin", account=1)  # node1's second account: same node and key as broker A
REGULATOR = BASE.party(5, "regulator R")


def test_without_mandatory_recipients_the_parties_are_the_recipients() -> None:
    assert BASE.mandatory == ()
    assert BASE.recipients([BROKER, MANAGER]) == (BROKER, MANAGER)
    assert BASE.recipients([BROKER, MANAGER, BROKER]) == (BROKER, MANAGER)  # once each


def test_mandatory_recipients_are_added_once_to_every_set() -> None:
    reg = BASE.with_mandatory_recipients([REGULATOR])
    assert reg.mandatory == (REGULATOR,)
    assert reg.recipients([BROKER, MANAGER]) == (BROKER, MANAGER, REGULATOR)
    assert reg.recipients([REGULATOR, TRUSTEE]) == (REGULATOR, TRUSTEE)  # already a party: not twice
    assert reg.recipients([]) == (REGULATOR,)
    # two accounts on one node are two parties (one manager key): the network keeps both
    assert reg.recipients([BROKER, ADMIN]) == (BROKER, ADMIN, REGULATOR)


def test_with_mandatory_recipients_shares_the_connections_and_leaves_the_original_alone() -> None:
    reg = BASE.with_mandatory_recipients([REGULATOR])
    assert reg is not BASE and BASE.mandatory == ()
    assert (reg.spec, reg.artifacts, reg.timeout, reg.node_urls) == (BASE.spec, BASE.artifacts, BASE.timeout,
                                                                     BASE.node_urls)
    assert reg.web3("node1") is BASE.web3("node1")  # one connection per node, whichever network asks


def test_with_mandatory_recipients_keeps_those_already_configured() -> None:
    """An administrator configured on the network stays when the scenario adds the regulator:
    instances deployed before still name it, and the engine would refuse steps without it."""
    admin_net = net((ADMIN,))
    both = admin_net.with_mandatory_recipients([REGULATOR])
    assert both.mandatory == (ADMIN, REGULATOR)
    assert both.with_mandatory_recipients([REGULATOR]).mandatory == (ADMIN, REGULATOR)  # idempotent
    assert both.recipients([MANAGER]) == (MANAGER, ADMIN, REGULATOR)


def test_an_instance_is_held_by_its_parties_and_the_mandatory_recipients() -> None:
    reg = BASE.with_mandatory_recipients([REGULATOR])
    address = "0x" + "ab" * 20
    book = BlockBook(reg, address, [BROKER, MANAGER])
    assert book.parties == (BROKER, MANAGER)  # the business parties
    assert book.recipients == (BROKER, MANAGER, REGULATOR)
    assert repr(book).endswith("private to node1, node2, node6)")
    assert BlockBook(BASE, address, [BROKER, MANAGER]).recipients == (BROKER, MANAGER)
    public = BusinessCalendar(reg, address, None)  # the public infrastructure: no recipient set
    assert public.recipients is None and repr(public).endswith(", public)")
