"""GoQuorum's privacy additions to the `eth_` namespace (PROTOCOL.md §1).

`eth_sendTransaction`, `eth_call` and `eth_estimateGas` take the private fields through
`params.tx_request`; this module holds the methods that exist only in GoQuorum.
"""

from __future__ import annotations

from typing import Any

from engine.abc import ReceivedPayload
from engine.errors import PrivateTransactionRejected, ResourceNotFound
from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Method, Param
from engine.types import Address, BlockId, Hash32, PayloadHash

MSG_NOT_PRIVATE = "transaction is not private"


def _raw_private_args(value: object, name: str) -> dict[str, Any]:
    return p.obj(value, name)


def get_quorum_payload(ctx: RpcContext, payload_hash: PayloadHash) -> bytes:
    """The decrypted payload; empty ("0x") when this node is not a party, as GoQuorum answers."""
    payload = ctx.privacy.get_quorum_payload(payload_hash)
    return b"" if payload is None else payload


def get_quorum_payload_extra(ctx: RpcContext, payload_hash: PayloadHash) -> ReceivedPayload | None:
    return ctx.privacy.get_quorum_payload_extra(payload_hash)


def get_contract_privacy_metadata(ctx: RpcContext, address: Address) -> dict[str, object]:
    metadata = ctx.privacy.get_contract_privacy_metadata(address)
    if metadata is None:
        raise ResourceNotFound("the provided contract has no privacy metadata on this node")
    return metadata


def send_raw_private_transaction(ctx: RpcContext, raw: bytes, args: dict[str, Any] | None) -> Hash32:
    """GoQuorum's order: decode the raw hex, refuse a non-private request, then check the
    privacy flag and mandatory recipients, then let the privacy service distribute and submit."""
    if args is None or args.get("privateFor") is None:
        raise PrivateTransactionRejected(MSG_NOT_PRIVATE)
    flag, mandatory = p.privacy_metadata(args, "privateArgs")
    private_for = p.list_of(p.ptm_public_key, args["privateFor"], "privateArgs.privateFor")
    if not raw:
        raise p.fail("transaction", "empty transaction")
    return ctx.privacy.send_raw_private_transaction(raw, private_for, flag, mandatory)


def storage_root(ctx: RpcContext, address: Address, block: BlockId) -> Hash32:
    return ctx.node.get_storage_root(address, block)


def _metadata(value: dict[str, object]) -> Any:
    return fmt.privacy_value(value)


PAYLOAD_HASH = Param("payloadHash", p.payload_hash)

METHODS: dict[str, Method] = {
    "eth_getQuorumPayload": Method(get_quorum_payload, (PAYLOAD_HASH,), result=fmt.data),
    "eth_getQuorumPayloadExtra": Method(get_quorum_payload_extra, (PAYLOAD_HASH,), result=fmt.quorum_payload_extra),
    "eth_getContractPrivacyMetadata": Method(get_contract_privacy_metadata, (Param("address", p.address),),
                                             result=_metadata),
    "eth_sendRawPrivateTransaction": Method(send_raw_private_transaction, (
        Param("transaction", p.data),
        Param("privateArgs", _raw_private_args, required=False),
    ), result=fmt.data),
    "eth_storageRoot": Method(storage_root, (
        Param("address", p.address),
        Param("block", p.block_id, required=False, default="latest"),
    ), result=fmt.data),
}
