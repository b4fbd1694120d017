"""GoQuorum's `quorumExtension_` namespace: contract extension (PROTOCOL.md §11).

Parameter shapes are GoQuorum's: `extendContract(toExtend, newRecipientPtmPublicKey,
recipientAddress, txArgs)`, `approveExtension(addressToVoteOn, vote, txArgs)`,
`cancelExtension(extensionContract, txArgs)`, `getExtensionStatus(managementContractAddress)`,
`activeExtensionContracts()`. A node without a manager does not serve the namespace.
"""

from __future__ import annotations

from typing import Any

from engine.abc import ContractExtensionAPI
from engine.errors import MethodNotFound
from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Method, Param
from engine.types import Address, Hash32, PtmPublicKey, TxRequest


def _service(ctx: RpcContext, name: str) -> ContractExtensionAPI:
    if ctx.extension is None:
        raise MethodNotFound(f"the method quorumExtension_{name} does not exist/is not available")
    return ctx.extension


def _key(value: object, name: str) -> PtmPublicKey:
    """Any string: the service checks it and answers with GoQuorum's message."""
    if not isinstance(value, str):
        raise p.fail(name, "expected a base64 public key string")
    return PtmPublicKey(value)


def _tx_args(value: object, name: str) -> TxRequest:
    return p.tx_request(value, name, require_sender=True)


def extend_contract(ctx: RpcContext, to_extend: Address, key: PtmPublicKey, recipient: Address,
                    request: TxRequest) -> Hash32:
    return _service(ctx, "extendContract").extend_contract(to_extend, key, recipient, request)


def approve_extension(ctx: RpcContext, address: Address, vote: bool, request: TxRequest) -> Hash32:
    return _service(ctx, "approveExtension").approve_extension(address, vote, request)


def cancel_extension(ctx: RpcContext, address: Address, request: TxRequest) -> Hash32:
    return _service(ctx, "cancelExtension").cancel_extension(address, request)


def get_extension_status(ctx: RpcContext, address: Address) -> str:
    return _service(ctx, "getExtensionStatus").extension_status(address)


def active_extension_contracts(ctx: RpcContext) -> list[dict[str, Any]]:
    return _service(ctx, "activeExtensionContracts").active_extensions()


TX_ARGS = Param("txArgs", _tx_args)

METHODS: dict[str, Method] = {
    "quorumExtension_extendContract": Method(extend_contract, (
        Param("toExtend", p.address), Param("newRecipientPtmPublicKey", _key),
        Param("recipientAddress", p.address), TX_ARGS), result=fmt.data),
    "quorumExtension_approveExtension": Method(approve_extension, (
        Param("addressToVoteOn", p.address), Param("vote", p.boolean), TX_ARGS), result=fmt.data),
    "quorumExtension_cancelExtension": Method(cancel_extension, (
        Param("extensionContract", p.address), TX_ARGS), result=fmt.data),
    "quorumExtension_getExtensionStatus": Method(get_extension_status, (
        Param("managementContractAddress", p.address),)),
    "quorumExtension_activeExtensionContracts": Method(active_extension_contracts, ()),
}
