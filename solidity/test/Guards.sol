// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// Contracts for the RPC execution guards: a call that never ends, deep recursion, storage touches.
contract Spinner {
    uint256 public spins;

    function spin() external view returns (uint256) {
        uint256 n = spins;
        while (true) {
            n += 1;
        }
        return n;
    }
}

contract Recurser {
    /// Calls itself until a call fails (the 1024 call-depth limit); returns the depth reached.
    function deepest(uint256 depth) external returns (uint256) {
        try this.deepest(depth + 1) returns (uint256 reached) {
            return reached;
        } catch {
            return depth;
        }
    }
}

contract Slots {
    uint256 public a;
    uint256 public b;
    mapping(uint256 => uint256) public m;

    function sum() external view returns (uint256) {
        return a + b + m[7];
    }

    function balanceOf(address who) external view returns (uint256) {
        return who.balance;
    }

    function gasLeft() external view returns (uint256) {
        return gasleft();
    }

    function bump() external {
        a += 1;
    }
}
