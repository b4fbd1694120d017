// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IBusinessCalendar} from "../lib/BusinessCalendar.sol";
import {DateLib, PostTradeMath} from "../lib/PostTradeMath.sol";
import {SblLoanBook} from "./SblLoanBook.sol";
import {SblMarketData} from "./SblMarketData.sol";
import {DayAccrual, DayBasis, FeeBasis, LoanState, SblMath, SblParams} from "./SblMath.sol";

/// Period figures (fee, collateral interest, dividend equivalents, net) computed from the loan book
/// and market data (§3.5), and the statements of each submitter with their matching and payment
/// (§3.4, §3.6). Same recipients as the loan book. A statement key is (loan, month), (AGREEMENT,
/// month) for the whole agreement's month, or (loan, WHOLE_LIFE) for a closed loan's whole life; all
/// three are matched by the same submitters with the same state machine.
contract SblStatementBook {
    /// The loan id of agreement-level statements.
    bytes16 public constant AGREEMENT = bytes16(0);
    /// The period of whole-life statements.
    uint32 public constant WHOLE_LIFE = 0;

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

    /// Tolerance rule per field, as post-trade matching services offer (§5): an absolute yen band
    /// (the default), a fraction of the adopted side's figure, or that fraction capped at the yen band.
    enum ToleranceKind {
        YEN,
        PERCENT,
        CAPPED_PERCENT
    }

    /// Which statements settle money; the others are matched for reconciliation only, so that no
    /// period is paid twice (B-POST: the unit of matching is agreed per counterparty).
    enum BillingUnit {
        LOAN_MONTH,
        AGREEMENT_MONTH,
        LOAN_WHOLE_LIFE
    }

    struct StatementParams {
        uint64 tolFeeYen; // 0 [A-SBL-TOL]; the cap under CAPPED_PERCENT
        uint64 tolInterestYen; // 0
        uint64 tolDividendYen; // 0
        AdoptSide adoptSide; // LENDER
        bool requireManagerStatement; // three submitters when true (lender, manager, borrower)
        uint8 paymentDayOfNextMonth; // net paid on this day of the following month, next business day [A-SBL-NET]
        ToleranceKind[3] tolKind; // fee, collateral interest, dividend equivalent: YEN
        uint32[3] tolRate_e6; // PERCENT / CAPPED_PERCENT: fraction of the adopted figure, 1e6 = 100 %
        BillingUnit billingUnit; // LOAN_MONTH
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

    /// One submitter's figures minus the adopted side's, and which fields are outside tolerance.
    struct FieldDiffs {
        int256 feeYen;
        int256 collateralInterestYen;
        int256 dividendEquivalentYen;
        int256 netYen;
        uint8 outsideMask; // bit 0 fee, 1 collateral interest, 2 dividend equivalent
        bool breakdownDiffers;
    }

    /// Every submission of a statement side by side with its differences from the adopted side
    /// (zero for the adopted side itself and for submitters not yet in).
    struct StatementDiff {
        Submitter base;
        uint8 requiredMask;
        uint8 submittedMask;
        Submission[3] submissions; // by Submitter
        FieldDiffs[3] diffs; // by Submitter
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
        for (uint256 i = 0; i < 3; i++) require(sp.tolRate_e6[i] <= 1e6, "tolerance rate above 100 %");
        _sp = sp;
    }

    // ---- calculations (views) --------------------------------------------------------------------

    /// Per-day inputs of the period's accrual days: start in, end out, every calendar day; the
    /// return date accrues too when the agreement counts both ends (§1.3, SBL-09).
    function breakdown(bytes16 loanId, uint32 period) public view returns (DayAccrual[] memory) {
        SblLoanBook.Loan memory l = loanBook.getLoan(loanId);
        require(uint8(l.state) >= uint8(LoanState.OPEN), "breakdown: loan not delivered");
        (uint32 first, uint32 next) = DateLib.periodBounds(period);
        return _days(l, l.terms.startDate > first ? l.terms.startDate : first, next);
    }

    /// Every accrual day of a closed loan, from its start to its closing date (end out, or in when
    /// both ends count).
    function wholeLifeBreakdown(bytes16 loanId) public view returns (DayAccrual[] memory) {
        SblLoanBook.Loan memory l = loanBook.getLoan(loanId);
        require(l.state == LoanState.CLOSED, "wholeLifeBreakdown: loan not closed");
        return _days(l, l.terms.startDate, closingDate(loanId) + 1);
    }

    /// The date the loan's shares went to zero (a full return or a lender change): shares on loan
    /// never rise after the start, so a doubling then bisecting search finds it.
    function closingDate(bytes16 loanId) public view returns (uint32) {
        SblLoanBook.Loan memory l = loanBook.getLoan(loanId);
        require(l.state == LoanState.CLOSED, "closingDate: loan not closed");
        uint32 lo = l.terms.startDate;
        if (loanBook.positionOn(loanId, lo) == 0) return lo;
        uint32 step = 1;
        while (loanBook.positionOn(loanId, lo + step) > 0) {
            lo += step;
            step *= 2;
        }
        uint32 hi = lo + step; // position(lo) > 0, position(hi) == 0
        while (hi - lo > 1) {
            uint32 mid = lo + (hi - lo) / 2;
            if (loanBook.positionOn(loanId, mid) > 0) lo = mid;
            else hi = mid;
        }
        return hi;
    }

    function _days(SblLoanBook.Loan memory l, uint32 from, uint32 to) private view returns (DayAccrual[] memory dayList) {
        SblParams memory p = loanBook.params();
        DayAccrual[] memory all = loanBook.dailyState(l.terms.loanId, from, to);
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
    function periodFigures(bytes16 loanId, uint32 period) public view returns (PeriodFigures memory) {
        SblParams memory p = loanBook.params();
        uint256 basisDays = p.dayBasis == DayBasis.ACT_ACT ? DateLib.daysInYear(period / 100) : 365;
        (uint32 first, uint32 next) = DateLib.periodBounds(period);
        return _figures(loanId, breakdown(loanId, period), basisDays, first, next);
    }

    /// A closed loan's figures over its whole life: one division per fee type over every accrual
    /// day (the "whole life" rounding location of SBL-04/06; PER_RATE_SEGMENT / PER_DAY still cut
    /// where they do), the minimum fee once, and every dividend equivalent owed during the loan.
    /// ACT_ACT needs one divisor: a life across years of different length is refused.
    function wholeLifeFigures(bytes16 loanId) public view returns (PeriodFigures memory) {
        DayAccrual[] memory dayList = wholeLifeBreakdown(loanId);
        uint256 basisDays = 365;
        if (loanBook.params().dayBasis == DayBasis.ACT_ACT && dayList.length > 0) {
            (uint256 y0,,) = DateLib.civilFromDays(dayList[0].date);
            (uint256 y1,,) = DateLib.civilFromDays(dayList[dayList.length - 1].date);
            basisDays = DateLib.daysInYear(y0);
            require(DateLib.daysInYear(y1) == basisDays, "wholeLifeFigures: ACT_ACT life spans years of different length");
        }
        return _figures(loanId, dayList, basisDays, 0, type(uint32).max);
    }

    /// The agreement's month: each contributing loan's figures (rounded per the agreement's
    /// RoundingLocation, as in its own statement) summed per fee type; accrual days are loan-days;
    /// the breakdown hash is keccak256(abi.encode(loanIds, their breakdown hashes)).
    function agreementFigures(uint32 period) public view returns (PeriodFigures memory r) {
        (bytes16[] memory ids, PeriodFigures[] memory per) = agreementLoans(period);
        bytes32[] memory hashes = new bytes32[](ids.length);
        for (uint256 i = 0; i < ids.length; i++) {
            r.figures.feeYen += per[i].figures.feeYen;
            r.figures.collateralInterestYen += per[i].figures.collateralInterestYen;
            r.figures.dividendEquivalentYen += per[i].figures.dividendEquivalentYen;
            r.figures.netYen += per[i].figures.netYen;
            r.accrualDays += per[i].accrualDays;
            hashes[i] = per[i].breakdownHash;
        }
        r.breakdownHash = keccak256(abi.encode(ids, hashes));
    }

    /// The loans contributing to the agreement's month (accrual days or a dividend equivalent paid
    /// in it), in creation order, with their own figures.
    function agreementLoans(uint32 period) public view returns (bytes16[] memory ids, PeriodFigures[] memory per) {
        (, uint32 next) = DateLib.periodBounds(period);
        uint256 n = loanBook.loanCount();
        ids = new bytes16[](n);
        per = new PeriodFigures[](n);
        uint256 k = 0;
        for (uint256 i = 0; i < n; i++) {
            bytes16 id = loanBook.loanIdAt(i);
            SblLoanBook.Loan memory l = loanBook.getLoan(id);
            if (uint8(l.state) < uint8(LoanState.OPEN) || l.terms.startDate >= next) continue;
            PeriodFigures memory f = periodFigures(id, period);
            if (f.accrualDays == 0 && f.figures.dividendEquivalentYen == 0) continue;
            ids[k] = id;
            per[k++] = f;
        }
        assembly {
            mstore(ids, k)
            mstore(per, k)
        }
    }

    /// The figures this contract computes for a statement key.
    function figuresFor(bytes16 loanId, uint32 period) public view returns (PeriodFigures memory) {
        if (loanId == AGREEMENT) return agreementFigures(period);
        if (period == WHOLE_LIFE) return wholeLifeFigures(loanId);
        return periodFigures(loanId, period);
    }

    /// fee = one signed division of sum(shares x close x rate) by basis x 10^10 per rounding
    /// segment; collateral interest likewise on cash x rebate; dividend equivalents whose payment
    /// date falls in [divFrom, divTo).
    function _figures(bytes16 loanId, DayAccrual[] memory dayList, uint256 basisDays, uint32 divFrom, uint32 divTo)
        private
        view
        returns (PeriodFigures memory r)
    {
        SblParams memory p = loanBook.params();
        Figures memory f;
        (f.feeYen, f.collateralInterestYen) =
            SblMath.accrue(dayList, basisDays, p.feeBasis, p.roundingLocation, p.signedRounding);
        r.accrualDays = uint32(dayList.length);
        if (r.accrualDays > 0 && p.minimumFeeYen > 0 && f.feeYen < p.minimumFeeYen) f.feeYen = p.minimumFeeYen;
        SblMarketData.Dividend[] memory divs = marketData.dividendsOf(loanBook.getLoan(loanId).terms.isin);
        for (uint256 i = 0; i < divs.length; i++) {
            if (divs[i].paymentDate >= divFrom && divs[i].paymentDate < divTo) {
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
    /// A whole-life statement's net is paid in the month after the closing date.
    function defaultPaymentDate(uint32 period) public view returns (uint32) {
        (, uint32 next) = DateLib.periodBounds(period);
        return calendar.businessDayOnOrAfter(next + _sp.paymentDayOfNextMonth - 1);
    }

    // ---- statements ------------------------------------------------------------------------------

    /// A submitter's own figures for a statement key (loan or AGREEMENT, month or WHOLE_LIFE); the
    /// net must equal its components. When every required submitter is in, the statement is
    /// compared; after MISMATCHED any submitter may send a corrected version, which re-runs it.
    function submitStatement(bytes16 loanId, uint32 period, Figures calldata f, bytes32 breakdownHash) external {
        _submit(loanId, period, f, breakdownHash);
    }

    /// Submits the figures this contract computes, so that only results need matching (B-POST vision).
    function submitComputedStatement(bytes16 loanId, uint32 period) external {
        PeriodFigures memory r = figuresFor(loanId, period);
        _submit(loanId, period, r.figures, r.breakdownHash);
    }

    function instructPayment(bytes16 loanId, uint32 period, uint32 paymentDate) external {
        bytes32 k = statementKey(loanId, period);
        Statement storage st = _statements[k];
        require(st.state == StatementState.MATCHED || st.state == StatementState.MATCHED_WITH_TOLERANCE,
            "instructPayment: statement not matched");
        BillingUnit unit = loanId == AGREEMENT
            ? BillingUnit.AGREEMENT_MONTH
            : period == WHOLE_LIFE ? BillingUnit.LOAN_WHOLE_LIFE : BillingUnit.LOAN_MONTH;
        require(unit == _sp.billingUnit, "instructPayment: not the agreed billing unit");
        address payer = st.agreed.netYen >= 0 ? borrower : lender;
        require(msg.sender == payer, "instructPayment: only the payer of the net amount");
        st.payer = payer;
        if (paymentDate == 0) {
            uint32 p = period;
            if (period == WHOLE_LIFE) {
                (uint256 y, uint256 m,) = DateLib.civilFromDays(closingDate(loanId));
                p = uint32(y * 100 + m);
            }
            paymentDate = defaultPaymentDate(p);
        }
        st.paymentDate = paymentDate;
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

    /// Each submitter's figures side by side with their differences from the adopted side, the
    /// fields outside tolerance and whether the breakdown hashes differ: where a MISMATCHED
    /// statement's parties differ (§3.6).
    function statementDiff(bytes16 loanId, uint32 period) external view returns (StatementDiff memory d) {
        bytes32 k = statementKey(loanId, period);
        d.base = _base();
        d.requiredMask = _requiredMask();
        d.submittedMask = _statements[k].submittedMask;
        Submission memory b = _submissions[k][uint8(d.base)];
        for (uint256 i = 0; i < 3; i++) {
            d.submissions[i] = _submissions[k][i];
            if (i != uint8(d.base) && d.submissions[i].version > 0 && b.version > 0) {
                d.diffs[i] = _diff(d.submissions[i], b);
            }
        }
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
        if (loanId == AGREEMENT || period != WHOLE_LIFE) DateLib.periodBounds(period);
        if (loanId != AGREEMENT) {
            LoanState s = loanBook.getLoan(loanId).state;
            require(uint8(s) >= uint8(LoanState.OPEN), "submitStatement: loan not delivered");
            require(period != WHOLE_LIFE || s == LoanState.CLOSED, "submitStatement: whole life needs a closed loan");
        }
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

    function _base() private view returns (Submitter) {
        return _sp.adoptSide == AdoptSide.LENDER ? Submitter.LENDER : Submitter.BORROWER;
    }

    function _diff(Submission memory o, Submission memory b) private view returns (FieldDiffs memory d) {
        d.feeYen = o.figures.feeYen - b.figures.feeYen;
        d.collateralInterestYen = o.figures.collateralInterestYen - b.figures.collateralInterestYen;
        d.dividendEquivalentYen = o.figures.dividendEquivalentYen - b.figures.dividendEquivalentYen;
        d.netYen = o.figures.netYen - b.figures.netYen;
        if (!_within(0, d.feeYen, b.figures.feeYen)) d.outsideMask |= 1;
        if (!_within(1, d.collateralInterestYen, b.figures.collateralInterestYen)) d.outsideMask |= 2;
        if (!_within(2, d.dividendEquivalentYen, b.figures.dividendEquivalentYen)) d.outsideMask |= 4;
        d.breakdownDiffers = o.breakdownHash != b.breakdownHash;
    }

    /// YEN: |diff| <= band; PERCENT: |diff| x 10^6 <= rate x |adopted|; CAPPED_PERCENT: both.
    function _within(uint256 field, int256 diff, int256 adopted) private view returns (bool) {
        uint256 a = PostTradeMath.absDiff(diff, 0);
        uint256 band = field == 0 ? _sp.tolFeeYen : field == 1 ? _sp.tolInterestYen : _sp.tolDividendYen;
        ToleranceKind kind = _sp.tolKind[field];
        if (kind == ToleranceKind.YEN) return a <= band;
        bool pct = a * 1e6 <= PostTradeMath.absDiff(adopted, 0) * _sp.tolRate_e6[field];
        return kind == ToleranceKind.PERCENT ? pct : pct && a <= band;
    }

    function _compare(bytes16 loanId, uint32 period, bytes32 k, uint8 required) private {
        Submitter base = _base();
        Submission memory bs = _submissions[k][uint8(base)];
        Figures memory b = bs.figures;
        bool equal = true;
        bool within = true;
        for (uint8 i = 0; i < 3; i++) {
            if ((required >> i) & 1 == 0 || i == uint8(base)) continue;
            FieldDiffs memory d = _diff(_submissions[k][i], bs);
            if (d.feeYen != 0 || d.collateralInterestYen != 0 || d.dividendEquivalentYen != 0 || d.netYen != 0) {
                equal = false;
            }
            if (d.outsideMask != 0) within = false;
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
