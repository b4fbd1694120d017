"""Signing with the node's unlocked accounts and filling for external signers: `eth_sign`,
`eth_signTransaction` (geth) and `eth_fillTransaction` (geth, and GoQuorum's private form).

Note: `eth_signTransaction` keeps geth's preconditions and their wording (gas, a fee and the
nonce must be given; nothing is estimated), and signs public transactions only. Private
transactions for external signing come from `eth_fillTransaction` with `privateFor`: the
node stores the payload at its manager and returns the unsigned marker carrying the hash.
"""

from __future__ import annotations

from engine.errors import TransactionRejected
from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Method, Param
from engine.rpc.txjson import sign_transaction_result
from engine.types import Address, TxRequest


def _public_request(value: object, name: str) -> TxRequest:
    request = p.tx_request(value, name, require_sender=True)
    if request.private is not None:
        raise p.fail(f"{name}.privateFor", "eth_signTransaction signs public transactions only "
                                            "(use eth_fillTransaction with privateFor)")
    return request


def _fill_request(value: object, name: str) -> TxRequest:
    return p.tx_request(value, name, require_sender=True)


def sign(ctx: RpcContext, signer: Address, message: bytes) -> bytes:
    return ctx.node.sign_message(signer, message)


def sign_transaction(ctx: RpcContext, request: TxRequest) -> bytes:
    """geth's checks, in its order, before the account is looked up."""
    if request.gas is None:
        raise TransactionRejected("gas not specified")
    if request.gas_price is None and (request.max_fee_per_gas is None or request.max_priority_fee_per_gas is None):
        raise TransactionRejected("missing gasPrice or maxFeePerGas/maxPriorityFeePerGas")
    if request.nonce is None:
        raise TransactionRejected("nonce not specified")
    return ctx.node.sign_transaction(request)


def fill_transaction(ctx: RpcContext, request: TxRequest) -> bytes:
    if request.private is not None:
        return ctx.privacy.fill_transaction(request)
    return ctx.node.fill_unsigned(request)


METHODS: dict[str, Method] = {
    "eth_sign": Method(sign, (Param("address", p.address), Param("data", p.data)), result=fmt.data),
    "eth_signTransaction": Method(sign_transaction, (Param("transaction", _public_request),),
                                  result=sign_transaction_result),
    "eth_fillTransaction": Method(fill_transaction, (Param("transaction", _fill_request),),
                                  result=sign_transaction_result),
}
