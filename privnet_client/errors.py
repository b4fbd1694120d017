"""Typed errors for private transactions, mapped from the node's JSON-RPC error objects.

This is the only module that reads the node's error messages. The node words them as GoQuorum
and Tessera do (docs/jsonrpc.md, docs/privacy.md); a manager's refusal reaches the client as
``"<HTTP status> status: <manager's message>"``. The first rule that matches decides the class:
an error no rule knows becomes ``PrivateTransactionRejected`` when it is a -32000 refusal, else
the base ``PrivnetError``; each keeps the error's ``code``, ``message`` and ``data``.
"""

from __future__ import annotations

import re
from typing import Any

from web3.exceptions import ContractLogicError

EXECUTION_REVERTED = 3
REJECTED = -32000
RESOURCE_NOT_FOUND = -32001


class PrivnetError(Exception):
    """Root of every error this library raises for a node's answer.

    ``code``, ``message`` and ``data`` are the JSON-RPC error's members (``code`` is None for a
    condition the library itself found in the node's answers, e.g. receipts that disagree)."""

    def __init__(self, message: str, code: int | None = None, data: Any = None) -> None:
        super().__init__(message if code is None else f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class PrivateTransactionRejected(PrivnetError):
    """The node refused or failed the private transaction for a reason with no class of its own."""


class NotAParty(PrivnetError):
    """This node (or a node named as a party) does not hold the private contract or payload."""


class ManagerUnavailable(PrivnetError):
    """A private transaction manager could not be reached: the node's own, or a recipient's."""


class PrivacyFlagMismatch(PrivnetError):
    """The privacy flag sent differs from the flag of a contract the transaction touches."""


class MandatoryRecipientsMissing(PrivnetError):
    """Flag 2 (mandatory recipients) without ``mandatoryFor``, or with a key left out of ``privateFor``."""


class UnknownKey(PrivnetError):
    """A ``privateFor``/``privateFrom`` key no manager of the network holds."""


# (class, pattern searched in the message). Order matters: the first match wins.
_RULES: tuple[tuple[type[PrivnetError], re.Pattern[str]], ...] = tuple(
    (cls, re.compile(pattern)) for cls, pattern in (
        # the node's own manager: transport failure or 5xx after retries; a node without one
        (ManagerUnavailable, r"^private transaction manager at .* unavailable"),
        (ManagerUnavailable, r"^private transactions need a privacy manager on this node"),
        (ManagerUnavailable, r"^PrivateTransactionManager is not enabled"),
        # a recipient's manager that did not answer (the sender's manager reports 503 naming it)
        (ManagerUnavailable, r"^503 status: "),
        # the manager's 404s for keys: UnknownRecipient, KeyNotFound
        (UnknownKey, r"^404 status: .*(is not known|is not held by this manager|no verified peer owns it)"),
        (MandatoryRecipientsMissing, r"^missing mandatory recipients data"),
        (MandatoryRecipientsMissing, r"^\d{3} status: One or more mandatory recipients not included"),
        (MandatoryRecipientsMissing, r"^\d{3} status: missing mandatory recipients data"),
        (PrivacyFlagMismatch, r"^sent privacy flag doesn't match all affected contract flags"),
        (PrivacyFlagMismatch, r"^PrivacyMetadata not found"),
        (PrivacyFlagMismatch, r"^\d{3} status: Privacy metadata mismatched with Affected Txn"),
        (NotAParty, r"^contract not found\. cannot transact"),
        (NotAParty, r"not a party to the transaction"),
        (NotAParty, r"^private transaction not found for this participant"),
        (NotAParty, r"has no privacy metadata on this node"),
    )
)


def error_from_rpc(error: Any) -> PrivnetError:
    """The typed error for a JSON-RPC ``error`` object (a dict with code, message, data?)."""
    if not isinstance(error, dict):
        return PrivnetError(str(error))
    message = str(error.get("message", ""))
    raw_code = error.get("code")
    code = raw_code if isinstance(raw_code, int) else None
    data = error.get("data")
    if code in (REJECTED, RESOURCE_NOT_FOUND):
        for cls, pattern in _RULES:
            if pattern.search(message):
                return cls(message, code, data)
    if code == REJECTED:
        return PrivateTransactionRejected(message, code, data)
    return PrivnetError(message, code, data)


def translate(exc: BaseException) -> BaseException:
    """web3.py's error for a JSON-RPC error object → the typed error; anything else unchanged.

    Only exceptions carrying an ``rpc_response`` with an ``error`` member are translated:
    ``TransactionNotFound`` (a null result) stays web3.py's own, and a revert (code 3, e.g. the
    node's estimate inside ``eth_fillTransaction``) becomes web3.py's ``ContractLogicError``, as
    web3.py raises it for ``eth_estimateGas`` itself."""
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, dict) and "error" in response:
        error = response["error"]
        if isinstance(error, dict) and error.get("code") == EXECUTION_REVERTED:
            return ContractLogicError(str(error.get("message", "execution reverted")), data=error.get("data"))
        return error_from_rpc(error)
    return exc
