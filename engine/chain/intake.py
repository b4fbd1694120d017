"""Decoding a raw transaction at intake: size, RLP, signature, chain id (geth's order and words)."""

from __future__ import annotations

import rlp
from eth.abc import SignedTransactionAPI, TransactionBuilderAPI
from eth.constants import SECPK1_N
from eth_utils import ValidationError

from engine.errors import InvalidParams, TransactionRejected


def decode_raw_transaction(builder: type[TransactionBuilderAPI], raw: bytes, chain_id: int,
                           max_tx_bytes: int) -> SignedTransactionAPI:
    """The signed transaction, its sender recovered once; raises InvalidParams or TransactionRejected."""
    if len(raw) > max_tx_bytes:
        raise TransactionRejected(f"oversized data: {len(raw)} bytes, limit {max_tx_bytes}")
    try:
        tx = builder.decode(raw)
        check_signature(tx)
    except (rlp.exceptions.DeserializationError, rlp.exceptions.DecodingError, ValidationError,
            ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidParams(f"invalid raw transaction: {exc}") from None
    except Exception as exc:  # eth-keys raises BadSignature and friends
        raise TransactionRejected(f"invalid sender: {exc}") from None
    if tx.chain_id is not None and tx.chain_id != chain_id:
        raise TransactionRejected(f"invalid chain id: {tx.chain_id}, this chain is {chain_id}")
    return tx


def check_signature(tx: SignedTransactionAPI) -> None:
    """The signature checks of py-evm's `check_signature_validity` with one ECDSA operation.

    py-evm recovers the key, verifies against it, and `.sender` recovers again; a successful
    recovery already proves the signature valid for that key, so one recovery (cached as the
    sender) plus the range checks is the same test.
    """
    if tx.y_parity not in (0, 1):
        raise ValidationError(f"invalid signature v: {tx.v}")
    if not (0 < tx.r < SECPK1_N and 0 < tx.s <= SECPK1_N // 2):
        raise ValidationError("invalid signature: r or s out of range (EIP-2 requires low s)")
    _ = tx.sender  # recovers; raises BadSignature when no key matches
