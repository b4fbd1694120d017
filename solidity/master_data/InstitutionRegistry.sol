// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Identifiers} from "../lib/Identifiers.sol";

/// Party-key registry (§1.4 "party key", §4.3 Institution): LEI <-> Ethereum accounts <->
/// Tessera keys <-> BIC / JASDEC code. Public to all members (§6); written by the platform
/// administrator. No personal contact data on chain (§4.3).
contract InstitutionRegistry {
    uint8 public constant ROLE_ASSET_MANAGER = 1;
    uint8 public constant ROLE_TRUST_BANK = 2;
    uint8 public constant ROLE_SECURITIES_COMPANY = 4;
    uint8 public constant ROLE_REGULATOR = 8;
    uint8 public constant ROLE_OPERATOR = 16;

    enum Status {
        NONE,
        ACTIVE,
        SUSPENDED,
        RETIRED
    }

    /// Identifiers are text as supplied (lower case fails when `strictIdentifierCase`).
    struct InstitutionInput {
        string lei;
        string corporateNumber; // "" when the institution has none (e.g. a foreign broker)
        string[] bics;
        string jasdecParticipantCode; // "" when not a JASDEC participant
        string nameJa;
        string nameEn;
        uint8 roles;
        address[] accounts;
        bytes32[] ptmPublicKeys;
    }

    struct Institution {
        string lei;
        string corporateNumber;
        string[] bics;
        string jasdecParticipantCode;
        string nameJa;
        string nameEn;
        uint8 roles;
        address[] accounts;
        bytes32[] ptmPublicKeys;
        Status status;
    }

    address public admin;
    /// [A-MD-CASE]: true rejects lower case; false upper-cases identifiers before checking.
    bool public immutable strictIdentifierCase;

    mapping(bytes32 => Institution) private _byLei;
    mapping(address => string) private _leiOfAccount;
    string[] private _leis;

    event AdminChanged(address indexed previousAdmin, address indexed newAdmin);
    event InstitutionRegistered(string lei, uint8 roles);
    event InstitutionUpdated(string lei, uint8 roles);
    event InstitutionStatusChanged(string lei, Status from, Status to);

    modifier onlyAdmin() {
        require(msg.sender == admin, "institution registry: only admin");
        _;
    }

    constructor(address admin_, bool strictIdentifierCase_) {
        require(admin_ != address(0), "institution registry: admin required");
        admin = admin_;
        strictIdentifierCase = strictIdentifierCase_;
    }

    function transferAdmin(address newAdmin) external onlyAdmin {
        require(newAdmin != address(0), "institution registry: admin required");
        emit AdminChanged(admin, newAdmin);
        admin = newAdmin;
    }

    function register(InstitutionInput calldata x) external onlyAdmin {
        string memory lei = _ident(x.lei);
        require(_byLei[keccak256(bytes(lei))].status == Status.NONE, "register: LEI already registered");
        _leis.push(lei);
        _write(lei, x);
        _byLei[keccak256(bytes(lei))].status = Status.ACTIVE;
        emit InstitutionRegistered(lei, x.roles);
    }

    /// Replaces accounts, keys, codes and names of a registered institution.
    function update(InstitutionInput calldata x) external onlyAdmin {
        string memory lei = _ident(x.lei);
        Institution storage inst = _byLei[keccak256(bytes(lei))];
        require(inst.status != Status.NONE, "update: unknown LEI");
        for (uint256 i = 0; i < inst.accounts.length; i++) delete _leiOfAccount[inst.accounts[i]];
        _write(lei, x);
        emit InstitutionUpdated(lei, x.roles);
    }

    function setStatus(string calldata lei, Status status) external onlyAdmin {
        Institution storage inst = _byLei[keccak256(bytes(_ident(lei)))];
        require(inst.status != Status.NONE, "setStatus: unknown LEI");
        require(status != Status.NONE, "setStatus: invalid status");
        emit InstitutionStatusChanged(inst.lei, inst.status, status);
        inst.status = status;
    }

    function getInstitution(string calldata lei) external view returns (Institution memory) {
        Institution memory inst = _byLei[keccak256(bytes(_ident(lei)))];
        require(inst.status != Status.NONE, "unknown LEI");
        return inst;
    }

    function leiOfAccount(address account) external view returns (string memory) {
        return _leiOfAccount[account];
    }

    /// True when `account` belongs to an ACTIVE institution holding every bit of `role`.
    function hasRole(address account, uint8 role) external view returns (bool) {
        string memory lei = _leiOfAccount[account];
        if (bytes(lei).length == 0) return false;
        Institution storage inst = _byLei[keccak256(bytes(lei))];
        return inst.status == Status.ACTIVE && (inst.roles & role) == role;
    }

    function institutionCount() external view returns (uint256) {
        return _leis.length;
    }

    function leiAt(uint256 i) external view returns (string memory) {
        return _leis[i];
    }

    function _ident(string memory s) private view returns (string memory) {
        return strictIdentifierCase ? s : string(Identifiers.upper(bytes(s)));
    }

    function _write(string memory lei, InstitutionInput calldata x) private {
        require(Identifiers.isValidLei(bytes(lei)), "invalid LEI");
        string memory corp = _ident(x.corporateNumber);
        require(bytes(corp).length == 0 || Identifiers.isValidCorporateNumber(bytes(corp)), "invalid corporate number");
        string memory jasdec = x.jasdecParticipantCode;
        require(bytes(jasdec).length == 0 || Identifiers.isValidJasdecCode(bytes(jasdec)),
            "invalid JASDEC participant code");
        require(x.roles != 0, "at least one role required");
        Institution storage inst = _byLei[keccak256(bytes(lei))];
        inst.lei = lei;
        inst.corporateNumber = corp;
        delete inst.bics;
        for (uint256 i = 0; i < x.bics.length; i++) {
            string memory bic = _ident(x.bics[i]);
            require(Identifiers.isValidBic(bytes(bic)), "invalid BIC");
            inst.bics.push(bic);
        }
        inst.jasdecParticipantCode = jasdec;
        inst.nameJa = x.nameJa;
        inst.nameEn = x.nameEn;
        inst.roles = x.roles;
        inst.accounts = x.accounts;
        inst.ptmPublicKeys = x.ptmPublicKeys;
        for (uint256 i = 0; i < x.accounts.length; i++) {
            require(x.accounts[i] != address(0), "zero account");
            require(bytes(_leiOfAccount[x.accounts[i]]).length == 0, "account already mapped to an institution");
            _leiOfAccount[x.accounts[i]] = lei;
        }
    }
}
