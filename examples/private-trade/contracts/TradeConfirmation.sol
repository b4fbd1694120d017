// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// A bilateral trade confirmation between one buyer and one seller, deployed privately between
/// their two nodes: the buyer proposes the terms, the seller confirms the same terms (or either
/// side cancels before that). Nobody else can read or change a trade.
contract TradeConfirmation {
    enum Status { None, Proposed, Confirmed, Cancelled }

    struct Trade {
        string instrument;
        uint256 quantity;
        uint256 price; // per unit, in the smallest currency unit
        Status status;
    }

    address public immutable buyer;
    address public immutable seller;
    uint256 public tradeCount;
    mapping(bytes32 => Trade) public trades;

    event Proposed(bytes32 indexed id, string instrument, uint256 quantity, uint256 price);
    event Confirmed(bytes32 indexed id);
    event Cancelled(bytes32 indexed id, address by);

    constructor(address buyer_, address seller_) {
        require(buyer_ != seller_, "buyer and seller must differ");
        buyer = buyer_;
        seller = seller_;
    }

    function propose(bytes32 id, string calldata instrument, uint256 quantity, uint256 price) external {
        require(msg.sender == buyer, "only the buyer proposes");
        require(trades[id].status == Status.None, "trade exists");
        require(quantity > 0, "quantity is zero");
        trades[id] = Trade(instrument, quantity, price, Status.Proposed);
        tradeCount += 1;
        emit Proposed(id, instrument, quantity, price);
    }

    /// The seller confirms by restating the terms: a mismatch is refused, not silently accepted.
    function confirm(bytes32 id, uint256 quantity, uint256 price) external {
        require(msg.sender == seller, "only the seller confirms");
        Trade storage trade = trades[id];
        require(trade.status == Status.Proposed, "not proposed");
        require(trade.quantity == quantity && trade.price == price, "terms differ");
        trade.status = Status.Confirmed;
        emit Confirmed(id);
    }

    function cancel(bytes32 id) external {
        require(msg.sender == buyer || msg.sender == seller, "not a counterparty");
        require(trades[id].status == Status.Proposed, "not proposed");
        trades[id].status = Status.Cancelled;
        emit Cancelled(id, msg.sender);
    }
}
