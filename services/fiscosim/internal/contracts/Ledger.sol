// SPDX-License-Identifier: Apache-2.0
pragma solidity >=0.6.10 <0.7.0;
pragma experimental ABIEncoderV2;

// Ledger is the settlement book of one business unit: postings move signed amounts (credits
// and debits of any int256, a fee or rebate as int64) with a memo and a reference, a batch
// settles many accounts at once, an entry can be recorded whole as a struct, and documents and
// labels are attached as raw bytes and strings. Several books run the same code with different
// constructor arguments (name, owner, posting limit), and Registry opens books itself.
//
// It is the traffic that exercises ABI decoding downstream: 256-bit and negative integers,
// UTF-8 and empty strings, bytes, bytes32 and bytes4, dynamic and fixed arrays, a tuple, an
// overloaded method and an overloaded event, indexed dynamic parameters (their topic is the
// hash of the value), outputs, and a zero-argument method. Every revert condition depends on
// the arguments and the book's constructor arguments only, so the traffic generator knows
// which calls fail and why without reading state.
contract Ledger {
    struct Entry {
        address account;
        int256 delta;
        string memo;
        bytes32 ref;
        uint64 valueDate;
        uint256[] lines;
    }

    string public book;
    address public owner;
    uint256 public limit;
    uint256 public postings;

    event Opened(string book, address indexed owner, uint256 limit);
    event Posted(address indexed account, int256 delta, int64 fee, string memo, bytes32 indexed ref, bytes4 kind);
    event Posted(address indexed account, uint256 amount);
    event BatchSettled(uint256 indexed batchId, address[] accounts, uint256[] amounts, string[] memos, uint64[2] window, uint256 total);
    event EntryRecorded(bytes32 indexed ref, Entry entry);
    event Tagged(string indexed label, bytes indexed payload, address indexed by, string text);
    event Attached(bytes32 indexed ref, bytes document, bytes4 kind);
    event Checkpoint(address indexed by);

    constructor(string memory bookName, address bookOwner, uint256 postingLimit) public {
        book = bookName;
        owner = bookOwner;
        limit = postingLimit;
        emit Opened(bookName, bookOwner, postingLimit);
    }

    // post books a signed amount net of a fee (a negative fee is a rebate); the result wraps
    // like the EVM does, and entryId is Hash(account ‖ delta ‖ ref) packed.
    function post(address account, int256 delta, int64 fee, string memory memo, bytes32 ref, bytes4 kind)
        public
        returns (bytes32 entryId, int256 net)
    {
        require(delta != 0, "zero delta");
        postings += 1;
        emit Posted(account, delta, fee, memo, ref, kind);
        return (keccak256(abi.encodePacked(account, delta, ref)), delta - fee);
    }

    // post credits an unsigned amount up to the book's limit.
    function post(address account, uint256 amount) public {
        require(amount > 0, "金额必须大于零");
        require(amount <= limit, "超出限额");
        postings += 1;
        emit Posted(account, amount);
    }

    // settle closes a batch; total is the wrapping sum of amounts.
    function settle(uint256 batchId, address[] memory accounts, uint256[] memory amounts, string[] memory memos, uint64[2] memory window)
        public
        returns (uint256 total)
    {
        require(accounts.length == amounts.length && amounts.length == memos.length, "batch length mismatch");
        for (uint256 i = 0; i < amounts.length; i++) {
            total += amounts[i];
        }
        emit BatchSettled(batchId, accounts, amounts, memos, window, total);
    }

    function record(Entry memory entry) public returns (bytes32) {
        postings += 1;
        emit EntryRecorded(entry.ref, entry);
        return entry.ref;
    }

    function tag(string memory label, bytes memory payload) public {
        emit Tagged(label, payload, msg.sender, label);
    }

    function attach(bytes32 ref, bytes memory document, bytes4 kind) public {
        emit Attached(ref, document, kind);
    }

    function checkpoint() public {
        emit Checkpoint(msg.sender);
    }
}
