"""Wire → domain parsing: every accepted form, and every refusal naming the parameter."""

from __future__ import annotations

import base64

import pytest

from engine.errors import InvalidParams, PrivateTransactionRejected
from engine.rpc import params as p
from engine.types import PrivacyFlag

KEY_A = base64.b64encode(b"\x01" * 32).decode()
KEY_B = base64.b64encode(b"\x02" * 32).decode()
CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def refused(parse, value, name="x", **kwargs) -> str:
    with pytest.raises(InvalidParams) as info:
        parse(value, name, **kwargs)
    assert info.value.rpc_code == -32602
    return info.value.message


# -- quantities ----------------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "number"), [
    ("0x0", 0), ("0x1", 1), ("0xff", 255), ("0xFF", 255), ("0X10", 16), ("0x01", 1),
    ("0x" + "f" * 64, 2**256 - 1), ("0x" + "0" * 10 + "1", 1),
])
def test_quantity_accepts(wire, number):
    assert p.quantity(wire, "value") == number


@pytest.mark.parametrize(("wire", "why"), [
    (1, "got number"),
    (None, "got null"),
    (True, "got boolean"),
    ([], "got array"),
    ("12", "without 0x prefix"),
    ("0x", "empty hex quantity"),
    ("0xg1", "invalid hex digit"),
    ("0x 1", "invalid hex digit"),
    ("0x1_0", "invalid hex digit"),
    ("0x+1", "invalid hex digit"),
    ("-0x1", "without 0x prefix"),
    ("0x1" + "0" * 64, "exceeds 256 bits"),
])
def test_quantity_refuses_with_name_and_reason(wire, why):
    message = refused(p.quantity, wire, "params[0].gasPrice")
    assert message.startswith("invalid params: params[0].gasPrice: ")
    assert why in message


def test_uint64_bounds():
    assert p.uint64("0x" + "f" * 16, "nonce") == 2**64 - 1
    assert "out of range" in refused(p.uint64, "0x1" + "0" * 16, "nonce")


# -- data, addresses, hashes ------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "raw"), [("0x", b""), ("0x00", b"\0"), ("0xDEADbeef", b"\xde\xad\xbe\xef")])
def test_data_accepts(wire, raw):
    assert p.data(wire, "data") == raw


@pytest.mark.parametrize(("wire", "why"), [
    ("0x123", "odd length"),
    ("0xzz", "invalid hex digit"),
    ("0x00 11", "invalid hex digit"),
    ("dead", "without 0x prefix"),
    (12, "got number"),
    ({"a": 1}, "got object"),
])
def test_data_refuses(wire, why):
    message = refused(p.data, wire, "transaction")
    assert "transaction: " in message and why in message


def test_address_accepts_lower_upper_and_checksummed():
    raw = bytes.fromhex(CHECKSUMMED[2:])
    assert p.address(CHECKSUMMED, "address") == raw
    assert p.address(CHECKSUMMED.lower(), "address") == raw
    assert p.address("0x" + CHECKSUMMED[2:].upper(), "address") == raw


@pytest.mark.parametrize(("wire", "why"), [
    ("0x" + "ab" * 19, "20 bytes, got 19"),
    ("0x" + "ab" * 21, "20 bytes, got 21"),
    (CHECKSUMMED[:-1] + "D", "invalid EIP-55 checksum"),
    ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae", "odd length"),
    (None, "got null"),
])
def test_address_refuses(wire, why):
    message = refused(p.address, wire, "params[0].to")
    assert "params[0].to: " in message and why in message


def test_hash_lengths():
    assert p.hash32("0x" + "11" * 32, "h") == b"\x11" * 32
    assert "a hash is 32 bytes, got 31" in refused(p.hash32, "0x" + "11" * 31, "transactionHash")
    assert p.payload_hash("0x" + "22" * 64, "h") == b"\x22" * 64
    assert "64 bytes, got 32" in refused(p.payload_hash, "0x" + "22" * 32, "payloadHash")


def test_boolean():
    assert p.boolean(True, "full") is True
    assert "expected a boolean, got string" in refused(p.boolean, "true", "fullTransactions")


# -- block ids -----------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["latest", "earliest", "pending", "safe", "finalized"])
def test_block_tags(tag):
    assert p.block_number_or_tag(tag, "block") == tag
    assert p.block_id(tag, "block") == tag


def test_block_id_forms():
    assert p.block_id("0x10", "block") == 16
    assert p.block_id("0x" + "ab" * 32, "block") == b"\xab" * 32
    assert p.block_id({"blockNumber": "0x2"}, "block") == 2
    assert p.block_id({"blockHash": "0x" + "cd" * 32, "requireCanonical": True}, "block") == b"\xcd" * 32


@pytest.mark.parametrize(("wire", "why"), [
    ("newest", "unknown block tag 'newest'"),
    ("0x8000000000000000", "out of range"),
    (5, "got number"),
    ({}, "needs blockHash or blockNumber"),
    ({"blockHash": "0x" + "00" * 32, "blockNumber": "0x1"}, "either blockHash or blockNumber"),
    ({"blockHash": "0x" + "00" * 31}, "block.blockHash: a hash is 32 bytes"),
    ({"blockHash": "0x" + "00" * 32, "requireCanonical": "yes"}, "block.requireCanonical: expected a boolean"),
])
def test_block_id_refuses(wire, why):
    assert why in refused(p.block_id, wire, "block")


def test_block_number_or_tag_refuses_a_hash():
    assert "exceeds 256 bits" not in refused(p.block_number_or_tag, "0x" + "ab" * 32, "block")


# -- transaction requests ------------------------------------------------------------------------


def test_tx_request_full():
    request = p.tx_request({
        "from": CHECKSUMMED, "to": CHECKSUMMED.lower(), "gas": "0x5208", "maxFeePerGas": "0x10",
        "maxPriorityFeePerGas": "0x1", "value": "0x2", "input": "0xabcd", "data": "0xabcd", "nonce": "0x3",
        "chainId": "0x539", "type": "0x2",
        "accessList": [{"address": CHECKSUMMED, "storageKeys": ["0x" + "00" * 31 + "05"]}],
        "someFutureField": 1,
    }, "transaction")
    assert request.sender == bytes.fromhex(CHECKSUMMED[2:])
    assert (request.gas, request.max_fee_per_gas, request.max_priority_fee_per_gas) == (21000, 16, 1)
    assert (request.value, request.data, request.nonce, request.chain_id, request.tx_type) == (2, b"\xab\xcd", 3,
                                                                                              1337, 2)
    assert request.access_list == ((bytes.fromhex(CHECKSUMMED[2:]), (5,)),)
    assert request.private is None


def test_tx_request_defaults_and_creation():
    request = p.tx_request({"data": "0x6000"}, "transaction")
    assert request.to is None and request.sender is None and request.value == 0 and request.data == b"\x60\x00"
    assert p.tx_request({"to": None}, "t").to is None


@pytest.mark.parametrize(("wire", "why"), [
    ("not an object", "transaction: expected an object, got string"),
    ({"to": "0x12"}, "transaction.to: an address is 20 bytes, got 1"),
    ({"gas": 21000}, "transaction.gas: expected a 0x-prefixed hex quantity, got number"),
    ({"value": "100"}, "transaction.value: hex quantity without 0x prefix"),
    ({"data": "0xab", "input": "0xcd"}, "both data and input given, with different values"),
    ({"data": "0xabc"}, "transaction.data: hex string has odd length"),
    ({"gasPrice": "0x1", "maxFeePerGas": "0x2"}, "gasPrice cannot be combined"),
    ({"type": "0x3"}, "transaction.type: unsupported transaction type 0x3"),
    ({"accessList": {}}, "transaction.accessList: expected an array"),
    ({"accessList": [{"storageKeys": []}]}, "transaction.accessList[0].address: missing"),
    ({"accessList": [{"address": CHECKSUMMED, "storageKeys": ["0x01"]}]},
     "transaction.accessList[0].storageKeys[0]: a hash is 32 bytes, got 1"),
    ({"privateFor": "abc"}, "transaction.privateFor: expected an array, got string"),
    ({"privateFor": [KEY_A, "not base64!"]}, "transaction.privateFor[1]: not valid base64"),
    ({"privateFor": [base64.b64encode(b"short").decode()]}, "transaction.privateFor[0]: a public key is 32 bytes"),
    ({"privateFor": [KEY_A], "privateFrom": 7}, "transaction.privateFrom: expected a base64 public key string"),
    ({"privateFor": [KEY_A], "privacyFlag": "one"}, "transaction.privacyFlag: hex quantity without 0x prefix"),
    ({"privateFor": [KEY_A], "privacyFlag": True}, "transaction.privacyFlag: expected a number, got boolean"),
    ({"privateFrom": KEY_A}, "transaction.privateFor: missing"),
    ({"privacyFlag": 1}, "transaction.privateFor: missing"),
    ({"privacyFlag": "0x1"}, "transaction.privateFor: missing"),
    ({"mandatoryFor": []}, "transaction.privateFor: missing"),
])
def test_tx_request_refuses(wire, why):
    assert why in refused(p.tx_request, wire, "transaction")


def test_send_request_requires_sender():
    assert "transaction.from: missing" in refused(p.tx_request, {"to": CHECKSUMMED}, "transaction",
                                                  require_sender=True)


def test_private_fields_become_private_args():
    request = p.tx_request({"privateFor": [KEY_A, KEY_B], "privateFrom": KEY_B, "privacyFlag": 2,
                            "mandatoryFor": [KEY_A]}, "transaction")
    assert request.private is not None
    assert request.private.private_for == (KEY_A, KEY_B)
    assert request.private.private_from == KEY_B
    assert request.private.privacy_flag is PrivacyFlag.MANDATORY_RECIPIENTS
    assert request.private.mandatory_for == (KEY_A,)


def test_empty_private_for_is_private_and_flag_zero_alone_is_public():
    assert p.tx_request({"privateFor": []}, "t").private is not None
    assert p.tx_request({"privacyFlag": 0}, "t").private is None
    assert p.tx_request({"privacyFlag": "0x00"}, "t").private is None
    assert p.tx_request({"privateFor": [KEY_A], "privacyFlag": "0x3"}, "t").private.privacy_flag == 3


@pytest.mark.parametrize(("fields", "message"), [
    ({"privacyFlag": 4}, p.MSG_INVALID_PRIVACY_FLAG),
    ({"privacyFlag": -1}, p.MSG_INVALID_PRIVACY_FLAG),
    # invalid flag is reported before the mandatory-recipient checks
    ({"privacyFlag": 9, "mandatoryFor": [KEY_A]}, p.MSG_INVALID_PRIVACY_FLAG),
    ({"privacyFlag": 2}, p.MSG_MISSING_MANDATORY),
    ({"privacyFlag": 2, "mandatoryFor": []}, p.MSG_MISSING_MANDATORY),
    ({"privacyFlag": 1, "mandatoryFor": [KEY_A]}, p.MSG_MANDATORY_WITH_OTHER_FLAG),
    ({"mandatoryFor": [KEY_A]}, p.MSG_MANDATORY_WITH_OTHER_FLAG),
    # privacy checks come before the keys are parsed, as in GoQuorum
    ({"privacyFlag": 2, "privateFor": ["garbage"]}, p.MSG_MISSING_MANDATORY),
])
def test_privacy_validation_messages_and_order(fields, message):
    fields = {"privateFor": [KEY_A], **fields}
    with pytest.raises(PrivateTransactionRejected) as info:
        p.tx_request(fields, "transaction")
    assert info.value.message == message
    assert info.value.rpc_code == -32000


def test_goquorum_messages_are_verbatim():
    assert p.MSG_MISSING_MANDATORY == ("missing mandatory recipients data. if no mandatory recipients required "
                                       "consider using PrivacyFlag=1(PartyProtection)")
    assert p.MSG_MANDATORY_WITH_OTHER_FLAG == ("privacy metadata invalid. mandatory recipients are only applicable "
                                               "for PrivacyFlag=2(MandatoryRecipients)")


# -- log queries ---------------------------------------------------------------------------------


def test_log_query_forms():
    query = p.log_query({"fromBlock": "0x1", "toBlock": "latest", "address": CHECKSUMMED,
                         "topics": [None, "0x" + "aa" * 32, ["0x" + "bb" * 32, "0x" + "cc" * 32], []]}, "filter")
    assert query.from_block == 1 and query.to_block == "latest"
    assert query.addresses == (bytes.fromhex(CHECKSUMMED[2:]),)
    assert query.topics == (None, (b"\xaa" * 32,), (b"\xbb" * 32, b"\xcc" * 32), None)
    assert p.log_query({}, "filter") == p.LogQuery()
    assert p.log_query({"address": [CHECKSUMMED, CHECKSUMMED]}, "f").addresses == (
        bytes.fromhex(CHECKSUMMED[2:]),) * 2
    assert p.log_query({"blockHash": "0x" + "ee" * 32}, "f").block_hash == b"\xee" * 32


@pytest.mark.parametrize(("wire", "why"), [
    ({"fromBlock": "0x5", "toBlock": "0x4"}, "fromBlock 0x5 is after toBlock 0x4"),
    ({"blockHash": "0x" + "ee" * 32, "fromBlock": "0x1"}, "blockHash cannot be combined"),
    ({"topics": [None] * 5}, "filter.topics: at most 4 topic positions"),
    ({"topics": "0x00"}, "filter.topics: expected an array"),
    ({"topics": [["0x00"]]}, "filter.topics[0][0]: a hash is 32 bytes"),
    ({"topics": [5]}, "filter.topics[0]: expected a 0x-prefixed hex string"),
    ({"address": ["0x00"]}, "filter.address[0]: an address is 20 bytes"),
    ({"fromBlock": "yesterday"}, "filter.fromBlock: unknown block tag"),
    ([], "filter: expected an object, got array"),
])
def test_log_query_refuses(wire, why):
    assert why in refused(p.log_query, wire, "filter")
