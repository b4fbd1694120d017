// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Identifiers} from "../lib/Identifiers.sol";
import {IFundEligibility} from "./MasterDataInterfaces.sol";

/// Fund master data of one asset manager, co-signed by its trustees (§4.3-§4.5). Recipients:
/// the manager, the trustees named at deployment and the brokers that trade these funds (§6);
/// brokers only read. AML/FATCA evidence is kept by the manager and the trustee alone
/// (FundEvidenceBook); only the status flag and its as-of date are here, as a dated history.
///
/// A trustee change to a trustee that is not a party of this registry is a transfer (§4.6): the
/// manager and the outgoing trustee approve a TRANSFER change here, the manager re-creates the fund
/// in the (manager, incoming trustee) registry with `transferIn`, and the incoming trustee confirms
/// it there. From the effective date this registry reads the fund as TRANSFERRED; its history stays
/// here, with the old trustee, and the new registry holds only what was carried over.
///
/// Attributes that may change during a fund's life are kept as dated histories: a change request
/// approved by every required party becomes EFFECTIVE from its effective date, and the value as of
/// date D is the latest approved entry dated <= D (MD-07).
contract FundRegistry is IFundEligibility {
    enum FundType {
        INVESTMENT_TRUST,
        DISCRETIONARY,
        SPECIFIED_MONEY_TRUST,
        PROPRIETARY
    }

    /// ACTIVE is derived (REGISTERED on or after the establishment date); REDEEMED is set after the
    /// redemption date by the manager or trustee.
    enum FundState {
        NONE,
        DRAFT,
        PENDING_TRUSTEE,
        REGISTERED,
        ACTIVE,
        SUSPENDED,
        REDEMPTION_SCHEDULED,
        REDEEMED,
        TRANSFERRED // derived: a TRANSFER change is in force (the fund moved to another registry)
    }

    enum AmlStatus {
        NOT_STARTED,
        IN_REVIEW,
        APPROVED,
        REJECTED,
        REVIEW_DUE
    }

    /// EFFECTIVE is derived: APPROVED and effective date reached.
    enum ChangeState {
        NONE,
        PROPOSED,
        APPROVED,
        EFFECTIVE,
        REJECTED,
        WITHDRAWN
    }

    struct Params {
        bool strictIdentifierCase; // [A-MD-CASE] true: lower case rejected
        bool checkGiinShape; // [A-MD-GIIN] true: XXXXXX.XXXXX.XX.XXX, no letter O
        bool requireEstablishedOnTradeDate; // [A-MD-FUND-ELIG] true
        bool requireSettlementByRedemption; // [A-MD-FUND-ELIG] true
        uint8 amlBlockingMask; // bit per AmlStatus that blocks new allocations; REJECTED|REVIEW_DUE = 0x18
        bool trusteeChangeNeedsIncoming; // [A-MD-TRUSTEE-CHG] true: outgoing and incoming trustee
    }

    struct FundInput {
        bytes16 fundCode;
        FundType fundType;
        string nameJa;
        string nameEn;
        string assetManagerLei;
        string trusteeLei;
        address trustee;
        string fundLei; // "" when none
        uint32 establishmentDate;
        string fiscalPeriodEnd; // MMDD
        string taxStatus;
        string giin; // "" when none
        string fatcaClassification;
        string crsStatus;
    }

    struct Fund {
        bytes16 fundCode;
        FundType fundType;
        FundState state;
        FundState stateBeforeSuspension;
        string assetManagerLei;
        uint32 establishmentDate;
        uint32 redemptionDate; // 0 = none
        uint32 pendingRedemptionDate;
        AmlStatus amlStatus;
        uint32 amlReviewedOn;
        uint32 version;
        uint32 transferredInOn; // 0, or the effective date of the transfer that brought the fund here
        address transferredFrom; // the registry it came from
    }

    /// What a transfer carries besides the static data (`transferIn`).
    struct TransferIn {
        uint32 effectiveDate;
        address fromRegistry;
        uint32 redemptionDate; // 0 = none; confirmed by the incoming trustee with the fund
        AmlStatus amlStatus;
        uint32 amlReviewedOn;
    }

    struct Entry {
        uint32 effectiveDate;
        bytes value;
    }

    struct ChangeRequest {
        bytes16 fundCode;
        bytes32 field;
        bytes newValue;
        uint32 effectiveDate;
        address requestedBy;
        address[] approvers; // required approvals besides the requester
        uint256 approvedMask;
        ChangeState state;
    }

    bytes32 public constant FIELD_TRUSTEE = "TRUSTEE"; // abi.encode(address)
    bytes32 public constant FIELD_TRUSTEE_LEI = "TRUSTEE_LEI";
    bytes32 public constant FIELD_FUND_LEI = "FUND_LEI";
    bytes32 public constant FIELD_GIIN = "GIIN";
    bytes32 public constant FIELD_NAME_JA = "NAME_JA";
    bytes32 public constant FIELD_NAME_EN = "NAME_EN";
    bytes32 public constant FIELD_TAX_STATUS = "TAX_STATUS";
    bytes32 public constant FIELD_FATCA = "FATCA";
    bytes32 public constant FIELD_CRS = "CRS";
    bytes32 public constant FIELD_FISCAL_PERIOD_END = "FISCAL_PERIOD_END";
    bytes32 public constant FIELD_TRANSFER = "TRANSFER"; // abi.encode(incoming trustee, its registry); zeros cancel
    bytes32 public constant FIELD_AML = "AML_STATUS"; // abi.encode(AmlStatus), dated by its as-of date (not proposable)
    uint256 private constant JST_OFFSET = 9 hours;

    address public immutable assetManager;
    mapping(address => bool) public isTrustee;
    Params private _params;

    mapping(bytes16 => Fund) private _funds;
    mapping(bytes16 => mapping(bytes32 => Entry[])) private _history;
    bytes16[] private _fundCodes;
    ChangeRequest[] private _changes;

    event FundStateChanged(bytes16 indexed fundCode, FundState from, FundState to, address by);
    event FundRejected(bytes16 indexed fundCode, string reason);
    event FundSuspended(bytes16 indexed fundCode, string reason);
    event RedemptionProposed(bytes16 indexed fundCode, uint32 redemptionDate);
    event RedemptionScheduled(bytes16 indexed fundCode, uint32 redemptionDate);
    event AmlStatusSet(bytes16 indexed fundCode, AmlStatus status, uint32 reviewedOn);
    event FundTransferredIn(bytes16 indexed fundCode, address fromRegistry, uint32 effectiveDate);
    event ChangeProposed(uint256 indexed changeId, bytes16 indexed fundCode, bytes32 field, uint32 effectiveDate);
    event ChangeStateChanged(uint256 indexed changeId, ChangeState to, address by);

    constructor(address assetManager_, address[] memory trustees, Params memory params_) {
        require(assetManager_ != address(0), "asset manager required");
        require(trustees.length > 0, "at least one trustee required");
        assetManager = assetManager_;
        for (uint256 i = 0; i < trustees.length; i++) {
            require(trustees[i] != address(0) && trustees[i] != assetManager_, "invalid trustee");
            isTrustee[trustees[i]] = true;
        }
        _params = params_;
    }

    // ---- asset manager: lifecycle --------------------------------------------------------------

    function createFund(FundInput calldata x) external {
        require(msg.sender == assetManager, "createFund: only asset manager");
        require(Identifiers.isValidFundCode(Identifiers.trimmed(x.fundCode)), "createFund: invalid fund code");
        require(_funds[x.fundCode].state == FundState.NONE, "createFund: duplicate fund code");
        _fundCodes.push(x.fundCode);
        _writeDraft(x);
        _setState(x.fundCode, FundState.DRAFT);
    }

    /// The manager brings a fund from its (manager, outgoing trustee) registry, with the attributes
    /// in force on the effective date: PENDING_TRUSTEE until the incoming trustee confirms it, ACTIVE
    /// here from the effective date.
    function transferIn(FundInput calldata x, TransferIn calldata t) external {
        require(msg.sender == assetManager, "transferIn: only asset manager");
        require(Identifiers.isValidFundCode(Identifiers.trimmed(x.fundCode)), "transferIn: invalid fund code");
        require(_funds[x.fundCode].state == FundState.NONE, "transferIn: duplicate fund code");
        require(t.effectiveDate != 0 && t.fromRegistry != address(0) && t.fromRegistry != address(this),
            "transferIn: effective date and source registry required");
        require(t.redemptionDate == 0 || t.redemptionDate >= x.establishmentDate,
            "transferIn: redemption before establishment");
        _fundCodes.push(x.fundCode);
        _writeDraft(x);
        Fund storage f = _funds[x.fundCode];
        f.transferredInOn = t.effectiveDate;
        f.transferredFrom = t.fromRegistry;
        f.redemptionDate = t.redemptionDate;
        _recordAml(x.fundCode, t.amlStatus, t.amlReviewedOn);
        emit FundTransferredIn(x.fundCode, t.fromRegistry, t.effectiveDate);
        _setState(x.fundCode, FundState.PENDING_TRUSTEE);
    }

    function amendDraft(FundInput calldata x) external {
        require(msg.sender == assetManager, "amendDraft: only asset manager");
        require(_funds[x.fundCode].state == FundState.DRAFT, "amendDraft: fund not in DRAFT");
        _writeDraft(x);
        _funds[x.fundCode].version += 1;
    }

    function submitFund(bytes16 code) external {
        require(msg.sender == assetManager, "submitFund: only asset manager");
        require(_funds[code].state == FundState.DRAFT, "submitFund: fund not in DRAFT");
        _setState(code, FundState.PENDING_TRUSTEE);
    }

    // ---- trustee: co-signature ---------------------------------------------------------------------

    function confirmFund(bytes16 code) external {
        require(msg.sender == currentTrustee(code), "confirmFund: only the fund's trustee");
        require(_funds[code].state == FundState.PENDING_TRUSTEE, "confirmFund: fund not PENDING_TRUSTEE");
        // a fund transferred in with a confirmed redemption date keeps it
        _setState(code, _funds[code].redemptionDate != 0 ? FundState.REDEMPTION_SCHEDULED : FundState.REGISTERED);
    }

    function rejectFund(bytes16 code, string calldata reason) external {
        require(msg.sender == currentTrustee(code), "rejectFund: only the fund's trustee");
        require(_funds[code].state == FundState.PENDING_TRUSTEE, "rejectFund: fund not PENDING_TRUSTEE");
        emit FundRejected(code, reason);
        _setState(code, FundState.DRAFT);
    }

    // ---- manager or trustee --------------------------------------------------------------------

    function suspendFund(bytes16 code, string calldata reason) external {
        _requireManagerOrTrustee(code, "suspendFund");
        Fund storage f = _funds[code];
        require(f.state == FundState.REGISTERED || f.state == FundState.REDEMPTION_SCHEDULED,
            "suspendFund: fund not active");
        f.stateBeforeSuspension = f.state;
        emit FundSuspended(code, reason);
        _setState(code, FundState.SUSPENDED);
    }

    function resumeFund(bytes16 code) external {
        _requireManagerOrTrustee(code, "resumeFund");
        Fund storage f = _funds[code];
        require(f.state == FundState.SUSPENDED, "resumeFund: fund not suspended");
        _setState(code, f.stateBeforeSuspension);
    }

    /// The manager proposes (or moves) the redemption date; the trustee confirms the same date.
    function scheduleRedemption(bytes16 code, uint32 redemptionDate) external {
        require(msg.sender == assetManager, "scheduleRedemption: only asset manager");
        Fund storage f = _funds[code];
        require(f.state == FundState.REGISTERED || f.state == FundState.REDEMPTION_SCHEDULED,
            "scheduleRedemption: fund not active");
        require(redemptionDate >= f.establishmentDate, "scheduleRedemption: before establishment");
        f.pendingRedemptionDate = redemptionDate;
        emit RedemptionProposed(code, redemptionDate);
    }

    function confirmRedemption(bytes16 code, uint32 redemptionDate) external {
        require(msg.sender == currentTrustee(code), "confirmRedemption: only the fund's trustee");
        Fund storage f = _funds[code];
        require(f.pendingRedemptionDate != 0, "confirmRedemption: nothing proposed");
        require(f.pendingRedemptionDate == redemptionDate, "confirmRedemption: date differs from the proposal");
        require(f.state == FundState.REGISTERED || f.state == FundState.REDEMPTION_SCHEDULED,
            "confirmRedemption: fund not active");
        f.redemptionDate = redemptionDate;
        f.pendingRedemptionDate = 0;
        f.version += 1;
        emit RedemptionScheduled(code, redemptionDate);
        if (f.state != FundState.REDEMPTION_SCHEDULED) _setState(code, FundState.REDEMPTION_SCHEDULED);
    }

    /// After the redemption date; the caller attests that no trade of the fund is unsettled.
    function markRedeemed(bytes16 code) external {
        _requireManagerOrTrustee(code, "markRedeemed");
        Fund storage f = _funds[code];
        require(f.state == FundState.REDEMPTION_SCHEDULED, "markRedeemed: redemption not scheduled");
        require(today() > f.redemptionDate, "markRedeemed: redemption date not passed");
        _setState(code, FundState.REDEEMED);
    }

    /// The flag and its as-of date (the review it reflects); kept as a dated history, so the flag as
    /// of any date can be read (`amlStatusOn`). As-of dates never go backwards.
    function setAmlStatus(bytes16 code, AmlStatus status, uint32 reviewedOn) external {
        _requireManagerOrTrustee(code, "setAmlStatus");
        require(reviewedOn >= _funds[code].amlReviewedOn, "setAmlStatus: as-of date before the current one");
        _recordAml(code, status, reviewedOn);
    }

    // ---- change requests -------------------------------------------------------------------------

    /// Required approvals: the other of manager / current trustee, plus the incoming trustee for a
    /// trustee change [A-MD-TRUSTEE-CHG]. The requester's own approval is implied.
    function proposeChange(bytes16 code, bytes32 field, bytes calldata newValue, uint32 effectiveDate)
        external
        returns (uint256 id)
    {
        _requireManagerOrTrustee(code, "proposeChange");
        FundState s = _funds[code].state;
        require(s != FundState.DRAFT && s != FundState.PENDING_TRUSTEE && s != FundState.REDEEMED,
            "proposeChange: fund not registered");
        _validateField(field, newValue);
        address trustee = currentTrustee(code);
        if (field == FIELD_TRUSTEE || field == FIELD_TRANSFER) {
            require(abi.decode(newValue, (address)) != trustee,
                "proposeChange: incoming trustee is the current trustee");
            require(field == FIELD_TRUSTEE || effectiveDate >= today(), "proposeChange: a transfer cannot be backdated");
        }
        id = _changes.length;
        ChangeRequest storage c = _changes.push();
        c.fundCode = code;
        c.field = field;
        c.newValue = newValue;
        c.effectiveDate = effectiveDate;
        c.requestedBy = msg.sender;
        c.state = ChangeState.PROPOSED;
        c.approvers.push(msg.sender == assetManager ? trustee : assetManager);
        if (field == FIELD_TRUSTEE && _params.trusteeChangeNeedsIncoming) {
            c.approvers.push(abi.decode(newValue, (address)));
        }
        emit ChangeProposed(id, code, field, effectiveDate);
        emit ChangeStateChanged(id, ChangeState.PROPOSED, msg.sender);
    }

    function approveChange(uint256 id) external {
        ChangeRequest storage c = _change(id);
        uint256 i = _approverIndex(c, "approveChange");
        c.approvedMask |= (1 << i);
        if (c.approvedMask == (1 << c.approvers.length) - 1) {
            c.state = ChangeState.APPROVED;
            _insert(c.fundCode, c.field, c.effectiveDate, c.newValue);
            _funds[c.fundCode].version += 1;
            emit ChangeStateChanged(id, ChangeState.APPROVED, msg.sender);
        }
    }

    function rejectChange(uint256 id) external {
        ChangeRequest storage c = _change(id);
        _approverIndex(c, "rejectChange");
        c.state = ChangeState.REJECTED;
        emit ChangeStateChanged(id, ChangeState.REJECTED, msg.sender);
    }

    function withdrawChange(uint256 id) external {
        ChangeRequest storage c = _change(id);
        require(msg.sender == c.requestedBy, "withdrawChange: only the requester");
        c.state = ChangeState.WITHDRAWN;
        emit ChangeStateChanged(id, ChangeState.WITHDRAWN, msg.sender);
    }

    // ---- views -----------------------------------------------------------------------------------

    function params() external view returns (Params memory) {
        return _params;
    }

    /// Today's date in Japan (day number), from the block timestamp.
    function today() public view returns (uint32) {
        return uint32((block.timestamp + JST_OFFSET) / 1 days);
    }

    function getFund(bytes16 code) external view returns (Fund memory) {
        return _funds[code];
    }

    function fundCount() external view returns (uint256) {
        return _fundCodes.length;
    }

    function fundCodeAt(uint256 i) external view returns (bytes16) {
        return _fundCodes[i];
    }

    /// Value of an attribute as of `day`: the latest approved entry dated <= day (MD-07).
    function fieldOn(bytes16 code, bytes32 field, uint32 day) public view returns (bytes memory) {
        Entry[] storage h = _history[code][field];
        for (uint256 i = h.length; i > 0; i--) {
            if (h[i - 1].effectiveDate <= day) return h[i - 1].value;
        }
        return "";
    }

    /// The flag as of `day` and the date of the review it reflects: (NOT_STARTED, 0) before any.
    function amlStatusOn(bytes16 code, uint32 day) external view returns (AmlStatus status, uint32 asOf) {
        Entry[] storage h = _history[code][FIELD_AML];
        for (uint256 i = h.length; i > 0; i--) {
            if (h[i - 1].effectiveDate <= day) return (abi.decode(h[i - 1].value, (AmlStatus)), h[i - 1].effectiveDate);
        }
        return (AmlStatus.NOT_STARTED, 0);
    }

    /// The TRANSFER in force on `day`: the incoming trustee and its registry, zeros when none.
    function transferOn(bytes16 code, uint32 day) public view returns (address incomingTrustee, address toRegistry) {
        bytes memory v = fieldOn(code, FIELD_TRANSFER, day);
        if (v.length != 0) (incomingTrustee, toRegistry) = abi.decode(v, (address, address));
    }

    /// The trustee in office on `day`; none once the fund has been transferred out.
    function trusteeOn(bytes16 code, uint32 day) public view returns (address) {
        if (_transferredOn(code, day)) return address(0);
        bytes memory v = fieldOn(code, FIELD_TRUSTEE, day);
        return v.length == 0 ? address(0) : abi.decode(v, (address));
    }

    function currentTrustee(bytes16 code) public view returns (address) {
        return trusteeOn(code, today());
    }

    /// State as of `day`: REGISTERED becomes ACTIVE from the establishment date (and, for a fund
    /// transferred in, from the transfer's effective date); a scheduled redemption reads REDEEMED
    /// after the redemption date; a fund transferred out reads TRANSFERRED from the effective date.
    function statusOn(bytes16 code, uint32 day) public view returns (FundState) {
        Fund storage f = _funds[code];
        FundState s = f.state;
        if (s != FundState.NONE && _transferredOn(code, day)) return FundState.TRANSFERRED;
        uint32 from = f.establishmentDate > f.transferredInOn ? f.establishmentDate : f.transferredInOn;
        if (s == FundState.REGISTERED && day >= from) return FundState.ACTIVE;
        if (s == FundState.REDEMPTION_SCHEDULED) {
            if (day < from) return FundState.REGISTERED;
            if (day > f.redemptionDate) return FundState.REDEEMED;
        }
        return s;
    }

    function changeCount() external view returns (uint256) {
        return _changes.length;
    }

    function getChange(uint256 id) external view returns (ChangeRequest memory) {
        return _changes[id];
    }

    function changeStatusOn(uint256 id, uint32 day) external view returns (ChangeState) {
        ChangeRequest storage c = _changes[id];
        if (c.state == ChangeState.APPROVED && c.effectiveDate <= day) return ChangeState.EFFECTIVE;
        return c.state;
    }

    /// MD-06 [A-MD-FUND-ELIG]: established on or before the trade date, settlement on or before the
    /// redemption date, registered and not suspended or redeemed, the trustee in office on the trade
    /// date, and an AML status that does not block new allocations.
    function checkEligibility(bytes16 code, uint32 tradeDate, uint32 settlementDate, address trustee)
        external
        view
        returns (bool ok, string memory reason)
    {
        Fund storage f = _funds[code];
        FundState s = f.state;
        if (s == FundState.NONE) return (false, "unknown fund");
        if (s == FundState.DRAFT || s == FundState.PENDING_TRUSTEE) return (false, "fund not registered");
        if (s == FundState.SUSPENDED) return (false, "fund suspended");
        if (s == FundState.REDEEMED) return (false, "fund redeemed");
        if (_transferredOn(code, tradeDate)) return (false, "fund transferred to another trustee");
        if (tradeDate < f.transferredInOn) return (false, "fund not yet transferred to this trustee");
        if (_params.requireEstablishedOnTradeDate && tradeDate < f.establishmentDate) {
            return (false, "fund not established on the trade date");
        }
        if (_params.requireSettlementByRedemption && f.redemptionDate != 0 && settlementDate > f.redemptionDate) {
            return (false, "settlement after the redemption date");
        }
        if (trustee != trusteeOn(code, tradeDate)) return (false, "not the fund's trustee on the trade date");
        if ((_params.amlBlockingMask >> uint8(f.amlStatus)) & 1 == 1) {
            return (false, "AML status blocks new allocations");
        }
        return (true, "");
    }

    // ---- internals -------------------------------------------------------------------------------

    function _requireManagerOrTrustee(bytes16 code, string memory what) private view {
        require(_funds[code].state != FundState.NONE, string.concat(what, ": unknown fund"));
        require(!_transferredOn(code, today()), string.concat(what, ": fund transferred out"));
        require(msg.sender == assetManager || msg.sender == currentTrustee(code),
            string.concat(what, ": only asset manager or the fund's trustee"));
    }

    function _transferredOn(bytes16 code, uint32 day) private view returns (bool) {
        (address incoming,) = transferOn(code, day);
        return incoming != address(0);
    }

    function _recordAml(bytes16 code, AmlStatus status, uint32 reviewedOn) private {
        Fund storage f = _funds[code];
        f.amlStatus = status;
        f.amlReviewedOn = reviewedOn;
        _insert(code, FIELD_AML, reviewedOn, abi.encode(status));
        emit AmlStatusSet(code, status, reviewedOn);
    }

    function _ident(string memory s) private view returns (bytes memory) {
        return _params.strictIdentifierCase ? bytes(s) : Identifiers.upper(bytes(s));
    }

    function _writeDraft(FundInput calldata x) private {
        require(x.establishmentDate != 0, "establishment date required");
        bytes memory amLei = _ident(x.assetManagerLei);
        require(Identifiers.isValidLei(amLei), "invalid asset manager LEI");
        Fund storage f = _funds[x.fundCode];
        f.fundCode = x.fundCode;
        f.fundType = x.fundType;
        f.assetManagerLei = string(amLei);
        f.establishmentDate = x.establishmentDate;
        _initial(x.fundCode, FIELD_TRUSTEE, abi.encode(x.trustee));
        _initial(x.fundCode, FIELD_TRUSTEE_LEI, _ident(x.trusteeLei));
        _initial(x.fundCode, FIELD_FUND_LEI, _ident(x.fundLei));
        _initial(x.fundCode, FIELD_GIIN, _ident(x.giin));
        _initial(x.fundCode, FIELD_NAME_JA, bytes(x.nameJa));
        _initial(x.fundCode, FIELD_NAME_EN, bytes(x.nameEn));
        _initial(x.fundCode, FIELD_TAX_STATUS, bytes(x.taxStatus));
        _initial(x.fundCode, FIELD_FATCA, bytes(x.fatcaClassification));
        _initial(x.fundCode, FIELD_CRS, bytes(x.crsStatus));
        _initial(x.fundCode, FIELD_FISCAL_PERIOD_END, bytes(x.fiscalPeriodEnd));
    }

    function _initial(bytes16 code, bytes32 field, bytes memory value) private {
        _validateField(field, value);
        delete _history[code][field];
        _history[code][field].push(Entry(0, value));
    }

    function _validateField(bytes32 field, bytes memory v) private view {
        if (field == FIELD_TRUSTEE) {
            require(v.length == 32 && isTrustee[abi.decode(v, (address))], "trustee is not a party of this registry");
        } else if (field == FIELD_TRUSTEE_LEI) {
            require(Identifiers.isValidLei(v), "invalid trustee LEI");
        } else if (field == FIELD_FUND_LEI) {
            require(v.length == 0 || Identifiers.isValidLei(v), "invalid fund LEI");
        } else if (field == FIELD_GIIN) {
            require(v.length == 0 || !_params.checkGiinShape || Identifiers.isValidGiin(v), "invalid GIIN");
        } else if (field == FIELD_FISCAL_PERIOD_END) {
            require(_isMmdd(v), "fiscal period end must be MMDD");
        } else if (field == FIELD_TRANSFER) {
            // an incoming trustee with its registry (not this one), or zeros to cancel a transfer
            require(v.length == 64, "invalid transfer");
            (address t, address r) = abi.decode(v, (address, address));
            require((t == address(0)) == (r == address(0)) && r != address(this), "invalid transfer");
        } else {
            require(field == FIELD_NAME_JA || field == FIELD_NAME_EN || field == FIELD_TAX_STATUS
                || field == FIELD_FATCA || field == FIELD_CRS, "unknown field");
        }
    }

    function _isMmdd(bytes memory v) private pure returns (bool) {
        if (v.length != 4) return false;
        for (uint256 i = 0; i < 4; i++) if (!Identifiers.isDigit(v[i])) return false;
        uint256 m = (uint8(v[0]) - 48) * 10 + uint8(v[1]) - 48;
        uint256 d = (uint8(v[2]) - 48) * 10 + uint8(v[3]) - 48;
        return m >= 1 && m <= 12 && d >= 1 && d <= 31;
    }

    /// Keeps each history sorted by effective date; an entry with the same date as an earlier one
    /// goes after it, so the later approval wins.
    function _insert(bytes16 code, bytes32 field, uint32 effectiveDate, bytes memory value) private {
        Entry[] storage h = _history[code][field];
        h.push();
        uint256 i = h.length - 1;
        while (i > 0 && h[i - 1].effectiveDate > effectiveDate) {
            h[i] = h[i - 1];
            i--;
        }
        h[i] = Entry(effectiveDate, value);
    }

    function _change(uint256 id) private view returns (ChangeRequest storage c) {
        require(id < _changes.length, "unknown change request");
        c = _changes[id];
        require(c.state == ChangeState.PROPOSED, "change request not PROPOSED");
    }

    function _approverIndex(ChangeRequest storage c, string memory what) private view returns (uint256) {
        for (uint256 i = 0; i < c.approvers.length; i++) {
            if (c.approvers[i] == msg.sender) return i;
        }
        revert(string.concat(what, ": not a required approver"));
    }

    function _setState(bytes16 code, FundState to) private {
        Fund storage f = _funds[code];
        FundState from = f.state;
        f.state = to;
        emit FundStateChanged(code, from, to, msg.sender);
    }
}
