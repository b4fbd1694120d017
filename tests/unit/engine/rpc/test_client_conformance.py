"""Edge fixes for "every Ethereum client works unchanged": `type` as a JSON number, EIP-7702
`authorizationList` in requests and in transaction objects (geth's shape)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.errors import InvalidParams
from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.types import Address, SignedAuthorization

from .fakes import make_tx

TARGET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
AUTH_WIRE = {"chainId": "0x539", "address": TARGET, "nonce": "0x1", "yParity": "0x1", "r": "0x2", "s": "0x3"}
AUTH = SignedAuthorization(1337, Address(bytes.fromhex(TARGET[2:])), 1, 1, 2, 3)


@pytest.mark.parametrize("wire", [2, "0x2"])
def test_type_may_be_a_json_number_as_web3_modify_transaction_sends_it(wire):
    assert p.tx_request({"type": wire}, "transaction").tx_type == 2


@pytest.mark.parametrize(("wire", "why"), [
    (True, "transaction.type: expected a 0x-prefixed hex quantity, got boolean"),
    (-1, "transaction.type: a transaction type cannot be negative"),
    (3, "transaction.type: unsupported transaction type 0x3"),
    (2.5, "transaction.type: expected a 0x-prefixed hex quantity, got number"),
])
def test_type_refusals(wire, why):
    with pytest.raises(InvalidParams, match=why):
        p.tx_request({"type": wire}, "transaction")


def test_an_authorization_list_is_parsed_not_dropped():
    request = p.tx_request({"to": TARGET, "authorizationList": [AUTH_WIRE]}, "transaction")
    assert request.authorization_list == (AUTH,)
    assert p.tx_request({"to": TARGET, "type": "0x4", "authorizationList": [AUTH_WIRE]}, "t").tx_type == 4


@pytest.mark.parametrize(("wire", "why"), [
    ({"to": TARGET, "type": "0x4"}, "transaction.authorizationList: a type 0x4 transaction needs"),
    ({"to": TARGET, "type": "0x2", "authorizationList": [AUTH_WIRE]}, "an authorizationList needs type 0x4"),
    ({"authorizationList": [AUTH_WIRE]}, "transaction.to: missing: a type 0x4 transaction cannot create"),
    ({"to": TARGET, "gasPrice": "0x0", "authorizationList": [AUTH_WIRE]}, "gasPrice cannot be combined"),
    ({"to": TARGET, "authorizationList": [{**AUTH_WIRE, "yParity": None}]},
     r"transaction.authorizationList\[0\].yParity: missing"),
])
def test_authorization_list_refusals(wire, why):
    with pytest.raises(InvalidParams, match=why):
        p.tx_request(wire, "transaction")


def test_a_type4_transaction_object_has_geths_authorization_list():
    wire = fmt.transaction(replace(make_tx(1, 0), tx_type=4, authorization_list=(AUTH,)))
    assert wire["authorizationList"] == [AUTH_WIRE] and wire["type"] == "0x4"
    assert "authorizationList" not in fmt.transaction(make_tx(1, 0))
