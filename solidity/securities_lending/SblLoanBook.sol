// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IBusinessCalendar} from "../lib/BusinessCalendar.sol";
import {Identifiers} from "../lib/Identifiers.sol";
import {SblMarketData} from "./SblMarketData.sol";
import {CollateralType, DayAccrual, LoanState, RateKind, ReturnPriority, SblMath, SblParams} from "./SblMath.sol";

/// Individual loans (個別貸借取引) between one lender side and one borrower: recipients {lender
/// (trust bank or its lending agent), optionally the lender's asset manager, borrower} (§6). Loan
/// terms and events (rate changes, recalls, partial returns, lender changes),
/// collateral balances and margin calls. Period figures are computed by SblStatementBook from
/// this book's dated series and SblMarketData's closes.
contract SblLoanBook {
    struct LoanTerms {
        bytes16 loanId;
        bytes16 lenderFundCode;
        bytes12 isin;
        CollateralType collateralType;
        uint32 tradeDate;
        uint32 startDate; // delivery (settlement) date: accrual starts here
        uint32 termEndDate; // 0 = open
        uint64 shares;
        uint64 referencePrice_e4; // sets the initial cash collateral
        int32 feeRate_e6;
        int32 rebateRate_e6; // cash collateral only
        uint32 margin_e6; // 0 = agreement default
        uint32 dividendRatio_e6; // 0 = agreement default
    }

    struct Loan {
        LoanTerms terms;
        LoanState state;
        address proposer;
        bytes32 termsHash;
        int256 initialCashYen;
        uint256 seq; // creation order, the tie-break of return priority
        uint64 recalledShares;
        uint32 recallDueDate;
    }

    struct Point {
        uint32 date;
        int256 value;
    }

    struct Pending {
        bool active;
        address by;
        uint32 date;
        int256 amount; // shares (return), rate (rate change), yen delta (collateral)
        uint8 kind; // RateKind for rate changes
        bytes16 newLoanId; // lender change
        bytes16 newFundCode; // lender change
    }

    address public immutable lender;
    address public immutable lenderManager; // zero when the manager is not a party
    address public immutable borrower;
    IBusinessCalendar public immutable calendar;
    SblMarketData public immutable marketData;
    SblParams private _params;

    mapping(bytes16 => Loan) private _loans;
    bytes16[] private _loanIds;
    mapping(bytes16 => Point[]) private _shares;
    mapping(bytes16 => Point[]) private _cash;
    mapping(bytes16 => Point[][2]) private _rates; // [FEE, REBATE]
    mapping(bytes16 => Pending) private _pendingReturn;
    mapping(bytes16 => Pending) private _pendingRate;
    mapping(bytes16 => Pending) private _pendingCollateral;
    mapping(bytes16 => Pending) private _pendingLenderChange;

    event LoanStateChanged(bytes16 indexed loanId, LoanState from, LoanState to, address by);
    event LoanProposed(bytes16 indexed loanId, bytes32 termsHash, int256 initialCashYen);
    event ReturnReported(bytes16 indexed loanId, uint64 shares, uint32 date);
    event SharesChanged(bytes16 indexed loanId, uint32 date, uint64 sharesOnLoan);
    event RecallNotified(bytes16 indexed loanId, uint64 shares, uint32 dueDate);
    event RateChangeProposed(bytes16 indexed loanId, RateKind kind, uint32 effectiveDate, int32 rate_e6);
    event RateChanged(bytes16 indexed loanId, RateKind kind, uint32 effectiveDate, int32 rate_e6);
    event CollateralMoveProposed(bytes16 indexed loanId, int256 deltaYen, uint32 settleDate, address by);
    event CollateralChanged(bytes16 indexed loanId, uint32 date, int256 cashYen);
    event LenderChangeProposed(bytes16 indexed loanId, bytes16 newLoanId, bytes16 newFundCode, uint32 date);

    constructor(
        address lender_,
        address lenderManager_,
        address borrower_,
        SblMarketData marketData_,
        SblParams memory params_
    ) {
        require(lender_ != address(0) && borrower_ != address(0), "lender and borrower required");
        require(lender_ != borrower_ && lenderManager_ != borrower_, "borrower must differ from the lender side");
        require(address(marketData_) != address(0), "market data required");
        require(params_.defaultMargin_e6 > 0, "default margin required");
        lender = lender_;
        lenderManager = lenderManager_;
        borrower = borrower_;
        marketData = marketData_;
        calendar = marketData_.calendar();
        _params = params_;
    }

    // ---- terms -----------------------------------------------------------------------------------

    function proposeLoan(LoanTerms calldata t) external {
        require(msg.sender == lender || msg.sender == borrower, "proposeLoan: only lender or borrower");
        require(t.loanId != bytes16(0) && _loans[t.loanId].state == LoanState.NONE, "proposeLoan: loan id used");
        _writeTerms(t, msg.sender);
        emit LoanProposed(t.loanId, _loans[t.loanId].termsHash, _loans[t.loanId].initialCashYen);
        _setState(t.loanId, LoanState.PROPOSED);
    }

    /// The other party confirms the exact terms (by hash) it has checked (§3.4).
    function confirmTerms(bytes16 loanId, bytes32 termsHash) external {
        Loan storage l = _loans[loanId];
        require(l.state == LoanState.PROPOSED, "confirmTerms: loan not PROPOSED");
        _requireOther(l.proposer, "confirmTerms");
        require(termsHash == l.termsHash, "confirmTerms: terms differ");
        _setState(loanId, LoanState.CONFIRMED);
    }

    /// Delivery versus cash settled on the start date: the loan opens and starts accruing.
    function reportDelivery(bytes16 loanId) external {
        require(msg.sender == lender, "reportDelivery: only lender");
        Loan storage l = _loans[loanId];
        require(l.state == LoanState.CONFIRMED, "reportDelivery: loan not CONFIRMED");
        _open(loanId, l.terms.startDate, l.terms.shares, l.initialCashYen, l.terms.feeRate_e6, l.terms.rebateRate_e6);
        _setState(loanId, LoanState.OPEN);
    }

    // ---- recall and returns ----------------------------------------------------------------------

    function recall(bytes16 loanId, uint64 shares, uint32 dueDate) external {
        require(msg.sender == lender, "recall: only lender");
        Loan storage l = _loans[loanId];
        require(l.state == LoanState.OPEN, "recall: loan not OPEN");
        require(shares > 0 && int256(uint256(shares)) <= _last(_shares[loanId]), "recall: shares exceed shares on loan");
        l.recalledShares = shares;
        l.recallDueDate = dueDate;
        emit RecallNotified(loanId, shares, dueDate);
        _setState(loanId, LoanState.RECALL_PENDING);
    }

    /// The borrower reports a settled return; the lender acknowledges it with the cash collateral
    /// left after the return. Returned shares stop accruing on the return date.
    function reportReturn(bytes16 loanId, uint64 shares, uint32 date) external {
        require(msg.sender == borrower, "reportReturn: only borrower");
        _reportReturn(loanId, shares, date);
    }

    /// One return spread over this fund's loans in the agreement's priority (oldest first by default).
    function reportReturnByPriority(bytes12 isin, bytes16 lenderFundCode, uint64 shares, uint32 date) external {
        require(msg.sender == borrower, "reportReturnByPriority: only borrower");
        (bytes16[] memory ids, uint64[] memory qty) = returnAllocation(isin, lenderFundCode, shares);
        for (uint256 i = 0; i < ids.length; i++) if (qty[i] > 0) _reportReturn(ids[i], qty[i], date);
    }

    function acknowledgeReturn(bytes16 loanId, int256 cashAfterYen) external {
        require(msg.sender == lender, "acknowledgeReturn: only lender");
        Pending storage p = _pendingReturn[loanId];
        require(p.active, "acknowledgeReturn: no return reported");
        Loan storage l = _loans[loanId];
        uint64 left = uint64(uint256(_last(_shares[loanId]) - p.amount));
        require(cashAfterYen >= 0, "acknowledgeReturn: negative collateral");
        require(left > 0 || cashAfterYen == 0, "acknowledgeReturn: collateral must be returned in full");
        _push(_shares[loanId], p.date, int256(uint256(left)));
        if (l.terms.collateralType == CollateralType.CASH) _setCash(loanId, p.date, cashAfterYen);
        p.active = false;
        emit SharesChanged(loanId, p.date, left);
        if (left == 0) _setState(loanId, LoanState.CLOSED);
        else if (l.state == LoanState.RECALL_PENDING && p.amount >= int256(uint256(l.recalledShares))) {
            l.recalledShares = 0;
            _setState(loanId, LoanState.OPEN);
        } else if (l.state == LoanState.RECALL_PENDING) {
            l.recalledShares -= uint64(uint256(p.amount));
        }
    }

    // ---- rate changes (two-party) ----------------------------------------------------------------

    function proposeRateChange(bytes16 loanId, RateKind kind, uint32 effectiveDate, int32 rate_e6) external {
        require(msg.sender == lender || msg.sender == borrower, "proposeRateChange: only lender or borrower");
        _requireLive(loanId, "proposeRateChange");
        require(_params.allowNegativeRates || rate_e6 >= 0, "proposeRateChange: negative rates not allowed");
        Point[] storage series = _rates[loanId][uint8(kind)];
        require(effectiveDate > series[series.length - 1].date, "proposeRateChange: must follow the latest rate");
        _pendingRate[loanId] = Pending(true, msg.sender, effectiveDate, rate_e6, uint8(kind), 0, 0);
        emit RateChangeProposed(loanId, kind, effectiveDate, rate_e6);
    }

    function confirmRateChange(bytes16 loanId) external {
        Pending storage p = _pendingRate[loanId];
        require(p.active, "confirmRateChange: nothing proposed");
        _requireOther(p.by, "confirmRateChange");
        _requireLive(loanId, "confirmRateChange");
        _push(_rates[loanId][p.kind], p.date, p.amount);
        p.active = false;
        emit RateChanged(loanId, RateKind(p.kind), p.date, int32(p.amount));
    }

    // ---- collateral (two-party) ------------------------------------------------------------------

    /// Lender calls for the shortfall on business day `day`, to settle on `settleDate`.
    function issueMarginCall(bytes16 loanId, uint32 day, uint32 settleDate) external {
        require(msg.sender == lender, "issueMarginCall: only lender");
        (,, uint256 call,) = marginStatus(loanId, day);
        require(call > 0, "issueMarginCall: no shortfall");
        _proposeCollateral(loanId, int256(call), settleDate);
    }

    /// Borrower asks for the excess back on business day `day`, to settle on `settleDate`.
    function requestCollateralReturn(bytes16 loanId, uint32 day, uint32 settleDate) external {
        require(msg.sender == borrower, "requestCollateralReturn: only borrower");
        (,,, uint256 excess) = marginStatus(loanId, day);
        require(excess > 0, "requestCollateralReturn: no excess");
        _proposeCollateral(loanId, -int256(excess), settleDate);
    }

    function confirmCollateralMove(bytes16 loanId) external {
        Pending storage p = _pendingCollateral[loanId];
        require(p.active, "confirmCollateralMove: nothing proposed");
        _requireOther(p.by, "confirmCollateralMove");
        _requireLive(loanId, "confirmCollateralMove");
        _setCash(loanId, p.date, cashOn(loanId, p.date) + p.amount);
        p.active = false;
    }

    // ---- lender change (two-party) ---------------------------------------------------------------

    /// The old slice closes on `date` and a new loan with the same terms opens for the new lender
    /// fund from `date` [A] (§3.4).
    function proposeLenderChange(bytes16 loanId, bytes16 newLoanId, bytes16 newFundCode, uint32 date) external {
        require(msg.sender == lender, "proposeLenderChange: only lender");
        _requireLive(loanId, "proposeLenderChange");
        require(newLoanId != bytes16(0) && _loans[newLoanId].state == LoanState.NONE, "proposeLenderChange: loan id used");
        require(Identifiers.isValidFundCode(Identifiers.trimmed(newFundCode)), "proposeLenderChange: invalid fund code");
        require(date > _shares[loanId][_shares[loanId].length - 1].date, "proposeLenderChange: date too early");
        _pendingLenderChange[loanId] = Pending(true, msg.sender, date, 0, 0, newLoanId, newFundCode);
        emit LenderChangeProposed(loanId, newLoanId, newFundCode, date);
    }

    function confirmLenderChange(bytes16 loanId) external {
        require(msg.sender == borrower, "confirmLenderChange: only borrower");
        Pending storage p = _pendingLenderChange[loanId];
        require(p.active, "confirmLenderChange: nothing proposed");
        _requireLive(loanId, "confirmLenderChange");
        require(_loans[p.newLoanId].state == LoanState.NONE, "confirmLenderChange: loan id used");
        p.active = false;
        Loan storage old = _loans[loanId];
        uint32 date = p.date;
        Loan storage nl = _loans[p.newLoanId];
        nl.terms = old.terms;
        nl.terms.loanId = p.newLoanId;
        nl.terms.lenderFundCode = p.newFundCode;
        nl.terms.startDate = date;
        nl.terms.shares = uint64(positionOn(loanId, date));
        nl.proposer = lender;
        nl.termsHash = keccak256(abi.encode(nl.terms));
        nl.initialCashYen = cashOn(loanId, date);
        nl.seq = _loanIds.length;
        _loanIds.push(p.newLoanId);
        _open(p.newLoanId, date, nl.terms.shares, nl.initialCashYen, rateOn(loanId, RateKind.FEE, date),
            rateOn(loanId, RateKind.REBATE, date));
        _push(_shares[loanId], date, 0);
        if (old.terms.collateralType == CollateralType.CASH) _setCash(loanId, date, 0);
        emit SharesChanged(loanId, date, 0);
        _setState(loanId, LoanState.CLOSED);
        _setState(p.newLoanId, LoanState.OPEN);
    }

    // ---- views: state ----------------------------------------------------------------------------

    function params() external view returns (SblParams memory) {
        return _params;
    }

    function getLoan(bytes16 loanId) external view returns (Loan memory) {
        return _loans[loanId];
    }

    function loanCount() external view returns (uint256) {
        return _loanIds.length;
    }

    function loanIdAt(uint256 i) external view returns (bytes16) {
        return _loanIds[i];
    }

    /// Shares on loan after every event dated on or before `day` (0 before the start).
    function positionOn(bytes16 loanId, uint32 day) public view returns (uint256) {
        return uint256(_valueOn(_shares[loanId], day, 0));
    }

    function cashOn(bytes16 loanId, uint32 day) public view returns (int256) {
        return _valueOn(_cash[loanId], day, 0);
    }

    /// The rate of that kind in force on `day`: a change applies from its effective date plus the
    /// agreed lag (0 = inclusive) [A-SBL-RATECHG]; the initial rate applies from the start date.
    function rateOn(bytes16 loanId, RateKind kind, uint32 day) public view returns (int32) {
        Point[] storage s = _rates[loanId][uint8(kind)];
        for (uint256 i = s.length; i > 0; i--) {
            uint256 eff = i == 1 ? s[0].date : uint256(s[i - 1].date) + _params.rateChangeLagDays;
            if (eff <= day) return int32(s[i - 1].value);
        }
        return s.length == 0 ? int32(0) : int32(s[0].value);
    }

    // ---- views: calculations ---------------------------------------------------------------------

    /// Shares, cash collateral and both rates for each day in [from, to) (price left 0): one call
    /// per period breakdown. Days with no shares on loan have shares 0. With both ends counted
    /// (両端) a return date still accrues on the shares and cash held the day before.
    function dailyState(bytes16 loanId, uint32 from, uint32 to) external view returns (DayAccrual[] memory out) {
        Loan storage l = _loans[loanId];
        out = new DayAccrual[](to > from ? to - from : 0);
        bool cash = l.terms.collateralType == CollateralType.CASH;
        for (uint32 d = from; d < to; d++) {
            DayAccrual memory a = out[d - from];
            a.date = d;
            uint32 ref = d;
            uint256 s = positionOn(loanId, d);
            if (_params.includeEndDate && d > l.terms.startDate) {
                uint256 before = positionOn(loanId, d - 1);
                if (before > s) {
                    s = before;
                    ref = d - 1;
                }
            }
            if (s == 0) continue;
            a.shares = uint64(s);
            a.feeRate_e6 = rateOn(loanId, RateKind.FEE, d);
            if (cash) {
                a.cashYen = cashOn(loanId, ref);
                a.rebateRate_e6 = rateOn(loanId, RateKind.REBATE, d);
            }
        }
    }

    /// Required cash collateral on business day `day`: ceil(shares x close x margin / 10^10), with
    /// the previous business day's close by default [A-SBL-MARGIN].
    function requiredCollateral(bytes16 loanId, uint32 day) public view returns (uint256) {
        Loan storage l = _loans[loanId];
        require(calendar.isBusinessDay(day), "requiredCollateral: not a business day");
        (, uint64 close) = marketData.closeFor(l.terms.isin, day, _params.marginPriceRule);
        return SblMath.requiredCollateral(uint64(positionOn(loanId, day)), close, _margin(l));
    }

    function marginStatus(bytes16 loanId, uint32 day)
        public
        view
        returns (uint256 required, int256 held, uint256 call, uint256 excess)
    {
        require(_loans[loanId].terms.collateralType == CollateralType.CASH, "marginStatus: not a cash loan");
        required = requiredCollateral(loanId, day);
        held = cashOn(loanId, day);
        if (held < int256(required)) call = required - uint256(held);
        else excess = uint256(held) - required;
    }

    /// How a return of `shares` spreads over the fund's live loans in this ISIN, by priority.
    function returnAllocation(bytes12 isin, bytes16 lenderFundCode, uint64 shares)
        public
        view
        returns (bytes16[] memory ids, uint64[] memory qty)
    {
        uint256 n = 0;
        bytes16[] memory cand = new bytes16[](_loanIds.length);
        for (uint256 i = 0; i < _loanIds.length; i++) {
            Loan storage l = _loans[_loanIds[i]];
            if ((l.state == LoanState.OPEN || l.state == LoanState.RECALL_PENDING) && l.terms.isin == isin
                    && l.terms.lenderFundCode == lenderFundCode) cand[n++] = _loanIds[i];
        }
        ids = new bytes16[](n);
        qty = new uint64[](n);
        bool[] memory used = new bool[](n);
        uint64 left = shares;
        for (uint256 k = 0; k < n; k++) {
            uint256 best = type(uint256).max;
            for (uint256 i = 0; i < n; i++) {
                if (!used[i] && (best == type(uint256).max || _returnsBefore(cand[i], cand[best]))) best = i;
            }
            used[best] = true;
            ids[k] = cand[best];
            uint64 pos = uint64(uint256(_last(_shares[cand[best]])));
            qty[k] = left < pos ? left : pos;
            left -= qty[k];
        }
        require(left == 0, "returnAllocation: shares exceed shares on loan");
    }

    // ---- internals -------------------------------------------------------------------------------

    function _returnsBefore(bytes16 a, bytes16 b) private view returns (bool) {
        Loan storage la = _loans[a];
        Loan storage lb = _loans[b];
        bool oldest = _params.returnPriority == ReturnPriority.OLDEST_FIRST;
        if (la.terms.startDate != lb.terms.startDate) {
            return oldest ? la.terms.startDate < lb.terms.startDate : la.terms.startDate > lb.terms.startDate;
        }
        return oldest ? la.seq < lb.seq : la.seq > lb.seq;
    }

    function _writeTerms(LoanTerms calldata t, address proposer) private {
        require(Identifiers.isValidIsin(abi.encodePacked(t.isin)), "proposeLoan: invalid ISIN");
        require(Identifiers.isValidFundCode(Identifiers.trimmed(t.lenderFundCode)), "proposeLoan: invalid fund code");
        require(t.shares > 0, "proposeLoan: shares must be positive");
        require(t.startDate >= t.tradeDate, "proposeLoan: start before trade date");
        require(t.termEndDate == 0 || t.termEndDate >= t.startDate, "proposeLoan: term ends before start");
        require(t.referencePrice_e4 > 0, "proposeLoan: reference price required");
        require(_params.allowNegativeRates || (t.feeRate_e6 >= 0 && t.rebateRate_e6 >= 0),
            "proposeLoan: negative rates not allowed");
        Loan storage l = _loans[t.loanId];
        l.terms = t;
        if (t.margin_e6 == 0) l.terms.margin_e6 = _params.defaultMargin_e6;
        if (t.dividendRatio_e6 == 0) l.terms.dividendRatio_e6 = _params.defaultDividendRatio_e6;
        if (t.collateralType == CollateralType.NON_CASH) l.terms.rebateRate_e6 = 0;
        l.proposer = proposer;
        l.termsHash = keccak256(abi.encode(l.terms));
        l.initialCashYen = t.collateralType == CollateralType.CASH
            ? int256(SblMath.requiredCollateral(t.shares, t.referencePrice_e4, l.terms.margin_e6))
            : int256(0);
        l.seq = _loanIds.length;
        _loanIds.push(t.loanId);
    }

    function _open(bytes16 loanId, uint32 date, uint64 shares, int256 cash, int32 feeRate, int32 rebateRate) private {
        _push(_shares[loanId], date, int256(uint256(shares)));
        _push(_rates[loanId][uint8(RateKind.FEE)], date, feeRate);
        _push(_rates[loanId][uint8(RateKind.REBATE)], date, rebateRate);
        emit SharesChanged(loanId, date, shares);
        if (_loans[loanId].terms.collateralType == CollateralType.CASH) _setCash(loanId, date, cash);
    }

    function _reportReturn(bytes16 loanId, uint64 shares, uint32 date) private {
        _requireLive(loanId, "reportReturn");
        require(!_pendingReturn[loanId].active, "reportReturn: a return is awaiting acknowledgement");
        Point[] storage s = _shares[loanId];
        require(shares > 0 && shares <= uint256(s[s.length - 1].value), "reportReturn: shares exceed shares on loan");
        require(date >= s[s.length - 1].date, "reportReturn: date before the latest event");
        _pendingReturn[loanId] = Pending(true, msg.sender, date, int256(uint256(shares)), 0, 0, 0);
        emit ReturnReported(loanId, shares, date);
    }

    function _proposeCollateral(bytes16 loanId, int256 delta, uint32 settleDate) private {
        _requireLive(loanId, "collateral move");
        Point[] storage c = _cash[loanId];
        require(settleDate >= c[c.length - 1].date, "collateral move: settle date before the latest balance");
        _pendingCollateral[loanId] = Pending(true, msg.sender, settleDate, delta, 0, 0, 0);
        emit CollateralMoveProposed(loanId, delta, settleDate, msg.sender);
    }

    function _setCash(bytes16 loanId, uint32 date, int256 cash) private {
        _push(_cash[loanId], date, cash);
        emit CollateralChanged(loanId, date, cash);
    }

    /// Appends to a dated series; an entry on the same date as the last one replaces it.
    function _push(Point[] storage s, uint32 date, int256 value) private {
        if (s.length > 0 && s[s.length - 1].date == date) {
            s[s.length - 1].value = value;
        } else {
            require(s.length == 0 || date > s[s.length - 1].date, "event dated before the latest event");
            s.push(Point(date, value));
        }
    }

    function _valueOn(Point[] storage s, uint32 day, int256 dflt) private view returns (int256) {
        for (uint256 i = s.length; i > 0; i--) {
            if (s[i - 1].date <= day) return s[i - 1].value;
        }
        return dflt;
    }

    function _last(Point[] storage s) private view returns (int256) {
        return s.length == 0 ? int256(0) : s[s.length - 1].value;
    }

    function _margin(Loan storage l) private view returns (uint32) {
        return l.terms.margin_e6 == 0 ? _params.defaultMargin_e6 : l.terms.margin_e6;
    }

    function _requireLive(bytes16 loanId, string memory what) private view {
        LoanState s = _loans[loanId].state;
        require(s == LoanState.OPEN || s == LoanState.RECALL_PENDING, string.concat(what, ": loan not open"));
    }

    /// Lender-side proposals are confirmed by the borrower and vice versa.
    function _requireOther(address proposer, string memory what) private view {
        address other = proposer == borrower ? lender : borrower;
        require(msg.sender == other, string.concat(what, ": only the other party"));
    }

    function _setState(bytes16 loanId, LoanState to) private {
        Loan storage l = _loans[loanId];
        LoanState from = l.state;
        l.state = to;
        emit LoanStateChanged(loanId, from, to, msg.sender);
    }
}
