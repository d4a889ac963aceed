// SPDX-License-Identifier: Apache-2.0
pragma solidity >=0.6.10 <0.7.0;

import "./Ledger.sol";

// Registry is the directory of Ledger books. It opens new books itself (a contract creating a
// contract: the new book's address comes from the registry, and its Opened event is logged by
// the new book inside the registry's transaction), registers books deployed elsewhere, and
// forwards postings to registered books, so the book's Posted log carries the book's address
// while the transaction is addressed to the registry. A posting the book refuses reverts the
// whole forward with the book's reason.
contract Registry {
    address public admin;
    mapping(address => bool) public registered;
    address[] public books;

    event BookOpened(address indexed book, string name);
    event Forwarded(address indexed book, address indexed account, uint256 amount);

    constructor() public {
        admin = msg.sender;
    }

    function open(string memory name, uint256 limit) public returns (address book) {
        require(msg.sender == admin, "only the admin");
        book = address(new Ledger(name, msg.sender, limit));
        registered[book] = true;
        books.push(book);
        emit BookOpened(book, name);
    }

    function register(address book) public {
        require(msg.sender == admin, "only the admin");
        registered[book] = true;
        books.push(book);
    }

    function forward(address book, address account, uint256 amount) public {
        require(registered[book], "book not registered");
        Ledger(book).post(account, amount);
        emit Forwarded(book, account, amount);
    }
}
