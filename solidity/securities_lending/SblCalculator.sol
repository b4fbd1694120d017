// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {DateLib, SignedRounding} from "../lib/PostTradeMath.sol";
import {DayAccrual, FeeBasis, RoundingLocation, SblMath} from "./SblMath.sol";

/// Stateless public calculator for the SBL formulas of §3.5 and the day-count rules of §1.3, so a
/// party recomputes a fee from a breakdown (e.g. the other side's, exchanged after MISMATCHED)
/// with the same code the statement book runs.
contract SblCalculator {
    function accrue(
        DayAccrual[] calldata dayList,
        uint256 basisDays,
        FeeBasis basis,
        RoundingLocation loc,
        SignedRounding rounding
    ) external pure returns (int256 feeYen, int256 collateralInterestYen) {
        return SblMath.accrue(dayList, basisDays, basis, loc, rounding);
    }

    function requiredCollateral(uint64 shares, uint64 close_e4, uint32 margin_e6) external pure returns (uint256) {
        return SblMath.requiredCollateral(shares, close_e4, margin_e6);
    }

    function collateralValue(uint64 quantity, uint64 close_e4, uint32 haircut_e6) external pure returns (uint256) {
        return SblMath.collateralValue(quantity, close_e4, haircut_e6);
    }

    function dividendEquivalent(uint64 shares, uint64 dps_e4, uint32 ratio_e6) external pure returns (uint256) {
        return SblMath.dividendEquivalent(shares, dps_e4, ratio_e6);
    }

    /// Calendar days from start (included) to end (excluded), or both included (両端).
    function accrualDays(uint32 startDate, uint32 endDate, bool includeEnd) external pure returns (uint256) {
        if (endDate < startDate) return 0;
        return uint256(endDate - startDate) + (includeEnd ? 1 : 0);
    }

    function daysInYear(uint256 year) external pure returns (uint256) {
        return DateLib.daysInYear(year);
    }

    function periodBounds(uint32 period) external pure returns (uint32 first, uint32 next) {
        return DateLib.periodBounds(period);
    }

    function daysFromCivil(uint256 y, uint256 m, uint256 d) external pure returns (uint32) {
        return DateLib.daysFromCivil(y, m, d);
    }

    function civilFromDays(uint32 day) external pure returns (uint256 y, uint256 m, uint256 d) {
        return DateLib.civilFromDays(day);
    }
}
