// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Identifiers} from "../lib/Identifiers.sol";
import {IFundStatus} from "./MasterDataInterfaces.sol";

/// AML/CFT, FATCA and CRS review evidence of the funds of one (asset manager, trustee) pair (§4.1,
/// §6: "AML/FATCA evidence of F | manager, trustee | brokers"). Recipients: exactly the manager and
/// the trustee (and a regulator when configured); brokers are never parties, they read only the
/// status flag and its as-of date in the FundRegistry, which a party publishes from here.
///
/// No personal data on chain (§4.3): an item names the review document by its hash and the
/// reviewer by an internal reference (e.g. a hash of the staff id), never by name. An item recorded
/// by one side is acknowledged (or disputed) by the other; only acknowledged items count.
contract FundEvidenceBook {
    enum Kind {
        AML,
        FATCA,
        CRS
    }

    enum Result {
        NONE,
        CLEARED, // no concern found
        ESCALATED, // further review needed
        REJECTED // the fund may not trade
    }

    enum EvidenceState {
        NONE,
        RECORDED,
        ACKNOWLEDGED,
        DISPUTED
    }

    /// The FundRegistry's AmlStatus ordinals (the flag brokers see).
    uint8 public constant AML_NOT_STARTED = 0;
    uint8 public constant AML_IN_REVIEW = 1;
    uint8 public constant AML_APPROVED = 2;
    uint8 public constant AML_REJECTED = 3;
    uint8 public constant AML_REVIEW_DUE = 4;
    uint256 private constant JST_OFFSET = 9 hours;

    struct EvidenceInput {
        bytes16 fundCode;
        Kind kind;
        bytes32 documentHash; // the review file, kept off chain
        bytes32 reviewerRef; // an internal reference of the reviewer, not a name
        uint32 reviewedOn;
        Result result;
        uint32 nextReviewDue; // after this date a CLEARED review is due again
    }

    struct Evidence {
        EvidenceInput input;
        EvidenceState state;
        address recordedBy;
        address answeredBy;
        uint32 answeredOn; // JST day of the acknowledgement or dispute
        string disputeReason;
    }

    address public immutable assetManager;
    address public immutable trustee;
    /// The (manager, trustee) FundRegistry the funds must exist in; 0 = fund codes not checked.
    address public immutable fundRegistry;

    Evidence[] private _items;
    mapping(bytes16 => uint256[]) private _byFund;

    event EvidenceRecorded(uint256 indexed id, bytes16 indexed fundCode, Kind kind, Result result, address by);
    event EvidenceAcknowledged(uint256 indexed id, address by);
    event EvidenceDisputed(uint256 indexed id, address by, string reason);

    constructor(address assetManager_, address trustee_, address fundRegistry_) {
        require(assetManager_ != address(0) && trustee_ != address(0) && assetManager_ != trustee_,
            "FundEvidenceBook: manager and trustee required");
        assetManager = assetManager_;
        trustee = trustee_;
        fundRegistry = fundRegistry_;
    }

    function recordEvidence(EvidenceInput calldata x) external returns (uint256 id) {
        require(msg.sender == assetManager || msg.sender == trustee, "recordEvidence: only asset manager or trustee");
        require(Identifiers.isValidFundCode(Identifiers.trimmed(x.fundCode)), "recordEvidence: invalid fund code");
        require(fundRegistry == address(0) || IFundStatus(fundRegistry).statusOn(x.fundCode, x.reviewedOn) != 0,
            "recordEvidence: unknown fund");
        require(x.documentHash != bytes32(0), "recordEvidence: document hash required");
        require(x.reviewerRef != bytes32(0), "recordEvidence: reviewer reference required");
        require(x.reviewedOn != 0, "recordEvidence: review date required");
        require(x.result != Result.NONE, "recordEvidence: result required");
        require(x.nextReviewDue > x.reviewedOn, "recordEvidence: next review must follow the review");
        id = _items.length;
        Evidence storage e = _items.push();
        e.input = x;
        e.state = EvidenceState.RECORDED;
        e.recordedBy = msg.sender;
        _byFund[x.fundCode].push(id);
        emit EvidenceRecorded(id, x.fundCode, x.kind, x.result, msg.sender);
    }

    /// The other side (the trustee for the manager's records, and vice versa) agrees with the item.
    function acknowledgeEvidence(uint256 id) external {
        Evidence storage e = _answerable(id, "acknowledgeEvidence");
        e.state = EvidenceState.ACKNOWLEDGED;
        emit EvidenceAcknowledged(id, msg.sender);
    }

    function disputeEvidence(uint256 id, string calldata reason) external {
        Evidence storage e = _answerable(id, "disputeEvidence");
        e.state = EvidenceState.DISPUTED;
        e.disputeReason = reason;
        emit EvidenceDisputed(id, msg.sender, reason);
    }

    // ---- views -----------------------------------------------------------------------------------

    function today() public view returns (uint32) {
        return uint32((block.timestamp + JST_OFFSET) / 1 days);
    }

    function evidenceCount() external view returns (uint256) {
        return _items.length;
    }

    function getEvidence(uint256 id) external view returns (Evidence memory) {
        require(id < _items.length, "unknown evidence");
        return _items[id];
    }

    function evidenceOf(bytes16 code) external view returns (uint256[] memory) {
        return _byFund[code];
    }

    /// The latest acknowledged item of `kind` reviewed on or before `day` (ties: the later record).
    function latestEvidence(bytes16 code, Kind kind, uint32 day) public view returns (bool found, uint256 id) {
        uint256[] storage ids = _byFund[code];
        uint32 best;
        for (uint256 i = 0; i < ids.length; i++) {
            EvidenceInput storage x = _items[ids[i]].input;
            if (_items[ids[i]].state == EvidenceState.ACKNOWLEDGED && x.kind == kind && x.reviewedOn <= day
                && (!found || x.reviewedOn >= best)) {
                (found, id, best) = (true, ids[i], x.reviewedOn);
            }
        }
    }

    /// The AML flag as of `day` and its as-of date (the review's date), as the FundRegistry shows it
    /// to brokers: from the latest acknowledged AML review, CLEARED → APPROVED (REVIEW_DUE after its
    /// next-review date), ESCALATED → IN_REVIEW, REJECTED → REJECTED; with none acknowledged, IN_REVIEW
    /// while a recorded review awaits the other side, else NOT_STARTED.
    function amlStatusOn(bytes16 code, uint32 day) external view returns (uint8 status, uint32 asOf) {
        (bool found, uint256 id) = latestEvidence(code, Kind.AML, day);
        if (found) {
            EvidenceInput storage x = _items[id].input;
            if (x.result == Result.REJECTED) return (AML_REJECTED, x.reviewedOn);
            if (x.result == Result.ESCALATED) return (AML_IN_REVIEW, x.reviewedOn);
            return (day > x.nextReviewDue ? AML_REVIEW_DUE : AML_APPROVED, x.reviewedOn);
        }
        uint256[] storage ids = _byFund[code];
        for (uint256 i = ids.length; i > 0; i--) {
            Evidence storage e = _items[ids[i - 1]];
            if (e.state == EvidenceState.RECORDED && e.input.kind == Kind.AML && e.input.reviewedOn <= day) {
                return (AML_IN_REVIEW, e.input.reviewedOn);
            }
        }
        return (AML_NOT_STARTED, 0);
    }

    // ---- internals -------------------------------------------------------------------------------

    function _answerable(uint256 id, string memory what) private returns (Evidence storage e) {
        require(id < _items.length, "unknown evidence");
        e = _items[id];
        require(e.state == EvidenceState.RECORDED, string.concat(what, ": evidence not RECORDED"));
        address other = e.recordedBy == assetManager ? trustee : assetManager;
        require(msg.sender == other, string.concat(what, ": only the side that did not record it"));
        e.answeredBy = msg.sender;
        e.answeredOn = today();
    }
}
