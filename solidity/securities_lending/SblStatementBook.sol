// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IBusinessCalendar} from "../lib/BusinessCalendar.sol";
import {DateLib, PostTradeMath} from "../lib/PostTradeMath.sol";
import {SblLoanBook} from "./SblLoanBook.sol";
import {SblMarketData} from "./SblMarketData.sol";
import {DayAccrual, DayBasis, FeeBasis, LoanState, SblMath, SblParams} from "./SblMath.sol";

/// Period figures (fee, collateral interest, dividend equivalents, net) of each loan and calendar
/// month, computed from the loan book and market data (§3.5), and the period statements of each
/// submitter with their matching and payment (§3.4, §3.6). Same recipients as the loan book.
contract SblStatementBook {
    enum Submitter {
        LENDER,
        MANAGER,
        BORROWER
    }

    /// Whose figures become the agreed figures within tolerance: the lender side (the calculation
    /// agent) by default [A-SBL-TOL].
    enum AdoptSide {
        LENDER,
        BORROWER
    }

    /// [A-SBL-STATES]. *_SUBMITTED names the first submitter while others are still missing.
    enum StatementState {
        NONE,
        LENDER_SUBMITTED,
        MANAGER_SUBMITTED,
        BORROWER_SUBMITTED,
        MATCHED,
        MATCHED_WITH_TOLERANCE,
        MISMATCHED,
        PAYMENT_INSTRUCTED,
        PAID
    }

    struct StatementParams {
        uint64 tolFeeYen; // 0 [A-SBL-TOL]
        uint64 tolInterestYen; // 0
        uint64 tolDividendYen; // 0
        AdoptSide adoptSide; // LENDER
        bool requireManagerStatement; // three submitters when true (lender, manager, borrower)
        uint8 paymentDayOfNextMonth; // net paid on this day of the following month, next business day [A-SBL-NET]
    }

    struct Figures {
        int256 feeYen;
        int256 collateralInterestYen;
        int256 dividendEquivalentYen;
        int256 netYen; // > 0: borrower pays lender
    }

    struct PeriodFigures {
        Figures figures;
        uint32 accrualDays;
        bytes32 breakdownHash;
    }

    struct Submission {
        uint32 version; // 0 = not submitted
        Figures figures;
        bytes32 breakdownHash;
    }

    struct Statement {
        StatementState state;
        uint8 submittedMask;
        Figures agreed;
        uint32 paymentDate;
        address payer;
    }

    SblLoanBook public immutable loanBook;
    SblMarketData public immutable marketData;
    IBusinessCalendar public immutable calendar;
    address public immutable lender;
    address public immutable lenderManager;
    address public immutable borrower;
    StatementParams private _sp;

    mapping(bytes32 => Statement) private _statements;
    mapping(bytes32 => Submission[3]) private _submissions;

    event StatementSubmitted(bytes16 indexed loanId, uint32 indexed period, Submitter submitter, uint32 version,
        bytes32 breakdownHash);
    event StatementStateChanged(bytes16 indexed loanId, uint32 indexed period, StatementState from,
        StatementState to, address by);
    event StatementMatched(bytes16 indexed loanId, uint32 indexed period, StatementState status, Figures agreed);
    event PaymentInstructed(bytes16 indexed loanId, uint32 indexed period, address payer, int256 netYen,
        uint32 paymentDate);

    constructor(SblLoanBook loanBook_, StatementParams memory sp) {
        require(address(loanBook_) != address(0), "loan book required");
        require(sp.paymentDayOfNextMonth >= 1 && sp.paymentDayOfNextMonth <= 28, "payment day must be 1-28");
        loanBook = loanBook_;
        marketData = loanBook_.marketData();
        calendar = loanBook_.calendar();
        lender = loanBook_.lender();
        lenderManager = loanBook_.lenderManager();
        borrower = loanBook_.borrower();
        require(!sp.requireManagerStatement || lenderManager != address(0), "manager statement needs a manager");
        _sp = sp;
    }

    // ---- calculations (views) --------------------------------------------------------------------

    /// Per-day inputs of the period's accrual days: start in, end out, every calendar day; the
    /// return date accrues too when the agreement counts both ends (§1.3, SBL-09).
    function breakdown(bytes16 loanId, uint32 period) public view returns (DayAccrual[] memory dayList) {
        SblLoanBook.Loan memory l = loanBook.getLoan(loanId);
        require(uint8(l.state) >= uint8(LoanState.OPEN), "breakdown: loan not delivered");
        SblParams memory p = loanBook.params();
        (uint32 first, uint32 next) = DateLib.periodBounds(period);
        uint32 from = l.terms.startDate > first ? l.terms.startDate : first;
        DayAccrual[] memory all = loanBook.dailyState(loanId, from, next);
        uint256 n = 0;
        for (uint256 i = 0; i < all.length; i++) if (all[i].shares > 0) all[n++] = all[i];
        dayList = new DayAccrual[](n);
        uint32[] memory dates = new uint32[](n);
        for (uint256 i = 0; i < n; i++) {
            dayList[i] = all[i];
            dates[i] = all[i].date;
        }
        if (p.feeBasis == FeeBasis.MARKET_VALUE && n > 0) {
            uint64[] memory closes = marketData.closesFor(l.terms.isin, dates, p.feePriceRule);
            for (uint256 i = 0; i < n; i++) dayList[i].price_e4 = closes[i];
        }
    }

    /// fee = one signed division of sum(shares x close x rate) by 365 x 10^10; collateral interest
    /// likewise on cash x rebate; dividend equivalents whose payment date falls in the period.
    function periodFigures(bytes16 loanId, uint32 period) public view returns (PeriodFigures memory r) {
        DayAccrual[] memory dayList = breakdown(loanId, period);
        SblParams memory p = loanBook.params();
        uint256 basisDays = p.dayBasis == DayBasis.ACT_ACT ? DateLib.daysInYear(period / 100) : 365;
        Figures memory f;
        (f.feeYen, f.collateralInterestYen) =
            SblMath.accrue(dayList, basisDays, p.feeBasis, p.roundingLocation, p.signedRounding);
        r.accrualDays = uint32(dayList.length);
        if (r.accrualDays > 0 && p.minimumFeeYen > 0 && f.feeYen < p.minimumFeeYen) f.feeYen = p.minimumFeeYen;
        (uint32 first, uint32 next) = DateLib.periodBounds(period);
        SblMarketData.Dividend[] memory divs = marketData.dividendsOf(loanBook.getLoan(loanId).terms.isin);
        for (uint256 i = 0; i < divs.length; i++) {
            if (divs[i].paymentDate >= first && divs[i].paymentDate < next) {
                (,, uint256 amount) = dividendEquivalent(loanId, i);
                f.dividendEquivalentYen += int256(amount);
            }
        }
        f.netYen = _net(f, p.netDividends);
        r.figures = f;
        r.breakdownHash = keccak256(abi.encode(dayList));
    }

    /// Owed when start <= record date < return, on the shares held on the record date [A-SBL-DIV].
    function dividendEquivalent(bytes16 loanId, uint256 dividendIndex)
        public
        view
        returns (bool owed, uint64 shares, uint256 amount)
    {
        SblLoanBook.Loan memory l = loanBook.getLoan(loanId);
        SblMarketData.Dividend memory dv = marketData.dividendAt(l.terms.isin, dividendIndex);
        uint256 s = loanBook.positionOn(loanId, dv.recordDate);
        if (loanBook.params().dividendOnReturnDate && dv.recordDate > l.terms.startDate) {
            uint256 before = loanBook.positionOn(loanId, dv.recordDate - 1);
            if (before > s) s = before;
        }
        if (s == 0) return (false, 0, 0);
        shares = uint64(s);
        return (true, shares, SblMath.dividendEquivalent(shares, dv.dps_e4, l.terms.dividendRatio_e6));
    }

    /// The agreed business day of the following month on which the period's net is paid.
    function defaultPaymentDate(uint32 period) public view returns (uint32) {
        (, uint32 next) = DateLib.periodBounds(period);
        return calendar.businessDayOnOrAfter(next + _sp.paymentDayOfNextMonth - 1);
    }

    // ---- statements ------------------------------------------------------------------------------

    /// A submitter's own figures for (loan, period); the net must equal its components. When every
    /// required submitter is in, the statement is compared; after MISMATCHED any submitter may send
    /// a corrected version, which re-runs the comparison.
    function submitStatement(bytes16 loanId, uint32 period, Figures calldata f, bytes32 breakdownHash) external {
        _submit(loanId, period, f, breakdownHash);
    }

    /// Submits the figures this contract computes, so that only results need matching (B-POST vision).
    function submitComputedStatement(bytes16 loanId, uint32 period) external {
        PeriodFigures memory r = periodFigures(loanId, period);
        _submit(loanId, period, r.figures, r.breakdownHash);
    }

    function instructPayment(bytes16 loanId, uint32 period, uint32 paymentDate) external {
        bytes32 k = statementKey(loanId, period);
        Statement storage st = _statements[k];
        require(st.state == StatementState.MATCHED || st.state == StatementState.MATCHED_WITH_TOLERANCE,
            "instructPayment: statement not matched");
        address payer = st.agreed.netYen >= 0 ? borrower : lender;
        require(msg.sender == payer, "instructPayment: only the payer of the net amount");
        st.payer = payer;
        st.paymentDate = paymentDate == 0 ? defaultPaymentDate(period) : paymentDate;
        emit PaymentInstructed(loanId, period, payer, st.agreed.netYen, st.paymentDate);
        _setState(loanId, period, StatementState.PAYMENT_INSTRUCTED);
    }

    function confirmPayment(bytes16 loanId, uint32 period) external {
        Statement storage st = _statements[statementKey(loanId, period)];
        require(st.state == StatementState.PAYMENT_INSTRUCTED, "confirmPayment: payment not instructed");
        address payee = st.payer == borrower ? lender : borrower;
        require(msg.sender == payee, "confirmPayment: only the payee");
        _setState(loanId, period, StatementState.PAID);
    }

    // ---- views -----------------------------------------------------------------------------------

    function statementParams() external view returns (StatementParams memory) {
        return _sp;
    }

    function statementKey(bytes16 loanId, uint32 period) public pure returns (bytes32) {
        return keccak256(abi.encode(loanId, period));
    }

    function getStatement(bytes16 loanId, uint32 period) external view returns (Statement memory) {
        return _statements[statementKey(loanId, period)];
    }

    function submissionOf(bytes16 loanId, uint32 period, Submitter who) external view returns (Submission memory) {
        return _submissions[statementKey(loanId, period)][uint8(who)];
    }

    // ---- internals -------------------------------------------------------------------------------

    function _net(Figures memory f, bool netDividends) private pure returns (int256) {
        return f.feeYen - f.collateralInterestYen + (netDividends ? f.dividendEquivalentYen : int256(0));
    }

    function _submitter() private view returns (Submitter) {
        if (msg.sender == lender) return Submitter.LENDER;
        if (msg.sender == borrower) return Submitter.BORROWER;
        require(msg.sender == lenderManager && lenderManager != address(0),
            "submitStatement: only lender, lender's manager or borrower");
        return Submitter.MANAGER;
    }

    function _requiredMask() private view returns (uint8) {
        return _sp.requireManagerStatement ? 7 : 5; // bits: LENDER 1, MANAGER 2, BORROWER 4
    }

    function _submit(bytes16 loanId, uint32 period, Figures memory f, bytes32 breakdownHash) private {
        Submitter who = _submitter();
        require(uint8(loanBook.getLoan(loanId).state) >= uint8(LoanState.OPEN), "submitStatement: loan not delivered");
        DateLib.periodBounds(period);
        require(f.netYen == _net(f, loanBook.params().netDividends), "submitStatement: net inconsistent with components");
        bytes32 k = statementKey(loanId, period);
        Statement storage st = _statements[k];
        require(st.state <= StatementState.BORROWER_SUBMITTED || st.state == StatementState.MISMATCHED,
            "submitStatement: statement already matched");
        Submission storage sub = _submissions[k][uint8(who)];
        sub.version += 1;
        sub.figures = f;
        sub.breakdownHash = breakdownHash;
        st.submittedMask |= uint8(1 << uint8(who));
        emit StatementSubmitted(loanId, period, who, sub.version, breakdownHash);
        uint8 required = _requiredMask();
        if (st.submittedMask & required != required) {
            if (st.state == StatementState.NONE) _setState(loanId, period, StatementState(uint8(who) + 1));
            return;
        }
        _compare(loanId, period, k, required);
    }

    function _compare(bytes16 loanId, uint32 period, bytes32 k, uint8 required) private {
        Submitter base = _sp.adoptSide == AdoptSide.LENDER ? Submitter.LENDER : Submitter.BORROWER;
        Figures memory b = _submissions[k][uint8(base)].figures;
        bool equal = true;
        bool within = true;
        for (uint8 i = 0; i < 3; i++) {
            if ((required >> i) & 1 == 0 || i == uint8(base)) continue;
            Figures memory o = _submissions[k][i].figures;
            uint256 dFee = PostTradeMath.absDiff(o.feeYen, b.feeYen);
            uint256 dCi = PostTradeMath.absDiff(o.collateralInterestYen, b.collateralInterestYen);
            uint256 dDiv = PostTradeMath.absDiff(o.dividendEquivalentYen, b.dividendEquivalentYen);
            if (dFee != 0 || dCi != 0 || dDiv != 0 || o.netYen != b.netYen) equal = false;
            if (dFee > _sp.tolFeeYen || dCi > _sp.tolInterestYen || dDiv > _sp.tolDividendYen) within = false;
        }
        Statement storage st = _statements[k];
        StatementState status = equal
            ? StatementState.MATCHED
            : within ? StatementState.MATCHED_WITH_TOLERANCE : StatementState.MISMATCHED;
        if (status != StatementState.MISMATCHED) st.agreed = b;
        else delete st.agreed;
        emit StatementMatched(loanId, period, status, st.agreed);
        _setState(loanId, period, status);
    }

    function _setState(bytes16 loanId, uint32 period, StatementState to) private {
        Statement storage st = _statements[statementKey(loanId, period)];
        StatementState from = st.state;
        st.state = to;
        emit StatementStateChanged(loanId, period, from, to, msg.sender);
    }
}
