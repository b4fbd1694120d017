"""Signed transactions that do their expensive work once per node.

Profiles of a follower importing private markers showed a third of its time in repeated work
on immutable objects: py-evm recovers the sender twice per transaction (signature check, then
`.sender`) and verifies once more, Prague's block post-processing deep-copies every
transaction of the block (losing the cached sender, so the node's receipt index recovered it a
third time), and `.hash` re-encodes the transaction on every call. Transactions are immutable
rlp objects: a copy may be the object itself, its hash and its sender are facts about it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

import rlp
from eth.abc import SignedTransactionAPI, TransactionDecoderAPI
from eth.vm.forks.berlin.constants import ACCESS_LIST_TRANSACTION_TYPE
from eth.vm.forks.berlin.transactions import AccessListTransaction
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.cancun.transactions import BlobTransaction
from eth.vm.forks.london.constants import DYNAMIC_FEE_TRANSACTION_TYPE
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague.constants import SET_CODE_TRANSACTION_TYPE
from eth.vm.forks.prague.transactions import PragueTypedTransaction, SetCodeTransaction
from eth_keys.exceptions import BadSignature
from eth_typing import Address, Hash32
from eth_utils import ValidationError

from engine.chain.intake import check_signature


class ImmutableTransactionMixin:
    """A copy is the transaction itself (rlp's copy rebuilds and revalidates every field); the
    hash is computed once."""

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: Any = None) -> Any:
        return self

    @cached_property
    def hash(self) -> Hash32:
        return super().hash  # type: ignore[misc, no-any-return]


class SignedOnceMixin(ImmutableTransactionMixin):
    """py-evm's signature check with one ECDSA recovery, whose result is the cached sender."""

    def check_signature_validity(self) -> None:
        try:
            check_signature(self)  # type: ignore[arg-type]
        except BadSignature as exc:
            raise ValidationError(f"Bad Signature: {exc}") from None


# Typed (EIP-2718) transactions: py-evm validates the inner payload (its signature check
# recovers and verifies) and the outer object recovers again for `.sender`; the inner payloads
# here check once and the outer one asks the inner's cached sender.
class OnceAccessListTransaction(SignedOnceMixin, AccessListTransaction):
    pass


class OnceDynamicFeeTransaction(SignedOnceMixin, DynamicFeeTransaction):
    pass


class OnceBlobTransaction(SignedOnceMixin, BlobTransaction):
    pass


class OnceSetCodeTransaction(SignedOnceMixin, SetCodeTransaction):
    pass


class _PayloadDecoder(TransactionDecoderAPI):
    sedes: ClassVar[type[SignedTransactionAPI]]

    @classmethod
    def decode(cls, payload: bytes) -> SignedTransactionAPI:
        decoded: SignedTransactionAPI = rlp.decode(payload, sedes=cls.sedes)
        return decoded


def _decoder(sedes: type[SignedTransactionAPI]) -> type[TransactionDecoderAPI]:
    return type(f"{sedes.__name__}Decoder", (_PayloadDecoder,), {"sedes": sedes})


class PrivnetTypedTransaction(ImmutableTransactionMixin, PragueTypedTransaction):
    decoders = {type_id: _decoder(sedes) for type_id, sedes in (
        (ACCESS_LIST_TRANSACTION_TYPE, OnceAccessListTransaction),
        (DYNAMIC_FEE_TRANSACTION_TYPE, OnceDynamicFeeTransaction),
        (BLOB_TX_TYPE, OnceBlobTransaction),
        (SET_CODE_TRANSACTION_TYPE, OnceSetCodeTransaction))}

    def get_sender(self) -> Address:
        return Address(self._inner.sender)
