// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IBusinessCalendar} from "../lib/BusinessCalendar.sol";
import {Identifiers} from "../lib/Identifiers.sol";
import {SblLoanBook} from "./SblLoanBook.sol";
import {SblMarketData} from "./SblMarketData.sol";
import {CollateralType, LoanState, SblMath} from "./SblMath.sol";

/// Non-cash collateral of one lending agreement's NON_CASH loans: positions (ISIN, quantity,
/// haircut) per loan, valued at the close the agreement's margin price rule picks (previous
/// business day by default) from SblMarketData, where marks for collateral ISINs are posted like
/// any price; and the margin workflow: the lender calls a shortfall, the borrower posts, the
/// borrower asks for an excess back and the lender returns it (§3.5 A-SBL-MARGIN). Same recipients
/// as the loan book; a separate contract because SblLoanBook is near the EIP-170 limit.
contract SblCollateralBook {
    enum MoveKind {
        NONE,
        POST,
        RETURN
    }

    struct Position {
        bytes12 isin;
        uint64 quantity;
        uint32 haircut_e6;
    }

    struct Move {
        MoveKind kind;
        bytes12 isin;
        uint64 quantity;
        uint32 haircut_e6;
        uint32 settleDate;
    }

    struct MarginCall {
        bool open;
        uint32 day;
        uint32 settleDate;
        uint256 amountYen;
    }

    SblLoanBook public immutable loanBook;
    SblMarketData public immutable marketData;
    IBusinessCalendar public immutable calendar;
    address public immutable lender;
    address public immutable lenderManager;
    address public immutable borrower;

    mapping(bytes16 => Position[]) private _positions;
    mapping(bytes16 => Move) private _pending;
    mapping(bytes16 => MarginCall) private _calls;

    event MarginCalled(bytes16 indexed loanId, uint32 day, uint256 amountYen, uint32 settleDate);
    event MarginCallMet(bytes16 indexed loanId, uint32 day);
    event CollateralMoveProposed(bytes16 indexed loanId, MoveKind kind, bytes12 isin, uint64 quantity,
        uint32 haircut_e6, uint32 settleDate);
    event PositionChanged(bytes16 indexed loanId, bytes12 isin, uint64 quantity, uint32 haircut_e6, uint32 settleDate);

    constructor(SblLoanBook loanBook_) {
        require(address(loanBook_) != address(0), "loan book required");
        loanBook = loanBook_;
        marketData = loanBook_.marketData();
        calendar = loanBook_.calendar();
        lender = loanBook_.lender();
        lenderManager = loanBook_.lenderManager();
        borrower = loanBook_.borrower();
    }

    // ---- workflow --------------------------------------------------------------------------------

    /// The lender calls the shortfall of business day `day`; the call is met once posted collateral
    /// covers that day's requirement.
    function callMargin(bytes16 loanId, uint32 day, uint32 settleDate) external {
        require(msg.sender == lender, "callMargin: only lender");
        _requireLoan(loanId, true, "callMargin");
        require(!_calls[loanId].open, "callMargin: a margin call is open");
        require(settleDate >= day, "callMargin: settle date before the day");
        (,, uint256 call,) = marginStatus(loanId, day);
        require(call > 0, "callMargin: no shortfall");
        _calls[loanId] = MarginCall(true, day, settleDate, call);
        emit MarginCalled(loanId, day, call, settleDate);
    }

    /// The borrower delivers `quantity` of `isin` at the agreed haircut; the lender confirms receipt.
    function postCollateral(bytes16 loanId, bytes12 isin, uint64 quantity, uint32 haircut_e6, uint32 settleDate)
        external
    {
        require(msg.sender == borrower, "postCollateral: only borrower");
        _requireLoan(loanId, true, "postCollateral");
        require(Identifiers.isValidIsin(abi.encodePacked(isin)), "postCollateral: invalid ISIN");
        require(quantity > 0, "postCollateral: quantity must be positive");
        require(haircut_e6 < 1e6, "postCollateral: haircut must be below 100 %");
        (bool held, uint256 i) = _find(loanId, isin);
        require(!held || _positions[loanId][i].haircut_e6 == haircut_e6,
            "postCollateral: haircut differs from the held position");
        _propose(loanId, Move(MoveKind.POST, isin, quantity, haircut_e6, settleDate));
    }

    function confirmPost(bytes16 loanId) external {
        require(msg.sender == lender, "confirmPost: only lender");
        Move memory m = _pending[loanId];
        require(m.kind == MoveKind.POST, "confirmPost: nothing posted");
        delete _pending[loanId];
        (bool held, uint256 i) = _find(loanId, m.isin);
        if (!held) {
            _positions[loanId].push(Position(m.isin, 0, m.haircut_e6));
            i = _positions[loanId].length - 1;
        }
        Position storage p = _positions[loanId][i];
        p.quantity += m.quantity;
        emit PositionChanged(loanId, m.isin, p.quantity, p.haircut_e6, m.settleDate);
        MarginCall storage c = _calls[loanId];
        if (c.open) {
            (,, uint256 call,) = marginStatus(loanId, c.day);
            if (call == 0) {
                c.open = false;
                emit MarginCallMet(loanId, c.day);
            }
        }
    }

    /// The borrower asks for `quantity` of `isin` back: what stays must still cover business day
    /// `day`'s requirement (everything may come back once the loan is closed).
    function requestReturn(bytes16 loanId, bytes12 isin, uint64 quantity, uint32 day, uint32 settleDate) external {
        require(msg.sender == borrower, "requestReturn: only borrower");
        _requireLoan(loanId, false, "requestReturn");
        (bool held, uint256 i) = _find(loanId, isin);
        require(held && quantity > 0 && quantity <= _positions[loanId][i].quantity,
            "requestReturn: quantity exceeds the position");
        (uint256 required,,,) = marginStatus(loanId, day);
        require(_value(loanId, day, isin, quantity) >= required, "requestReturn: would leave a shortfall");
        _propose(loanId, Move(MoveKind.RETURN, isin, quantity, _positions[loanId][i].haircut_e6, settleDate));
    }

    /// The lender returns the requested securities.
    function confirmReturn(bytes16 loanId) external {
        require(msg.sender == lender, "confirmReturn: only lender");
        Move memory m = _pending[loanId];
        require(m.kind == MoveKind.RETURN, "confirmReturn: no return requested");
        delete _pending[loanId];
        (, uint256 i) = _find(loanId, m.isin);
        Position storage p = _positions[loanId][i];
        p.quantity -= m.quantity;
        emit PositionChanged(loanId, m.isin, p.quantity, p.haircut_e6, m.settleDate);
    }

    // ---- views -----------------------------------------------------------------------------------

    /// Required = ceil(shares x close x margin / 10^10) from the loan book (0 once nothing is on
    /// loan); value = sum of floor(quantity x close x (10^6 - haircut) / 10^10); call = max(required
    /// - value, 0), excess = max(value - required, 0).
    function marginStatus(bytes16 loanId, uint32 day)
        public
        view
        returns (uint256 required, uint256 value, uint256 call, uint256 excess)
    {
        require(loanBook.getLoan(loanId).terms.collateralType == CollateralType.NON_CASH,
            "marginStatus: not a non-cash loan");
        require(calendar.isBusinessDay(day), "marginStatus: not a business day");
        if (loanBook.positionOn(loanId, day) > 0) required = loanBook.requiredCollateral(loanId, day);
        value = _value(loanId, day, bytes12(0), 0);
        if (value < required) call = required - value;
        else excess = value - required;
    }

    /// The loan's non-cash collateral value on business day `day`.
    function collateralValue(bytes16 loanId, uint32 day) external view returns (uint256) {
        return _value(loanId, day, bytes12(0), 0);
    }

    function positions(bytes16 loanId) external view returns (Position[] memory) {
        return _positions[loanId];
    }

    function pendingMove(bytes16 loanId) external view returns (Move memory) {
        return _pending[loanId];
    }

    function marginCall(bytes16 loanId) external view returns (MarginCall memory) {
        return _calls[loanId];
    }

    // ---- internals -------------------------------------------------------------------------------

    /// Value with `less` of `isin` taken out (what a return would leave).
    function _value(bytes16 loanId, uint32 day, bytes12 isin, uint64 less) private view returns (uint256 v) {
        Position[] storage ps = _positions[loanId];
        for (uint256 i = 0; i < ps.length; i++) {
            uint64 q = ps[i].quantity - (ps[i].isin == isin ? less : 0);
            if (q == 0) continue;
            (, uint64 close) = marketData.closeFor(ps[i].isin, day, loanBook.params().marginPriceRule);
            v += SblMath.collateralValue(q, close, ps[i].haircut_e6);
        }
    }

    function _find(bytes16 loanId, bytes12 isin) private view returns (bool, uint256) {
        Position[] storage ps = _positions[loanId];
        for (uint256 i = 0; i < ps.length; i++) if (ps[i].isin == isin) return (true, i);
        return (false, 0);
    }

    function _propose(bytes16 loanId, Move memory m) private {
        require(_pending[loanId].kind == MoveKind.NONE, "collateral move: a move is awaiting confirmation");
        _pending[loanId] = m;
        emit CollateralMoveProposed(loanId, m.kind, m.isin, m.quantity, m.haircut_e6, m.settleDate);
    }

    /// A NON_CASH loan that is live (open or recall pending), or at least delivered.
    function _requireLoan(bytes16 loanId, bool live, string memory what) private view {
        SblLoanBook.Loan memory l = loanBook.getLoan(loanId);
        require(l.terms.collateralType == CollateralType.NON_CASH, string.concat(what, ": not a non-cash loan"));
        bool ok = live
            ? l.state == LoanState.OPEN || l.state == LoanState.RECALL_PENDING
            : uint8(l.state) >= uint8(LoanState.OPEN);
        require(ok, string.concat(what, live ? ": loan not open" : ": loan not delivered"));
    }
}
