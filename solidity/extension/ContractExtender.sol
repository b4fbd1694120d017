// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// The management contract of one contract extension (GoQuorum's `quorumExtension_*`).
///
/// A party of `contractToExtend` (the creator) deploys it privately to the new recipient and, for
/// enhanced privacy, to the contract's other parties; every management transaction goes to the same
/// managers (`parties`), so every copy of this contract holds the same state. The creator's vote counts
/// at creation; the recipient accepts or declines with `doVote`. On acceptance the creator's node shares
/// the extended contract's current state through its manager and records the payload hash with
/// `setSharedStateHash`; each party's node reacts to `StateShared` while it processes that transaction.
/// The node embeds this contract's compiled code (engine/extension/artifact.py) and acts only on events
/// emitted by exactly that code.
contract ContractExtender {
    address public creator;
    address public recipient;
    string public targetRecipientPTMKey;
    string public creatorPTMKey;
    /// Comma-separated manager keys (base64) every management transaction is sent to, besides the creator's.
    string public parties;
    address public contractToExtend;

    address[] public walletAddressesToVote;
    uint256 public totalNumberOfVoters;
    mapping(address => bool) private isVoter;
    mapping(address => bool) private hasVoted;
    mapping(address => bool) public votes;
    uint256 private numberOfVotesSoFar;

    /// True while nobody has declined.
    bool public voteOutcome;
    /// The manager hash (base64) of the shared state, once shared.
    string public sharedDataHash;
    /// One reference per accepting vote, made by the voter's own manager: only the node that voted
    /// installs the shared state.
    string[] private uuids;
    bool public isFinished;

    event NewContractExtensionContractCreated(address toExtend, string recipientPTMKey, address recipientAddress);
    event AllNodesHaveAccepted(bool outcome);
    event CanPerformStateShare();
    event ExtensionFinished();
    event NewVote(bool vote, address voter);
    event StateShared(address toExtend, string tesserahash, string uuid);

    constructor(address contractAddress, address recipientAddress, string memory recipientPTMKey,
                string memory creatorKey, string memory partyKeys) {
        require(recipientAddress != address(0), "invalid recipient address");
        require(recipientAddress != msg.sender, "account accepting the extension cannot be the account initiating extension");
        creator = msg.sender;
        recipient = recipientAddress;
        targetRecipientPTMKey = recipientPTMKey;
        creatorPTMKey = creatorKey;
        parties = partyKeys;
        contractToExtend = contractAddress;
        walletAddressesToVote.push(msg.sender);
        walletAddressesToVote.push(recipientAddress);
        totalNumberOfVoters = 2;
        isVoter[msg.sender] = true;
        isVoter[recipientAddress] = true;
        voteOutcome = true;
        // The creator's vote is its deployment (GoQuorum's node casts it right after).
        hasVoted[msg.sender] = true;
        votes[msg.sender] = true;
        numberOfVotesSoFar = 1;
        emit NewContractExtensionContractCreated(contractAddress, recipientPTMKey, recipientAddress);
    }

    modifier notFinished() {
        require(!isFinished, "extension has been marked as finished");
        _;
    }

    modifier onlyCreator() {
        require(msg.sender == creator, "only leader may perform this action");
        _;
    }

    function haveAllNodesVoted() public view returns (bool) {
        return numberOfVotesSoFar == walletAddressesToVote.length;
    }

    /// Whether the caller (eth_call's `from`) has voted.
    function checkIfVoted() public view returns (bool) {
        return hasVoted[msg.sender];
    }

    function checkIfExtensionFinished() public view returns (bool) {
        return isFinished;
    }

    /// The recipient's vote; `nextuuid` (required to accept) is the hash of a payload its manager sent.
    function doVote(bool vote, string memory nextuuid) public notFinished {
        require(isVoter[msg.sender], "not allowed to vote");
        require(!hasVoted[msg.sender], "already voted");
        require(voteOutcome, "voting already declined");
        hasVoted[msg.sender] = true;
        votes[msg.sender] = vote;
        numberOfVotesSoFar++;
        voteOutcome = voteOutcome && vote;
        if (vote) {
            require(bytes(nextuuid).length != 0, "an accepting vote needs a uuid");
            uuids.push(nextuuid);
        }
        if (!voteOutcome) {
            emit AllNodesHaveAccepted(false);
            setFinished();
        } else if (haveAllNodesVoted()) {
            emit AllNodesHaveAccepted(true);
            emit CanPerformStateShare();
        }
        emit NewVote(vote, msg.sender);
    }

    /// The state was shared through the managers; record its hash and close the extension.
    function setSharedStateHash(string memory hash) public onlyCreator notFinished {
        require(bytes(hash).length != 0, "new hash cannot be empty");
        require(bytes(sharedDataHash).length == 0, "state hash already set");
        require(voteOutcome && haveAllNodesVoted(), "extension not accepted yet");
        sharedDataHash = hash;
        for (uint256 i = 0; i < uuids.length; i++) {
            emit StateShared(contractToExtend, hash, uuids[i]);
        }
        setFinished();
    }

    /// Cancel (or close) the extension: no more votes, no state share.
    function finish() public notFinished onlyCreator {
        setFinished();
    }

    function setFinished() internal {
        isFinished = true;
        emit ExtensionFinished();
    }
}
