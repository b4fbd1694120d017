"""Party-info ownership proofs: how a manager shows it holds the private key of a key it claims.

The requester sends a random challenge and one of its public keys; the owner answers, per
own key, HMAC-SHA256 over the challenge and its own URL under a key derived (X25519 +
HKDF-SHA256) from its private key and the requester's public key. The requester derives
the same key from its private key and the owner's public key, so only the holder of the
owner's private key can answer, and the answer is bound to that challenge and that URL.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera_like.types import KeyPair, PublicKey, normalize_url

PROOF_INFO = b"tessera_like/v1/partyinfo-proof"


def _proof_key(local: KeyPair, other: PublicKey, prover: PublicKey, verifier: PublicKey) -> bytes:
    shared = local.private.exchange(X25519PublicKey.from_public_bytes(other))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=PROOF_INFO + prover + verifier).derive(shared)


def _mac(key: bytes, challenge: bytes, url: str) -> bytes:
    return hmac.new(key, challenge + normalize_url(url).encode(), hashlib.sha256).digest()


def make_ownership_proof(pair: KeyPair, verifier: PublicKey, challenge: bytes, url: str) -> bytes:
    """What the owner of `pair` at `url` answers to `verifier`'s challenge.

    Raises ValueError when `verifier` is not a usable X25519 key (a low-order point).
    """
    return _mac(_proof_key(pair, verifier, pair.public, verifier), challenge, url)


def check_ownership_proof(verifier: KeyPair, prover: PublicKey, challenge: bytes, url: str,
                          proof: bytes) -> bool:
    """True when `proof` shows that the manager at `url` holds `prover`'s private key."""
    try:
        key = _proof_key(verifier, prover, prover, verifier.public)
    except ValueError:
        return False
    return hmac.compare_digest(_mac(key, challenge, url), proof)


__all__ = ["PROOF_INFO", "check_ownership_proof", "make_ownership_proof"]
