"""Interfaces of the manager's parts. Implementations live in sibling modules.

`TransactionManager` (manager.py) is written against these only: it encrypts with an
`EncryptorAPI`, finds private keys through a `KeyStoreAPI`, persists through a
`PayloadStoreAPI` and reaches other managers through a `PeerNetworkAPI`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tessera_like.errors import PeerNotAllowed, PeerUnavailable
from tessera_like.identity import PeerIdentity
from tessera_like.types import KeyPair, PayloadHash, PublicKey


@dataclass(frozen=True, slots=True)
class SealedPayload:
    """A payload encrypted once under a fresh content key (the key never leaves memory)."""

    content_key: bytes
    nonce: bytes
    cipher_text: bytes


@dataclass(frozen=True, slots=True)
class ResendPage:
    """One page of a paged resend (`TransactionManager.resend_page`): encoded payloads, each as
    the asking key's manager should hold it, and the cursor the next page starts after (None:
    the peer's store is exhausted)."""

    payloads: tuple[bytes, ...]
    next: PayloadHash | None


class EncryptorAPI(ABC):
    """Envelope encryption: one AEAD for the payload, one wrapped content key per party.

    Invariants:
    - The wrap key between a sender and a recipient is the same whichever side computes
      it: `(sender private, recipient public)` and `(recipient private, sender public)`
      derive the same key, so a sender can always open the boxes it made.
    - Every open either returns exactly what was sealed or raises DecryptionFailed; a
      changed bit in the key, nonce, box, ciphertext or associated data never yields data.
    - Nonces are fresh random values; content keys are fresh per payload.
    """

    @abstractmethod
    def seal(self, plaintext: bytes) -> SealedPayload:
        """Encrypt `plaintext` under a fresh random content key."""

    @abstractmethod
    def open(self, content_key: bytes, nonce: bytes, cipher_text: bytes) -> bytes:
        """Decrypt a payload; raises DecryptionFailed."""

    @abstractmethod
    def new_nonce(self) -> bytes:
        """A fresh random nonce for the recipient boxes of one payload."""

    @abstractmethod
    def wrap(self, content_key: bytes, local: KeyPair, sender: PublicKey, recipient: PublicKey,
             nonce: bytes, aad: bytes) -> bytes:
        """Box `content_key` for the pair (sender, recipient); `local` is one of them."""

    @abstractmethod
    def unwrap(self, box: bytes, local: KeyPair, sender: PublicKey, recipient: PublicKey,
               nonce: bytes, aad: bytes) -> bytes:
        """Open a box made by `wrap`; `local` is the sender or the recipient. Raises
        DecryptionFailed."""


class KeyStoreAPI(ABC):
    """The key pairs this manager holds. The first is the default sender key."""

    @abstractmethod
    def public_keys(self) -> tuple[PublicKey, ...]: ...

    @abstractmethod
    def default_key(self) -> PublicKey: ...

    @abstractmethod
    def get(self, public: PublicKey) -> KeyPair | None: ...

    @abstractmethod
    def require(self, public: PublicKey, role: str = "key") -> KeyPair:
        """The pair for `public`; raises KeyNotFound naming `role` when not held."""

    @abstractmethod
    def __contains__(self, public: object) -> bool: ...


class PayloadStoreAPI(ABC):
    """Encoded payloads by hash, and raw (stored, not yet distributed) payloads apart.

    Invariants: `put` of a hash already stored changes nothing and returns False
    (idempotent); every write is committed before the call returns.
    """

    @abstractmethod
    def put(self, tx_hash: PayloadHash, encoded: bytes) -> bool:
        """Store if absent; True when a row was written."""

    @abstractmethod
    def replace(self, tx_hash: PayloadHash, encoded: bytes) -> None:
        """Overwrite an existing row (used when recovery merges boxes)."""

    @abstractmethod
    def get(self, tx_hash: PayloadHash) -> bytes | None: ...

    @abstractmethod
    def delete(self, tx_hash: PayloadHash) -> bool:
        """True when a row existed."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def scan(self, batch_size: int = 500, after: bytes = b"") -> Iterator[tuple[PayloadHash, bytes]]:
        """Every stored payload in hash order (those with a hash above `after` only), fetched a
        batch at a time."""

    @abstractmethod
    def put_raw(self, tx_hash: PayloadHash, encoded: bytes) -> bool: ...

    @abstractmethod
    def get_raw(self, tx_hash: PayloadHash) -> bytes | None: ...

    @abstractmethod
    def delete_raw(self, tx_hash: PayloadHash) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...


class PeerNetworkAPI(ABC):
    """What the manager needs from the other managers.

    Invariant: `push` either returns (the peer stored the payload, or already had it) or
    raises PeerUnavailable (no answer / 5xx) or PeerRejected / PrivacyViolation (4xx).
    """

    @abstractmethod
    def lookup(self, key: PublicKey) -> str | None:
        """The P2P URL of the manager owning `key`, from what is known now."""

    @abstractmethod
    def refresh(self) -> None:
        """Run one discovery round (or wait for the one under way)."""

    @abstractmethod
    def push_all(self, pushes: Sequence[tuple[str, bytes]]) -> None:
        """Push each (url, encoded payload) in parallel; raise the first failure after all
        have finished."""

    @abstractmethod
    def request_resend_all(self, url: str, key: PublicKey) -> None:
        """Ask the manager at `url` to push back every payload `key` can open."""

    @abstractmethod
    def known_keys(self) -> dict[PublicKey, str]:
        """Every key → URL this manager knows, its own included."""

    @abstractmethod
    def peer_urls(self) -> list[str]:
        """The peers that proved a key at their URL (the only ones sent anything but party info)."""

    def unverified_peer_urls(self) -> list[str]:
        """Peers known (configured, or still to be verified) that have not proved a key: down, or
        not a manager. A recovery reports them: it cannot ask them for their payloads."""
        return []

    def fetch_resend_page(self, url: str, key: PublicKey, after: PayloadHash | None, limit: int) -> ResendPage:
        """Ask the manager at `url` for one page of the payloads `key` (ours) can open, after
        `after` (paged recovery, `recovery.py`). The default cannot reach peers and raises
        PeerUnavailable."""
        raise PeerUnavailable(f"this manager cannot ask {url} for pages of payloads", url)

    def authorize_push(self, sender: PublicKey, caller: PeerIdentity) -> None:
        """Raise PeerNotAllowed unless `caller` may push a payload naming `sender` as its
        sender. The default refuses: a network that cannot tell who pushed accepts nothing
        over P2P."""
        raise PeerNotAllowed(f"this manager cannot authenticate P2P callers ({caller})")

    def authorize_resend(self, key: PublicKey, caller: PeerIdentity) -> None:
        """Raise PeerNotAllowed (or NotFound) unless `caller` is the verified owner of
        `key`, the only manager given `key`'s copies. The default refuses."""
        raise PeerNotAllowed(f"this manager cannot authenticate P2P callers ({caller})")


__all__ = ["EncryptorAPI", "KeyStoreAPI", "PayloadStoreAPI", "PeerNetworkAPI", "ResendPage", "SealedPayload"]
