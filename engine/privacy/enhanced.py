"""GoQuorum's enhanced privacy on the node: affected contracts, their checks, the execution hash.

The same rules run twice, as in GoQuorum (`internal/ethapi.simulateExecutionForPE` and
`core/state_transition_pmh.go`):
- when sending, the sender's node simulates the payload, collects the private contracts it
  touches and passes their creation transactions (ACOTHs) and, for private state validation,
  the execution hash to its manager; a rule broken here refuses the send with GoQuorum's message;
- when executing, every party re-collects the contracts the payload actually touched and checks
  them against the ACOTHs its own manager verified; a rule broken here makes the transaction a
  no-op for that party (private receipt status 0, its private state untouched).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import rlp
from eth.rlp.accounts import Account
from trie import HexaryTrie

from engine.types import PrivacyFlag

#: Sender-side messages, GoQuorum's words (tools and users match on them).
MSG_FLAG_MISMATCH = "sent privacy flag doesn't match all affected contract flags"
MSG_METADATA_NOT_FOUND = "PrivacyMetadata not found: The provided contract does not have privacy metadata"

CALL = "call"
CREATION = "creation"

#: `metadata(address)` answers a private contract's privacy metadata, None when it has none.
MetadataLookup = Callable[[bytes], "Mapping[str, Any] | None"]


@dataclass(frozen=True)
class AffectedContracts:
    """What one private execution touched: code run by message call, and contracts created."""

    calls: tuple[bytes, ...]
    creations: tuple[bytes, ...]

    @property
    def all(self) -> tuple[bytes, ...]:
        return tuple(dict.fromkeys(self.creations + self.calls))


def affected_contracts(computation: Any, is_private: Callable[[bytes], bool]) -> AffectedContracts:
    """Walk the computation tree: every private account whose code ran (by its code address,
    so a DELEGATECALL counts the library), and every account created. Public code that ran
    is left out: it is the same on every node, and a private payload can only read it."""
    calls: dict[bytes, None] = {}
    creations: dict[bytes, None] = {}
    stack = [computation]
    while stack:
        current = stack.pop()
        msg = current.msg
        if msg.is_create:
            creations[bytes(msg.storage_address)] = None
        elif msg.code and is_private(bytes(msg.code_address)):
            calls[bytes(msg.code_address)] = None
        stack.extend(reversed(current.children))
    only_calls = tuple(a for a in calls if a not in creations)
    return AffectedContracts(calls=only_calls, creations=tuple(creations))


def flagged(metadata: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """GoQuorum keeps privacy metadata for flagged contracts only; ours records flag 0 too,
    which counts as none here."""
    if metadata is None or int(metadata.get("privacyFlag", 0)) == PrivacyFlag.STANDARD_PRIVATE:
        return None
    return metadata


def creation_hash(metadata: Mapping[str, Any]) -> bytes:
    return bytes.fromhex(str(metadata["creationTxHash"]).removeprefix("0x"))


def sender_metadata(affected: AffectedContracts, flag: PrivacyFlag,
                    lookup: MetadataLookup) -> tuple[bytes, ...] | str:
    """The ACOTHs for the manager, or the refusal message (GoQuorum's simulation rules)."""
    acoths: dict[bytes, None] = {}
    for address in affected.calls:
        metadata = flagged(lookup(address))
        if metadata is None:
            if flag != PrivacyFlag.STANDARD_PRIVATE:
                return MSG_METADATA_NOT_FOUND
            continue
        if int(metadata["privacyFlag"]) != int(flag):
            return MSG_FLAG_MISMATCH
        acoths[creation_hash(metadata)] = None
    return tuple(acoths)


def execution_failure(affected: AffectedContracts, flag: PrivacyFlag, received_acoths: Iterable[bytes],
                      lookup: MetadataLookup) -> str | None:
    """Why this party must not apply the execution (None: it may). `received_acoths` are the
    affected transactions this party's manager verified: a contract whose creation is not
    among them is one the sender did not show this party, or one it is not a party to."""
    verified = set(received_acoths)
    for address in affected.calls:
        metadata = flagged(lookup(address))
        if metadata is None:
            if flag != PrivacyFlag.STANDARD_PRIVATE:
                return f"privacy metadata not found for affected contract 0x{address.hex()}"
            continue
        if int(metadata["privacyFlag"]) != int(flag):
            return (f"privacy flag {int(flag)} does not match affected contract 0x{address.hex()} "
                    f"(flag {int(metadata['privacyFlag'])})")
        if creation_hash(metadata) not in verified:
            return f"participation check failed for affected contract 0x{address.hex()}"
    return None


def execution_hash(state: Any, addresses: Iterable[bytes]) -> bytes:
    """The root of a trie of the affected private accounts (address → RLP account with its
    storage root) after the execution: GoQuorum's `CalculateMerkleRoot`. Call only on a
    state whose storage roots are up to date (`make_state_root` or `persist` first)."""
    combined = HexaryTrie({})
    account_db = state._account_db
    for address in sorted(set(addresses)):
        account = Account(nonce=state.get_nonce(address), balance=state.get_balance(address),
                          storage_root=account_db._get_storage_root(address),
                          code_hash=state.get_code_hash(address))
        combined[address] = rlp.encode(account)
    return bytes(combined.root_hash)
