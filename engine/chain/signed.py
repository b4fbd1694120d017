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
from typing import Any

from eth.vm.forks.prague.transactions import PragueTypedTransaction
from eth_keys.exceptions import BadSignature
from eth_typing import Hash32
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


class PrivnetTypedTransaction(ImmutableTransactionMixin, PragueTypedTransaction):
    """Typed (EIP-2718) transactions: validation stays py-evm's (it lives on the inner payload)."""
