// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {PostTradeMath, SignedRounding} from "../lib/PostTradeMath.sol";

/// MARKET_VALUE: fee on shares x close (GMSLA/JSF). COLLATERAL: fee on the cash collateral balance
/// [A-SBL-BASIS].
enum FeeBasis {
    MARKET_VALUE,
    COLLATERAL
}

/// ACT365F: 365 even in leap years (JPY practice). ACT_ACT: days of the period's year (366 in a
/// leap year) - the classic SBL-02 break [A-SBL-DAYCOUNT].
enum DayBasis {
    ACT365F,
    ACT_ACT
}

/// Where the single truncation happens [A-SBL-ROUND].
enum RoundingLocation {
    PER_PERIOD,
    PER_RATE_SEGMENT,
    PER_DAY
}

/// SAME_DAY: close of the day, or of the latest earlier business day on a non-business day.
/// PREVIOUS_BUSINESS_DAY: close of the latest business day strictly before the day [A-SBL-PRICE].
enum PriceRule {
    SAME_DAY,
    PREVIOUS_BUSINESS_DAY
}

enum CollateralType {
    CASH,
    NON_CASH
}

enum ReturnPriority {
    OLDEST_FIRST,
    NEWEST_FIRST
}

enum RateKind {
    FEE,
    REBATE
}

/// Loan and statement state names [A-SBL-STATES].
enum LoanState {
    NONE,
    PROPOSED,
    CONFIRMED,
    OPEN,
    RECALL_PENDING,
    CLOSED
}

/// Agreement-level parameters; every [A-SBL-*] default of DOMAIN.md §8 is a field.
struct SblParams {
    FeeBasis feeBasis; // MARKET_VALUE [A-SBL-BASIS]
    DayBasis dayBasis; // ACT365F [A-SBL-DAYCOUNT]
    bool includeEndDate; // false = start in, end out (片端) [A-SBL-DAYCOUNT]
    RoundingLocation roundingLocation; // PER_PERIOD [A-SBL-ROUND]
    SignedRounding signedRounding; // TOWARD_ZERO [A-SBL-NEG]
    bool allowNegativeRates; // true [A-SBL-NEG]
    PriceRule feePriceRule; // SAME_DAY [A-SBL-PRICE]
    PriceRule marginPriceRule; // PREVIOUS_BUSINESS_DAY [A-SBL-MARGIN]
    uint32 defaultMargin_e6; // 1,050,000 [A-SBL-MARGIN]
    uint32 defaultDividendRatio_e6; // 1,000,000 = gross [A-SBL-DIV]
    bool dividendOnReturnDate; // false: owed if start <= record < return [A-SBL-DIV]
    bool netDividends; // false: paid on the dividend payment date, not netted [A-SBL-NET]
    uint8 rateChangeLagDays; // 0: a new rate applies from its effective date inclusive [A-SBL-RATECHG]
    int64 minimumFeeYen; // 0 = none; per period after rounding (§3.7)
    ReturnPriority returnPriority; // OLDEST_FIRST (§3.7)
}

/// One accrual day of one loan: what the day's fee and collateral interest are computed from.
struct DayAccrual {
    uint32 date;
    uint64 shares;
    uint64 price_e4;
    int256 cashYen;
    int32 feeRate_e6;
    int32 rebateRate_e6;
}

/// Formulas of DOMAIN.md §3.5: exact numerators summed over days, one signed division per
/// (loan, period, fee type) by default.
library SblMath {
    int256 internal constant PRICE_RATE_SCALE = 1e10; // price_e4 x rate_e6
    int256 internal constant RATE_SCALE = 1e6;

    function accrue(
        DayAccrual[] memory d,
        uint256 basisDays,
        FeeBasis basis,
        RoundingLocation loc,
        SignedRounding sr
    ) internal pure returns (int256 fee, int256 interest) {
        require(basisDays > 0, "basis days must be positive");
        int256 feeDen = int256(basisDays) * PRICE_RATE_SCALE;
        int256 ciDen = int256(basisDays) * RATE_SCALE;
        int256 accF = 0;
        int256 accC = 0;
        for (uint256 i = 0; i < d.length; i++) {
            int256 fnum = basis == FeeBasis.MARKET_VALUE
                ? int256(uint256(d[i].shares)) * int256(uint256(d[i].price_e4)) * d[i].feeRate_e6
                : d[i].cashYen * d[i].feeRate_e6 * 10_000;
            int256 cnum = d[i].cashYen * d[i].rebateRate_e6;
            if (loc == RoundingLocation.PER_DAY) {
                fee += PostTradeMath.divSigned(fnum, feeDen, sr);
                interest += PostTradeMath.divSigned(cnum, ciDen, sr);
                continue;
            }
            if (loc == RoundingLocation.PER_RATE_SEGMENT && i > 0) {
                if (d[i].feeRate_e6 != d[i - 1].feeRate_e6) {
                    fee += PostTradeMath.divSigned(accF, feeDen, sr);
                    accF = 0;
                }
                if (d[i].rebateRate_e6 != d[i - 1].rebateRate_e6) {
                    interest += PostTradeMath.divSigned(accC, ciDen, sr);
                    accC = 0;
                }
            }
            accF += fnum;
            accC += cnum;
        }
        fee += PostTradeMath.divSigned(accF, feeDen, sr);
        interest += PostTradeMath.divSigned(accC, ciDen, sr);
    }

    /// ceil(shares x close x margin / 10^10) [A-SBL-MARGIN].
    function requiredCollateral(uint64 shares, uint64 price_e4, uint32 margin_e6) internal pure returns (uint256) {
        return PostTradeMath.ceilDiv(uint256(shares) * price_e4 * margin_e6, 1e10);
    }

    /// Value of a non-cash collateral position: floor(quantity x close x (10^6 - haircut) / 10^10)
    /// [A-SBL-MARGIN].
    function collateralValue(uint64 quantity, uint64 close_e4, uint32 haircut_e6) internal pure returns (uint256) {
        require(haircut_e6 < 1e6, "haircut must be below 100 %");
        return uint256(quantity) * close_e4 * (1e6 - haircut_e6) / 1e10;
    }

    /// floor(shares x dps x ratio / 10^10) [A-SBL-DIV].
    function dividendEquivalent(uint64 shares, uint64 dps_e4, uint32 ratio_e6) internal pure returns (uint256) {
        return uint256(shares) * dps_e4 * ratio_e6 / 1e10;
    }
}
