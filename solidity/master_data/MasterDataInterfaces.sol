// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// Read by an allocation book at allocation time (MD-06, [A-MD-FUND-ELIG]). Every party of the
/// allocation book (broker, investor, trustee) is a party of the fund registry instance.
interface IFundEligibility {
    function checkEligibility(bytes16 fundCode, uint32 tradeDate, uint32 settlementDate, address trustee)
        external
        view
        returns (bool ok, string memory reason);
}

/// Read by an allocation book when the trustee instructs settlement (MD-05, [A-MD-SSI-EFF]). The
/// SSI registry for (manager, trustee, broker) has the same party set as the allocation book.
interface ISsiLookup {
    function ssiInForce(bytes16 fundCode, bytes4 securityType, uint32 settlementDate)
        external
        view
        returns (bool found, uint32 version);
}

/// Read by a FundEvidenceBook when evidence is recorded: the fund must exist in the registry of
/// the same (manager, trustee), whose parties include every party of the evidence book.
interface IFundStatus {
    function statusOn(bytes16 fundCode, uint32 day) external view returns (uint8);
}
