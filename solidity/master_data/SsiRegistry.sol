// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Identifiers} from "../lib/Identifiers.sol";
import {ISsiLookup} from "./MasterDataInterfaces.sol";

/// Standing settlement instructions of one asset manager's funds for ONE counterparty broker:
/// recipients {manager, trustee, broker} (§6; broker B has its own instance). As in PSMS an SSI
/// is usable only after one settlement party registers it and the other approves (§4.1); the
/// version in force for a settlement date is the latest ACTIVE one whose effective date is on or
/// before it [A-MD-SSI-EFF] (MD-05).
contract SsiRegistry is ISsiLookup {
    /// SUPERSEDED is derived from the dates (see `stateOn`).
    enum SsiState {
        NONE,
        PENDING_COUNTERPARTY_APPROVAL,
        ACTIVE,
        REJECTED,
        SUPERSEDED,
        TERMINATION_REQUESTED,
        TERMINATED
    }

    struct SsiInput {
        bytes16 fundCode;
        bytes4 securityType; // "EQU", "FI"
        bytes2 market; // "JP"
        bytes8 method; // "JASDEC"
        string pset; // place of settlement BIC, JJSDJPJT
        string agentBic;
        string agentJasdecCode; // 5 digits
        bytes32 safekeepingAccount;
        bytes32 cashAccount;
        uint32 effectiveDate;
    }

    struct Ssi {
        SsiInput input;
        uint32 version;
        SsiState state;
        address registeredBy;
        address approvedBy;
        address terminationRequestedBy;
    }

    address public immutable assetManager;
    address public immutable trustee;
    address public immutable broker;
    /// [A-MD-SSI-EFF]: true = effective dating; false = the latest ACTIVE version regardless of date.
    bool public immutable effectiveDating;
    /// [A-MD-CASE]: true rejects lower-case identifiers; false upper-cases them first.
    bool public immutable strictIdentifierCase;

    mapping(bytes32 => Ssi[]) private _versions;

    event SsiRegistered(bytes16 indexed fundCode, bytes4 securityType, uint32 version, uint32 effectiveDate,
        address by);
    event SsiStateChanged(bytes16 indexed fundCode, bytes4 securityType, uint32 version, SsiState to, address by);

    constructor(
        address assetManager_,
        address trustee_,
        address broker_,
        bool effectiveDating_,
        bool strictIdentifierCase_
    ) {
        require(assetManager_ != address(0) && trustee_ != address(0) && broker_ != address(0), "parties required");
        require(broker_ != assetManager_ && broker_ != trustee_, "broker must differ from the fund side");
        assetManager = assetManager_;
        trustee = trustee_;
        broker = broker_;
        effectiveDating = effectiveDating_;
        strictIdentifierCase = strictIdentifierCase_;
    }

    // ---- either settlement party -----------------------------------------------------------------

    function registerSsi(SsiInput calldata x) external returns (uint32 version) {
        require(_isFundSide(msg.sender) || msg.sender == broker, "registerSsi: only a settlement party");
        require(Identifiers.isValidFundCode(Identifiers.trimmed(x.fundCode)), "registerSsi: invalid fund code");
        require(x.securityType != bytes4(0), "registerSsi: security type required");
        require(x.safekeepingAccount != bytes32(0), "registerSsi: safekeeping account required");
        SsiInput memory norm = x;
        norm.pset = string(_ident(x.pset));
        norm.agentBic = string(_ident(x.agentBic));
        require(Identifiers.isValidBic(bytes(norm.pset)), "registerSsi: invalid place-of-settlement BIC");
        require(Identifiers.isValidBic(bytes(norm.agentBic)), "registerSsi: invalid agent BIC");
        require(Identifiers.isValidJasdecCode(bytes(x.agentJasdecCode)), "registerSsi: invalid JASDEC code");
        Ssi[] storage vs = _versions[ssiKey(x.fundCode, x.securityType)];
        version = uint32(vs.length + 1);
        Ssi storage s = vs.push();
        s.input = norm;
        s.version = version;
        s.state = SsiState.PENDING_COUNTERPARTY_APPROVAL;
        s.registeredBy = msg.sender;
        emit SsiRegistered(x.fundCode, x.securityType, version, x.effectiveDate, msg.sender);
        emit SsiStateChanged(x.fundCode, x.securityType, version, s.state, msg.sender);
    }

    /// Only the other side of the registrant approves: broker for a fund-side registration, the
    /// manager or trustee for a broker registration.
    function approveSsi(bytes16 fundCode, bytes4 securityType, uint32 version) external {
        Ssi storage s = _ssi(fundCode, securityType, version);
        require(s.state == SsiState.PENDING_COUNTERPARTY_APPROVAL, "approveSsi: not pending approval");
        _requireCounterparty(s.registeredBy, "approveSsi");
        s.approvedBy = msg.sender;
        _set(s, SsiState.ACTIVE);
    }

    function rejectSsi(bytes16 fundCode, bytes4 securityType, uint32 version) external {
        Ssi storage s = _ssi(fundCode, securityType, version);
        require(s.state == SsiState.PENDING_COUNTERPARTY_APPROVAL, "rejectSsi: not pending approval");
        _requireCounterparty(s.registeredBy, "rejectSsi");
        _set(s, SsiState.REJECTED);
    }

    /// Termination needs both parties: one requests, the other side confirms or rejects.
    function requestTermination(bytes16 fundCode, bytes4 securityType, uint32 version) external {
        require(_isFundSide(msg.sender) || msg.sender == broker, "requestTermination: only a settlement party");
        Ssi storage s = _ssi(fundCode, securityType, version);
        require(s.state == SsiState.ACTIVE, "requestTermination: SSI not ACTIVE");
        s.terminationRequestedBy = msg.sender;
        _set(s, SsiState.TERMINATION_REQUESTED);
    }

    function confirmTermination(bytes16 fundCode, bytes4 securityType, uint32 version) external {
        Ssi storage s = _ssi(fundCode, securityType, version);
        require(s.state == SsiState.TERMINATION_REQUESTED, "confirmTermination: no termination requested");
        _requireCounterparty(s.terminationRequestedBy, "confirmTermination");
        _set(s, SsiState.TERMINATED);
    }

    function rejectTermination(bytes16 fundCode, bytes4 securityType, uint32 version) external {
        Ssi storage s = _ssi(fundCode, securityType, version);
        require(s.state == SsiState.TERMINATION_REQUESTED, "rejectTermination: no termination requested");
        _requireCounterparty(s.terminationRequestedBy, "rejectTermination");
        s.terminationRequestedBy = address(0);
        _set(s, SsiState.ACTIVE);
    }

    // ---- views -----------------------------------------------------------------------------------

    function ssiKey(bytes16 fundCode, bytes4 securityType) public pure returns (bytes32) {
        return keccak256(abi.encode(fundCode, securityType));
    }

    /// The version in force for `settlementDate`: latest (effective date, version) among ACTIVE
    /// versions (a termination still pending keeps it in force) dated on or before it.
    function ssiInForce(bytes16 fundCode, bytes4 securityType, uint32 settlementDate)
        public
        view
        returns (bool found, uint32 version)
    {
        Ssi[] storage vs = _versions[ssiKey(fundCode, securityType)];
        uint32 bestDate = 0;
        for (uint256 i = 0; i < vs.length; i++) {
            Ssi storage s = vs[i];
            if (s.state != SsiState.ACTIVE && s.state != SsiState.TERMINATION_REQUESTED) continue;
            uint32 eff = s.input.effectiveDate;
            if (effectiveDating && eff > settlementDate) continue;
            if (!effectiveDating) eff = 0;
            if (!found || eff > bestDate || (eff == bestDate && s.version > version)) {
                found = true;
                bestDate = eff;
                version = s.version;
            }
        }
    }

    /// Stored state, except that an ACTIVE version reads SUPERSEDED once a newer version is in force.
    function stateOn(bytes16 fundCode, bytes4 securityType, uint32 version, uint32 day) external view returns (SsiState) {
        Ssi storage s = _ssi(fundCode, securityType, version);
        if (s.state != SsiState.ACTIVE) return s.state;
        (bool found, uint32 inForce) = ssiInForce(fundCode, securityType, day);
        if (found && inForce != version) {
            Ssi storage other = _versions[ssiKey(fundCode, securityType)][inForce - 1];
            bool newer = !effectiveDating || other.input.effectiveDate > s.input.effectiveDate
                || (other.input.effectiveDate == s.input.effectiveDate && other.version > version);
            if (newer) return SsiState.SUPERSEDED;
        }
        return SsiState.ACTIVE;
    }

    function getSsi(bytes16 fundCode, bytes4 securityType, uint32 version) external view returns (Ssi memory) {
        return _ssi(fundCode, securityType, version);
    }

    function versionCount(bytes16 fundCode, bytes4 securityType) external view returns (uint256) {
        return _versions[ssiKey(fundCode, securityType)].length;
    }

    // ---- internals -------------------------------------------------------------------------------

    function _isFundSide(address a) private view returns (bool) {
        return a == assetManager || a == trustee;
    }

    function _requireCounterparty(address initiator, string memory what) private view {
        bool ok = _isFundSide(initiator) ? msg.sender == broker : _isFundSide(msg.sender);
        require(ok, string.concat(what, ": only the counterparty of the initiating side"));
    }

    function _ident(string memory s) private view returns (bytes memory) {
        return strictIdentifierCase ? bytes(s) : Identifiers.upper(bytes(s));
    }

    function _ssi(bytes16 fundCode, bytes4 securityType, uint32 version) private view returns (Ssi storage) {
        Ssi[] storage vs = _versions[ssiKey(fundCode, securityType)];
        require(version >= 1 && version <= vs.length, "unknown SSI version");
        return vs[version - 1];
    }

    function _set(Ssi storage s, SsiState to) private {
        s.state = to;
        emit SsiStateChanged(s.input.fundCode, s.input.securityType, s.version, to, msg.sender);
    }
}
