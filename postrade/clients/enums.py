"""Solidity enumerations as Python IntEnums (the ordinals the contracts use)."""

from __future__ import annotations

from enum import IntEnum

from postrade.reference import AmlStatus as AmlStatus  # re-exported: one enum for the model and the clients

# ---------------------------------------------------------------------------------------------
# Enumerations (Solidity ordinals)
# ---------------------------------------------------------------------------------------------


class BlockState(IntEnum):
    NONE = 0
    NOE_POSTED = 1
    BLOCK_AGREED = 2
    BLOCK_DISPUTED = 3
    ALLOCATED = 4
    CONFIRMED = 5
    SETTLEMENT_INSTRUCTED = 6
    SETTLED = 7
    CANCELLED = 8


class AllocState(IntEnum):
    NONE = 0
    ALLOCATED = 1
    MATCHED = 2
    MATCHED_WITH_TOLERANCE = 3
    MISMATCHED = 4
    MATCH_AGREED = 5
    SETTLEMENT_INSTRUCTED = 6
    SETTLED = 7
    CANCEL_REQUESTED = 8
    CANCELLED = 9
    SUPERSEDED = 10


class FundType(IntEnum):
    INVESTMENT_TRUST = 0
    DISCRETIONARY = 1
    SPECIFIED_MONEY_TRUST = 2
    PROPRIETARY = 3


class FundState(IntEnum):
    NONE = 0
    DRAFT = 1
    PENDING_TRUSTEE = 2
    REGISTERED = 3
    ACTIVE = 4
    SUSPENDED = 5
    REDEMPTION_SCHEDULED = 6
    REDEEMED = 7
    TRANSFERRED = 8  # derived: moved to another trustee's registry (a TRANSFER change in force)


class ChangeState(IntEnum):
    """FundRegistry.ChangeState (EFFECTIVE is derived: APPROVED and the effective date reached)."""

    NONE = 0
    PROPOSED = 1
    APPROVED = 2
    EFFECTIVE = 3
    REJECTED = 4
    WITHDRAWN = 5


class EvidenceState(IntEnum):
    """FundEvidenceBook.EvidenceState."""

    NONE = 0
    RECORDED = 1
    ACKNOWLEDGED = 2
    DISPUTED = 3


class SsiState(IntEnum):
    NONE = 0
    PENDING_COUNTERPARTY_APPROVAL = 1
    ACTIVE = 2
    REJECTED = 3
    SUPERSEDED = 4
    TERMINATION_REQUESTED = 5
    TERMINATED = 6


class LoanState(IntEnum):
    NONE = 0
    PROPOSED = 1
    CONFIRMED = 2
    OPEN = 3
    RECALL_PENDING = 4
    CLOSED = 5


class RateKind(IntEnum):
    FEE = 0
    REBATE = 1


class StatementState(IntEnum):
    NONE = 0
    LENDER_SUBMITTED = 1
    MANAGER_SUBMITTED = 2
    BORROWER_SUBMITTED = 3
    MATCHED = 4
    MATCHED_WITH_TOLERANCE = 5
    MISMATCHED = 6
    PAYMENT_INSTRUCTED = 7
    PAID = 8


class Submitter(IntEnum):
    LENDER = 0
    MANAGER = 1
    BORROWER = 2


class SblAdoptSide(IntEnum):
    LENDER = 0
    BORROWER = 1


class SblBillingUnit(IntEnum):
    """SblStatementBook.BillingUnit: which statements settle money (the others reconcile only)."""

    LOAN_MONTH = 0
    AGREEMENT_MONTH = 1
    LOAN_WHOLE_LIFE = 2


class CollateralMoveKind(IntEnum):
    NONE = 0
    POST = 1
    RETURN = 2


class Role(IntEnum):
    """InstitutionRegistry role bits."""

    ASSET_MANAGER = 1
    TRUST_BANK = 2
    SECURITIES_COMPANY = 4
    REGULATOR = 8
    OPERATOR = 16
