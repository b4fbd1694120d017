"""Domain → wire formatting, and hex round trips through params (Hypothesis)."""

from __future__ import annotations

import pytest
from eth_utils import is_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from engine.abc import ReceivedPayload
from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.types import FeeHistory, PayloadHash, PrivacyFlag, PtmPublicKey

from .fakes import ALICE, BOB, CONTRACT, FakeNode, make_block, make_log, make_tx


@given(st.integers(min_value=0, max_value=2**256 - 1))
def test_quantity_round_trip(number):
    wire = fmt.quantity(number)
    assert wire.startswith("0x")
    assert wire == "0x0" or wire[2] != "0"  # no leading zeros
    assert wire == wire.lower()
    assert p.quantity(wire, "q") == number


@given(st.binary(max_size=300))
def test_data_round_trip(raw):
    wire = fmt.data(raw)
    assert len(wire) == 2 + 2 * len(raw)
    assert p.data(wire, "d") == raw


@given(st.binary(min_size=20, max_size=20))
def test_address_round_trip(raw):
    wire = fmt.address(raw)
    assert is_checksum_address(wire)
    assert p.address(wire, "a") == raw
    assert p.address(wire.lower(), "a") == raw


@given(st.binary(min_size=32, max_size=32))
def test_hash_round_trip(raw):
    assert p.hash32(fmt.data(raw), "h") == raw
    assert p.block_id(fmt.data(raw), "b") == raw


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_block_number_round_trip(number):
    assert p.block_number_or_tag(fmt.quantity(number), "block") == number


def test_quantity_examples_and_negative():
    assert [fmt.quantity(n) for n in (0, 1, 15, 16, 1024)] == ["0x0", "0x1", "0xf", "0x10", "0x400"]
    with pytest.raises(ValueError):
        fmt.quantity(-1)


def test_address_requires_20_bytes():
    with pytest.raises(ValueError):
        fmt.address(b"\x01" * 19)


def test_bloom_and_word_are_fixed_width():
    assert len(fmt.bloom(1)) == 2 + 512 and fmt.bloom(1).endswith("01")
    assert fmt.word(5) == "0x" + "00" * 31 + "05"


def test_log():
    wire = fmt.log(make_log(4, 2))
    assert wire["address"] == fmt.address(CONTRACT) and is_checksum_address(wire["address"])
    assert wire["blockNumber"] == "0x4" and wire["logIndex"] == "0x2" and wire["transactionIndex"] == "0x0"
    assert wire["data"] == "0x" + "00" * 31 + "2a"
    assert len(wire["topics"]) == 1 and len(wire["topics"][0]) == 66
    assert wire["removed"] is False


def test_mined_1559_transaction():
    wire = fmt.transaction(make_tx(3, 1))
    assert wire["blockNumber"] == "0x3" and wire["transactionIndex"] == "0x1"
    assert wire["from"] == fmt.address(ALICE) and wire["to"] == fmt.address(CONTRACT)
    assert wire["type"] == "0x2" and wire["gasPrice"] == hex(1_000_000_000)
    assert wire["maxFeePerGas"] == hex(2_000_000_000) and wire["maxPriorityFeePerGas"] == "0x1"
    assert wire["accessList"] == [{"address": fmt.address(BOB), "storageKeys": [fmt.word(0), fmt.word(1)]}]
    assert wire["input"] == "0x60fe47b1" and wire["chainId"] == "0x539"
    assert wire["r"] == hex(2**255 + 1) and wire["yParity"] == "0x1"


def test_pending_transaction_has_null_block_fields_and_fee_cap_as_price():
    tx = make_tx(3, 1, mined=False)
    wire = fmt.transaction(tx.__class__(**{**tx.__dict__, "gas_price": None}))
    assert wire["blockHash"] is None and wire["blockNumber"] is None and wire["transactionIndex"] is None
    assert wire["gasPrice"] == hex(2_000_000_000)


def test_legacy_transaction_has_no_access_list_and_creation_has_null_to():
    tx = make_tx(1, 0)
    legacy = tx.__class__(**{**tx.__dict__, "tx_type": 0, "to": None, "max_fee_per_gas": None,
                             "max_priority_fee_per_gas": None, "y_parity": None, "v": 2709})
    wire = fmt.transaction(legacy)
    assert "accessList" not in wire and "maxFeePerGas" not in wire and "yParity" not in wire
    assert wire["to"] is None and wire["v"] == hex(2709) and wire["type"] == "0x0"


def test_receipt():
    node = FakeNode()
    receipt = node.get_receipt(make_tx(1, 0).hash)
    wire = fmt.receipt(receipt)
    assert wire["status"] == "0x1" and wire["contractAddress"] is None and wire["type"] == "0x2"
    assert wire["logs"] == [fmt.log(entry) for entry in receipt.logs] and len(wire["logs"]) == 1
    assert len(wire["logsBloom"]) == 514 and "revertReason" not in wire and "isPrivate" not in wire
    reverted = receipt.__class__(**{**receipt.__dict__, "status": 0, "revert_reason": b"\x08\xc3", "is_private": True,
                                    "contract_address": CONTRACT})
    wire = fmt.receipt(reverted)
    assert wire["status"] == "0x0" and wire["revertReason"] == "0x08c3" and wire["isPrivate"] is True
    assert wire["contractAddress"] == fmt.address(CONTRACT)


def test_receipt_says_whether_it_is_a_privacy_marker_transactions_as_goquorum_on_every_receipt():
    receipt = FakeNode().get_receipt(make_tx(1, 0).hash)
    assert fmt.receipt(receipt)["isPrivacyMarkerTransaction"] is False
    pmt = receipt.__class__(**{**receipt.__dict__, "is_privacy_marker": True})
    assert fmt.receipt(pmt)["isPrivacyMarkerTransaction"] is True


def test_block_hashes_and_full():
    block = make_block(2, tx_count=2)
    wire = fmt.block(block, False)
    assert wire["number"] == "0x2" and wire["miner"] == fmt.address(BOB)
    assert wire["transactions"] == [fmt.data(tx.hash) for tx in block.transactions]
    assert wire["uncles"] == [] and wire["baseFeePerGas"] == "0x7" and wire["withdrawals"] == []
    assert wire["nonce"] == "0x" + "00" * 8 and wire["extraData"] == "0x" + b"privnet".hex()
    assert "requestsHash" not in wire and wire["blobGasUsed"] == "0x0"
    full = fmt.block(block, True)
    assert full["transactions"] == [fmt.transaction(tx) for tx in block.transactions]


def test_fee_history():
    wire = fmt.fee_history(FeeHistory(oldest_block=1, base_fee_per_gas=(7, 8, 9), gas_used_ratio=(0.5, 0.25),
                                      reward=((1, 2), (3, 4))))
    assert wire == {"oldestBlock": "0x1", "baseFeePerGas": ["0x7", "0x8", "0x9"], "gasUsedRatio": [0.5, 0.25],
                    "reward": [["0x1", "0x2"], ["0x3", "0x4"]]}
    assert "reward" not in fmt.fee_history(FeeHistory(0, (1,), (), None))


def test_filter_changes_mixes_hashes_and_logs():
    log = make_log(1, 0)
    assert fmt.filter_changes([b"\x01" * 32]) == ["0x" + "01" * 32]
    assert fmt.filter_changes([log]) == [fmt.log(log)]


def test_privacy_values():
    metadata = {"creationTxHash": PayloadHash(b"\x05" * 64), "privacyFlag": PrivacyFlag.PARTY_PROTECTION,
                "mandatoryFor": (PtmPublicKey("a2V5"),), "nested": {"n": 1, "none": None, "ok": True}}
    assert fmt.privacy_value(metadata) == {"creationTxHash": "0x" + "05" * 64, "privacyFlag": 1,
                                           "mandatoryFor": ["a2V5"], "nested": {"n": 1, "none": None, "ok": True}}
    with pytest.raises(TypeError):
        fmt.privacy_value(object())


def test_quorum_payload_extra():
    extra = ReceivedPayload(payload=b"\x60\x00", privacy_flag=PrivacyFlag.PRIVATE_STATE_VALIDATION,
                            affected_contract_transactions=(PayloadHash(b"\x01" * 64),), exec_hash=b"\x02" * 32,
                            mandatory_recipients=(PtmPublicKey("a2V5"),))
    assert fmt.quorum_payload_extra(extra) == {
        "payload": "0x6000", "privacyFlag": 3, "affectedContractTransactions": ["0x" + "01" * 64],
        "execHash": "0x" + "02" * 32, "mandatoryRecipients": ["a2V5"],
    }
