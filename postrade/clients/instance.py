"""The base of every contract client: an address, a contract name and its parties."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

from eth_utils import to_checksum_address

from postrade.clients.network import Party, PostTradeNetwork, Sent

# ---------------------------------------------------------------------------------------------
# Contract clients
# ---------------------------------------------------------------------------------------------


class Instance:
    """A deployed contract: public (`parties` None) or private to exactly `parties`."""

    CONTRACT: ClassVar[str]

    def __init__(self, net: PostTradeNetwork, address: str, parties: Sequence[Party] | None,
                 deployment: Sent | None = None) -> None:
        self.net = net
        self.address = to_checksum_address(address)
        self.parties: tuple[Party, ...] | None = tuple(parties) if parties is not None else None
        self.deployment = deployment

    @property
    def recipients(self) -> tuple[Party, ...] | None:
        """Who holds this instance: its parties and the network's mandatory recipients (a regulator)."""
        return None if self.parties is None else self.net.recipients(self.parties)

    def __repr__(self) -> str:
        holders = self.recipients
        scope = "public" if holders is None else "private to " + ", ".join(sorted({p.node for p in holders}))
        return f"{type(self).__name__}({self.address}, {scope})"

    @classmethod
    def _deploy(cls, net: PostTradeNetwork, sender: Party, args: Sequence[Any],
                parties: Sequence[Party] | None) -> Self:
        sent = net.deploy(sender, cls.CONTRACT, args, parties)
        return cls(net, sent.contract, parties, sent)

    def send(self, sender: Party, fn: str, *args: Any) -> Sent:
        """`fn(*args)` as `sender`; private to this instance's parties."""
        return self.net.transact(sender, self.CONTRACT, self.address, fn, args, self.parties)

    def read(self, reader: Party, fn: str, *args: Any) -> Any:
        """View `fn(*args)` on `reader`'s node (NotAParty when its node holds no state of this instance)."""
        return self.net.call(reader, self.CONTRACT, self.address, fn, args)

    def visible_to(self, reader: Party | str) -> bool:
        """Whether `reader`'s node (or the named node) holds this instance."""
        return self.net.has_state(reader, self.address)
