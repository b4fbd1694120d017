// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// GoQuorum's acceptance contracts for enhanced privacy: C2 calls C1, a factory creates C1s.
contract C1 {
    uint256 public x;

    constructor(uint256 initial) {
        x = initial;
    }

    function set(uint256 newValue) external returns (uint256) {
        x = newValue;
        return x;
    }

    function get() external view returns (uint256) {
        return x;
    }
}

contract C2 {
    C1 public c1;
    uint256 public y;

    constructor(address target) {
        c1 = C1(target);
    }

    function get() external view returns (uint256) {
        return c1.get();
    }

    function set(uint256 value) external {
        y = value;
        c1.set(value);
    }

    function restoreFromC1() external {
        y = c1.get();
    }
}

/// Creates C1s: contracts created by a flagged contract inherit its flag and parties.
contract C1Factory {
    C1 public last;

    function make(uint256 initial) external returns (address) {
        last = new C1(initial);
        return address(last);
    }
}
