"""Master data on the contracts: identifiers, institutions, funds, change requests, SSIs (§1.4, §4)."""

from __future__ import annotations

from typing import Any

import pytest

from postrade import reference as ref
from tests.unit.postrade.conftest import (
    FUND_REGISTRY_DEFAULTS,
    EvmHarness,
    Infra,
    TradeWorld,
    b16,
    fund_input,
    register_fund,
    revert_reason,
    ssi_input,
)

D = ref.to_day
FUND_STATES = ["NONE", "DRAFT", "PENDING_TRUSTEE", "REGISTERED", "ACTIVE", "SUSPENDED", "REDEMPTION_SCHEDULED",
               "REDEEMED"]
CHANGE_STATES = ["NONE", "PROPOSED", "APPROVED", "EFFECTIVE", "REJECTED", "WITHDRAWN"]
SSI_STATES = ["NONE", "PENDING_COUNTERPARTY_APPROVAL", "ACTIVE", "REJECTED", "SUPERSEDED", "TERMINATION_REQUESTED",
              "TERMINATED"]

IDENTIFIERS = [  # (checker, value, valid): real identifiers where possible
    ("isValidIsin", "JP3633400001", True), ("isValidIsin", "US0378331005", True),
    ("isValidIsin", "JP3436100006", True), ("isValidIsin", "JP3633400002", False),
    ("isValidIsin", "jp3633400001", False), ("isValidIsin", "JP363340000", False),
    ("isValidIsin", "J13633400001", False),
    ("isValidLei", "5493001KJTIIGC8Y1R12", True), ("isValidLei", "529900T8BM49AURSDO55", True),
    ("isValidLei", "529900T8BM49AURSDO56", False), ("isValidLei", "529900T8BM49AURSDOA5", False),
    ("isValidCorporateNumber", "1180301018771", True), ("isValidCorporateNumber", "7000012050002", True),
    ("isValidCorporateNumber", "2180301018771", False), ("isValidCorporateNumber", "118030101877", False),
    ("isValidCorporateNumber", "11803010187A1", False),
    ("isValidBic", "JJSDJPJT", True), ("isValidBic", "MHCBJPJTXXX", True), ("isValidBic", "JJSDJP1T", True),
    ("isValidBic", "JJSDJPJ", False), ("isValidBic", "JJ5DJPJT", False), ("isValidBic", "jjsdjpjt", False),
    ("isValidBic", "JJSDJPJTXX", False),
    ("isValidJasdecCode", "12345", True), ("isValidJasdecCode", "1234", False), ("isValidJasdecCode", "1234A", False),
    ("isValidGiin", "98Q96B.00000.LE.392", True), ("isValidGiin", "98Q96B.0000O.LE.392", False),
    ("isValidGiin", "98Q96B-00000.LE.392", False), ("isValidGiin", "98q96b.00000.le.392", False),
    ("isValidFundCode", "FUND-A", True), ("isValidFundCode", "A" * 16, True), ("isValidFundCode", "A" * 17, False),
    ("isValidFundCode", "fund-a", False), ("isValidFundCode", "", False),
    ("isValidLocalCode", "7203", True), ("isValidLocalCode", "130A", True), ("isValidLocalCode", "72031", False),
]
REF = {"isValidIsin": ref.is_valid_isin, "isValidLei": ref.is_valid_lei,
       "isValidCorporateNumber": ref.is_valid_corporate_number, "isValidBic": ref.is_valid_bic,
       "isValidJasdecCode": ref.is_valid_jasdec_code, "isValidGiin": ref.is_valid_giin,
       "isValidFundCode": ref.is_valid_fund_code, "isValidLocalCode": ref.is_valid_local_code}


@pytest.mark.parametrize(("checker", "value", "valid"), IDENTIFIERS)
def test_identifier_rules(infra: Infra, checker: str, value: str, valid: bool) -> None:
    assert infra.ids.call(checker, value) is valid
    assert REF[checker](value) is valid


def test_check_digit_functions(infra: Infra) -> None:
    assert infra.ids.call("isinCheckDigit", "JP363340000") == 1 == ref.isin_check_digit("JP363340000")
    assert infra.ids.call("leiCheckDigits", "5493001KJTIIGC8Y1R") == 12 == ref.lei_check_digits("5493001KJTIIGC8Y1R")
    assert infra.ids.call("corporateNumberCheckDigit", "180301018771") == 1
    assert "12 digits" in revert_reason(lambda: infra.ids.call("corporateNumberCheckDigit", "18030101877"))


# ---- institutions ------------------------------------------------------------------------------


def institution(evm: EvmHarness, **over: Any) -> dict[str, Any]:
    x = {"lei": "5493001KJTIIGC8Y1R12", "corporateNumber": "1180301018771", "bics": ["MHCBJPJT", "MHCBJPJTXXX"],
         "jasdecParticipantCode": "12345", "nameJa": "テスト信託銀行", "nameEn": "Test Trust Bank", "roles": 2,
         "accounts": [evm.addr["trustee1"]], "ptmPublicKeys": [b"\x11" * 32]}
    x.update(over)
    return x


def test_institution_registry_validates_and_maps_accounts(evm: EvmHarness) -> None:
    reg = evm.deploy("InstitutionRegistry", evm.addr["admin"], True)
    reg.transact("register", institution(evm), sender="admin")
    assert reg.call("leiOfAccount", evm.addr["trustee1"]) == "5493001KJTIIGC8Y1R12"
    assert reg.call("hasRole", evm.addr["trustee1"], 2) and not reg.call("hasRole", evm.addr["trustee1"], 4)
    inst = reg.call("getInstitution", "5493001KJTIIGC8Y1R12")
    assert inst.bics == ["MHCBJPJT", "MHCBJPJTXXX"] and inst.ptmPublicKeys == [b"\x11" * 32]
    for over, reason in (
        ({}, "register: LEI already registered"),
        ({"lei": "529900T8BM49AURSDO55", "corporateNumber": "2180301018771"}, "invalid corporate number"),
        ({"lei": "529900T8BM49AURSDO55", "bics": ["JJSDJPJ"]}, "invalid BIC"),
        ({"lei": "529900T8BM49AURSDO55", "jasdecParticipantCode": "1234"}, "invalid JASDEC participant code"),
        ({"lei": "529900T8BM49AURSDO55"}, "account already mapped to an institution"),
        ({"lei": "529900t8bm49aursdo55", "accounts": []}, "invalid LEI"),
    ):
        assert revert_reason(lambda o=over: reg.transact("register", institution(evm, **o), sender="admin")) == reason
    reg.transact("setStatus", "5493001KJTIIGC8Y1R12", 2, sender="admin")
    assert not reg.call("hasRole", evm.addr["trustee1"], 2)
    reg.transact("update", institution(evm, accounts=[evm.addr["trustee2"]]), sender="admin")
    assert reg.call("leiOfAccount", evm.addr["trustee1"]) == ""
    assert reg.call("leiOfAccount", evm.addr["trustee2"]) == "5493001KJTIIGC8Y1R12"


def test_lower_case_normalised_only_when_the_parameter_says_so(evm: EvmHarness) -> None:
    """[A-MD-CASE] is a parameter: strict rejects, non-strict upper-cases before checking."""
    reg = evm.deploy("InstitutionRegistry", evm.addr["admin"], False)
    reg.transact("register", institution(evm, lei="5493001kjtiigc8y1r12", bics=["mhcbjpjt"]), sender="admin")
    inst = reg.call("getInstitution", "5493001KJTIIGC8Y1R12")
    assert inst.lei == "5493001KJTIIGC8Y1R12" and inst.bics == ["MHCBJPJT"]


# ---- funds -------------------------------------------------------------------------------------


def fund_state(w: TradeWorld, code: str, day: str | None = None) -> str:
    reg = w.fund_registry
    if day is None:
        return FUND_STATES[reg.call("getFund", b16(code)).state]
    return FUND_STATES[reg.call("statusOn", b16(code), D(day))]


def test_fund_lifecycle_with_trustee_co_signature(tw_md: TradeWorld) -> None:
    reg, evm = tw_md.fund_registry, tw_md.evm
    reg.transact("createFund", fund_input("FUND-N", evm.addr["trustee1"], "2025-06-02",
                                          giin="98Q96B.00000.LE.392"), sender="investor")
    assert fund_state(tw_md, "FUND-N") == "DRAFT"
    assert revert_reason(lambda: reg.transact("createFund", fund_input("FUND-N", evm.addr["trustee1"], "2025-06-02"),
                                              sender="investor")) == "createFund: duplicate fund code"
    reg.transact("submitFund", b16("FUND-N"), sender="investor")
    r = reg.transact("rejectFund", b16("FUND-N"), "wrong fiscal period", sender="trustee1")
    assert r.named("FundRejected")[0].reason == "wrong fiscal period" and fund_state(tw_md, "FUND-N") == "DRAFT"
    reg.transact("amendDraft", fund_input("FUND-N", evm.addr["trustee1"], "2025-06-02", fiscalPeriodEnd="1231"),
                 sender="investor")
    assert reg.call("fieldOn", b16("FUND-N"), b"FISCAL_PERIOD_END", D("2025-06-02")) == b"1231"
    reg.transact("submitFund", b16("FUND-N"), sender="investor")
    reg.transact("confirmFund", b16("FUND-N"), sender="trustee1")
    # Registered but not yet established: REGISTERED, then ACTIVE from the establishment date.
    assert fund_state(tw_md, "FUND-N", "2025-06-01") == "REGISTERED"
    assert fund_state(tw_md, "FUND-N", "2025-06-02") == "ACTIVE"
    ok, reason = reg.call("checkEligibility", b16("FUND-N"), D("2025-05-30"), D("2025-06-03"), evm.addr["trustee1"])
    assert (ok, reason) == (False, "fund not established on the trade date")
    assert reg.call("checkEligibility", b16("FUND-N"), D("2025-06-02"), D("2025-06-04"), evm.addr["trustee1"]) \
        == (True, "")


@pytest.mark.parametrize(("over", "reason"), [
    ({"giin": "98Q96B.0000O.LE.392"}, "invalid GIIN"),
    ({"fundLei": "529900T8BM49AURSDO56"}, "invalid fund LEI"),
    ({"assetManagerLei": "549300TESTFUNDJP0A39"}, "invalid asset manager LEI"),
    ({"fiscalPeriodEnd": "1332"}, "fiscal period end must be MMDD"),
    ({"fundCode": b16("fund-n")}, "createFund: invalid fund code"),
])
def test_fund_identifiers_checked_on_write(tw_md: TradeWorld, over: dict[str, Any], reason: str) -> None:
    x = fund_input("FUND-N", tw_md.evm.addr["trustee1"], "2025-06-02", **over)
    assert revert_reason(lambda: tw_md.fund_registry.transact("createFund", x, sender="investor")) == reason


def test_trustee_must_be_a_party_of_the_registry(tw_md: TradeWorld) -> None:
    x = fund_input("FUND-N", tw_md.evm.addr["broker_b"], "2025-06-02")
    assert revert_reason(lambda: tw_md.fund_registry.transact("createFund", x, sender="investor")) \
        == "trustee is not a party of this registry"


def test_giin_shape_check_is_a_parameter(evm: EvmHarness) -> None:
    reg = evm.deploy("FundRegistry", evm.addr["investor"], [evm.addr["trustee1"]],
                     {**FUND_REGISTRY_DEFAULTS, "checkGiinShape": False}, sender="investor")
    reg.transact("createFund", fund_input("FUND-N", evm.addr["trustee1"], "2025-06-02", giin="anything"),
                 sender="investor")
    assert reg.call("fieldOn", b16("FUND-N"), b"GIIN", 0) == b"anything"


def test_suspend_resume_and_redemption(tw_md: TradeWorld) -> None:
    reg, evm = tw_md.fund_registry, tw_md.evm
    reg.transact("suspendFund", b16("FUND-A"), "AML finding", sender="investor")
    assert fund_state(tw_md, "FUND-A") == "SUSPENDED"
    reg.transact("resumeFund", b16("FUND-A"), sender="trustee1")
    assert fund_state(tw_md, "FUND-A") == "REGISTERED"
    reg.transact("scheduleRedemption", b16("FUND-A"), D("2025-09-30"), sender="investor")
    assert revert_reason(lambda: reg.transact("confirmRedemption", b16("FUND-A"), D("2025-09-29"),
                                              sender="trustee1")) == "confirmRedemption: date differs from the proposal"
    reg.transact("confirmRedemption", b16("FUND-A"), D("2025-09-30"), sender="trustee1")
    assert fund_state(tw_md, "FUND-A", "2025-09-30") == "REDEMPTION_SCHEDULED"
    assert fund_state(tw_md, "FUND-A", "2025-10-01") == "REDEEMED"
    # The redemption date is moved (both parties again).
    reg.transact("scheduleRedemption", b16("FUND-A"), D("2025-10-31"), sender="investor")
    reg.transact("confirmRedemption", b16("FUND-A"), D("2025-10-31"), sender="trustee1")
    assert fund_state(tw_md, "FUND-A", "2025-10-01") == "REDEMPTION_SCHEDULED"
    t = evm.addr["trustee1"]
    assert reg.call("checkEligibility", b16("FUND-A"), D("2025-10-29"), D("2025-10-31"), t) == (True, "")
    assert reg.call("checkEligibility", b16("FUND-A"), D("2025-10-30"), D("2025-11-04"), t) \
        == (False, "settlement after the redemption date")
    evm.set_today("2025-10-31")
    assert "redemption date not passed" in revert_reason(lambda: reg.transact("markRedeemed", b16("FUND-A"),
                                                                              sender="trustee1"))
    evm.set_today("2025-11-01")
    reg.transact("markRedeemed", b16("FUND-A"), sender="trustee1")
    assert fund_state(tw_md, "FUND-A") == "REDEEMED"
    assert reg.call("checkEligibility", b16("FUND-A"), D("2025-10-29"), D("2025-10-31"), t) == (False, "fund redeemed")


@pytest.mark.parametrize(("status", "blocked"), [(0, False), (1, False), (2, False), (3, True), (4, True)])
def test_aml_status_blocks_new_allocations(tw_md: TradeWorld, status: int, blocked: bool) -> None:
    reg, t = tw_md.fund_registry, tw_md.evm.addr["trustee1"]
    reg.transact("setAmlStatus", b16("FUND-A"), status, D("2025-03-01"), sender="trustee1")
    assert reg.call("getFund", b16("FUND-A")).amlReviewedOn == D("2025-03-01")
    ok, reason = reg.call("checkEligibility", b16("FUND-A"), D("2025-03-18"), D("2025-03-21"), t)
    assert ok is not blocked and (reason == "AML status blocks new allocations") is blocked


# ---- change requests (MD-07) ---------------------------------------------------------------------


def test_change_request_effective_dating(tw_md: TradeWorld) -> None:
    reg = tw_md.fund_registry
    field = b"NAME_EN".ljust(32, b"\0")
    reg.transact("proposeChange", b16("FUND-A"), field, b"Alpha Fund", D("2025-07-01"), sender="investor")
    assert CHANGE_STATES[reg.call("getChange", 0).state] == "PROPOSED"
    reg.transact("approveChange", 0, sender="trustee1")
    assert CHANGE_STATES[reg.call("changeStatusOn", 0, D("2025-06-30"))] == "APPROVED"
    assert CHANGE_STATES[reg.call("changeStatusOn", 0, D("2025-07-01"))] == "EFFECTIVE"
    assert reg.call("fieldOn", b16("FUND-A"), field, D("2025-06-30")) == b"FUND-A Fund"
    assert reg.call("fieldOn", b16("FUND-A"), field, D("2025-07-01")) == b"Alpha Fund"
    # A later-approved change with an earlier effective date slots in by date.
    reg.transact("proposeChange", b16("FUND-A"), field, b"Interim", D("2025-05-01"), sender="trustee1")
    reg.transact("approveChange", 1, sender="investor")
    history = [("2025-01-01", b"FUND-A Fund"), ("2025-05-01", b"Interim"), ("2025-07-01", b"Alpha Fund")]
    ref_history = [(0, b"FUND-A Fund"), (D("2025-05-01"), b"Interim"), (D("2025-07-01"), b"Alpha Fund")]
    for day, want in history:
        assert reg.call("fieldOn", b16("FUND-A"), field, D(day)) == want == ref.field_on(ref_history, D(day))
    reg.transact("proposeChange", b16("FUND-A"), field, b"Rejected", D("2025-08-01"), sender="investor")
    reg.transact("rejectChange", 2, sender="trustee1")
    reg.transact("proposeChange", b16("FUND-A"), field, b"Withdrawn", D("2025-08-01"), sender="investor")
    reg.transact("withdrawChange", 3, sender="investor")
    assert [CHANGE_STATES[reg.call("getChange", i).state] for i in (2, 3)] == ["REJECTED", "WITHDRAWN"]
    assert "not PROPOSED" in revert_reason(lambda: reg.transact("approveChange", 2, sender="trustee1"))
    assert reg.call("fieldOn", b16("FUND-A"), field, D("2025-09-01")) == b"Alpha Fund"


@pytest.mark.parametrize(("field", "value", "reason"), [
    (b"FUND_LEI", b"529900T8BM49AURSDO56", "invalid fund LEI"),
    (b"GIIN", b"98Q96B.0000O.LE.392", "invalid GIIN"),
    (b"COLOUR", b"red", "unknown field"),
])
def test_change_values_are_validated(tw_md: TradeWorld, field: bytes, value: bytes, reason: str) -> None:
    assert revert_reason(lambda: tw_md.fund_registry.transact(
        "proposeChange", b16("FUND-A"), field.ljust(32, b"\0"), value, D("2025-07-01"), sender="investor")) == reason


def test_trustee_change_needs_outgoing_and_incoming_trustee(tw_md: TradeWorld) -> None:
    """[A-MD-TRUSTEE-CHG]: recipients switch at the effective date; history stays with TB1."""
    from eth_abi import encode

    reg, evm = tw_md.fund_registry, tw_md.evm
    field = b"TRUSTEE".ljust(32, b"\0")
    reg.transact("proposeChange", b16("FUND-A"), field, encode(["address"], [evm.addr["trustee2"]]),
                 D("2025-07-01"), sender="investor")
    assert [evm.name(a) for a in reg.call("getChange", 0).approvers] == ["trustee1", "trustee2"]
    reg.transact("approveChange", 0, sender="trustee1")
    assert CHANGE_STATES[reg.call("getChange", 0).state] == "PROPOSED"
    reg.transact("approveChange", 0, sender="trustee2")
    assert CHANGE_STATES[reg.call("getChange", 0).state] == "APPROVED"
    assert evm.name(reg.call("trusteeOn", b16("FUND-A"), D("2025-06-30"))) == "trustee1"
    assert evm.name(reg.call("trusteeOn", b16("FUND-A"), D("2025-07-01"))) == "trustee2"
    t1, t2 = evm.addr["trustee1"], evm.addr["trustee2"]
    assert reg.call("checkEligibility", b16("FUND-A"), D("2025-06-30"), D("2025-07-02"), t1) == (True, "")
    assert reg.call("checkEligibility", b16("FUND-A"), D("2025-07-01"), D("2025-07-03"), t2) == (True, "")
    assert reg.call("checkEligibility", b16("FUND-A"), D("2025-07-01"), D("2025-07-03"), t1)[0] is False


def test_trustee_change_without_incoming_approval_when_configured(evm: EvmHarness) -> None:
    from eth_abi import encode

    reg = evm.deploy("FundRegistry", evm.addr["investor"], [evm.addr["trustee1"], evm.addr["trustee2"]],
                     {**FUND_REGISTRY_DEFAULTS, "trusteeChangeNeedsIncoming": False}, sender="investor")
    reg.transact("createFund", fund_input("FUND-A", evm.addr["trustee1"], "2019-01-04"), sender="investor")
    reg.transact("submitFund", b16("FUND-A"), sender="investor")
    reg.transact("confirmFund", b16("FUND-A"), sender="trustee1")
    reg.transact("proposeChange", b16("FUND-A"), b"TRUSTEE".ljust(32, b"\0"),
                 encode(["address"], [evm.addr["trustee2"]]), D("2025-07-01"), sender="investor")
    reg.transact("approveChange", 0, sender="trustee1")
    assert CHANGE_STATES[reg.call("getChange", 0).state] == "APPROVED"


# ---- SSIs --------------------------------------------------------------------------------------


def test_ssi_registered_by_broker_is_approved_by_the_fund_side(tw_md: TradeWorld) -> None:
    ssi = tw_md.ssi_registries["trustee1"]
    ssi.transact("registerSsi", ssi_input("FUND-A", "2025-04-01", "TB1-0009"), sender="broker_a")
    assert revert_reason(lambda: ssi.transact("approveSsi", b16("FUND-A"), b"EQU", 2, sender="broker_a")) \
        == "approveSsi: only the counterparty of the initiating side"
    ssi.transact("approveSsi", b16("FUND-A"), b"EQU", 2, sender="trustee1")
    assert SSI_STATES[ssi.call("stateOn", b16("FUND-A"), b"EQU", 1, D("2025-04-01"))] == "SUPERSEDED"
    assert SSI_STATES[ssi.call("stateOn", b16("FUND-A"), b"EQU", 1, D("2025-03-31"))] == "ACTIVE"
    assert ssi.call("ssiInForce", b16("FUND-A"), b"EQU", D("2025-04-01")) == (True, 2)


def test_ssi_termination_needs_both_sides(tw_md: TradeWorld) -> None:
    ssi = tw_md.ssi_registries["trustee1"]
    ssi.transact("requestTermination", b16("FUND-A"), b"EQU", 1, sender="investor")
    assert SSI_STATES[ssi.call("getSsi", b16("FUND-A"), b"EQU", 1).state] == "TERMINATION_REQUESTED"
    assert ssi.call("ssiInForce", b16("FUND-A"), b"EQU", D("2025-04-01")) == (True, 1)  # still in force
    ssi.transact("rejectTermination", b16("FUND-A"), b"EQU", 1, sender="broker_a")
    ssi.transact("requestTermination", b16("FUND-A"), b"EQU", 1, sender="broker_a")
    ssi.transact("confirmTermination", b16("FUND-A"), b"EQU", 1, sender="trustee1")
    assert ssi.call("ssiInForce", b16("FUND-A"), b"EQU", D("2025-04-01")) == (False, 0)


@pytest.mark.parametrize(("over", "reason"), [
    ({"pset": "JJSDJPJ"}, "registerSsi: invalid place-of-settlement BIC"),
    ({"agentBic": "mhcbjpjt"}, "registerSsi: invalid agent BIC"),
    ({"agentJasdecCode": "1234"}, "registerSsi: invalid JASDEC code"),
    ({"safekeepingAccount": b""}, "registerSsi: safekeeping account required"),
])
def test_ssi_fields_validated(tw_md: TradeWorld, over: dict[str, Any], reason: str) -> None:
    ssi = tw_md.ssi_registries["trustee1"]
    x = ssi_input("FUND-A", "2025-10-01", **over)
    assert revert_reason(lambda: ssi.transact("registerSsi", x, sender="investor")) == reason


def test_ssi_without_effective_dating_uses_the_latest_approved(evm: EvmHarness) -> None:
    ssi = evm.deploy("SsiRegistry", evm.addr["investor"], evm.addr["trustee1"], evm.addr["broker_a"], False, False)
    ssi.transact("registerSsi", ssi_input("FUND-A", "2024-04-01", agentBic="mhcbjpjt"), sender="investor")
    ssi.transact("approveSsi", b16("FUND-A"), b"EQU", 1, sender="broker_a")
    ssi.transact("registerSsi", ssi_input("FUND-A", "2025-10-01", "TB1-0002"), sender="investor")
    ssi.transact("approveSsi", b16("FUND-A"), b"EQU", 2, sender="broker_a")
    assert ssi.call("ssiInForce", b16("FUND-A"), b"EQU", D("2025-09-30")) == (True, 2)
    assert ssi.call("getSsi", b16("FUND-A"), b"EQU", 1).input.agentBic == "MHCBJPJT"
    versions = [ref.SsiVersion(1, D("2024-04-01"), True), ref.SsiVersion(2, D("2025-10-01"), True)]
    assert ref.ssi_in_force(versions, D("2025-09-30"), effective_dating=False) == 2
    assert ref.ssi_in_force(versions, D("2025-09-30")) == 1


def test_register_fund_helper_creates_an_active_fund(tw_md: TradeWorld) -> None:
    register_fund(tw_md, "FUND-Z", "trustee2", "2025-01-06")
    assert fund_state(tw_md, "FUND-Z", "2025-01-06") == "ACTIVE"
