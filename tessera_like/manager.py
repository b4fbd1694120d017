"""The transaction manager: send, receive, store raw, push, resend. No HTTP in here.

The API layer turns wire DTOs into the domain values used below and maps the PTMError
tree to status codes; this module only knows keys, payloads, the store and the peers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from tessera_like.abc import EncryptorAPI, KeyStoreAPI, PayloadStoreAPI, PeerNetworkAPI, ResendPage, SealedPayload
from tessera_like.crypto.keys import encode_key
from tessera_like.errors import (
    DecryptionFailed,
    DuplicatePayload,
    InvalidPayload,
    InvalidRequest,
    KeyNotFound,
    PayloadTooLarge,
    PeerNotAllowed,
    PrivacyViolation,
    TransactionNotFound,
    UnknownRecipient,
)
from tessera_like.identity import PeerIdentity
from tessera_like.payload import EncodedPayload, decode, decode_raw, encode, encode_raw, payload_hash
from tessera_like.sealing import (
    build_payload,
    decrypt,
    open_content_key,
    open_raw,
    seal_raw,
    security_hash,
    verify_openable,
)
from tessera_like.types import KeyPair, PayloadHash, PrivacyMetadata, PrivacyMode, PublicKey, ReceivedTransaction

log = logging.getLogger(__name__)

DEFAULT_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
RESEND_BATCH = 32
#: Paged resend (`resend_page`): most payloads per page, the byte budget of a page (one larger
#: payload still goes alone), and the most stored rows one page reads.
MAX_RESEND_PAGE = 100
RESEND_PAGE_BYTES = 8 * 1024 * 1024
RESEND_PAGE_SCAN = 1000
AEAD_TAG_SIZE = 16  # AES-GCM: a ciphertext is the plaintext plus this tag


def _h(tx_hash: bytes) -> str:
    return encode_key(tx_hash)


@dataclass(frozen=True, slots=True)
class _Affected:
    tx_hash: PayloadHash
    payload: EncodedPayload
    content_key: bytes


class TransactionManager:
    """Everything a manager does with private payloads.

    Note: `/send` is all-or-nothing, as in Tessera. The sender and the always-send-to keys
    join the recipients (duplicates dropped); every remote manager gets one push with only
    the boxes of the keys it owns, all pushes run in parallel, and the sender's row is
    committed only after every push succeeded. Recipients on this manager share that row.
    """

    def __init__(self, keys: KeyStoreAPI, store: PayloadStoreAPI, encryptor: EncryptorAPI,
                 network: PeerNetworkAPI | None = None, always_send_to: Sequence[PublicKey] = (),
                 max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> None:
        self.keys = keys
        self.store = store
        self.encryptor = encryptor
        self.network = network
        self.always_send_to = tuple(dict.fromkeys(always_send_to))
        self.max_payload_bytes = max_payload_bytes
        self._merge_lock = threading.Lock()

    # -- Q2T: sending -----------------------------------------------------------------
    def send(self, payload: bytes, sender: PublicKey | None, recipients: Sequence[PublicKey],
             metadata: PrivacyMetadata | None = None) -> PayloadHash:
        """Encrypt `payload` for the recipients (and the sender), distribute, store."""
        self._check_size(payload)
        sender_pair = self._sender(sender)
        return self._distribute(self.encryptor.seal(payload), sender_pair, recipients,
                                metadata or PrivacyMetadata())

    def store_raw(self, payload: bytes, sender: PublicKey | None) -> PayloadHash:
        """Encrypt for the sender only and keep it apart; `send_signed` distributes it later."""
        self._check_size(payload)
        sender_pair = self._sender(sender)
        raw, _ = seal_raw(self.encryptor, payload, sender_pair)
        self.store.put_raw(raw.hash, encode_raw(raw))
        return raw.hash

    def send_signed(self, tx_hash: PayloadHash, recipients: Sequence[PublicKey],
                    metadata: PrivacyMetadata | None = None) -> PayloadHash:
        """Distribute a raw payload as a normal transaction.

        Note: the signed Ethereum transaction already carries the raw key as its data, so
        the distributed payload must hash the same: it reuses the raw ciphertext and
        content key and only wraps that key for the recipients.
        """
        row = self.store.get_raw(tx_hash)
        if row is None:
            raise TransactionNotFound(f"raw transaction {_h(tx_hash)} not found; store it with /storeraw first")
        try:
            raw = decode_raw(row)
        except InvalidPayload:
            raise DecryptionFailed(f"stored raw transaction {_h(tx_hash)} is corrupted") from None
        sender_pair = self.keys.require(raw.sender_key, "sender key")
        content_key = open_raw(self.encryptor, raw, sender_pair)
        sealed = SealedPayload(content_key, raw.cipher_text_nonce, raw.cipher_text)
        return self._distribute(sealed, sender_pair, recipients, metadata or PrivacyMetadata())

    def encrypt_payload(self, payload: bytes, sender: PublicKey | None, recipients: Sequence[PublicKey],
                        metadata: PrivacyMetadata | None = None) -> EncodedPayload:
        """Encrypt as `send` does (same parties, checks and limits) but neither distribute nor
        store: the caller gets the whole encoded payload (`/encodedpayload/create`).

        Note: as in Tessera, the recipients need not be known to any peer here, since
        nothing is pushed; the sender must be a key held here.
        """
        self._check_size(payload)
        sender_pair = self._sender(sender)
        parties = self._parties(sender_pair, recipients)
        return self._assemble(self.encryptor.seal(payload), sender_pair, parties, metadata or PrivacyMetadata())

    def _parties(self, sender: KeyPair, recipients: Sequence[PublicKey]) -> list[PublicKey]:
        return list(dict.fromkeys([sender.public, *self.always_send_to, *recipients]))

    def _distribute(self, sealed: SealedPayload, sender: KeyPair, recipients: Sequence[PublicKey],
                    metadata: PrivacyMetadata) -> PayloadHash:
        parties = self._parties(sender, recipients)
        routes = self._route(parties)
        full = self._assemble(sealed, sender, parties, metadata)
        pushes = [(url, encode(full.for_recipients(frozenset(keys)))) for url, keys in routes.items()]
        if pushes:
            assert self.network is not None  # _route found no remote owner otherwise
            self.network.push_all(pushes)
        self.store.put(full.hash, encode(full))
        return full.hash

    def _assemble(self, sealed: SealedPayload, sender: KeyPair, parties: Sequence[PublicKey],
                  metadata: PrivacyMetadata) -> EncodedPayload:
        """The full encoded payload (a box for every party) once the enhanced-privacy checks pass."""
        affected = self._load_affected(metadata.affected_contract_transactions)
        self._validate_send(metadata, parties, affected)
        tx_hash = payload_hash(sealed.cipher_text)
        acoth = tuple((a.tx_hash, security_hash(a.tx_hash, a.content_key, tx_hash)) for a in affected)
        return build_payload(
            self.encryptor, sealed, sender, parties,
            privacy_mode=metadata.privacy_mode,
            affected_contract_transactions=acoth,
            exec_hash=metadata.exec_hash,
            mandatory_recipients=metadata.mandatory_recipients,
            privacy_group_id=metadata.privacy_group_id,
        )

    def _route(self, parties: Sequence[PublicKey]) -> dict[str, list[PublicKey]]:
        """Remote parties grouped by their manager's URL; one discovery round if needed."""
        remote = [k for k in parties if k not in self.keys]
        if not remote:
            return {}
        if self.network is None:
            raise UnknownRecipient(f"recipient key {encode_key(remote[0])} is not known: this manager has no peers")
        owners = {k: self.network.lookup(k) for k in remote}
        if any(url is None for url in owners.values()):
            self.network.refresh()
            owners = {k: url or self.network.lookup(k) for k, url in owners.items()}
        unknown = [k for k, url in owners.items() if url is None]
        if unknown:
            names = ", ".join(encode_key(k) for k in unknown)
            raise UnknownRecipient(f"recipient key {names} is not known to any peer")
        routes: dict[str, list[PublicKey]] = {}
        for key, url in owners.items():
            assert url is not None
            routes.setdefault(url, []).append(key)
        return routes

    def _load_affected(self, hashes: Sequence[PayloadHash]) -> list[_Affected]:
        affected = []
        for tx_hash in dict.fromkeys(hashes):
            row = self.store.get(tx_hash)
            opened = None if row is None else self._open_any(tx_hash, self._decode_stored(tx_hash, row))
            if opened is None:
                raise PrivacyViolation(f"Unable to find affectedContractTransaction {_h(tx_hash)}")
            affected.append(_Affected(tx_hash, *opened))
        return affected

    def _validate_send(self, metadata: PrivacyMetadata, parties: Sequence[PublicKey],
                       affected: Sequence[_Affected]) -> None:
        mode = metadata.privacy_mode
        if mode is PrivacyMode.MANDATORY_RECIPIENTS:
            if not metadata.mandatory_recipients:
                raise InvalidRequest("missing mandatory recipients data: privacy flag 2 needs mandatoryRecipients")
            missing = [k for k in metadata.mandatory_recipients if k not in parties]
            if missing:
                raise PrivacyViolation("One or more mandatory recipients not included in the participant list")
        elif metadata.mandatory_recipients:
            raise InvalidRequest("mandatory recipients are only applicable for privacy flag 2")
        party_set = set(parties)
        for a in affected:
            if mode is PrivacyMode.PRIVATE_STATE_VALIDATION and set(a.payload.recipient_keys) != party_set:
                raise PrivacyViolation(f"Recipients mismatched for Affected Txn {_h(a.tx_hash)}")
        for a in affected:
            # Tessera's rule: the flag must match, and the new transaction's mandatory
            # recipients must include every affected contract's (its recipients include them above).
            if (a.payload.privacy_mode is not mode
                    or not set(a.payload.mandatory_recipients) <= set(metadata.mandatory_recipients)):
                raise PrivacyViolation(
                    f"Privacy metadata mismatched with Affected Txn {_h(a.tx_hash)} "
                    f"(flag {int(a.payload.privacy_mode)}, this transaction's flag {int(mode)})")

    # -- Q2T: reading -----------------------------------------------------------------
    def receive(self, tx_hash: PayloadHash, to: PublicKey | None = None, raw: bool = False) -> ReceivedTransaction:
        """Decrypt for `to` (or any key held here). TransactionNotFound = not a party / unknown."""
        if to is not None and to not in self.keys:
            raise KeyNotFound(f"key {encode_key(to)} is not held by this manager")
        if raw:
            return self._receive_raw(tx_hash, to)
        row = self.store.get(tx_hash)
        if row is None:
            raise TransactionNotFound(f"transaction {_h(tx_hash)} not found")
        payload = self._decode_stored(tx_hash, row)
        candidates = [to] if to is not None else list(self.keys.public_keys())
        parties = self._managed_parties(payload)
        for key in candidates:
            if key not in parties:
                continue
            pair = self.keys.require(key)
            plaintext = decrypt(self.encryptor, payload, pair)
            if plaintext is None:  # pragma: no cover - parties can always open
                continue
            return ReceivedTransaction(
                payload=plaintext,
                sender_key=payload.sender_key,
                privacy_mode=payload.privacy_mode,
                affected_contract_transactions=self._verified_acoth(tx_hash, payload),
                exec_hash=payload.exec_hash,
                mandatory_recipients=payload.mandatory_recipients,
                privacy_group_id=payload.privacy_group_id,
                managed_parties=tuple(parties),
            )
        raise TransactionNotFound(f"transaction {_h(tx_hash)} not found for "
                                  + (f"key {encode_key(to)}" if to is not None else "any key of this manager"))

    def _receive_raw(self, tx_hash: PayloadHash, to: PublicKey | None) -> ReceivedTransaction:
        row = self.store.get_raw(tx_hash)
        if row is None:
            raise TransactionNotFound(f"raw transaction {_h(tx_hash)} not found")
        try:
            raw = decode_raw(row)
        except InvalidPayload:
            raise DecryptionFailed(f"stored raw transaction {_h(tx_hash)} is corrupted") from None
        pair = self.keys.get(raw.sender_key)
        if pair is None or (to is not None and to != raw.sender_key):
            raise TransactionNotFound(f"raw transaction {_h(tx_hash)} not found for that key")
        plaintext = self.encryptor.open(open_raw(self.encryptor, raw, pair), raw.cipher_text_nonce, raw.cipher_text)
        return ReceivedTransaction(plaintext, raw.sender_key, PrivacyMode.STANDARD_PRIVATE, (), b"", (), None,
                                   (raw.sender_key,))

    def decrypt_payload(self, payload: EncodedPayload) -> ReceivedTransaction:
        """Decrypt an encoded payload the caller holds, with a key held here; nothing is
        stored (`/encodedpayload/decrypt`).

        Raises InvalidPayload when the payload is malformed (the codec's checks) or a box or
        the ciphertext fails authentication (tampered data, metadata included, since every
        box binds it), TransactionNotFound when no key held here is its sender or has a box
        in it (not a party), PayloadTooLarge over the payload limit.
        """
        payload = decode(encode(payload))
        size = len(payload.cipher_text) - AEAD_TAG_SIZE
        if size > self.max_payload_bytes:
            raise PayloadTooLarge(f"payload of {size} bytes exceeds the limit of {self.max_payload_bytes} bytes")
        parties = self._managed_parties(payload)
        if not parties:
            raise TransactionNotFound(f"no key of this manager can open payload {_h(payload.hash)}")
        try:
            content_key = open_content_key(self.encryptor, payload, self.keys.require(parties[0]))
            if content_key is None:  # pragma: no cover - a managed party always has a box to open
                raise TransactionNotFound(f"no key of this manager can open payload {_h(payload.hash)}")
            plaintext = self.encryptor.open(content_key, payload.cipher_text_nonce, payload.cipher_text)
        except DecryptionFailed as exc:
            raise InvalidPayload(f"corrupted payload: {exc.message}") from None
        return ReceivedTransaction(
            payload=plaintext,
            sender_key=payload.sender_key,
            privacy_mode=payload.privacy_mode,
            affected_contract_transactions=self._verified_acoth(payload.hash, payload),
            exec_hash=payload.exec_hash,
            mandatory_recipients=payload.mandatory_recipients,
            privacy_group_id=payload.privacy_group_id,
            managed_parties=tuple(parties),
        )

    def is_sender(self, tx_hash: PayloadHash) -> bool:
        return self._load_any(tx_hash).sender_key in self.keys

    def participants(self, tx_hash: PayloadHash) -> tuple[PublicKey, ...]:
        """The recipient keys this manager's copy lists (all of them on the sender)."""
        return self._load_any(tx_hash).recipient_keys

    def mandatory_recipients(self, tx_hash: PayloadHash) -> tuple[PublicKey, ...]:
        payload = self._load_any(tx_hash)
        if payload.privacy_mode is not PrivacyMode.MANDATORY_RECIPIENTS:
            raise InvalidRequest(f"transaction {_h(tx_hash)} is not a mandatory-recipients (flag 2) transaction")
        return payload.mandatory_recipients

    def delete(self, tx_hash: PayloadHash) -> None:
        deleted = self.store.delete(tx_hash)
        deleted_raw = self.store.delete_raw(tx_hash)
        if not (deleted or deleted_raw):
            raise TransactionNotFound(f"transaction {_h(tx_hash)} not found")

    def known_keys(self) -> list[PublicKey]:
        """Every key in the network this manager knows of, its own first."""
        own = list(self.keys.public_keys())
        others = [] if self.network is None else [k for k in self.network.known_keys() if k not in self.keys]
        return own + others

    # -- P2P --------------------------------------------------------------------------
    def push(self, encoded: bytes, caller: PeerIdentity | None = None) -> PayloadHash:
        """Accept a payload another manager distributed (or resent) to us.

        Accepted only when it has a box for a key held here or was sent by a key held here
        (PROTOCOL.md §10), the caller may speak for its sender key
        (`PeerNetworkAPI.authorize_push`), and every box we can open opens to a key that
        decrypts it. A payload already stored is refused as a duplicate unless it brings
        boxes the stored copy lacks (sender recovery gathers the recipients' boxes back).

        Note: the sender of a payload cannot be proven by its boxes (X25519 is symmetric: a
        recipient can make a box that opens as if we had sent it), only by who pushed it.
        `caller` is that identity as the P2P transport proved it; None means an in-process
        caller (tests, tools), which is trusted.
        """
        payload = decode(encoded)
        tx_hash = payload.hash
        held = {k for k in payload.boxed_keys() if k in self.keys}
        is_sender = payload.sender_key in self.keys
        if not held and not is_sender:
            raise PrivacyViolation(
                f"payload {_h(tx_hash)} has no box for a key of this manager and was not sent by one")
        if caller is not None:
            self._peer_network(caller).authorize_push(payload.sender_key, caller)
        verify_openable(self.encryptor, payload, self.keys)
        if not is_sender:
            payload = payload.for_recipients(frozenset(held))
        self._validate_received(tx_hash, payload)
        with self._merge_lock:
            if self.store.put(tx_hash, encode(payload)):
                return tx_hash
            row = self.store.get(tx_hash)
            if row is None:  # deleted between the two statements: store ours
                self.store.put(tx_hash, encode(payload))
                return tx_hash
            stored = self._decode_stored(tx_hash, row)
            new_keys = set(payload.boxed_keys()) - set(stored.boxed_keys())
            if not new_keys or not stored.same_transaction(payload):
                raise DuplicatePayload(f"payload {_h(tx_hash)} is already stored")
            self.store.replace(tx_hash, encode(stored.merged_with(payload)))
        return tx_hash

    def _validate_received(self, tx_hash: PayloadHash, payload: EncodedPayload) -> None:
        """Enhanced-privacy checks against the affected transactions held here.

        Note: an affected transaction this manager does not hold is not a refusal here
        (a manager recovering its store gets payloads in no particular order); such entries
        are left out of what `receive` reports, so the node's own checks fail the
        transaction at execution, as GoQuorum does.
        """
        if payload.sender_key in self.keys:
            return  # our own transaction coming back (recovery): we made these entries
        for affected_hash, claimed in payload.affected_contract_transactions:
            row = self.store.get(affected_hash)
            if row is None:
                continue
            affected = self._decode_stored(affected_hash, row)
            if affected.privacy_mode is not payload.privacy_mode:
                raise PrivacyViolation(
                    f"Privacy metadata mismatched with Affected Txn {_h(affected_hash)} (flag "
                    f"{int(affected.privacy_mode)}, payload {_h(tx_hash)} flag {int(payload.privacy_mode)})")
            opened = self._open_any(affected_hash, affected)
            if opened is None or security_hash(affected_hash, opened[1], tx_hash) != claimed:
                if payload.privacy_mode is PrivacyMode.PRIVATE_STATE_VALIDATION:
                    raise PrivacyViolation(
                        f"Invalid security hashes identified for PSC TX {_h(tx_hash)}. "
                        f"Invalid ACOTHs: {_h(affected_hash)}")
                continue
            if (payload.privacy_mode is PrivacyMode.PRIVATE_STATE_VALIDATION
                    and set(affected.recipient_keys) != set(payload.recipient_keys)):
                raise PrivacyViolation(f"Recipients mismatched for Affected Txn {_h(affected_hash)}. "
                                       f"TxHash={_h(tx_hash)}")

    def resend_all(self, key: PublicKey) -> int:
        """Push to `key`'s manager every payload `key` can open (as recipient or sender).

        Returns how many payloads were pushed. A payload the other side already holds
        counts as delivered.

        Note: as in Tessera, the key's owner is looked up only once there is something to
        push: a key with no payload here (known or not) is resent nothing and is no error;
        a key that has payloads here but no known owner is UnknownRecipient (Tessera's
        "Recipient not found for key", 404).
        """
        if key in self.keys:
            return 0
        url: str | None = None
        pushed = 0
        batch: list[tuple[str, bytes]] = []
        for tx_hash, row in self.store.scan():
            try:
                payload = decode(row)
            except InvalidPayload:
                log.error("stored payload %s does not decode; not resent", _h(tx_hash))
                continue
            copy = self._copy_for(payload, key)
            if copy is None:
                continue
            if url is None:
                url = self._owner_url(key)
            batch.append((url, encode(copy)))
            if len(batch) >= RESEND_BATCH:
                self._peer_pushes(batch)
                pushed += len(batch)
                batch = []
        if batch:
            self._peer_pushes(batch)
        return pushed + len(batch)

    def _owner_url(self, key: PublicKey) -> str:
        """The URL of the manager that proved `key`; one discovery round if unknown."""
        if self.network is None:
            raise UnknownRecipient(f"key {encode_key(key)} is not known: this manager has no peers")
        url = self.network.lookup(key)
        if url is None:
            self.network.refresh()
            url = self.network.lookup(key)
        if url is None:
            raise UnknownRecipient(f"key {encode_key(key)} is not known to any peer")
        return url

    def _peer_pushes(self, pushes: list[tuple[str, bytes]]) -> None:
        assert self.network is not None  # _owner_url found an owner
        self.network.push_all(pushes)

    def resend_individual(self, key: PublicKey, tx_hash: PayloadHash, caller: PeerIdentity | None = None) -> bytes:
        """The encoded payload of `tx_hash` as `key`'s manager should hold it.

        `caller` (None: in process, trusted) must be the verified owner of `key`, checked
        before the store is read so that nobody else learns whether `tx_hash` is held here.
        """
        if caller is not None:
            self._peer_network(caller).authorize_resend(key, caller)
        row = self.store.get(tx_hash)
        if row is None:
            raise TransactionNotFound(f"transaction {_h(tx_hash)} not found")
        copy = self._copy_for(self._decode_stored(tx_hash, row), key)
        if copy is None:
            raise TransactionNotFound(f"key {encode_key(key)} is not a party to transaction {_h(tx_hash)}")
        return encode(copy)

    def resend_page(self, key: PublicKey, after: PayloadHash | None, limit: int,
                    caller: PeerIdentity | None = None) -> ResendPage:
        """One page of the payloads `key` can open (as recipient or sender), in hash order after
        `after`, each as `key`'s manager should hold it: paged recovery (`recovery.py`).

        `caller` (None: in process, trusted) must be the verified owner of `key`, checked before
        the store is read, as for `resend_individual`. A page holds at most `limit` payloads
        (1..MAX_RESEND_PAGE) and about RESEND_PAGE_BYTES, read from at most RESEND_PAGE_SCAN
        rows; its `next` is the last row read, or None once the store is exhausted. Nothing is
        remembered between pages: any cursor may be asked again.
        """
        if caller is not None:
            self._peer_network(caller).authorize_resend(key, caller)
        if not 1 <= limit <= MAX_RESEND_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_RESEND_PAGE}, got {limit}")
        if key in self.keys:
            return ResendPage((), None)
        payloads: list[bytes] = []
        size = 0
        rows = self.store.scan(batch_size=min(limit * 4, 200), after=after or b"")
        for scanned, (tx_hash, row) in enumerate(rows, start=1):
            try:
                copy = self._copy_for(decode(row), key)
            except InvalidPayload:
                log.error("stored payload %s does not decode; not resent", _h(tx_hash))
                copy = None
            if copy is not None:
                payloads.append(encode(copy))
                size += len(payloads[-1])
            if len(payloads) >= limit or size >= RESEND_PAGE_BYTES or scanned >= RESEND_PAGE_SCAN:
                return ResendPage(tuple(payloads), tx_hash)
        return ResendPage(tuple(payloads), None)

    def recover(self) -> dict[str, str]:
        """Ask every known peer to resend everything for each key held here.

        Returns peer URL → "ok" or the error message; a manager that lost its store calls
        this, then its node replays blocks to rebuild private state.
        """
        if self.network is None:
            return {}
        self.network.refresh()
        results: dict[str, str] = {}
        for url in self.network.peer_urls():
            try:
                for key in self.keys.public_keys():
                    self.network.request_resend_all(url, key)
                results[url] = "ok"
            except Exception as exc:  # report per peer, go on with the others
                results[url] = getattr(exc, "message", type(exc).__name__)
        return results

    # -- helpers ----------------------------------------------------------------------
    def _peer_network(self, caller: PeerIdentity) -> PeerNetworkAPI:
        if self.network is None:
            raise PeerNotAllowed(f"this manager has no peers; P2P callers are refused ({caller})")
        return self.network

    @staticmethod
    def _copy_for(payload: EncodedPayload, key: PublicKey) -> EncodedPayload | None:
        if payload.sender_key == key:
            return payload
        if key in payload.boxed_keys():
            return payload.for_recipients(frozenset({key}))
        return None

    def _check_size(self, payload: bytes) -> None:
        if len(payload) > self.max_payload_bytes:
            raise PayloadTooLarge(
                f"payload of {len(payload)} bytes exceeds the limit of {self.max_payload_bytes} bytes")

    def _sender(self, sender: PublicKey | None) -> KeyPair:
        return self.keys.require(sender if sender is not None else self.keys.default_key(), "sender key")

    def _managed_parties(self, payload: EncodedPayload) -> list[PublicKey]:
        boxed = payload.boxed_keys()
        return [k for k in self.keys.public_keys() if k in boxed or k == payload.sender_key]

    def _open_any(self, tx_hash: PayloadHash, payload: EncodedPayload) -> tuple[EncodedPayload, bytes] | None:
        for key in self._managed_parties(payload):
            content_key = open_content_key(self.encryptor, payload, self.keys.require(key))
            if content_key is not None:
                return payload, content_key
        return None

    def _verified_acoth(self, tx_hash: PayloadHash, payload: EncodedPayload) -> tuple[PayloadHash, ...]:
        verified = []
        for affected_hash, claimed in payload.affected_contract_transactions:
            row = self.store.get(affected_hash)
            if row is None:
                continue
            try:
                opened = self._open_any(affected_hash, self._decode_stored(affected_hash, row))
            except DecryptionFailed:
                continue
            if opened is not None and security_hash(affected_hash, opened[1], tx_hash) == claimed:
                verified.append(affected_hash)
        return tuple(verified)

    def _load_any(self, tx_hash: PayloadHash) -> EncodedPayload:
        row = self.store.get(tx_hash)
        if row is not None:
            return self._decode_stored(tx_hash, row)
        raw_row = self.store.get_raw(tx_hash)
        if raw_row is None:
            raise TransactionNotFound(f"transaction {_h(tx_hash)} not found")
        try:
            raw = decode_raw(raw_row)
        except InvalidPayload:
            raise DecryptionFailed(f"stored raw transaction {_h(tx_hash)} is corrupted") from None
        return EncodedPayload(raw.sender_key, raw.cipher_text, raw.cipher_text_nonce, (raw.sender_box,),
                              raw.sender_box_nonce, (raw.sender_key,))

    @staticmethod
    def _decode_stored(tx_hash: PayloadHash, row: bytes) -> EncodedPayload:
        try:
            return decode(row)
        except InvalidPayload:
            raise DecryptionFailed(f"stored transaction {_h(tx_hash)} is corrupted") from None


__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "MAX_RESEND_PAGE", "TransactionManager"]
