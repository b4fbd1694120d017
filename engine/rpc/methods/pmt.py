"""GoQuorum's privacy marker transaction methods (PROTOCOL.md §1, GoQuorum's internal/ethapi/api.go).

`eth_getPrivateTransactionByHash` and `eth_getPrivateTransactionReceipt` take a PMT's hash and
answer for its inner private transaction, on a party only; `eth_distributePrivateTransaction` is
the external-signing path (the client then signs the PMT and sends it with eth_sendRawTransaction).
"""

from __future__ import annotations

from typing import Any

from engine.chain.pmt import PRIVACY_PRECOMPILE_ADDRESS
from engine.errors import EngineError, PrivateTransactionRejected
from engine.privacy.pmt import MSG_NO_MANAGER, PrivacyMarkers
from engine.privacy.service import PrivateTransactionService
from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Method, Param
from engine.types import Address, Hash32, PayloadHash, ReceiptView, TransactionView

MSG_NOT_PRIVATE = "transaction is not private"


def _service(ctx: RpcContext) -> tuple[PrivateTransactionService, PrivacyMarkers]:
    service = ctx.privacy
    markers = getattr(service, "privacy_markers", None)
    if not isinstance(service, PrivateTransactionService) or not isinstance(markers, PrivacyMarkers):
        raise EngineError(MSG_NO_MANAGER)
    return service, markers


def get_privacy_precompile_address(ctx: RpcContext) -> Address:
    """The address every node answers, as GoQuorum does (with or without the precompile)."""
    return Address(PRIVACY_PRECOMPILE_ADDRESS)


def get_private_transaction_by_hash(ctx: RpcContext, pmt_hash: Hash32) -> TransactionView | None:
    return _service(ctx)[1].private_transaction(pmt_hash)


def get_private_transaction_receipt(ctx: RpcContext, pmt_hash: Hash32) -> ReceiptView:
    return _service(ctx)[1].private_receipt(pmt_hash)


def distribute_private_transaction(ctx: RpcContext, raw: bytes, args: dict[str, Any] | None) -> PayloadHash:
    """GoQuorum's order: a request without `privateFor` is not private; then the privacy flag and
    mandatory recipients; then the signed marker's payload goes to the recipients (as
    eth_sendRawPrivateTransaction, without submitting), then the marker itself."""
    service, markers = _service(ctx)
    if args is None or args.get("privateFor") is None:
        raise PrivateTransactionRejected(MSG_NOT_PRIVATE)
    flag, mandatory = p.privacy_metadata(args, "privateArgs")
    private_for = p.list_of(p.ptm_public_key, args["privateFor"], "privateArgs.privateFor")
    raw_from = args.get("privateFrom")
    private_from = None if raw_from is None else p.ptm_public_key(raw_from, "privateArgs.privateFrom")
    if not raw:
        raise p.fail("transaction", "empty transaction")
    inner = service.distribute_raw_private_transaction(raw, private_for, flag, mandatory)
    return markers.distribute(inner, private_from, private_for)


PMT_HASH = Param("hash", p.hash32)

METHODS: dict[str, Method] = {
    "eth_getPrivacyPrecompileAddress": Method(get_privacy_precompile_address, result=fmt.address, blocking=False),
    "eth_getPrivateTransactionByHash": Method(get_private_transaction_by_hash, (PMT_HASH,), result=fmt.transaction),
    "eth_getPrivateTransactionReceipt": Method(get_private_transaction_receipt, (PMT_HASH,), result=fmt.receipt),
    "eth_distributePrivateTransaction": Method(distribute_private_transaction, (
        Param("transaction", p.data),
        Param("privateArgs", p.obj, required=False),
    ), result=fmt.data),
}
