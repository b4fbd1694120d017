// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {DateLib, Strings10} from "./PostTradeMath.sol";

/// Read interface used by the post-trade contracts (a private contract may read a public one).
interface IBusinessCalendar {
    function isBusinessDay(uint32 day) external view returns (bool);
    function addBusinessDays(uint32 day, uint256 n) external view returns (uint32);
    function previousBusinessDay(uint32 day) external view returns (uint32);
    function businessDayOnOrAfter(uint32 day) external view returns (uint32);
}

/// Japanese business-day calendar maintained by the platform administrator [A-CAL].
/// Holidays are data, not code (§1.3); weekends and the Dec 31 - Jan 3 exchange closure are
/// parameters. Queries outside the maintained range revert instead of guessing.
contract BusinessCalendar is IBusinessCalendar {
    address public admin;
    /// Bit i set = weekday i (Monday = 0 ... Sunday = 6) is closed. Default Sat+Sun = 0x60.
    uint8 public weekendMask;
    /// Exchange year-end closure Dec 31 - Jan 3 [A-CAL].
    bool public yearEndClosure;
    uint32 public validFrom;
    uint32 public validUntil;
    mapping(uint32 => bool) public isHoliday;

    event AdminChanged(address indexed previousAdmin, address indexed newAdmin);
    event HolidaySet(uint32 indexed day, bool holiday);
    event RulesSet(uint8 weekendMask, bool yearEndClosure);
    event CoverageSet(uint32 validFrom, uint32 validUntil);

    modifier onlyAdmin() {
        require(msg.sender == admin, "calendar: only admin");
        _;
    }

    constructor(
        address admin_,
        uint8 weekendMask_,
        bool yearEndClosure_,
        uint32 validFrom_,
        uint32 validUntil_,
        uint32[] memory holidays
    ) {
        require(admin_ != address(0), "calendar: admin required");
        admin = admin_;
        _setRules(weekendMask_, yearEndClosure_);
        _setCoverage(validFrom_, validUntil_);
        for (uint256 i = 0; i < holidays.length; i++) {
            isHoliday[holidays[i]] = true;
            emit HolidaySet(holidays[i], true);
        }
    }

    function transferAdmin(address newAdmin) external onlyAdmin {
        require(newAdmin != address(0), "calendar: admin required");
        emit AdminChanged(admin, newAdmin);
        admin = newAdmin;
    }

    function setHolidays(uint32[] calldata dayList, bool holiday) external onlyAdmin {
        for (uint256 i = 0; i < dayList.length; i++) {
            isHoliday[dayList[i]] = holiday;
            emit HolidaySet(dayList[i], holiday);
        }
    }

    function setRules(uint8 weekendMask_, bool yearEndClosure_) external onlyAdmin {
        _setRules(weekendMask_, yearEndClosure_);
    }

    function setCoverage(uint32 validFrom_, uint32 validUntil_) external onlyAdmin {
        _setCoverage(validFrom_, validUntil_);
    }

    function isBusinessDay(uint32 day) public view returns (bool) {
        require(day >= validFrom && day <= validUntil,
            string.concat("calendar: not maintained for ", Strings10.isoDate(day)));
        if ((weekendMask >> DateLib.weekday(day)) & 1 == 1) return false;
        if (isHoliday[day]) return false;
        if (yearEndClosure) {
            (, uint256 m, uint256 d) = DateLib.civilFromDays(day);
            if ((m == 12 && d == 31) || (m == 1 && d <= 3)) return false;
        }
        return true;
    }

    /// T+n: the n-th business day after `day` (§1.3; n = 2 for listed equities).
    function addBusinessDays(uint32 day, uint256 n) external view returns (uint32) {
        uint256 counted = 0;
        while (counted < n) {
            day += 1;
            if (isBusinessDay(day)) counted++;
        }
        return day;
    }

    /// Latest business day strictly before `day`.
    function previousBusinessDay(uint32 day) external view returns (uint32) {
        do {
            day -= 1;
        } while (!isBusinessDay(day));
        return day;
    }

    function businessDayOnOrAfter(uint32 day) external view returns (uint32) {
        while (!isBusinessDay(day)) day += 1;
        return day;
    }

    function _setRules(uint8 weekendMask_, bool yearEndClosure_) private {
        require(weekendMask_ < 0x7f, "calendar: every weekday closed");
        weekendMask = weekendMask_;
        yearEndClosure = yearEndClosure_;
        emit RulesSet(weekendMask_, yearEndClosure_);
    }

    function _setCoverage(uint32 validFrom_, uint32 validUntil_) private {
        require(validFrom_ <= validUntil_, "calendar: empty coverage");
        validFrom = validFrom_;
        validUntil = validUntil_;
        emit CoverageSet(validFrom_, validUntil_);
    }
}
