"""Importing the ordered blocks: every node re-executes every block and refuses to diverge.

A block's private payloads are fetched before the chain lock is taken; a manager that
cannot answer, or a block whose result differs from ours, halts import (`ChainHalted`)
with nothing of the block written.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from eth.abc import SignedTransactionAPI
from eth_utils import ValidationError

from engine.abc import OrderingServiceAPI, PrivateStateAPI
from engine.chain.canonical import CanonicalChain
from engine.errors import ChainHalted, PrivacyManagerUnavailable


class BlockImporter:
    def __init__(self, chain: CanonicalChain, ordering: OrderingServiceAPI, private: PrivateStateAPI) -> None:
        self.chain = chain
        self.ordering = ordering
        self.private = private

    def catch_up(self, stop: threading.Event) -> bool:
        """Import every block the ordering service has beyond our head; True if any.

        Each imported block is reported at once (the producer's pacing, pacing.py): a node that
        imports without a break while the producer keeps building must not look stuck.
        """
        imported = False
        while not stop.is_set():
            number = self.chain.head.block_number + 1
            block_rlp = self.ordering.get_block_rlp(number)
            if block_rlp is None:
                return imported
            self.import_block(block_rlp)
            self.ordering.report_head(number)
            imported = True
        return imported

    def import_block(self, block_rlp: bytes) -> None:
        chain = self.chain
        block = chain.decode_block(block_rlp)
        prefetch_payloads(self.private, list(block.transactions), f"cannot import block #{block.number}")
        with chain.lock:
            try:
                self.private.begin_block(chain.head)
                imported, receipts = chain.import_validated(block)
                self.private.finish_block(imported)
            except ValidationError as exc:
                chain.abort()
                raise ChainHalted(
                    f"block #{block.number} does not follow from our state ({exc}); refusing to diverge"
                ) from None
            except PrivacyManagerUnavailable as exc:
                chain.abort()
                raise ChainHalted(f"cannot import block #{block.number}: {exc.message}") from None
            except BaseException:
                chain.abort()
                raise
            chain.commit(imported, receipts)


def prefetch_payloads(private: PrivateStateAPI, transactions: Sequence[SignedTransactionAPI], context: str) -> None:
    """The private side's prefetch; a manager that cannot answer halts the caller's block."""
    try:
        private.prefetch(transactions)
    except PrivacyManagerUnavailable as exc:
        raise ChainHalted(f"{context}: {exc.message}") from None
