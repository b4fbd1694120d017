"""The mapping from the node's JSON-RPC errors to the client's typed errors.

Messages are taken from the engine's own constants and error paths where they exist, so a change
of wording on the node side breaks this test rather than silently turning a typed error into the
fallback. (Each class is also raised for its real cause on a running network:
tests/e2e/test_client_library.py.)
"""

from __future__ import annotations

import httpx
import pytest

from engine.errors import PrivacyManagerUnavailable
from engine.privacy.client import HttpPrivacyManagerClient
from engine.privacy.disabled import MSG_NO_MANAGER
from engine.privacy.enhanced import MSG_FLAG_MISMATCH, MSG_METADATA_NOT_FOUND
from engine.privacy.pmt import MSG_NOT_A_PARTICIPANT
from engine.rpc.errors import error_object
from engine.rpc.params import MSG_INVALID_PRIVACY_FLAG, MSG_MANDATORY_WITH_OTHER_FLAG, MSG_MISSING_MANDATORY
from privnet_client.errors import (
    ManagerUnavailable,
    MandatoryRecipientsMissing,
    NotAParty,
    PrivacyFlagMismatch,
    PrivateTransactionRejected,
    PrivnetError,
    UnknownKey,
    error_from_rpc,
    translate,
)


def rejected(message: str) -> dict[str, object]:
    return {"code": -32000, "message": message}


def test_the_node_s_own_manager_unreachable_is_manager_unavailable() -> None:
    """The node's real message for a manager socket nobody listens on (no retries)."""
    client = HttpPrivacyManagerClient("unix:///nonexistent/privnet-client-test/tm.ipc", retries=0)
    try:
        with pytest.raises(PrivacyManagerUnavailable) as caught:
            client.store_raw(b"payload", None)
    finally:
        client.close()
    error = error_from_rpc(error_object(caught.value))
    assert type(error) is ManagerUnavailable
    assert error.code == -32000 and error.message == caught.value.message


@pytest.mark.parametrize(("message", "cls"), [
    (MSG_NO_MANAGER, ManagerUnavailable),
    ("503 status: peer https://127.0.0.103:4100 is unavailable: cannot connect", ManagerUnavailable),
    ("404 status: recipient key AAAA= is not known to any peer", UnknownKey),
    ("404 status: recipient key AAAA= is not known: this manager has no peers", UnknownKey),
    ("404 status: key AAAA= is not held by this manager", UnknownKey),
    (MSG_MISSING_MANDATORY, MandatoryRecipientsMissing),
    ("403 status: One or more mandatory recipients not included in the participant list",
     MandatoryRecipientsMissing),
    (MSG_FLAG_MISMATCH, PrivacyFlagMismatch),
    (MSG_METADATA_NOT_FOUND, PrivacyFlagMismatch),
    ("403 status: Privacy metadata mismatched with Affected Txn 0xab (flag 3, this transaction's flag 1)",
     PrivacyFlagMismatch),
    ("contract not found. cannot transact", NotAParty),
    (MSG_NOT_A_PARTICIPANT, NotAParty),
    (MSG_INVALID_PRIVACY_FLAG, PrivateTransactionRejected),
    (MSG_MANDATORY_WITH_OTHER_FLAG, PrivateTransactionRejected),
    ("403 status: Recipients mismatched for Affected Txn 0xab", PrivateTransactionRejected),
    ("nonce too low: next nonce 3, tx nonce 1", PrivateTransactionRejected),
])
def test_rejections_map_to_their_class(message: str, cls: type[PrivnetError]) -> None:
    error = error_from_rpc({**rejected(message), "data": "0x01"})
    assert type(error) is cls
    assert (error.code, error.message, error.data) == (-32000, message, "0x01")


def test_a_contract_without_metadata_here_is_not_a_party() -> None:
    error = error_from_rpc({"code": -32001, "message": "the provided contract has no privacy metadata on this node"})
    assert type(error) is NotAParty and error.code == -32001


def test_other_codes_are_the_base_class_with_code_message_and_data() -> None:
    for code, message in ((-32602, "invalid params: transaction.privateFor[0]: not base64"),
                          (-32601, "the method eth_nope does not exist/is not available"),
                          (-32603, "internal error"),
                          (-32001, "unknown block")):
        error = error_from_rpc({"code": code, "message": message})
        assert type(error) is PrivnetError
        assert (error.code, error.message, error.data) == (code, message, None)


def test_translate_keeps_what_is_not_a_json_rpc_error() -> None:
    from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

    revert = ContractLogicError("execution reverted: unlucky number", data="0x08c379a0")
    assert translate(revert) is revert
    missing = TransactionNotFound("no receipt", rpc_response={"jsonrpc": "2.0", "id": 1, "result": None})
    assert translate(missing) is missing
    transport = httpx.ConnectError("refused")
    assert translate(transport) is transport
    rpc = Web3RPCError("x", rpc_response={"jsonrpc": "2.0", "id": 1, "error": rejected(MSG_FLAG_MISMATCH)})
    assert type(translate(rpc)) is PrivacyFlagMismatch
    reverted = Web3RPCError("x", rpc_response={"jsonrpc": "2.0", "id": 1, "error": {
        "code": 3, "message": "execution reverted: unlucky number", "data": "0x08c379a0"}})
    as_web3 = translate(reverted)
    assert type(as_web3) is ContractLogicError
    assert (as_web3.message, as_web3.data) == ("execution reverted: unlucky number", "0x08c379a0")
