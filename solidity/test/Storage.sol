// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// A small contract the engine's own tests deploy: storage, events, reverts, reads.
contract SimpleStorage {
    uint256 public value;
    address public owner;
    mapping(address => uint256) public balances;

    event ValueChanged(address indexed by, uint256 oldValue, uint256 newValue);

    constructor(uint256 initial) {
        value = initial;
        owner = msg.sender;
    }

    function set(uint256 newValue) external {
        require(newValue != 13, "unlucky number");
        emit ValueChanged(msg.sender, value, newValue);
        value = newValue;
    }

    function add(uint256 delta) external returns (uint256) {
        value += delta;
        balances[msg.sender] += delta;
        return value;
    }

    function get() external view returns (uint256) {
        return value;
    }

    function failWithPanic(uint256 a) external pure returns (uint256) {
        return 10 / a;
    }
}

/// Reads another contract: used to check private-to-public reads.
contract Reader {
    function readValue(address target) external view returns (uint256) {
        return SimpleStorage(target).get();
    }

    function writeValue(address target, uint256 v) external {
        SimpleStorage(target).set(v);
    }
}
