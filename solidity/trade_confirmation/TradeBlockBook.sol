// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {IBusinessCalendar} from "../lib/BusinessCalendar.sol";
import {Identifiers} from "../lib/Identifiers.sol";
import {BilateralParties} from "./BilateralParties.sol";
import {IConsumptionTaxTable} from "../lib/ConsumptionTaxTable.sol";
import {TradeCalculator} from "./TradeCalculator.sol";
import {AllocState, Figures, Fill, OrderType, Schedule, Side} from "./TradeMath.sol";

/// What the block book reads from a per-fund allocation book (same broker and investor).
interface IAllocationStatus {
    function allocationState(bytes16 blockId, uint32 blockVersion, bytes16 fundCode) external view returns (AllocState);
}

/// Execution notices (blocks) of one broker for one investor: recipients {broker, investor} (§6).
/// Fills, totals and average price, acceptance, the pro-rata allocation to funds, and the block
/// state machine of §2.4. Per-fund matching lives in FundAllocationBook (recipients include the
/// fund's trustee, who must not see block totals).
///
/// Note: `refreshStatus`, `amendExecution` and `cancelBlock` read the allocation books registered
/// at allocation time. Both parties of this contract are parties of every allocation book, so the
/// read sees the same state on both nodes; send these calls without private state validation.
contract TradeBlockBook is BilateralParties {
    enum BlockState {
        NONE,
        NOE_POSTED,
        BLOCK_AGREED,
        BLOCK_DISPUTED,
        ALLOCATED,
        CONFIRMED,
        SETTLEMENT_INSTRUCTED,
        SETTLED,
        CANCELLED
    }

    struct NoticeInput {
        bytes16 blockId; // broker reference (SWIFT :20C::SEME, <= 16 chars)
        bytes12 isin;
        Side side;
        OrderType orderType;
        uint32 tradeDate;
        uint64 tradingUnit;
    }

    struct Block {
        uint32 version;
        BlockState state;
        bytes12 isin;
        Side side;
        OrderType orderType;
        uint32 tradeDate;
        uint32 settlementDate;
        uint64 tradingUnit;
        uint64 totalQuantity;
        uint64 avgPrice_e4;
        uint256 notional_e4; // exact block principal numerator: yen = notional_e4 / 10^4
        uint256 scheduleIndex;
        uint32 proposedSettlementDate;
        address settlementProposedBy;
    }

    struct AllocationLine {
        bytes16 fundCode;
        uint64 orderedQuantity;
        uint64 allocatedQuantity;
        address allocationBook;
    }

    IBusinessCalendar public immutable calendar;
    IConsumptionTaxTable public immutable taxTable;
    TradeCalculator public immutable calculator;

    Schedule[] private _schedules;

    mapping(bytes16 => Block) private _blocks;
    mapping(bytes16 => mapping(uint32 => Fill[])) private _fills;
    mapping(bytes16 => mapping(uint32 => AllocationLine[])) private _allocations;

    event ScheduleAdded(uint256 index, uint32 effectiveFrom, bytes32 scheduleHash);
    event ExecutionNoticePosted(bytes16 indexed blockId, uint32 version, uint64 totalQuantity, uint64 avgPrice_e4,
        uint32 settlementDate);
    event FillsAppended(bytes16 indexed blockId, uint32 version, uint64 totalQuantity, uint64 avgPrice_e4);
    event BlockStateChanged(bytes16 indexed blockId, uint32 version, BlockState from, BlockState to, address by);
    event BlockDisputed(bytes16 indexed blockId, uint32 version, string reason);
    event BlockCancelled(bytes16 indexed blockId, uint32 version, string reason);
    event AllocationPosted(bytes16 indexed blockId, uint32 version, bytes16 indexed fundCode, uint64 orderedQuantity,
        uint64 allocatedQuantity, address allocationBook);
    event SettlementDateProposed(bytes16 indexed blockId, uint32 version, uint32 settlementDate, address by);
    event SettlementDateAgreed(bytes16 indexed blockId, uint32 version, uint32 settlementDate);

    constructor(
        address broker_,
        address investor_,
        IBusinessCalendar calendar_,
        IConsumptionTaxTable taxTable_,
        TradeCalculator calculator_,
        Schedule memory initialSchedule
    ) BilateralParties(broker_, investor_) {
        require(address(calendar_) != address(0), "calendar required");
        require(address(taxTable_) != address(0), "tax table required");
        require(address(calculator_) != address(0), "calculator required");
        calendar = calendar_;
        taxTable = taxTable_;
        calculator = calculator_;
        _addSchedule(initialSchedule);
    }

    // ---- commission schedule (both parties) ------------------------------------------------------

    function proposeSchedule(Schedule calldata s) external {
        _propose("proposeSchedule", keccak256(abi.encode(s)));
    }

    function agreeSchedule(Schedule calldata s) external {
        _agree("agreeSchedule", keccak256(abi.encode(s)));
        _addSchedule(s);
    }

    /// Index of the schedule in force on `day` (latest effectiveFrom <= day).
    function scheduleIndexOn(uint32 day) public view returns (uint256) {
        for (uint256 i = _schedules.length; i > 0; i--) {
            if (_schedules[i - 1].effectiveFrom <= day) return i - 1;
        }
        revert("no commission schedule in force on that date");
    }

    function scheduleAt(uint256 index) external view returns (Schedule memory) {
        return _schedules[index];
    }

    function scheduleCount() external view returns (uint256) {
        return _schedules.length;
    }

    /// Identifies the rules used for a figure (`calcMethodHash` of §2.3).
    function calcMethodHash(uint256 index) external view returns (bytes32) {
        return keccak256(abi.encode(_schedules[index]));
    }

    // ---- broker: execution notice ----------------------------------------------------------------

    function postExecutionNotice(NoticeInput calldata n, Fill[] calldata fills) external {
        require(msg.sender == broker, "postExecutionNotice: only broker");
        require(n.blockId != bytes16(0), "postExecutionNotice: empty block id");
        require(_blocks[n.blockId].state == BlockState.NONE, "postExecutionNotice: block id already used");
        _writeNotice(n, fills, 1);
        _emitState(n.blockId, BlockState.NONE, BlockState.NOE_POSTED);
    }

    /// Fills arrive during the day; acceptance and allocation happen on the final quantity (§2.7).
    function appendFills(bytes16 blockId, Fill[] calldata fills) external {
        require(msg.sender == broker, "appendFills: only broker");
        Block storage b = _blocks[blockId];
        require(b.state == BlockState.NOE_POSTED, "appendFills: block not in NOE_POSTED");
        for (uint256 i = 0; i < fills.length; i++) _fills[blockId][b.version].push(fills[i]);
        _recompute(blockId);
        emit FillsAppended(blockId, b.version, b.totalQuantity, b.avgPrice_e4);
    }

    /// New version. The allocations of the old version must first be SUPERSEDED in their books
    /// (`FundAllocationBook.supersedeBlockVersion`, which voids their confirmations): none may stay
    /// open at the old price. Not allowed once any allocation is MATCH_AGREED: cancel and re-book.
    function amendExecution(NoticeInput calldata n, Fill[] calldata fills) external {
        require(msg.sender == broker, "amendExecution: only broker");
        Block storage b = _blocks[n.blockId];
        BlockState s = b.state;
        require(
            s == BlockState.NOE_POSTED || s == BlockState.BLOCK_DISPUTED || s == BlockState.BLOCK_AGREED
                || s == BlockState.ALLOCATED,
            "amendExecution: block cannot be amended in its state"
        );
        if (s == BlockState.ALLOCATED) {
            uint256 w = _linesStatus(n.blockId, b.version);
            require(w < 2, "amendExecution: an allocation is MATCH_AGREED, cancel instead");
            require(w == 0, "amendExecution: an allocation of this version is open, supersede it first");
        }
        _writeNotice(n, fills, b.version + 1);
        _emitState(n.blockId, s, BlockState.NOE_POSTED);
    }

    // ---- investor: acceptance, dispute, allocation -------------------------------------------------

    /// The investor agrees total quantity and average price of a given version (stale versions fail).
    function acceptBlock(bytes16 blockId, uint32 version, uint64 totalQuantity, uint64 avgPrice_e4) external {
        require(msg.sender == investor, "acceptBlock: only investor");
        Block storage b = _blocks[blockId];
        require(b.state == BlockState.NOE_POSTED, "acceptBlock: block not in NOE_POSTED");
        require(b.version == version, "acceptBlock: stale block version");
        require(b.totalQuantity == totalQuantity, "acceptBlock: total quantity differs");
        require(b.avgPrice_e4 == avgPrice_e4, "acceptBlock: average price differs");
        _emitState(blockId, BlockState.NOE_POSTED, BlockState.BLOCK_AGREED);
    }

    function disputeBlock(bytes16 blockId, uint32 version, string calldata reason) external {
        require(msg.sender == investor, "disputeBlock: only investor");
        Block storage b = _blocks[blockId];
        require(b.state == BlockState.NOE_POSTED, "disputeBlock: block not in NOE_POSTED");
        require(b.version == version, "disputeBlock: stale block version");
        emit BlockDisputed(blockId, version, reason);
        _emitState(blockId, BlockState.NOE_POSTED, BlockState.BLOCK_DISPUTED);
    }

    /// Allocates the executed quantity pro rata to the funds' orders with the schedule's method;
    /// each non-zero allocation names the allocation book (broker, investor, fund trustee) it goes to.
    function postAllocation(
        bytes16 blockId,
        uint32 version,
        bytes16[] calldata fundCodes,
        uint64[] calldata orderedQuantities,
        address[] calldata allocationBooks
    ) external {
        require(msg.sender == investor, "postAllocation: only investor");
        Block storage b = _blocks[blockId];
        require(b.state == BlockState.BLOCK_AGREED, "postAllocation: block not in BLOCK_AGREED");
        require(b.version == version, "postAllocation: stale block version");
        require(allocationBooks.length == fundCodes.length, "postAllocation: books length mismatch");
        Schedule memory s = _schedules[b.scheduleIndex];
        uint64[] memory alloc =
            calculator.allocate(fundCodes, orderedQuantities, b.totalQuantity, b.tradingUnit, s.allocMethod);
        for (uint256 i = 0; i < fundCodes.length; i++) {
            if (alloc[i] == 0 && !s.recordZeroAllocations) continue;
            require(allocationBooks[i] != address(0), "postAllocation: allocation book required");
            _allocations[blockId][version].push(
                AllocationLine(fundCodes[i], orderedQuantities[i], alloc[i], allocationBooks[i])
            );
            emit AllocationPosted(blockId, version, fundCodes[i], orderedQuantities[i], alloc[i], allocationBooks[i]);
        }
        _emitState(blockId, BlockState.BLOCK_AGREED, BlockState.ALLOCATED);
    }

    // ---- either party ---------------------------------------------------------------------------

    /// Before CONFIRMED and before any MATCH_AGREED allocation (§2.4).
    function cancelBlock(bytes16 blockId, string calldata reason) external {
        _requireParty("cancelBlock");
        Block storage b = _blocks[blockId];
        BlockState s = b.state;
        require(
            s == BlockState.NOE_POSTED || s == BlockState.BLOCK_AGREED || s == BlockState.BLOCK_DISPUTED
                || s == BlockState.ALLOCATED,
            "cancelBlock: block cannot be cancelled in its state"
        );
        if (s == BlockState.ALLOCATED) {
            require(_linesStatus(blockId, b.version) < 2, "cancelBlock: an allocation is MATCH_AGREED, cancel bilaterally");
        }
        emit BlockCancelled(blockId, b.version, reason);
        _emitState(blockId, s, BlockState.CANCELLED);
    }

    /// The "system" transitions of §2.4, derived from the allocation books: all MATCH_AGREED ->
    /// CONFIRMED, all instructed -> SETTLEMENT_INSTRUCTED, all settled -> SETTLED, all cancelled ->
    /// CANCELLED. Moves only forward.
    function refreshStatus(bytes16 blockId) external returns (BlockState) {
        _requireParty("refreshStatus");
        Block storage b = _blocks[blockId];
        BlockState s = b.state;
        require(
            s == BlockState.ALLOCATED || s == BlockState.CONFIRMED || s == BlockState.SETTLEMENT_INSTRUCTED,
            "refreshStatus: block not allocated"
        );
        AllocationLine[] storage lines = _allocations[blockId][b.version];
        uint256 agreed = 0;
        uint256 instructed = 0;
        uint256 settled = 0;
        uint256 cancelled = 0;
        for (uint256 i = 0; i < lines.length; i++) {
            AllocState a = IAllocationStatus(lines[i].allocationBook).allocationState(
                blockId, b.version, lines[i].fundCode
            );
            if (a == AllocState.CANCELLED) cancelled++;
            if (a == AllocState.MATCH_AGREED || a == AllocState.SETTLEMENT_INSTRUCTED || a == AllocState.SETTLED) {
                agreed++;
            }
            if (a == AllocState.SETTLEMENT_INSTRUCTED || a == AllocState.SETTLED) instructed++;
            if (a == AllocState.SETTLED) settled++;
        }
        uint256 n = lines.length;
        BlockState target = s;
        if (cancelled == n) target = BlockState.CANCELLED;
        else if (settled == n) target = BlockState.SETTLED;
        else if (instructed == n) target = BlockState.SETTLEMENT_INSTRUCTED;
        else if (agreed == n) target = BlockState.CONFIRMED;
        if (target != s && (target == BlockState.CANCELLED || uint8(target) > uint8(s))) {
            _emitState(blockId, s, target);
            return target;
        }
        return s;
    }

    /// The computed T+n settlement date may be changed only by mutual agreement (§2.3).
    function proposeSettlementDate(bytes16 blockId, uint32 settlementDate) external {
        _requireParty("proposeSettlementDate");
        Block storage b = _blocks[blockId];
        require(uint8(b.state) >= 1 && uint8(b.state) <= 4, "proposeSettlementDate: block not open");
        require(settlementDate >= b.tradeDate && calendar.isBusinessDay(settlementDate),
            "proposeSettlementDate: not a business day on or after the trade date");
        b.proposedSettlementDate = settlementDate;
        b.settlementProposedBy = msg.sender;
        emit SettlementDateProposed(blockId, b.version, settlementDate, msg.sender);
    }

    function agreeSettlementDate(bytes16 blockId, uint32 settlementDate) external {
        _requireParty("agreeSettlementDate");
        Block storage b = _blocks[blockId];
        require(b.settlementProposedBy != address(0), "agreeSettlementDate: nothing proposed");
        require(msg.sender != b.settlementProposedBy, "agreeSettlementDate: only the other party may agree");
        require(b.proposedSettlementDate == settlementDate, "agreeSettlementDate: differs from the proposal");
        require(uint8(b.state) >= 1 && uint8(b.state) <= 4, "agreeSettlementDate: block not open");
        b.settlementDate = settlementDate;
        b.settlementProposedBy = address(0);
        emit SettlementDateAgreed(blockId, b.version, settlementDate);
    }

    // ---- views -----------------------------------------------------------------------------------

    function getBlock(bytes16 blockId) external view returns (Block memory) {
        return _blocks[blockId];
    }

    function fillsOf(bytes16 blockId, uint32 version) external view returns (Fill[] memory) {
        return _fills[blockId][version];
    }

    function allocationsOf(bytes16 blockId, uint32 version) external view returns (AllocationLine[] memory) {
        return _allocations[blockId][version];
    }

    /// What `postAllocation` would allocate now, for any party to recompute.
    function previewAllocation(bytes16 blockId, bytes16[] calldata fundCodes, uint64[] calldata orderedQuantities)
        external
        view
        returns (uint64[] memory)
    {
        Block storage b = _blocks[blockId];
        require(b.state != BlockState.NONE, "unknown block");
        return calculator.allocate(
            fundCodes, orderedQuantities, b.totalQuantity, b.tradingUnit, _schedules[b.scheduleIndex].allocMethod
        );
    }

    /// Per-fund figures of the current allocation under the schedule's calculation level
    /// (PER_FUND or PER_BLOCK_SPLIT) and the tax rate in force on the trade date (or the
    /// settlement date when the schedule says so).
    function fundFigures(bytes16 blockId) external view returns (bytes16[] memory codes, Figures[] memory figures) {
        Block storage b = _blocks[blockId];
        AllocationLine[] storage lines = _allocations[blockId][b.version];
        uint256 n = lines.length;
        require(n > 0, "fundFigures: block not allocated");
        Schedule memory s = _schedules[b.scheduleIndex];
        codes = new bytes16[](n);
        uint64[] memory qty = new uint64[](n);
        for (uint256 i = 0; i < n; i++) {
            codes[i] = lines[i].fundCode;
            qty[i] = lines[i].allocatedQuantity;
        }
        figures = calculator.blockFundFigures(
            codes, qty, b.avgPrice_e4, s.rateByOrderType_e6[uint8(b.orderType)],
            taxTable.rateOn(s.taxOnSettlementDate ? b.settlementDate : b.tradeDate), b.side, s
        );
    }

    // ---- internals -------------------------------------------------------------------------------

    function _writeNotice(NoticeInput calldata n, Fill[] calldata fills, uint32 version) private {
        require(Identifiers.isValidIsin(abi.encodePacked(n.isin)), "invalid ISIN");
        require(n.tradingUnit > 0, "trading unit must be positive");
        require(calendar.isBusinessDay(n.tradeDate), "trade date is not a business day");
        Block storage b = _blocks[n.blockId];
        b.version = version;
        b.isin = n.isin;
        b.side = n.side;
        b.orderType = n.orderType;
        b.tradeDate = n.tradeDate;
        b.tradingUnit = n.tradingUnit;
        b.scheduleIndex = scheduleIndexOn(n.tradeDate);
        b.settlementDate = calendar.addBusinessDays(n.tradeDate, _schedules[b.scheduleIndex].settlementCycleDays);
        b.settlementProposedBy = address(0);
        for (uint256 i = 0; i < fills.length; i++) _fills[n.blockId][version].push(fills[i]);
        _recompute(n.blockId);
        emit ExecutionNoticePosted(n.blockId, version, b.totalQuantity, b.avgPrice_e4, b.settlementDate);
    }

    function _addSchedule(Schedule memory s) private {
        require(s.avgPriceDigits <= 4, "schedule: average price digits above 4");
        require(s.settlementCycleDays <= 10, "schedule: settlement cycle above 10 days");
        if (_schedules.length > 0) {
            require(s.effectiveFrom > _schedules[_schedules.length - 1].effectiveFrom,
                "schedule: effective date must follow the latest version");
        }
        _schedules.push(s);
        emit ScheduleAdded(_schedules.length - 1, s.effectiveFrom, keccak256(abi.encode(s)));
    }

    function _recompute(bytes16 blockId) private {
        Block storage b = _blocks[blockId];
        Schedule storage s = _schedules[b.scheduleIndex];
        (b.totalQuantity, b.notional_e4, b.avgPrice_e4) =
            calculator.blockTotals(_fills[blockId][b.version], s.avgPriceDigits, s.avgPriceRounding);
    }

    /// 2: an allocation is MATCH_AGREED or later (a cancel pending included); 1: one is still open
    /// (ALLOCATED .. MISMATCHED); 0: none (not posted, SUPERSEDED or CANCELLED).
    function _linesStatus(bytes16 blockId, uint32 version) private view returns (uint256 w) {
        AllocationLine[] storage lines = _allocations[blockId][version];
        for (uint256 i = 0; i < lines.length; i++) {
            AllocState a = IAllocationStatus(lines[i].allocationBook).allocationState(blockId, version, lines[i].fundCode);
            if (a >= AllocState.MATCH_AGREED && a <= AllocState.CANCEL_REQUESTED) return 2;
            if (a != AllocState.NONE && a < AllocState.MATCH_AGREED) w = 1;
        }
    }

    function _emitState(bytes16 blockId, BlockState from, BlockState to) private {
        Block storage b = _blocks[blockId];
        b.state = to;
        emit BlockStateChanged(blockId, b.version, from, to, msg.sender);
    }
}
