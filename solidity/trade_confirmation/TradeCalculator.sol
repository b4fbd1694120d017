// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Rounding} from "../lib/PostTradeMath.sol";
import {
    AllocMethod, CalcLevel, Figures, Fill, MatchingProfile, MatchStatus, Schedule, Side, TradeMath
} from "./TradeMath.sol";

/// Stateless public calculator: every trade-confirmation formula of §2.5-§2.6 as a pure function,
/// so any party (broker, investor, trustee, auditor) recomputes a figure from the same code the
/// books use. Deployed once on the public state; private books read it (private -> public reads
/// are allowed, and a pure function gives the same answer on every node).
contract TradeCalculator {
    function blockTotals(Fill[] calldata fills, uint8 avgPriceDigits, Rounding avgPriceRounding)
        external
        pure
        returns (uint64 totalQuantity, uint256 notional_e4, uint64 avgPrice_e4)
    {
        (totalQuantity, notional_e4) = TradeMath.blockTotals(fills);
        avgPrice_e4 = TradeMath.averagePrice(notional_e4, totalQuantity, avgPriceDigits, avgPriceRounding);
    }

    function averagePrice(uint256 notional_e4, uint64 totalQuantity, uint8 digits, Rounding rounding)
        external
        pure
        returns (uint64)
    {
        return TradeMath.averagePrice(notional_e4, totalQuantity, digits, rounding);
    }

    function allocate(
        bytes16[] calldata fundCodes,
        uint64[] calldata orderedQuantities,
        uint64 executed,
        uint64 tradingUnit,
        AllocMethod method
    ) external pure returns (uint64[] memory) {
        return TradeMath.allocate(fundCodes, orderedQuantities, executed, tradingUnit, method);
    }

    function fundFigures(
        uint64 quantity,
        uint64 avgPrice_e4,
        uint32 rate_e6,
        uint16 taxPct,
        Side side,
        Schedule calldata s
    ) external pure returns (Figures memory) {
        return TradeMath.fundFigures(quantity, avgPrice_e4, rate_e6, taxPct, side, s);
    }

    /// Figures of every fund of a block under the schedule's calculation level.
    function blockFundFigures(
        bytes16[] calldata fundCodes,
        uint64[] calldata quantities,
        uint64 avgPrice_e4,
        uint32 rate_e6,
        uint16 taxPct,
        Side side,
        Schedule calldata s
    ) external pure returns (Figures[] memory figures) {
        uint256 n = fundCodes.length;
        require(quantities.length == n, "length mismatch");
        figures = new Figures[](n);
        uint256[] memory principals = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            figures[i] = TradeMath.fundFigures(quantities[i], avgPrice_e4, rate_e6, taxPct, side, s);
            principals[i] = uint256(figures[i].principalYen);
        }
        if (s.calcLevel == CalcLevel.PER_BLOCK_SPLIT) {
            (uint256[] memory comm,) = TradeMath.blockSplitCommissions(fundCodes, quantities, principals, rate_e6, s);
            for (uint256 i = 0; i < n; i++) {
                figures[i] = TradeMath.withTax(principals[i], comm[i], taxPct, side, s.taxRounding);
            }
        }
    }

    function blockSplitCommissions(
        bytes16[] calldata fundCodes,
        uint64[] calldata quantities,
        uint256[] calldata principals,
        uint32 rate_e6,
        Schedule calldata s
    ) external pure returns (uint256[] memory commissions, uint256 blockCommission) {
        return TradeMath.blockSplitCommissions(fundCodes, quantities, principals, rate_e6, s);
    }

    function compare(Figures calldata broker, Figures calldata investor, MatchingProfile calldata p)
        external
        pure
        returns (MatchStatus status, Figures memory brokerMinusInvestor, Figures memory agreed)
    {
        return TradeMath.compare(broker, investor, p);
    }
}
