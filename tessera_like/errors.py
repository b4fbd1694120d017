"""Every error the manager raises on purpose, each carrying its HTTP status.

The tree::

    PTMError                         500  (generic; the message is still safe to show)
    ├── ConfigError                  500  (bad manager.toml / env; raised at load, names the field)
    ├── KeyFileError                 500  (key file unreadable, wrong password, mismatched public key)
    ├── InvalidRequest               400  (bad base64, wrong key length, missing field, bad JSON)
    │   ├── InvalidPrivacyFlag       400
    │   └── InvalidPayload           400  (a pushed encoded payload that does not decode or verify)
    ├── Unauthorized                 401  (a TCP Q2T request without the right bearer token)
    ├── PayloadTooLarge              413
    ├── UnsupportedMediaType         415
    ├── NotFound                     404
    │   ├── TransactionNotFound      404  (unknown hash, or this manager is not a party)
    │   ├── KeyNotFound              404  (a `from`/`to` key this manager does not hold)
    │   └── UnknownRecipient         404  (no known peer owns the recipient key)
    ├── PrivacyViolation             403  (enhanced-privacy rules, or a push for keys not held here)
    │   └── PeerNotAllowed           403  (a P2P caller not on the allow-list, or not the verified owner
    │                                      of the sender key it pushes / the key whose copy it asks for)
    ├── DuplicatePayload             409  (a push of a payload already stored, bringing nothing new)
    ├── DecryptionFailed             422  (authentication failed: tampered or corrupted data)
    ├── StorageError                 503  (the database failed; details only in the log)
    └── PeerError                    502
        ├── PeerRejected             502  (a peer refused a push with a 4xx; its message is quoted)
        └── PeerUnavailable          503  (a peer did not answer, or answered 5xx)

`tessera_like/api/errors.py` is the only code that turns these into HTTP responses.
Messages are written for the client: they name the key, hash or peer at fault and never
carry a traceback or a library's internal message.
"""

from __future__ import annotations


class PTMError(Exception):
    """Root of every error the manager raises on purpose."""

    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(PTMError):
    """Raised when the configuration does not load; the message names the field path."""


class KeyFileError(PTMError):
    """Raised when a key file cannot be read or decrypted (e.g. wrong password)."""


class InvalidRequest(PTMError):
    """Raised when a request is malformed: bad base64, wrong key length, missing field."""

    http_status = 400


class InvalidPrivacyFlag(InvalidRequest):
    """Raised for a privacy flag outside 0..3 (never silently mapped to standard private)."""


class InvalidPayload(InvalidRequest):
    """Raised when an encoded payload does not decode, or its boxes do not open."""


class Unauthorized(PTMError):
    """Raised when a Q2T request over TCP lacks the bearer token, or carries a wrong one."""

    http_status = 401


class PayloadTooLarge(PTMError):
    """Raised when a request body or payload exceeds the configured limit."""

    http_status = 413


class UnsupportedMediaType(PTMError):
    """Raised when a request has the wrong Content-Type for its endpoint."""

    http_status = 415


class NotFound(PTMError):
    """Raised when something the caller named does not exist here."""

    http_status = 404


class TransactionNotFound(NotFound):
    """Raised for an unknown payload hash, or one this manager's keys cannot open."""


class KeyNotFound(NotFound):
    """Raised when a request names a sender or `to` key this manager does not hold."""


class UnknownRecipient(NotFound):
    """Raised when no known peer owns a recipient key, even after a gossip round."""


class PrivacyViolation(PTMError):
    """Raised when enhanced-privacy rules refuse a transaction, or a push is not for us."""

    http_status = 403


class PeerNotAllowed(PrivacyViolation):
    """Raised when a P2P caller is not a member, or may not speak for the key it names."""


class DuplicatePayload(PTMError):
    """Raised when a pushed payload is already stored and brings no new recipient box."""

    http_status = 409


class DecryptionFailed(PTMError):
    """Raised when an AEAD check fails: the data was tampered with or corrupted."""

    http_status = 422


class StorageError(PTMError):
    """Raised when the database cannot serve a request; the cause goes only to the log."""

    http_status = 503


class PeerError(PTMError):
    """Raised when another manager could not take part in an operation."""

    http_status = 502

    def __init__(self, message: str, peer_url: str) -> None:
        super().__init__(message)
        self.peer_url = peer_url


class PeerRejected(PeerError):
    """Raised when a peer answers a push or resend with a client error."""


class PeerUnavailable(PeerError):
    """Raised when a peer cannot be reached, times out or answers 5xx."""

    http_status = 503


__all__ = [
    "ConfigError",
    "DecryptionFailed",
    "DuplicatePayload",
    "InvalidPayload",
    "InvalidPrivacyFlag",
    "InvalidRequest",
    "KeyFileError",
    "KeyNotFound",
    "NotFound",
    "PTMError",
    "PayloadTooLarge",
    "PeerError",
    "PeerNotAllowed",
    "PeerRejected",
    "PeerUnavailable",
    "PrivacyViolation",
    "StorageError",
    "TransactionNotFound",
    "Unauthorized",
    "UnknownRecipient",
    "UnsupportedMediaType",
]
