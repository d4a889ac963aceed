// SPDX-License-Identifier: Apache-2.0
pragma solidity >=0.6.10 <0.7.0;

// Asset is a minimal point ledger: the deployer issues units to accounts, holders transfer
// them with a memo. Transfers that exceed the balance revert with a reason, so a chain built
// from it carries failed receipts (status 0x16, Error(string) output) as well as successful
// ones. Transfer has two indexed and two non-indexed parameters, one of them dynamic.
contract Asset {
    address public issuer;
    uint256 public totalSupply;
    mapping(address => uint256) private balances;

    event Issue(address indexed to, uint256 amount);
    event Transfer(address indexed from, address indexed to, uint256 amount, string memo);

    constructor() public {
        issuer = msg.sender;
    }

    function issue(address to, uint256 amount) public {
        require(msg.sender == issuer, "only the issuer can issue");
        balances[to] += amount;
        totalSupply += amount;
        emit Issue(to, amount);
    }

    function transfer(address to, uint256 amount, string memory memo) public returns (bool) {
        require(balances[msg.sender] >= amount, "insufficient balance");
        balances[msg.sender] -= amount;
        balances[to] += amount;
        emit Transfer(msg.sender, to, amount, memo);
        return true;
    }

    function balanceOf(address owner) public view returns (uint256) {
        return balances[owner];
    }
}
