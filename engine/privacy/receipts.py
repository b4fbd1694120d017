"""Private receipts: what a party records for each private transaction it executed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PrivateOutcome:
    """The private execution result of one transaction on this node."""

    status: int
    logs: tuple[tuple[bytes, tuple[int, ...], bytes], ...]  # (address, topics, data)
    contract_address: bytes | None
    revert_reason: bytes | None
    gas_used: int

    def to_bytes(self) -> bytes:
        return json.dumps({
            "status": self.status,
            "logs": [[a.hex(), [hex(t) for t in topics], d.hex()] for a, topics, d in self.logs],
            "contract": self.contract_address.hex() if self.contract_address else None,
            "revert": self.revert_reason.hex() if self.revert_reason is not None else None,
            "gas": self.gas_used,
        }, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> PrivateOutcome:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            status=int(data["status"]),
            logs=tuple((bytes.fromhex(a), tuple(int(t, 16) for t in topics), bytes.fromhex(d))
                       for a, topics, d in data["logs"]),
            contract_address=bytes.fromhex(data["contract"]) if data["contract"] else None,
            revert_reason=bytes.fromhex(data["revert"]) if data["revert"] is not None else None,
            gas_used=int(data.get("gas", 0)),
        )
