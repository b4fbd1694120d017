// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Strings10} from "./PostTradeMath.sol";

interface IConsumptionTaxTable {
    function rateOn(uint32 day) external view returns (uint16);
}

/// Consumption-tax rate table (integer percent by effective date), maintained by the platform
/// administrator (§1.1, §2.2). The rate used for a trade is the one in force on the trade date
/// [A-TC-TAXDATE], so the table only grows forward: a past rate is never rewritten.
contract ConsumptionTaxTable is IConsumptionTaxTable {
    struct Entry {
        uint32 effectiveFrom;
        uint16 ratePct;
    }

    address public admin;
    Entry[] private _entries;

    event AdminChanged(address indexed previousAdmin, address indexed newAdmin);
    event RateAdded(uint32 indexed effectiveFrom, uint16 ratePct);

    modifier onlyAdmin() {
        require(msg.sender == admin, "tax table: only admin");
        _;
    }

    constructor(address admin_, uint32[] memory effectiveFrom, uint16[] memory ratePct) {
        require(admin_ != address(0), "tax table: admin required");
        require(effectiveFrom.length == ratePct.length, "tax table: length mismatch");
        admin = admin_;
        for (uint256 i = 0; i < effectiveFrom.length; i++) _add(effectiveFrom[i], ratePct[i]);
    }

    function transferAdmin(address newAdmin) external onlyAdmin {
        require(newAdmin != address(0), "tax table: admin required");
        emit AdminChanged(admin, newAdmin);
        admin = newAdmin;
    }

    function addRate(uint32 effectiveFrom, uint16 ratePct) external onlyAdmin {
        _add(effectiveFrom, ratePct);
    }

    function rateOn(uint32 day) external view returns (uint16) {
        for (uint256 i = _entries.length; i > 0; i--) {
            if (_entries[i - 1].effectiveFrom <= day) return _entries[i - 1].ratePct;
        }
        revert(string.concat("tax table: no rate for ", Strings10.isoDate(day)));
    }

    function entryCount() external view returns (uint256) {
        return _entries.length;
    }

    function entryAt(uint256 i) external view returns (Entry memory) {
        return _entries[i];
    }

    function _add(uint32 effectiveFrom, uint16 ratePct) private {
        require(ratePct <= 100, "tax table: rate above 100%");
        if (_entries.length > 0) {
            require(effectiveFrom > _entries[_entries.length - 1].effectiveFrom,
                "tax table: effective dates must increase");
        }
        _entries.push(Entry(effectiveFrom, ratePct));
        emit RateAdded(effectiveFrom, ratePct);
    }
}
