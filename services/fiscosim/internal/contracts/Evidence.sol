// SPDX-License-Identifier: Apache-2.0
pragma solidity >=0.6.10 <0.7.0;

// Evidence notarises documents: each record binds an id to a document hash, a category and
// free-form metadata, once. EvidenceStored indexes a dynamic value (category), whose topic is
// the hash of the string, next to static indexed values and non-indexed data.
contract Evidence {
    struct Record {
        address submitter;
        bytes32 docHash;
        string category;
        string metadata;
        uint256 blockNumber;
    }

    uint256 public count;
    mapping(bytes32 => Record) private records;

    event EvidenceStored(
        bytes32 indexed id,
        address indexed submitter,
        string indexed category,
        bytes32 docHash,
        string metadata
    );

    function store(bytes32 id, bytes32 docHash, string memory category, string memory metadata)
        public
        returns (uint256)
    {
        require(records[id].submitter == address(0), "evidence already stored");
        records[id] = Record(msg.sender, docHash, category, metadata, block.number);
        count += 1;
        emit EvidenceStored(id, msg.sender, category, docHash, metadata);
        return count;
    }

    function get(bytes32 id)
        public
        view
        returns (address submitter, bytes32 docHash, string memory category, string memory metadata, uint256 blockNumber)
    {
        Record storage r = records[id];
        return (r.submitter, r.docHash, r.category, r.metadata, r.blockNumber);
    }
}
