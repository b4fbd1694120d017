// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Identifiers} from "../lib/Identifiers.sol";
import {IFundEligibility, ISsiLookup} from "../master_data/MasterDataInterfaces.sol";
import {BilateralParties} from "./BilateralParties.sol";
import {
    AllocState, Figures, MatchingProfile, MatchStatus, OrderType, Side, TradeMath
} from "./TradeMath.sol";

/// Allocations, both sides' fund confirmations and the match result for the funds of one trustee:
/// recipients {broker, investor, trustee} (§6). The trustee never sees block totals or other
/// trustees' funds, so everything needed here (L1 fields, average price) is carried by the
/// allocation itself and checked by the broker's L1 echo in its confirmation.
contract FundAllocationBook is BilateralParties {
    struct AllocationInput {
        bytes16 blockId;
        uint32 blockVersion;
        bytes16 fundCode;
        bytes12 isin;
        Side side;
        OrderType orderType;
        uint32 tradeDate;
        uint32 settlementDate;
        uint64 orderedQuantity;
        uint64 quantity;
        uint64 avgPrice_e4;
    }

    struct Allocation {
        AllocationInput input;
        AllocState state;
        MatchStatus matchStatus;
        bool investorAffirmed;
        bool trusteeApproved;
        bool trusteeAcknowledged;
        address cancelRequestedBy;
        uint32 ssiVersion; // SSI the settlement was instructed with (kept if the SSI changes later)
        uint256 profileIndex;
    }

    /// A side's confirmation echoes the L1 pairing fields (§2.6) next to its figures.
    struct ConfirmationInput {
        bytes16 blockId;
        uint32 blockVersion;
        bytes16 fundCode;
        bytes12 isin;
        Side side;
        uint32 tradeDate;
        uint32 settlementDate;
        uint64 quantity;
        Figures figures;
        bytes32 calcMethodHash;
    }

    struct Confirmation {
        uint32 version; // 0 = not submitted
        Figures figures;
        bytes32 calcMethodHash;
        bool voided; // the allocation was superseded or cancelled before MATCH_AGREED (§2.4)
    }

    address public immutable trustee;
    IFundEligibility public immutable fundRegistry; // zero = no eligibility check
    ISsiLookup public immutable ssiRegistry; // zero = no SSI check
    bytes4 public immutable ssiSecurityType;
    bool public immutable trusteeApprovalRequired;

    MatchingProfile[] private _profiles;
    mapping(bytes32 => Allocation) private _allocs;
    mapping(bytes32 => Confirmation) private _brokerConf;
    mapping(bytes32 => Confirmation) private _investorConf;
    mapping(bytes32 => Figures) private _diff;
    mapping(bytes32 => Figures) private _agreed;
    /// blockId => fundCode => latest block version allocated here.
    mapping(bytes16 => mapping(bytes16 => uint32)) public latestVersion;
    /// blockId => the block's current version as this book knows it: the highest version allocated
    /// here or announced by the broker's `supersedeBlockVersion` (the book cannot read the block
    /// book, whose parties exclude the trustee). Steps on an allocation of an older version fail.
    mapping(bytes16 => uint32) public blockVersion;
    mapping(bytes16 => bytes16[]) private _blockFunds;

    event ProfileAdded(uint256 index, uint32 effectiveFrom, bytes32 profileHash);
    event AllocationPosted(bytes32 indexed allocationId, bytes16 indexed blockId, uint32 blockVersion,
        bytes16 indexed fundCode, uint64 quantity);
    event AllocationStateChanged(bytes32 indexed allocationId, AllocState from, AllocState to, address by);
    event ConfirmationSubmitted(bytes32 indexed allocationId, address indexed by, uint32 version);
    event MatchEvaluated(bytes32 indexed allocationId, MatchStatus status, Figures brokerMinusInvestor, Figures agreed);
    event TrusteeAcknowledged(bytes32 indexed allocationId);
    event TrusteeApproved(bytes32 indexed allocationId);
    event SettlementInstructed(bytes32 indexed allocationId, uint32 ssiVersion);
    event BlockVersionSuperseded(bytes16 indexed blockId, uint32 newVersion, uint256 allocationsSuperseded);
    event ConfirmationsVoided(bytes32 indexed allocationId);

    constructor(
        address broker_,
        address investor_,
        address trustee_,
        IFundEligibility fundRegistry_,
        ISsiLookup ssiRegistry_,
        bytes4 ssiSecurityType_,
        bool trusteeApprovalRequired_,
        MatchingProfile memory initialProfile
    ) BilateralParties(broker_, investor_) {
        require(trustee_ != address(0), "trustee required");
        require(trustee_ != broker_ && trustee_ != investor_, "trustee must differ from the trading parties");
        trustee = trustee_;
        fundRegistry = fundRegistry_;
        ssiRegistry = ssiRegistry_;
        ssiSecurityType = ssiSecurityType_;
        trusteeApprovalRequired = trusteeApprovalRequired_;
        _addProfile(initialProfile);
    }

    // ---- tolerance profile (both trading parties) ------------------------------------------------

    function proposeProfile(MatchingProfile calldata p) external {
        _propose("proposeProfile", keccak256(abi.encode(p)));
    }

    function agreeProfile(MatchingProfile calldata p) external {
        _agree("agreeProfile", keccak256(abi.encode(p)));
        _addProfile(p);
    }

    function profileIndexOn(uint32 day) public view returns (uint256) {
        for (uint256 i = _profiles.length; i > 0; i--) {
            if (_profiles[i - 1].effectiveFrom <= day) return i - 1;
        }
        revert("no tolerance profile in force on that date");
    }

    function profileAt(uint256 index) external view returns (MatchingProfile memory) {
        return _profiles[index];
    }

    // ---- investor: allocation --------------------------------------------------------------------

    function postAllocation(AllocationInput calldata a) external returns (bytes32 id) {
        require(msg.sender == investor, "postAllocation: only investor");
        require(Identifiers.isValidFundCode(Identifiers.trimmed(a.fundCode)), "postAllocation: invalid fund code");
        require(Identifiers.isValidIsin(abi.encodePacked(a.isin)), "postAllocation: invalid ISIN");
        require(a.quantity <= a.orderedQuantity, "postAllocation: allocated above ordered");
        require(a.settlementDate >= a.tradeDate, "postAllocation: settlement before trade date");
        if (address(fundRegistry) != address(0)) {
            (bool ok, string memory reason) =
                fundRegistry.checkEligibility(a.fundCode, a.tradeDate, a.settlementDate, trustee);
            require(ok, string.concat("postAllocation: fund not eligible: ", reason));
        }
        uint32 prev = latestVersion[a.blockId][a.fundCode];
        require(a.blockVersion > prev, "postAllocation: stale or duplicate block version");
        require(a.blockVersion >= blockVersion[a.blockId], "postAllocation: block version superseded");
        if (prev != 0) {
            bytes32 prevId = allocationId(a.blockId, prev, a.fundCode);
            AllocState ps = _allocs[prevId].state;
            require(ps < AllocState.MATCH_AGREED || ps == AllocState.CANCELLED || ps == AllocState.SUPERSEDED,
                "postAllocation: previous version is MATCH_AGREED, cancel bilaterally first");
            if (ps < AllocState.MATCH_AGREED) _void(prevId, AllocState.SUPERSEDED);
        } else {
            _blockFunds[a.blockId].push(a.fundCode);
        }
        latestVersion[a.blockId][a.fundCode] = a.blockVersion;
        blockVersion[a.blockId] = a.blockVersion;
        id = allocationId(a.blockId, a.blockVersion, a.fundCode);
        Allocation storage al = _allocs[id];
        al.input = a;
        al.profileIndex = profileIndexOn(a.tradeDate);
        emit AllocationPosted(id, a.blockId, a.blockVersion, a.fundCode, a.quantity);
        _setState(id, AllocState.ALLOCATED);
    }

    // ---- both trading parties: confirmations and matching ----------------------------------------

    /// A side's per-fund figures. When both sides are in, the match runs (§2.4, §2.6); after
    /// MISMATCHED either side may correct its figures, which re-runs the match.
    function submitConfirmation(ConfirmationInput calldata c) external {
        _requireParty("submitConfirmation");
        bytes32 id = allocationId(c.blockId, c.blockVersion, c.fundCode);
        Allocation storage al = _allocs[id];
        require(al.state != AllocState.NONE, "submitConfirmation: unknown allocation");
        _requireCurrent(al, "submitConfirmation");
        require(al.state == AllocState.ALLOCATED || al.state == AllocState.MISMATCHED,
            "submitConfirmation: allocation not open for confirmations");
        AllocationInput storage a = al.input;
        require(c.isin == a.isin, "L1 mismatch: ISIN");
        require(c.side == a.side, "L1 mismatch: side");
        require(c.tradeDate == a.tradeDate, "L1 mismatch: trade date");
        require(c.settlementDate == a.settlementDate, "L1 mismatch: settlement date");
        require(c.quantity == a.quantity, "L1 mismatch: quantity");
        Confirmation storage mine = msg.sender == broker ? _brokerConf[id] : _investorConf[id];
        mine.version += 1;
        mine.figures = c.figures;
        mine.calcMethodHash = c.calcMethodHash;
        emit ConfirmationSubmitted(id, msg.sender, mine.version);
        if (_brokerConf[id].version == 0 || _investorConf[id].version == 0) return;
        (MatchStatus st, Figures memory diff, Figures memory agreed) =
            TradeMath.compare(_brokerConf[id].figures, _investorConf[id].figures, _profiles[al.profileIndex]);
        al.matchStatus = st;
        _diff[id] = diff;
        _agreed[id] = agreed;
        emit MatchEvaluated(id, st, diff, agreed);
        AllocState target = st == MatchStatus.MATCHED
            ? AllocState.MATCHED
            : st == MatchStatus.MATCHED_WITH_TOLERANCE ? AllocState.MATCHED_WITH_TOLERANCE : AllocState.MISMATCHED;
        if (target != al.state) _setState(id, target);
    }

    /// MATCHED / MATCHED_WITH_TOLERANCE -> MATCH_AGREED (with the trustee's approval too when the
    /// deployment requires it, as in PSMS).
    function affirm(bytes32 id) external {
        require(msg.sender == investor, "affirm: only investor");
        Allocation storage al = _allocs[id];
        _requireCurrent(al, "affirm");
        require(_isMatched(al.state), "affirm: allocation not matched");
        al.investorAffirmed = true;
        if (!trusteeApprovalRequired || al.trusteeApproved) _setState(id, AllocState.MATCH_AGREED);
    }

    function trusteeApprove(bytes32 id) external {
        require(msg.sender == trustee, "trusteeApprove: only trustee");
        Allocation storage al = _allocs[id];
        _requireCurrent(al, "trusteeApprove");
        require(_isMatched(al.state), "trusteeApprove: allocation not matched");
        al.trusteeApproved = true;
        emit TrusteeApproved(id);
        if (al.investorAffirmed) _setState(id, AllocState.MATCH_AGREED);
    }

    /// The trustee may acknowledge at any time; it never moves the trading state.
    function acknowledge(bytes32 id) external {
        require(msg.sender == trustee, "acknowledge: only trustee");
        require(_allocs[id].state != AllocState.NONE, "acknowledge: unknown allocation");
        _requireCurrent(_allocs[id], "acknowledge");
        _allocs[id].trusteeAcknowledged = true;
        emit TrusteeAcknowledged(id);
    }

    function requestCancel(bytes32 id) external {
        _requireParty("requestCancel");
        Allocation storage al = _allocs[id];
        require(al.state == AllocState.MATCH_AGREED, "requestCancel: allocation not MATCH_AGREED");
        al.cancelRequestedBy = msg.sender;
        _setState(id, AllocState.CANCEL_REQUESTED);
    }

    function agreeCancel(bytes32 id) external {
        _requireParty("agreeCancel");
        Allocation storage al = _allocs[id];
        require(al.state == AllocState.CANCEL_REQUESTED, "agreeCancel: no cancel requested");
        require(msg.sender != al.cancelRequestedBy, "agreeCancel: only the other party may agree");
        _setState(id, AllocState.CANCELLED);
    }

    function rejectCancel(bytes32 id) external {
        _requireParty("rejectCancel");
        Allocation storage al = _allocs[id];
        require(al.state == AllocState.CANCEL_REQUESTED, "rejectCancel: no cancel requested");
        require(msg.sender != al.cancelRequestedBy, "rejectCancel: only the other party may reject");
        al.cancelRequestedBy = address(0);
        _setState(id, AllocState.MATCH_AGREED);
    }

    /// Before MATCH_AGREED either trading party may void an allocation: SUPERSEDED after a block
    /// amendment, CANCELLED after a block cancel. Confirmations become void with it.
    function voidAllocation(bytes32 id, bool superseded) external {
        _requireParty("voidAllocation");
        Allocation storage al = _allocs[id];
        require(al.state != AllocState.NONE, "voidAllocation: unknown allocation");
        _requireCurrent(al, "voidAllocation");
        require(al.state < AllocState.MATCH_AGREED, "voidAllocation: MATCH_AGREED, cancel bilaterally");
        _void(id, superseded ? AllocState.SUPERSEDED : AllocState.CANCELLED);
    }

    /// The broker's first step of an amendment (§2.4, TC-14), sent to every allocation book of the
    /// block before `TradeBlockBook.amendExecution` (which refuses while an allocation of the old
    /// version is still open): records the new version and supersedes every open allocation of an
    /// older one, voiding its confirmations. Refused when one is MATCH_AGREED or later: cancel
    /// bilaterally and re-book a new block instead (TC-13).
    function supersedeBlockVersion(bytes16 blockId, uint32 newVersion) external {
        require(msg.sender == broker, "supersedeBlockVersion: only broker");
        require(newVersion > blockVersion[blockId], "supersedeBlockVersion: not a newer block version");
        bytes16[] storage funds = _blockFunds[blockId];
        uint256 count = 0;
        for (uint256 i = 0; i < funds.length; i++) {
            bytes32 id = allocationId(blockId, latestVersion[blockId][funds[i]], funds[i]);
            AllocState s = _allocs[id].state;
            if (s == AllocState.SUPERSEDED || s == AllocState.CANCELLED) continue;
            require(s < AllocState.MATCH_AGREED,
                "supersedeBlockVersion: an allocation is MATCH_AGREED, cancel bilaterally and re-book");
            _void(id, AllocState.SUPERSEDED);
            count++;
        }
        blockVersion[blockId] = newVersion;
        emit BlockVersionSuperseded(blockId, newVersion, count);
    }

    // ---- trustee: settlement ---------------------------------------------------------------------

    function instructSettlement(bytes32 id) external {
        require(msg.sender == trustee, "instructSettlement: only trustee");
        Allocation storage al = _allocs[id];
        _requireCurrent(al, "instructSettlement");
        require(al.state == AllocState.MATCH_AGREED, "instructSettlement: allocation not MATCH_AGREED");
        if (address(ssiRegistry) != address(0)) {
            (bool found, uint32 version) =
                ssiRegistry.ssiInForce(al.input.fundCode, ssiSecurityType, al.input.settlementDate);
            require(found, "instructSettlement: no approved SSI in force for the settlement date");
            al.ssiVersion = version;
        }
        emit SettlementInstructed(id, al.ssiVersion);
        _setState(id, AllocState.SETTLEMENT_INSTRUCTED);
    }

    function reportSettled(bytes32 id) external {
        require(msg.sender == trustee, "reportSettled: only trustee");
        _requireCurrent(_allocs[id], "reportSettled");
        require(_allocs[id].state == AllocState.SETTLEMENT_INSTRUCTED, "reportSettled: settlement not instructed");
        _setState(id, AllocState.SETTLED);
    }

    // ---- views -----------------------------------------------------------------------------------

    function allocationId(bytes16 blockId, uint32 blockVersion, bytes16 fundCode) public pure returns (bytes32) {
        return keccak256(abi.encode(blockId, blockVersion, fundCode));
    }

    function allocationState(bytes16 blockId, uint32 blockVersion, bytes16 fundCode) external view returns (AllocState) {
        return _allocs[allocationId(blockId, blockVersion, fundCode)].state;
    }

    function getAllocation(bytes32 id) external view returns (Allocation memory) {
        return _allocs[id];
    }

    function confirmationOf(bytes32 id, bool brokerSide) external view returns (Confirmation memory) {
        return brokerSide ? _brokerConf[id] : _investorConf[id];
    }

    /// Match status, broker-minus-investor differences and the agreed figures (zero when MISMATCHED).
    function matchOf(bytes32 id) external view returns (MatchStatus, Figures memory, Figures memory) {
        return (_allocs[id].matchStatus, _diff[id], _agreed[id]);
    }

    // ---- internals -------------------------------------------------------------------------------

    /// Nothing of an old block version moves once a newer one is known here (§2.4, TC-14).
    function _requireCurrent(Allocation storage al, string memory what) private view {
        require(al.state != AllocState.SUPERSEDED && al.input.blockVersion == blockVersion[al.input.blockId],
            string.concat(what, ": allocation superseded by a newer block version"));
    }

    /// SUPERSEDED or CANCELLED before MATCH_AGREED: both sides' confirmations become void and
    /// nothing stays agreed (the figures stay readable for the audit trail).
    function _void(bytes32 id, AllocState to) private {
        _setState(id, to);
        _brokerConf[id].voided = true;
        _investorConf[id].voided = true;
        delete _agreed[id];
        emit ConfirmationsVoided(id);
    }

    function _isMatched(AllocState s) private pure returns (bool) {
        return s == AllocState.MATCHED || s == AllocState.MATCHED_WITH_TOLERANCE;
    }

    function _addProfile(MatchingProfile memory p) private {
        for (uint256 i = 0; i < 4; i++) require(p.tolRate_e6[i] <= 1_000_000, "profile: tolerance rate above 100 %");
        if (_profiles.length > 0) {
            require(p.effectiveFrom > _profiles[_profiles.length - 1].effectiveFrom,
                "profile: effective date must follow the latest version");
        }
        _profiles.push(p);
        emit ProfileAdded(_profiles.length - 1, p.effectiveFrom, keccak256(abi.encode(p)));
    }

    function _setState(bytes32 id, AllocState to) private {
        Allocation storage al = _allocs[id];
        AllocState from = al.state;
        al.state = to;
        emit AllocationStateChanged(id, from, to, msg.sender);
    }
}
