// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IBusinessCalendar} from "../lib/BusinessCalendar.sol";
import {Strings10} from "../lib/PostTradeMath.sol";
import {PriceRule} from "./SblMath.sol";

/// Daily closes and dividend events used by one lending agreement. Same recipients as the loans
/// (the ISINs on loan are themselves sensitive); posted by the agreed price source, lender side by
/// default [A-SBL-PRICE].
contract SblMarketData {
    struct Dividend {
        uint32 recordDate;
        uint32 paymentDate;
        uint64 dps_e4;
    }

    address public immutable lender;
    address public immutable priceSource;
    IBusinessCalendar public immutable calendar;

    mapping(bytes12 => mapping(uint32 => uint64)) public closeOf;
    mapping(bytes12 => Dividend[]) private _dividends;

    event PricePosted(bytes12 indexed isin, uint32 indexed day, uint64 close_e4);
    event DividendPosted(bytes12 indexed isin, uint256 index, uint32 recordDate, uint32 paymentDate, uint64 dps_e4);

    constructor(address lender_, address priceSource_, IBusinessCalendar calendar_) {
        require(lender_ != address(0), "lender required");
        require(address(calendar_) != address(0), "calendar required");
        lender = lender_;
        priceSource = priceSource_ == address(0) ? lender_ : priceSource_;
        calendar = calendar_;
    }

    function postPrices(bytes12 isin, uint32[] calldata dayList, uint64[] calldata closes) external {
        require(msg.sender == priceSource, "postPrices: only price source");
        require(dayList.length == closes.length, "postPrices: length mismatch");
        for (uint256 i = 0; i < dayList.length; i++) {
            require(closes[i] > 0, "postPrices: close must be positive");
            require(calendar.isBusinessDay(dayList[i]), "postPrices: not a business day");
            closeOf[isin][dayList[i]] = closes[i];
            emit PricePosted(isin, dayList[i], closes[i]);
        }
    }

    function postDividend(bytes12 isin, uint32 recordDate, uint32 paymentDate, uint64 dps_e4) external {
        require(msg.sender == lender || msg.sender == priceSource, "postDividend: only lender or price source");
        require(paymentDate >= recordDate, "postDividend: payment before record date");
        _dividends[isin].push(Dividend(recordDate, paymentDate, dps_e4));
        emit DividendPosted(isin, _dividends[isin].length - 1, recordDate, paymentDate, dps_e4);
    }

    /// The close used for `day` under `rule`; a business day without a close is an error, not zero
    /// (§3.7: the statement cannot be produced).
    /// `closeFor` for several days in one call.
    function closesFor(bytes12 isin, uint32[] calldata dayList, PriceRule rule) external view returns (uint64[] memory out) {
        out = new uint64[](dayList.length);
        for (uint256 i = 0; i < dayList.length; i++) (, out[i]) = closeFor(isin, dayList[i], rule);
    }

    function closeFor(bytes12 isin, uint32 day, PriceRule rule) public view returns (uint32 businessDay, uint64 close) {
        if (rule == PriceRule.SAME_DAY && calendar.isBusinessDay(day)) businessDay = day;
        else businessDay = calendar.previousBusinessDay(day);
        close = closeOf[isin][businessDay];
        require(close > 0, string.concat("price missing for business day ", Strings10.isoDate(businessDay)));
    }

    function dividendsOf(bytes12 isin) external view returns (Dividend[] memory) {
        return _dividends[isin];
    }

    function dividendAt(bytes12 isin, uint256 i) external view returns (Dividend memory) {
        return _dividends[isin][i];
    }
}
