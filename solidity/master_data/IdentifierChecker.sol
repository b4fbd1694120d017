// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Identifiers} from "../lib/Identifiers.sol";

/// Stateless public checker for the identifiers of §1.4, so any member (or an off-chain adapter)
/// validates with the exact code the registries run on every write. Input is taken as supplied:
/// lower case is invalid [A-MD-CASE].
contract IdentifierChecker {
    function isValidIsin(string calldata s) external pure returns (bool) {
        return Identifiers.isValidIsin(bytes(s));
    }

    /// Check digit for the first 11 characters of an ISIN.
    function isinCheckDigit(string calldata first11) external pure returns (uint256) {
        bytes memory b = bytes(first11);
        require(b.length == 11, "ISIN prefix must be 11 characters");
        for (uint256 i = 0; i < 11; i++) require(Identifiers.isUpperAlnum(b[i]), "ISIN prefix: A-Z and 0-9 only");
        return Identifiers.isinCheckDigit(b);
    }

    function isValidLei(string calldata s) external pure returns (bool) {
        return Identifiers.isValidLei(bytes(s));
    }

    function leiCheckDigits(string calldata prefix18) external pure returns (uint256) {
        bytes memory b = bytes(prefix18);
        require(b.length == 18, "LEI prefix must be 18 characters");
        for (uint256 i = 0; i < 18; i++) require(Identifiers.isUpperAlnum(b[i]), "LEI prefix: A-Z and 0-9 only");
        return Identifiers.leiCheckDigits(b);
    }

    function isValidCorporateNumber(string calldata s) external pure returns (bool) {
        return Identifiers.isValidCorporateNumber(bytes(s));
    }

    function corporateNumberCheckDigit(string calldata base12) external pure returns (uint256) {
        bytes memory b = bytes(base12);
        require(b.length == 12, "corporate number base must be 12 digits");
        for (uint256 i = 0; i < 12; i++) require(Identifiers.isDigit(b[i]), "corporate number base: digits only");
        return Identifiers.corporateNumberCheckDigit(b);
    }

    function isValidBic(string calldata s) external pure returns (bool) {
        return Identifiers.isValidBic(bytes(s));
    }

    function isValidJasdecCode(string calldata s) external pure returns (bool) {
        return Identifiers.isValidJasdecCode(bytes(s));
    }

    function isValidGiin(string calldata s) external pure returns (bool) {
        return Identifiers.isValidGiin(bytes(s));
    }

    function isValidFundCode(string calldata s) external pure returns (bool) {
        return Identifiers.isValidFundCode(bytes(s));
    }

    function isValidLocalCode(string calldata s) external pure returns (bool) {
        return Identifiers.isValidLocalCode(bytes(s));
    }
}
