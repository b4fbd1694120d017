// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// The broker-investor pair behind every trade-confirmation contract, and the two-party rule for
/// changing shared parameters: one party proposes the exact value (by hash), the other agrees to
/// the same value. Neither side can change a schedule or a tolerance profile alone.
abstract contract BilateralParties {
    address public immutable broker;
    address public immutable investor;

    bytes32 public pendingProposalHash;
    address public pendingProposalBy;

    event ParameterProposed(address indexed by, bytes32 proposalHash);
    event ParameterAgreed(address indexed by, bytes32 proposalHash);

    constructor(address broker_, address investor_) {
        require(broker_ != address(0) && investor_ != address(0), "broker and investor required");
        require(broker_ != investor_, "broker and investor must differ");
        broker = broker_;
        investor = investor_;
    }

    function _requireParty(string memory what) internal view {
        require(msg.sender == broker || msg.sender == investor, string.concat(what, ": only broker or investor"));
    }

    function _propose(string memory what, bytes32 h) internal {
        _requireParty(what);
        pendingProposalHash = h;
        pendingProposalBy = msg.sender;
        emit ParameterProposed(msg.sender, h);
    }

    function _agree(string memory what, bytes32 h) internal {
        _requireParty(what);
        require(pendingProposalBy != address(0), string.concat(what, ": nothing proposed"));
        require(msg.sender != pendingProposalBy, string.concat(what, ": only the other party may agree"));
        require(h == pendingProposalHash, string.concat(what, ": differs from the proposal"));
        pendingProposalHash = bytes32(0);
        pendingProposalBy = address(0);
        emit ParameterAgreed(msg.sender, h);
    }
}
