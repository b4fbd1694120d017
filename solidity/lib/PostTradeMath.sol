// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// Rounding of a non-negative quotient (DOMAIN.md §1.2). FLOOR is the default wherever §2.5 says "floor".
enum Rounding {
    FLOOR,
    HALF_UP,
    HALF_EVEN,
    CEIL
}

/// Rounding of a signed quotient. Solidity `int` division truncates toward zero [A-SBL-NEG];
/// FLOOR (toward -inf) is offered because it is Python's `//` and a classic source of breaks.
enum SignedRounding {
    TOWARD_ZERO,
    FLOOR
}

/// Integer division with an explicit rounding rule, applied once at the agreed rounding point.
library PostTradeMath {
    function divRound(uint256 a, uint256 b, Rounding r) internal pure returns (uint256 q) {
        require(b != 0, "division by zero");
        q = a / b;
        uint256 rem = a % b;
        if (rem == 0 || r == Rounding.FLOOR) return q;
        if (r == Rounding.CEIL) return q + 1;
        // rem < b, so comparing rem with b - rem avoids overflow of 2 * rem.
        uint256 other = b - rem;
        if (rem > other) return q + 1;
        if (rem < other) return q;
        if (r == Rounding.HALF_UP) return q + 1;
        return q % 2 == 0 ? q : q + 1;
    }

    function divSigned(int256 a, int256 b, SignedRounding r) internal pure returns (int256 q) {
        require(b > 0, "divisor must be positive");
        q = a / b;
        if (r == SignedRounding.FLOOR && a < 0 && a % b != 0) q -= 1;
    }

    function ceilDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        require(b != 0, "division by zero");
        return a == 0 ? 0 : (a - 1) / b + 1;
    }

    function absDiff(int256 a, int256 b) internal pure returns (uint256) {
        return a >= b ? uint256(a - b) : uint256(b - a);
    }
}

/// Days since 1970-01-01 <-> civil dates (proleptic Gregorian, H. Hinnant's algorithms).
/// Dates on chain are uint32 day numbers so that day counts are plain subtraction (§1.1).
library DateLib {
    function daysFromCivil(uint256 y, uint256 m, uint256 d) internal pure returns (uint32) {
        require(y >= 1970 && m >= 1 && m <= 12 && d >= 1 && d <= 31, "invalid civil date");
        if (m <= 2) y -= 1;
        uint256 era = y / 400;
        uint256 yoe = y - era * 400;
        uint256 doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        uint256 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return uint32(era * 146097 + doe - 719468);
    }

    function civilFromDays(uint32 day) internal pure returns (uint256 y, uint256 m, uint256 d) {
        uint256 z = uint256(day) + 719468;
        uint256 era = z / 146097;
        uint256 doe = z - era * 146097;
        uint256 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        y = yoe + era * 400;
        uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        uint256 mp = (5 * doy + 2) / 153;
        d = doy - (153 * mp + 2) / 5 + 1;
        m = mp < 10 ? mp + 3 : mp - 9;
        if (m <= 2) y += 1;
    }

    /// Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday).
    function weekday(uint32 day) internal pure returns (uint256) {
        return (uint256(day) + 3) % 7;
    }

    function isLeapYear(uint256 y) internal pure returns (bool) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    }

    function daysInYear(uint256 y) internal pure returns (uint256) {
        return isLeapYear(y) ? 366 : 365;
    }

    /// A billing period is written YYYYMM; returns its first day and the first day of the next month.
    function periodBounds(uint32 period) internal pure returns (uint32 first, uint32 next) {
        uint256 y = period / 100;
        uint256 m = period % 100;
        require(y >= 1970 && m >= 1 && m <= 12, "invalid period YYYYMM");
        first = daysFromCivil(y, m, 1);
        next = m == 12 ? daysFromCivil(y + 1, 1, 1) : daysFromCivil(y, m + 1, 1);
    }
}

/// Decimal rendering for revert reasons that name a date or an index.
library Strings10 {
    function toString(uint256 v) internal pure returns (string memory) {
        if (v == 0) return "0";
        uint256 len;
        for (uint256 t = v; t != 0; t /= 10) len++;
        bytes memory out = new bytes(len);
        while (v != 0) {
            len--;
            out[len] = bytes1(uint8(48 + (v % 10)));
            v /= 10;
        }
        return string(out);
    }

    /// ISO YYYY-MM-DD of a day number, so that a revert names the date a person can check.
    function isoDate(uint32 day) internal pure returns (string memory) {
        (uint256 y, uint256 m, uint256 d) = DateLib.civilFromDays(day);
        bytes memory out = new bytes(10);
        for (uint256 i = 4; i > 0; i--) {
            out[i - 1] = bytes1(uint8(48 + (y % 10)));
            y /= 10;
        }
        out[4] = "-";
        out[5] = bytes1(uint8(48 + m / 10));
        out[6] = bytes1(uint8(48 + (m % 10)));
        out[7] = "-";
        out[8] = bytes1(uint8(48 + d / 10));
        out[9] = bytes1(uint8(48 + (d % 10)));
        return string(out);
    }
}
