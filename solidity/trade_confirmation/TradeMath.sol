// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Identifiers} from "../lib/Identifiers.sol";
import {PostTradeMath, Rounding} from "../lib/PostTradeMath.sol";

enum Side {
    BUY,
    SELL
}

enum OrderType {
    AGENCY,
    DISCRETIONARY,
    ALGO,
    PRINCIPAL
}

/// PER_FUND: commission per fund on its principal. PER_BLOCK_SPLIT: commission on the block,
/// split by quantity (floor), remainder yen to the largest fund (§2.5 step 4).
enum CalcLevel {
    PER_FUND,
    PER_BLOCK_SPLIT
}

/// LARGEST_FRACTION: leftover units to the largest truncated fraction, ties larger order then fund
/// code [A-TC-ALLOC-TIE]. LARGER_ORDER_FIRST: leftover units to larger orders, then input sequence.
enum AllocMethod {
    LARGEST_FRACTION,
    LARGER_ORDER_FIRST
}

enum AdoptSide {
    INVESTOR,
    BROKER
}

enum MatchStatus {
    UNMATCHED,
    MATCHED,
    MATCHED_WITH_TOLERANCE,
    MISMATCHED
}

/// Allocation (per fund) states of DOMAIN.md §2.4, plus the settlement steps the block needs.
enum AllocState {
    NONE,
    ALLOCATED,
    MATCHED,
    MATCHED_WITH_TOLERANCE,
    MISMATCHED,
    MATCH_AGREED,
    SETTLEMENT_INSTRUCTED,
    SETTLED,
    CANCEL_REQUESTED,
    CANCELLED,
    SUPERSEDED
}

/// Commission schedule of one broker-investor pair, versioned by effective date [A-TC-COMM].
/// Every default of §2.3 / §8 is a field here, not a constant. Recipients: broker and investor only.
struct Schedule {
    uint32 effectiveFrom;
    uint32[4] rateByOrderType_e6; // indexed by OrderType; PRINCIPAL usually 0
    uint64 minimumCommissionYen; // 0 = none; applied only where the rate is non-zero
    CalcLevel calcLevel; // PER_FUND [A-TC-COMM]
    uint8 avgPriceDigits; // 4 [A-TC-AVG]
    Rounding avgPriceRounding; // HALF_UP [A-TC-AVG]
    Rounding principalRounding; // FLOOR [A-TC-PRINC]
    Rounding commissionRounding; // FLOOR [A-TC-COMM]
    Rounding taxRounding; // FLOOR [A-TC-TAX]
    bool taxOnSettlementDate; // false: the rate in force on the trade date [A-TC-TAXDATE]
    AllocMethod allocMethod; // LARGEST_FRACTION [A-TC-ALLOC-TIE]
    bool recordZeroAllocations; // false [A-TC-ZERO-ALLOC]
    uint8 settlementCycleDays; // 2 (T+2)
}

/// Per-field tolerance rule, as CTM's L2 rule codes (DOMAIN.md §5): YEN |Δ| <= the yen band;
/// PERCENT |Δ| <= rate x |the investor's figure|; CAPPED_PERCENT both (the percentage, capped at
/// the band: the lesser of the two); FLOORED_PERCENT either (the band as a floor: the greater).
enum ToleranceKind {
    YEN,
    PERCENT,
    CAPPED_PERCENT,
    FLOORED_PERCENT
}

/// Tolerance profile of the pair (CTM-style named profile), versioned by effective date
/// [A-TC-TOL]. Kept apart from the schedule because the fund's trustee sees it. The kinds and
/// rates are per field (principal, commission, tax, net); the default (YEN, rate 0) is a yen band.
struct MatchingProfile {
    uint32 effectiveFrom;
    uint64 tolPrincipalYen; // 0 = exact
    uint64 tolCommissionYen; // 1
    uint64 tolTaxYen; // 1
    uint64 tolNetYen; // 2
    AdoptSide adoptSide; // INVESTOR
    ToleranceKind[4] tolKind; // YEN
    uint32[4] tolRate_e6; // fraction of the investor's figure x 10^6 (1 % = 10,000); 0
}

struct Fill {
    bytes16 execId;
    uint64 quantity;
    uint64 price_e4;
    bytes4 venueMic;
}

/// Yen figures of one fund confirmation; signed because a SELL net can be negative (§1.1).
struct Figures {
    int256 principalYen;
    int256 commissionYen;
    int256 consumptionTaxYen;
    int256 netSettlementYen;
}

/// Formulas of DOMAIN.md §2.5-§2.6. Exact numerators, one rounding at each agreed point.
library TradeMath {
    uint256 internal constant PRICE_SCALE = 10_000;
    uint256 internal constant RATE_SCALE = 1_000_000;

    function blockTotals(Fill[] memory fills) internal pure returns (uint64 totalQuantity, uint256 notional_e4) {
        require(fills.length > 0, "no fills");
        uint256 q = 0;
        for (uint256 i = 0; i < fills.length; i++) {
            require(fills[i].quantity > 0, "fill quantity must be positive");
            require(fills[i].price_e4 > 0, "fill price must be positive");
            q += fills[i].quantity;
            notional_e4 += uint256(fills[i].quantity) * fills[i].price_e4;
        }
        require(q <= type(uint64).max, "total quantity overflow");
        totalQuantity = uint64(q);
    }

    /// avgPrice_e4 = round(N / totalQuantity) kept to `digits` decimals.
    function averagePrice(uint256 notional_e4, uint64 totalQuantity, uint8 digits, Rounding r)
        internal
        pure
        returns (uint64)
    {
        require(totalQuantity > 0, "no executed quantity");
        require(digits <= 4, "average price digits above 4");
        uint256 step = 10 ** (4 - uint256(digits));
        uint256 avg = PostTradeMath.divRound(notional_e4, uint256(totalQuantity) * step, r) * step;
        require(avg <= type(uint64).max, "average price overflow");
        return uint64(avg);
    }

    /// Pro-rata allocation of `executed` shares to orders (§2.5 step 3).
    function allocate(
        bytes16[] memory codes,
        uint64[] memory ordered,
        uint64 executed,
        uint64 unit,
        AllocMethod method
    ) internal pure returns (uint64[] memory alloc) {
        uint256 total = _validateOrders(codes, ordered, unit);
        require(executed > 0, "nothing executed");
        require(executed <= total, "executed exceeds ordered");
        if (executed == total) {
            alloc = new uint64[](codes.length);
            for (uint256 i = 0; i < codes.length; i++) alloc[i] = ordered[i];
            return alloc;
        }
        require(executed % unit == 0, "partial fill not a multiple of the trading unit");
        for (uint256 i = 0; i < ordered.length; i++) {
            require(ordered[i] % unit == 0, "partial fill of an order that is not a multiple of the trading unit");
        }
        uint256[] memory rem;
        uint256 given;
        (alloc, rem, given) = _baseAllocation(ordered, executed, total, unit);
        _distribute(alloc, rem, ordered, codes, (uint256(executed) - given) / unit, unit, method);
    }

    function _validateOrders(bytes16[] memory codes, uint64[] memory ordered, uint64 unit)
        private
        pure
        returns (uint256 total)
    {
        require(codes.length > 0, "no funds");
        require(ordered.length == codes.length, "orders length mismatch");
        require(unit > 0, "trading unit must be positive");
        for (uint256 i = 0; i < codes.length; i++) {
            require(ordered[i] > 0, "order quantity must be positive");
            require(Identifiers.isValidFundCode(Identifiers.trimmed(codes[i])), "invalid fund code");
            for (uint256 j = 0; j < i; j++) require(codes[j] != codes[i], "duplicate fund code");
            total += ordered[i];
        }
    }

    /// base_f = floor(raw_f / unit) * unit with raw_f = order_f * E / O; the remainder of
    /// order_f * E modulo O * unit orders the truncated fractions exactly (common denominator).
    function _baseAllocation(uint64[] memory ordered, uint64 executed, uint256 total, uint64 unit)
        private
        pure
        returns (uint64[] memory alloc, uint256[] memory rem, uint256 given)
    {
        uint256 n = ordered.length;
        uint256 denom = total * unit;
        alloc = new uint64[](n);
        rem = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            uint256 num = uint256(ordered[i]) * executed;
            alloc[i] = uint64((num / denom) * unit);
            rem[i] = num % denom;
            given += alloc[i];
        }
    }

    function _distribute(
        uint64[] memory alloc,
        uint256[] memory rem,
        uint64[] memory ordered,
        bytes16[] memory codes,
        uint256 left,
        uint64 unit,
        AllocMethod method
    ) private pure {
        bool[] memory picked = new bool[](alloc.length);
        for (uint256 k = 0; k < left; k++) {
            uint256 best = type(uint256).max;
            for (uint256 i = 0; i < alloc.length; i++) {
                if (picked[i]) continue;
                if (best == type(uint256).max || _before(i, best, rem, ordered, codes, method)) best = i;
            }
            picked[best] = true;
            alloc[best] += unit;
        }
    }

    /// True when candidate `a` takes a leftover unit before `b`.
    function _before(
        uint256 a,
        uint256 b,
        uint256[] memory rem,
        uint64[] memory ordered,
        bytes16[] memory codes,
        AllocMethod method
    ) private pure returns (bool) {
        if (method == AllocMethod.LARGEST_FRACTION) {
            if (rem[a] != rem[b]) return rem[a] > rem[b];
            if (ordered[a] != ordered[b]) return ordered[a] > ordered[b];
            return codes[a] < codes[b];
        }
        if (ordered[a] != ordered[b]) return ordered[a] > ordered[b];
        return a < b;
    }

    /// principal = round(qty * avg / 10^4); commission = round(principal * rate / 10^6), at least
    /// the minimum when the rate is non-zero; tax = round(commission * pct / 100) (§2.5 step 4).
    function fundFigures(
        uint64 quantity,
        uint64 avgPrice_e4,
        uint32 rate_e6,
        uint16 taxPct,
        Side side,
        Schedule memory s
    ) internal pure returns (Figures memory f) {
        uint256 principal = PostTradeMath.divRound(uint256(quantity) * avgPrice_e4, PRICE_SCALE, s.principalRounding);
        uint256 commission = commissionOn(principal, rate_e6, s);
        return withTax(principal, commission, taxPct, side, s.taxRounding);
    }

    function commissionOn(uint256 principal, uint32 rate_e6, Schedule memory s) internal pure returns (uint256 c) {
        c = PostTradeMath.divRound(principal * rate_e6, RATE_SCALE, s.commissionRounding);
        if (rate_e6 > 0 && s.minimumCommissionYen > 0 && c < s.minimumCommissionYen) c = s.minimumCommissionYen;
    }

    function withTax(uint256 principal, uint256 commission, uint16 taxPct, Side side, Rounding taxRounding)
        internal
        pure
        returns (Figures memory f)
    {
        uint256 tax = PostTradeMath.divRound(commission * taxPct, 100, taxRounding);
        f.principalYen = int256(principal);
        f.commissionYen = int256(commission);
        f.consumptionTaxYen = int256(tax);
        f.netSettlementYen = side == Side.BUY
            ? f.principalYen + f.commissionYen + f.consumptionTaxYen
            : f.principalYen - f.commissionYen - f.consumptionTaxYen;
    }

    /// PER_BLOCK_SPLIT: commission on the sum of fund principals, split by quantity with floor,
    /// the remainder yen to the largest fund (ties: fund code ascending).
    function blockSplitCommissions(
        bytes16[] memory codes,
        uint64[] memory quantities,
        uint256[] memory principals,
        uint32 rate_e6,
        Schedule memory s
    ) internal pure returns (uint256[] memory commissions, uint256 blockCommission) {
        uint256 n = codes.length;
        require(n > 0 && quantities.length == n && principals.length == n, "length mismatch");
        uint256 sumP = 0;
        uint256 sumQ = 0;
        uint256 largest = 0;
        for (uint256 i = 0; i < n; i++) {
            sumP += principals[i];
            sumQ += quantities[i];
            if (
                quantities[i] > quantities[largest]
                    || (quantities[i] == quantities[largest] && codes[i] < codes[largest])
            ) largest = i;
        }
        require(sumQ > 0, "no quantity");
        blockCommission = commissionOn(sumP, rate_e6, s);
        commissions = new uint256[](n);
        uint256 given = 0;
        for (uint256 i = 0; i < n; i++) {
            commissions[i] = blockCommission * quantities[i] / sumQ;
            given += commissions[i];
        }
        commissions[largest] += blockCommission - given;
    }

    /// L2 matching (§2.6): each field on its own, bounds inclusive; within tolerance the adopted
    /// side's figures become the agreed figures [A-TC-TOL].
    function compare(Figures memory broker, Figures memory investor, MatchingProfile memory s)
        internal
        pure
        returns (MatchStatus status, Figures memory diff, Figures memory agreed)
    {
        diff.principalYen = broker.principalYen - investor.principalYen;
        diff.commissionYen = broker.commissionYen - investor.commissionYen;
        diff.consumptionTaxYen = broker.consumptionTaxYen - investor.consumptionTaxYen;
        diff.netSettlementYen = broker.netSettlementYen - investor.netSettlementYen;
        if (
            diff.principalYen == 0 && diff.commissionYen == 0 && diff.consumptionTaxYen == 0
                && diff.netSettlementYen == 0
        ) {
            return (MatchStatus.MATCHED, diff, investor);
        }
        bool within = withinTolerance(broker.principalYen, investor.principalYen, s.tolPrincipalYen, s, 0)
            && withinTolerance(broker.commissionYen, investor.commissionYen, s.tolCommissionYen, s, 1)
            && withinTolerance(broker.consumptionTaxYen, investor.consumptionTaxYen, s.tolTaxYen, s, 2)
            && withinTolerance(broker.netSettlementYen, investor.netSettlementYen, s.tolNetYen, s, 3);
        if (!within) return (MatchStatus.MISMATCHED, diff, agreed);
        return (MatchStatus.MATCHED_WITH_TOLERANCE, diff, s.adoptSide == AdoptSide.INVESTOR ? investor : broker);
    }

    /// One field's L2 rule (bounds inclusive): |b - i| x 10^6 against rate x |i| for the percentage
    /// (exact integers: no rounding of the allowance), |b - i| against the yen band.
    function withinTolerance(int256 broker, int256 investor, uint64 bandYen, MatchingProfile memory s, uint256 field)
        internal
        pure
        returns (bool)
    {
        uint256 d = PostTradeMath.absDiff(broker, investor);
        ToleranceKind kind = s.tolKind[field];
        bool yen = d <= bandYen;
        if (kind == ToleranceKind.YEN) return yen;
        bool pct = d * RATE_SCALE <= PostTradeMath.absDiff(investor, 0) * s.tolRate_e6[field];
        if (kind == ToleranceKind.PERCENT) return pct;
        return kind == ToleranceKind.CAPPED_PERCENT ? pct && yen : pct || yen;
    }
}
