"""The extensions this node takes part in, as its own blocks recorded them.

GoQuorum keeps this list in a JSON file its log watchers update; ours is written by the
extension hook while a block is processed, in the block's database transaction, so it commits
(or rolls back) with the block and a restarted node has exactly what its chain says.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import asdict, dataclass, replace

from eth.abc import AtomicDatabaseAPI

from engine.db import schema

_KEY = schema.make_extension_registry_key()

ACTIVE = "ACTIVE"
ACCEPTED = "ACCEPTED"  # the recipient accepted; the initiator's node shares the state
DONE = "DONE"


@dataclass(frozen=True)
class ExtensionRecord:
    management_contract: bytes
    contract_extended: bytes
    creation_data: bytes  # the management contract's creation payload hash (the marker's data)
    initiator: bytes
    recipient: bytes
    recipient_ptm_key: str
    state: str = ACTIVE

    def to_json(self) -> dict[str, object]:
        """GoQuorum's `activeExtensionContracts` entry (`creationData` is a byte array: base64)."""
        return {
            "managementContractAddress": _checksum(self.management_contract),
            "contractExtended": _checksum(self.contract_extended),
            "creationData": base64.b64encode(self.creation_data).decode(),
            "initiator": _checksum(self.initiator),
            "recipient": _checksum(self.recipient),
            "recipientPtmKey": self.recipient_ptm_key,
        }


def _checksum(address: bytes) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))


class ExtensionRegistry:
    """Reads and writes the node's one registry entry (a small JSON map: extensions are few)."""

    def __init__(self, db: AtomicDatabaseAPI) -> None:
        self._db = db
        self._lock = threading.Lock()

    def _load(self) -> dict[str, ExtensionRecord]:
        try:
            raw = json.loads(bytes(self._db[_KEY]))
        except KeyError:
            return {}
        return {k: ExtensionRecord(**{f: (bytes.fromhex(v) if isinstance(v, str) and f not in (
            "recipient_ptm_key", "state") else v) for f, v in entry.items()}) for k, entry in raw.items()}

    def _store(self, records: dict[str, ExtensionRecord]) -> None:
        self._db[_KEY] = json.dumps({k: {f: (v.hex() if isinstance(v, bytes) else v) for f, v in asdict(r).items()}
                                     for k, r in sorted(records.items())}).encode()

    def all(self) -> list[ExtensionRecord]:
        with self._lock:
            return list(self._load().values())

    def get(self, management_contract: bytes) -> ExtensionRecord | None:
        with self._lock:
            return self._load().get(management_contract.hex())

    def add(self, record: ExtensionRecord) -> None:
        with self._lock:
            records = self._load()
            records[record.management_contract.hex()] = record
            self._store(records)

    def set_state(self, management_contract: bytes, state: str) -> None:
        with self._lock:
            records = self._load()
            found = records.get(management_contract.hex())
            if found is not None and found.state != DONE:
                records[management_contract.hex()] = replace(found, state=state)
                self._store(records)
