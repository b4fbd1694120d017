"""A bilateral trade confirmation, tested on a 4-node private network: the buyer (node1) and the
seller (node2) see and change it; node3 and node4 see nothing. Each test starts from the state the
session's fixtures left (the contract deployed, no trade): the plugin reverts what a test did."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.exceptions import BadFunctionCallOutput

PROPOSED, CONFIRMED = 1, 2
TRADE_ID = b"T-0001".ljust(32, b"\0")


def send(node, contract, function, *args, account, counterparty):
    """Sign `function(*args)` here with `account`'s key and send it privately through `node`."""
    data = contract.encode_abi(function, args=list(args))
    return node.w3.privnet.send_private({"to": contract.address, "data": data, "gas": 500_000},
                                        private_for=[counterparty.ptm_public_key], account=account)


def at(node, contract):
    """The same contract read through another node."""
    return node.w3.eth.contract(address=contract.address, abi=contract.abi)


def test_only_the_counterparties_hold_the_contract(privnet, trade, buyer_node, seller_node, buyer, seller):
    privnet.assert_visible_only_to(trade.address, [buyer_node, seller_node])
    assert at(seller_node, trade).functions.buyer().call() == buyer.address
    outsider = privnet.nodes[2]
    with pytest.raises(BadFunctionCallOutput):  # no code there: the call returns nothing
        at(outsider, trade).functions.buyer().call()


def test_buyer_proposes_and_seller_confirms(privnet, trade, buyer_node, seller_node, buyer, seller):
    proposal = send(buyer_node, trade, "propose", TRADE_ID, "XS1234567890", 1_000, 99_50,
                    account=buyer, counterparty=seller_node)
    assert buyer_node.w3.privnet.wait_for_private_receipt(proposal, parties=[seller_node.w3])["status"] == 1
    confirmation = send(seller_node, trade, "confirm", TRADE_ID, 1_000, 99_50,
                        account=seller, counterparty=buyer_node)
    assert seller_node.w3.privnet.wait_for_private_receipt(confirmation, parties=[buyer_node.w3])["status"] == 1

    for node in (buyer_node, seller_node):
        assert at(node, trade).functions.trades(TRADE_ID).call() == ["XS1234567890", 1_000, 99_50, CONFIRMED]
    privnet.assert_private_states_equal(trade.address)

    # The outsiders hold the marker transactions but neither the trade nor its terms.
    marker = buyer_node.w3.eth.get_transaction(confirmation)["input"]
    for outsider in privnet.nodes[2:]:
        assert outsider.w3.eth.get_transaction(confirmation)["input"] == marker
        assert outsider.w3.privnet.get_quorum_payload(marker) == b""
    assert buyer_node.w3.privnet.get_quorum_payload(marker) != b""


def test_each_test_starts_clean(trade, buyer_node, seller_node, buyer):
    """Relies on isolation: the previous test's proposal and confirmation are gone, so the same trade
    id can be proposed again and the buyer's key starts at nonce 0 again."""
    assert trade.functions.tradeCount().call() == 0
    assert trade.functions.trades(TRADE_ID).call()[3] == 0
    assert buyer_node.w3.eth.get_transaction_count(buyer.address) == 0
    proposal = send(buyer_node, trade, "propose", TRADE_ID, "XS1234567890", 1_000, 99_50,
                    account=buyer, counterparty=seller_node)
    assert buyer_node.w3.privnet.wait_for_private_receipt(proposal, parties=[seller_node.w3])["status"] == 1
    assert trade.functions.tradeCount().call() == 1


def test_only_the_seller_confirms_and_only_the_same_terms(trade, buyer_node, seller_node, buyer, seller):
    proposal = send(buyer_node, trade, "propose", TRADE_ID, "XS1234567890", 1_000, 99_50,
                    account=buyer, counterparty=seller_node)
    buyer_node.w3.privnet.wait_for_private_receipt(proposal, parties=[seller_node.w3])

    forger = Account.create()  # signs a confirmation on the seller's node, but is not the seller
    forged = send(seller_node, trade, "confirm", TRADE_ID, 1_000, 99_50, account=forger, counterparty=buyer_node)
    assert seller_node.w3.privnet.wait_for_private_receipt(forged, parties=[buyer_node.w3])["status"] == 0
    other_terms = send(seller_node, trade, "confirm", TRADE_ID, 1_000, 98_00, account=seller,
                       counterparty=buyer_node)
    assert seller_node.w3.privnet.wait_for_private_receipt(other_terms, parties=[buyer_node.w3])["status"] == 0

    for node in (buyer_node, seller_node):
        assert at(node, trade).functions.trades(TRADE_ID).call()[3] == PROPOSED
