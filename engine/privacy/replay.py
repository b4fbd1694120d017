"""Rebuild a node's private state by replaying its chain with its manager's payloads.

Why: a node that lost its private state, or whose manager lost payloads and then recovered
them from its peers (tessera_like/recovery.py), must hold again what a normal import of the
chain would have given it: the private state root after every block, the private receipts and
the privacy metadata of its private contracts.

How (the node stopped, its manager up): the private side's own keys are deleted
(`schema.private_key_prefixes`) and the genesis private root written again; then every block
the node's database holds runs again, in order, through the node's own VM and private side,
as an import runs it: `prefetch`, `begin_block`, the VM executes every transaction on the
parent's public state (so the private executor reads the public state at the transaction's
position in the block), `finish_block`, commit. The block is not stored again: the public
result must equal the stored block (state root, receipts, gas used; else ChainHalted), and the
public writes of a re-execution are the very trie nodes already held, so the public state does
not change. A block without a private transaction only carries its parent's private root
forward (a public transaction never touches private state). Finally the blocks the ordering
service holds beyond the node's head are imported as the running node would (a node whose
whole database was lost starts from genesis here).

A replay that stops half-way (manager down: ChainHalted) leaves part of the private state
rebuilt; running it again starts over.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from eth_utils import ValidationError, to_checksum_address

from engine.abc import PrivateStateAPI
from engine.chain.canonical import CanonicalChain
from engine.chain.importer import BlockImporter, prefetch_payloads
from engine.db import schema
from engine.errors import ChainHalted, PrivacyManagerUnavailable

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class ReplaySummary:
    """What a replay did and what the node holds afterwards."""

    replayed_blocks: int  # blocks replayed (1..the head the database held)
    imported_blocks: int  # blocks then imported from the ordering service
    head: int
    private_root: bytes  # the private state root at `head`
    private_receipts: int  # private transactions this node is a party to (its private receipts)
    contracts: tuple[bytes, ...]  # the private contracts this node holds (it has their privacy metadata)

    def to_json(self) -> dict[str, Any]:
        return {"replayedBlocks": self.replayed_blocks, "importedBlocks": self.imported_blocks, "head": self.head,
                "privateRoot": "0x" + self.private_root.hex(), "privateReceipts": self.private_receipts,
                "contracts": [to_checksum_address(a) for a in self.contracts]}


def replay_private_state(chain: CanonicalChain, private: PrivateStateAPI,
                         importer: BlockImporter | None = None) -> ReplaySummary:
    """Rebuild the private state of every block `chain` holds; then import what `importer`'s
    ordering service holds beyond it. The node must not be running."""
    database = chain.database
    with chain.lock:
        removed = sum(database.kv.delete_prefix(prefix) for prefix in schema.private_key_prefixes())
        private.on_genesis(chain.header(0))
        database.commit()
    logger.info("private state: %d keys deleted; replaying blocks 1..%d", removed, chain.head.block_number)
    head = chain.head.block_number
    for number in range(1, head + 1):
        _replay_block(chain, private, number)
        if number % PROGRESS_EVERY == 0:
            logger.info("private state replayed up to block #%d of %d", number, head)
    imported = 0
    if importer is not None:
        importer.catch_up(threading.Event())
        imported = chain.head.block_number - head
    kv = database.kv
    contract_prefix = schema.make_contract_privacy_key(b"")
    contracts = tuple(k[len(contract_prefix):] for k in kv.keys_with_prefix(contract_prefix))
    return ReplaySummary(head, imported, chain.head.block_number, private.private_root(chain.head),
                         len(kv.keys_with_prefix(schema.make_private_receipt_key(b""))), contracts)


def _replay_block(chain: CanonicalChain, private: PrivateStateAPI, number: int) -> None:
    """Run block `number` again for its private side and commit.

    Every block with transactions runs again (whatever makes a transaction private is the
    VM's and the private side's business); an empty block only carries the private root on."""
    block = chain.block(number)
    if block is None:  # pragma: no cover - numbers come from the head
        raise ChainHalted(f"block #{number} is not in the node's database")
    transactions = list(block.transactions)
    if transactions:
        prefetch_payloads(private, transactions, f"cannot replay block #{number}")
    with chain.lock:
        try:
            private.begin_block(chain.header(number - 1))
            if transactions:
                block, _ = chain.reexecute(block)
            private.finish_block(block)
        except ValidationError as exc:
            chain.abort()
            raise ChainHalted(f"block #{number} as stored does not follow from its parent on replay ({exc})") from None
        except PrivacyManagerUnavailable as exc:
            chain.abort()
            raise ChainHalted(f"cannot replay block #{number}: {exc.message}") from None
        except BaseException:
            chain.abort()
            raise
        chain.database.commit()


__all__ = ["ReplaySummary", "replay_private_state"]
